#include "jwtgate/cache.h"

#include <catch2/catch.hpp>

#include <string>

#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/verifier.h"

namespace {

using namespace jwtgate;

constexpr int64_t kNow = 1800000000;

std::shared_ptr<Verifier> MakeVerifier(const RevocationCheck* r = nullptr) {
  KeySet::Builder b;
  const std::string secret(32, 's');
  REQUIRE(b.AddHmacSecret(std::span(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()),
                          Alg::kHS256, std::nullopt) == Status::kOk);
  return std::make_shared<Verifier>(b.Build(), VerifierOptions{}, r);
}

std::shared_ptr<const VerifiedToken> Entry(VerifiedTokenCache& cache, const std::string& token,
                                           int64_t exp, const std::string& jti = "j") {
  Claims c;
  c.has_exp = true;
  c.exp = exp;
  c.jti = jti;
  c.sub = "s";
  return VerifiedToken::From(token, cache.Hash(token), c);
}

class JtiRevocation : public RevocationCheck {
 public:
  bool IsRevoked(const Claims& c) const noexcept override { return c.jti == revoked; }
  std::string revoked;
};

}  // namespace

TEST_CASE("Cache hit needs the whole token to be equal, not just the hash", "[cache]") {
  VerifiedTokenCache cache(CacheOptions{64, 1, 7});
  auto v = MakeVerifier();
  cache.Insert(Entry(cache, "aaa.bbb.ccc", kNow + 60));
  Status s;
  std::shared_ptr<const VerifiedToken> e;
  REQUIRE(cache.Find("aaa.bbb.ccc", cache.Hash("aaa.bbb.ccc"), kNow, *v, &s, &e) ==
          VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kOk);
  CHECK(e->sub == "s");
  // Same hash value presented with different bytes (as a colliding token would): a miss.
  CHECK(cache.Find("aaa.bbb.ccd", cache.Hash("aaa.bbb.ccc"), kNow, *v, &s, &e) ==
        VerifiedTokenCache::Lookup::kMiss);
  // A malleated signature is another token: a miss, never a hit of the original.
  CHECK(cache.Find("aaa.bbb.ccC", cache.Hash("aaa.bbb.ccC"), kNow, *v, &s, &e) ==
        VerifiedTokenCache::Lookup::kMiss);
}

TEST_CASE("Cache entries never outlive exp plus leeway", "[cache]") {
  VerifiedTokenCache cache(CacheOptions{64, 1, 7});
  auto v = MakeVerifier();
  const std::string t = "x.y.z";
  cache.Insert(Entry(cache, t, kNow));
  Status s;
  std::shared_ptr<const VerifiedToken> e;
  REQUIRE(cache.Find(t, cache.Hash(t), kNow + 29, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kOk);
  REQUIRE(cache.Find(t, cache.Hash(t), kNow + 30, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kExpired);
  // The expired entry was evicted.
  CHECK(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e) == VerifiedTokenCache::Lookup::kMiss);
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("Cache hit re-checks revocation", "[cache]") {
  JtiRevocation r;
  auto v = MakeVerifier(&r);
  VerifiedTokenCache cache(CacheOptions{64, 1, 7});
  const std::string t = "h.p.s";
  cache.Insert(Entry(cache, t, kNow + 600, "jti-9"));
  Status s;
  std::shared_ptr<const VerifiedToken> e;
  REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kOk);
  r.revoked = "jti-9";
  REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kRevoked);
}

TEST_CASE("Cache memory is bounded: CLOCK evicts within each set", "[cache]") {
  VerifiedTokenCache cache(CacheOptions{256, 4, 7});
  const size_t cap = cache.stats().capacity;
  REQUIRE(cap >= 256);
  for (int i = 0; i < 5000; ++i) {
    cache.Insert(Entry(cache, "tok." + std::to_string(i) + ".sig", kNow + 600));
  }
  const auto st = cache.stats();
  CHECK(st.entries <= cap);
  CHECK(st.inserts == 5000);
  CHECK(st.evictions >= 5000 - cap);
  cache.Clear();
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("Cache hit on a real verified token", "[cache]") {
  auto v = MakeVerifier();
  auto signer = Signer::FromSecret(std::string(32, 's'), Alg::kHS256);
  REQUIRE(signer.ok());
  const std::string tok = *signer->Sign("{\"sub\":\"ann\",\"exp\":" + std::to_string(kNow + 60) + "}");
  VerifyContext ctx;
  Claims c;
  REQUIRE(v->Verify(tok, kNow, ctx, &c) == Status::kOk);
  VerifiedTokenCache cache;
  cache.Insert(VerifiedToken::From(tok, cache.Hash(tok), c));
  Status s;
  std::shared_ptr<const VerifiedToken> e;
  REQUIRE(cache.Find(tok, cache.Hash(tok), kNow, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kOk);
  CHECK(e->sub == "ann");
  CHECK(e->exp == kNow + 60);
}
