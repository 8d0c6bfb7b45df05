#include "jwtgate/cache.h"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/verifier.h"
#include "jwtgate/verifier_cell.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

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

TEST_CASE("Cache verdict without the entry, and the guarded pointer form", "[cache]") {
  JtiRevocation r;
  auto v = MakeVerifier(&r);
  VerifiedTokenCache cache(CacheOptions{64, 1, 7});
  const std::string t = "p.q.r";
  cache.Insert(Entry(cache, t, kNow + 600, "jti-3"));
  Status s = Status::kInternalError;
  REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, nullptr) == VerifiedTokenCache::Lookup::kHit);
  CHECK(s == Status::kOk);
  {
    const VerifiedTokenCache::ReadGuard guard;
    const VerifiedToken* e = nullptr;
    REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e, guard) ==
            VerifiedTokenCache::Lookup::kHit);
    CHECK(s == Status::kOk);
    REQUIRE(e != nullptr);
    CHECK(e->token == t);
    CHECK(e->jti == "jti-3");
    CHECK(cache.Find("p.q.x", cache.Hash("p.q.x"), kNow, *v, &s, &e, guard) ==
          VerifiedTokenCache::Lookup::kMiss);
    // A failed re-check in the pointer form evicts too (reclamation waits for the guard).
    r.revoked = "jti-3";
    e = nullptr;
    REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e, guard) ==
            VerifiedTokenCache::Lookup::kHit);
    CHECK(s == Status::kRevoked);
    CHECK(e == nullptr);
  }
  CHECK(cache.Find(t, cache.Hash(t), kNow, *v, &s, nullptr) == VerifiedTokenCache::Lookup::kMiss);
  const auto st = cache.stats();
  CHECK(st.hits == 3);
  CHECK(st.misses == 2);
  CHECK(st.entries == 0);
}

TEST_CASE("Cache FindBatch gives what Find gives, token by token", "[cache]") {
  // Two caches with the same seed and the same entries: one answers token by token, the other
  // in batches.
  JtiRevocation r;
  r.revoked = "jti-revoked";
  auto v = MakeVerifier(&r);
  VerifiedTokenCache one(CacheOptions{256, 4, 7});
  VerifiedTokenCache batch(CacheOptions{256, 4, 7});
  std::vector<std::string> tokens;
  for (int i = 0; i < 100; ++i) {
    const std::string t = "h." + std::to_string(i) + ".s";
    // Every fifth expired, every seventh revoked, the rest good; every sixth never cached.
    const int64_t exp = i % 5 == 0 ? kNow - 100 : kNow + 600;
    const std::string jti = i % 7 == 0 ? "jti-revoked" : "jti-" + std::to_string(i);
    if (i % 6 != 0) {
      one.Insert(Entry(one, t, exp, jti));
      batch.Insert(Entry(batch, t, exp, jti));
    }
    tokens.push_back(t);
  }
  // Each token twice (an evicted one misses the second time), in a scrambled order.
  std::vector<std::string_view> queries;
  for (int round = 0; round < 2; ++round) {
    for (size_t k = 0; k < tokens.size(); ++k) queries.push_back(tokens[(k * 37) % tokens.size()]);
  }
  std::vector<uint64_t> hashes;
  for (std::string_view q : queries) hashes.push_back(batch.Hash(q));
  // The bytes of a cached token's hash with other bytes (as a colliding token): a miss.
  const std::string impostor = "h.1.S";
  queries.push_back(impostor);
  hashes.push_back(batch.Hash(tokens[1]));
  // Each call spans more than two chunks.
  REQUIRE(tokens.size() > 2 * VerifiedTokenCache::kBatch);

  std::vector<VerifiedTokenCache::Lookup> lookups(queries.size());
  std::vector<Status> statuses(queries.size(), Status::kInternalError);
  std::vector<const VerifiedToken*> entries(queries.size());
  // One batch per round of queries, so that evictions of the first are seen by the second.
  const size_t half = tokens.size();
  for (size_t begin : {size_t{0}, half}) {
    const size_t n = begin == 0 ? half : queries.size() - half;
    const VerifiedTokenCache::ReadGuard guard;
    batch.FindBatch(&queries[begin], &hashes[begin], n, kNow, *v, &lookups[begin],
                    &statuses[begin], &entries[begin], guard);
    for (size_t i = begin; i < begin + n; ++i) {
      INFO("query " << i << ": " << queries[i]);
      Status want = Status::kInternalError;
      const VerifiedToken* want_entry = nullptr;
      const auto want_lookup = one.Find(queries[i], hashes[i], kNow, *v, &want, &want_entry, guard);
      CHECK(lookups[i] == want_lookup);
      if (want_lookup == VerifiedTokenCache::Lookup::kHit) {
        CHECK(statuses[i] == want);
        CHECK((entries[i] == nullptr) == (want_entry == nullptr));
        if (entries[i] != nullptr) CHECK(entries[i]->token == queries[i]);
      } else {
        CHECK(entries[i] == nullptr);
      }
    }
  }
  size_t ok = 0, expired = 0, revoked = 0, missed = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (lookups[i] == VerifiedTokenCache::Lookup::kMiss) {
      ++missed;
    } else if (statuses[i] == Status::kOk) {
      ++ok;
    } else if (statuses[i] == Status::kExpired) {
      ++expired;
    } else if (statuses[i] == Status::kRevoked) {
      ++revoked;
    }
  }
  // Every outcome occurred: the comparison above covered each of them.
  CHECK(ok > 0);
  CHECK(expired > 0);
  CHECK(revoked > 0);
  CHECK(missed > 0);
  const auto a = one.stats();
  const auto b = batch.stats();
  CHECK(b.hits == a.hits);
  CHECK(b.misses == a.misses);
  CHECK(b.entries == a.entries);
  CHECK(b.evictions == a.evictions);
}

TEST_CASE("Cache inserts inside a read guard defer reclamation instead of waiting for it",
          "[cache]") {
  auto v = MakeVerifier();
  VerifiedTokenCache cache(CacheOptions{8, 1, 7});  // one set: every insert past 8 evicts
  cache.Insert(Entry(cache, "keep.me.now", kNow + 600));
  const VerifiedTokenCache::ReadGuard guard;
  const VerifiedToken* e = nullptr;
  Status s;
  REQUIRE(cache.Find("keep.me.now", cache.Hash("keep.me.now"), kNow, *v, &s, &e, guard) ==
          VerifiedTokenCache::Lookup::kHit);
  // Far more evictions than one reclamation batch, all while this thread holds the guard:
  // none may wait for this thread, and the entry read above stays valid.
  for (int i = 0; i < 1000; ++i) cache.Insert(Entry(cache, "t." + std::to_string(i) + ".s", kNow + 600));
  CHECK(cache.stats().evictions >= 1000 - 8);
  CHECK(e->token == "keep.me.now");
  CHECK(e->sub == "s");
}

TEST_CASE("Cache inserts inside a verifier reader defer reclamation instead of waiting for it",
          "[cache]") {
  // jwtgated verifies on its I/O thread inside a VerifierCell::Reader (an epoch guard) and
  // inserts the result there: a reclamation batch filled by that insert must not wait for the
  // reader that the same thread holds (it waited forever, at 100 % CPU, before).
  auto v = MakeVerifier();
  VerifierCell cell(v);
  VerifiedTokenCache cache(CacheOptions{8, 1, 7});  // one set: every insert past 8 evicts
  {
    const VerifierCell::Reader reader(cell);
    for (int i = 0; i < 1000; ++i) {
      cache.Insert(Entry(cache, "r." + std::to_string(i) + ".s", kNow + 600));
    }
    CHECK(&*reader == v.get());
  }
  CHECK(cache.stats().evictions >= 1000 - 8);
  // Outside the reader the deferred batch is freed by the next eviction.
  cache.Insert(Entry(cache, "after.the.reader", kNow + 600));
  Status s;
  CHECK(cache.Find("after.the.reader", cache.Hash("after.the.reader"), kNow, *v, &s, nullptr) ==
        VerifiedTokenCache::Lookup::kHit);
}

TEST_CASE("Cache Clear waits for readers that still hold entries", "[cache][concurrency]") {
  auto v = MakeVerifier();
  VerifiedTokenCache cache(CacheOptions{64, 1, 7});
  const std::string t = "held.while.cleared";
  cache.Insert(Entry(cache, t, kNow + 600, "held"));
  std::atomic<bool> cleared{false};
  std::thread clearer;
  {
    const VerifiedTokenCache::ReadGuard guard;
    const VerifiedToken* e = nullptr;
    Status s;
    REQUIRE(cache.Find(t, cache.Hash(t), kNow, *v, &s, &e, guard) ==
            VerifiedTokenCache::Lookup::kHit);
    clearer = std::thread([&] {
      cache.Clear();
      cleared.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Unpublished at once, freed only after this guard ends.
    CHECK_FALSE(cleared.load());
    CHECK(e->token == t);
    CHECK(e->jti == "held");
  }
  clearer.join();
  CHECK(cleared.load());
  Status s;
  CHECK(cache.Find(t, cache.Hash(t), kNow, *v, &s, nullptr) == VerifiedTokenCache::Lookup::kMiss);
}

TEST_CASE("Cache readers race inserts, evictions, re-check failures and reloads safely",
          "[cache][concurrency]") {
  JtiRevocation r;  // revoked stays empty: written before the threads start
  r.revoked = "jti-never";
  auto v = MakeVerifier(&r);
  VerifiedTokenCache cache(CacheOptions{64, 2, 7});  // small: constant eviction
  constexpr int kTokens = 200;
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back("tok." + std::to_string(i) + ".sig");
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::string>> problems(3);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      Status s;
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const int i = static_cast<int>((n * 7 + t) % kTokens);
        const std::string& tok = tokens[static_cast<size_t>(i)];
        // Tokens with odd i are cached as already expired: their hits must say so and evict.
        const Status want = (i % 2 == 0) ? Status::kOk : Status::kExpired;
        if (n % 3 == 2) {
          // FindBatch over the next 40 tokens (two chunks), both output forms.
          constexpr size_t kN = 40;
          std::array<std::string_view, kN> batch;
          std::array<uint64_t, kN> hashes{};
          std::array<VerifiedTokenCache::Lookup, kN> lookups{};
          std::array<Status, kN> statuses{};
          std::array<const VerifiedToken*, kN> entries{};
          std::array<std::shared_ptr<const VerifiedToken>, kN> shared;
          for (size_t k = 0; k < kN; ++k) {
            batch[k] = tokens[(static_cast<size_t>(i) + k) % kTokens];
            hashes[k] = cache.Hash(batch[k]);
          }
          const VerifiedTokenCache::ReadGuard guard;
          cache.FindBatch(batch.data(), hashes.data(), kN, kNow, *v, lookups.data(),
                          statuses.data(), entries.data(), guard, shared.data());
          for (size_t k = 0; k < kN; ++k) {
            if (lookups[k] != VerifiedTokenCache::Lookup::kHit) continue;
            const size_t j = (static_cast<size_t>(i) + k) % kTokens;
            const Status want_j = (j % 2 == 0) ? Status::kOk : Status::kExpired;
            const std::string name(batch[k]);
            if (statuses[k] != want_j) {
              problems[t].push_back(name + ": " + std::string(ToString(statuses[k])));
            }
            if (statuses[k] != Status::kOk) continue;
            if (entries[k] == nullptr || shared[k].get() != entries[k] ||
                entries[k]->token != batch[k] || entries[k]->jti != "j" + std::to_string(j)) {
              problems[t].push_back(name + ": wrong batch entry");
            }
          }
        } else if (n % 3 == 0) {
          const VerifiedTokenCache::ReadGuard guard;
          const VerifiedToken* e = nullptr;
          if (cache.Find(tok, cache.Hash(tok), kNow, *v, &s, &e, guard) ==
              VerifiedTokenCache::Lookup::kHit) {
            if (s != want) problems[t].push_back(tok + ": " + std::string(ToString(s)));
            if (s == Status::kOk && (e->token != tok || e->jti != "j" + std::to_string(i))) {
              problems[t].push_back(tok + ": wrong entry " + e->token);
            }
          }
        } else {
          std::shared_ptr<const VerifiedToken> e;
          if (cache.Find(tok, cache.Hash(tok), kNow, *v, &s, &e) == VerifiedTokenCache::Lookup::kHit) {
            if (s != want) problems[t].push_back(tok + ": " + std::string(ToString(s)));
            if (s == Status::kOk && (e->token != tok || e->jti != "j" + std::to_string(i))) {
              problems[t].push_back(tok + ": wrong entry " + e->token);
            }
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int round = 0; round < 20000; ++round) {
      const int i = round % kTokens;
      const int64_t exp = (i % 2 == 0) ? kNow + 600 : kNow - 600;
      cache.Insert(Entry(cache, tokens[static_cast<size_t>(i)], exp, "j" + std::to_string(i)));
      if (round % 5000 == 4999) cache.Clear();
    }
    stop.store(true);
  });
  for (auto& th : threads) th.join();
  for (const auto& list : problems) {
    CHECK(list.empty());
    for (const auto& p : list) UNSCOPED_INFO(p);
  }
  const auto st = cache.stats();
  CHECK(st.entries <= st.capacity);
  CHECK(st.inserts == 20000);
}

TEST_CASE("Cache hash is the seeded XXH3-64 of the whole token, short and long", "[cache]") {
  VerifiedTokenCache a(CacheOptions{64, 1, 7}), b(CacheOptions{64, 1, 8});
  // Below and above XXH3's 240-byte switch to its long-input path (tokens are mostly longer).
  for (const size_t len : std::initializer_list<size_t>{0, 17, 240, 241, 600, 5000}) {
    std::string t(len, 'x');
    for (size_t i = 0; i < len; ++i) t[i] = static_cast<char>('a' + (i * 7) % 26);
    INFO("length " << len);
    CHECK(a.Hash(t) == XXH3_64bits_withSeed(t.data(), t.size(), 7));
    CHECK(a.Hash(t) != b.Hash(t));  // the seed is part of the key
    if (len != 0) {
      std::string u = t;
      u[len - 1] = u[len - 1] == 'z' ? 'y' : 'z';
      CHECK(a.Hash(t) != a.Hash(u));  // the whole token, up to its last byte
    }
  }
}
