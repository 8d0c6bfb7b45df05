// Verifier: the order of its stages (signature before payload, revocation last), Recheck,
// VerifyContext::ClaimAsString, and one context per thread or shared by verifiers in turn.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "test_support.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
using namespace test;

TEST_CASE("the payload is parsed only after the signature is checked", "[verifier]") {
  Env v(Hs256Keys());
  const std::string hs = R"({"alg":"HS256"})";
  for (std::string_view payload :
       {"not json"sv, "[]"sv, R"({"a":1,"a":2})"sv, R"({"exp":"x"})"sv, "{}"sv}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(hs, payload, "another-secret-of-at-least-32-bytes")),
                 Status::kSignatureInvalid);
  }
}

TEST_CASE("revocation is consulted only for otherwise valid tokens", "[verifier]") {
  RevokeJti revoked;
  Env v(Hs256Keys(), {}, &revoked);
  const std::string hs = R"({"alg":"HS256"})";
  const std::string p = PayloadExp(R"(,"jti":"revoked")");
  CHECK_STATUS(v(Hs256(hs, p)), Status::kRevoked);
  CHECK_STATUS(v(Hs256(hs, p), kNow + 7200), Status::kExpired);
  CHECK_STATUS(v(Hs256(hs, p, "another-secret-of-at-least-32-bytes")), Status::kSignatureInvalid);
  CHECK_STATUS(v(Hs256(hs, PayloadExp(R"(,"jti":"fine")"))), Status::kOk);
}

TEST_CASE("Recheck re-applies exp with leeway, then revocation", "[verifier]") {
  RevokeJti revoked;
  Env v(Hs256Keys(), {}, &revoked);
  Claims claims;
  REQUIRE(v(Hs256(R"({"alg":"HS256"})", PayloadExp(R"(,"jti":"fine")")), kNow, &claims) ==
          Status::kOk);
  CHECK_STATUS(v.verifier().Recheck(claims, kNow), Status::kOk);
  CHECK_STATUS(v.verifier().Recheck(claims, kNow + 3600 + 29), Status::kOk);
  CHECK_STATUS(v.verifier().Recheck(claims, kNow + 3600 + 30), Status::kExpired);
  Claims revoked_claims = claims;
  revoked_claims.jti = "revoked";
  CHECK_STATUS(v.verifier().Recheck(revoked_claims, kNow), Status::kRevoked);
}

TEST_CASE("VerifyContext::ClaimAsString", "[verifier]") {
  Env v(Hs256Keys());
  const std::string payload =
      "{\"exp\":" + std::to_string(kNow + 60) +
      R"(,"sub":"al\u0069ce","n":42,"f":1.5,"b":true,"z":null,"o":{"a":1},"l":[1],"q":"a\"b"})";
  REQUIRE(v(Hs256(R"({"alg":"HS256"})", payload)) == Status::kOk);
  std::string_view out;
  REQUIRE(v.ctx().ClaimAsString("sub", &out));
  CHECK(out == "alice");
  REQUIRE(v.ctx().ClaimAsString("n", &out));
  CHECK(out == "42");
  REQUIRE(v.ctx().ClaimAsString("b", &out));
  CHECK(out == "true");
  REQUIRE(v.ctx().ClaimAsString("q", &out));
  CHECK(out == "a\"b");
  REQUIRE(v.ctx().ClaimAsString("exp", &out));
  CHECK(out == std::to_string(kNow + 60));
  CHECK_FALSE(v.ctx().ClaimAsString("o", &out));
  CHECK_FALSE(v.ctx().ClaimAsString("l", &out));
  CHECK_FALSE(v.ctx().ClaimAsString("missing", &out));
}

TEST_CASE("one VerifyContext serves several verifiers in turn", "[verifier]") {
  // Same header bytes, different keys and limits: nothing one verifier learned about a header
  // may carry over to another.
  const std::string other_secret = "fedcba9876543210fedcba9876543210";
  VerifierOptions small;
  small.limits.max_payload_bytes = 64;
  small.limits.max_json_depth = 4;
  const Verifier a(Keys().Hmac(kSecret, Alg::kHS256).Build(), {});
  const Verifier b(Keys().Hmac(other_secret, Alg::kHS256).Build(), small);
  const Verifier c(Keys().Hmac(kSecret, Alg::kHS256, "k").Build(), {});
  const std::string hs = R"({"alg":"HS256"})";
  const std::string for_a = Hs256(hs, PayloadExp(R"(,"pad":")" + std::string(100, 'x') + "\""));
  const std::string for_b = Hs256(hs, PayloadExp(), other_secret);
  VerifyContext ctx;
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    CHECK_STATUS(a.Verify(for_a, kNow, ctx, nullptr), Status::kOk);
    CHECK_STATUS(b.Verify(for_a, kNow, ctx, nullptr), Status::kSignatureInvalid);
    CHECK_STATUS(b.Verify(for_b, kNow, ctx, nullptr), Status::kOk);
    CHECK_STATUS(a.Verify(for_b, kNow, ctx, nullptr), Status::kSignatureInvalid);
    // c's only key has a kid; a token without kid is still its single HS256 candidate.
    CHECK_STATUS(c.Verify(for_a, kNow, ctx, nullptr), Status::kOk);
    CHECK_STATUS(c.Verify(Hs256(R"({"alg":"HS256","kid":"x"})", PayloadExp()), kNow, ctx, nullptr),
                 Status::kUnknownKid);
  }
  // The payload cap of b applies to b only.
  const std::string big =
      Hs256(hs, PayloadExp(R"(,"pad":")" + std::string(100, 'x') + "\""), other_secret);
  CHECK_STATUS(b.Verify(big, kNow, ctx, nullptr), Status::kPayloadTooLarge);
}

TEST_CASE("the header memo binds each of many headers to its own key", "[verifier]") {
  // 100 kids (more than the memo holds), each with its own secret, one of them with a kid too
  // long to memoize; tokens verified in an order that revisits and evicts entries. A header
  // remembered with one key must never verify a token signed with another.
  constexpr int kKids = 100;
  Keys keys;
  std::vector<std::string> kids, secrets;
  for (int k = 0; k < kKids; ++k) {
    kids.push_back(k == 7 ? "kid-" + std::string(80, 'x') : "kid-" + std::to_string(k));
    secrets.push_back(std::string(32, static_cast<char>('A' + k % 26)) + std::to_string(k));
    keys.Hmac(secrets.back(), Alg::kHS256, kids.back());
  }
  const Verifier v(keys.Build(), {});
  auto header = [&](int k) { return R"({"alg":"HS256","kid":")" + kids[k] + R"("})"; };
  VerifyContext ctx;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < kKids; ++i) {
      const int k = (i * 37 + round * 11) % kKids;  // a different order every round
      INFO("round " << round << ", kid " << kids[k]);
      Claims c;
      CHECK_STATUS(v.Verify(Hs256(header(k), PayloadExp(), secrets[k]), kNow, ctx, &c),
                   Status::kOk);
      CHECK(c.kid == kids[k]);
      // The same header, signed with the next kid's secret.
      CHECK_STATUS(
          v.Verify(Hs256(header(k), PayloadExp(), secrets[(k + 1) % kKids]), kNow, ctx, nullptr),
          Status::kSignatureInvalid);
    }
  }
}

TEST_CASE("Verify is thread-safe with one context per thread", "[verifier]") {
  const Generated es = Generate(Alg::kES256, "e");
  const Signer signer = SignerFor(es);
  const auto keys = Keys().Jwks(es.public_jwk).Hmac(kSecret, Alg::kHS256, "h").Build();
  const Verifier verifier(keys, {});
  const std::string good_es = Sign(signer, PayloadExp(), "e");
  const std::string good_hs = Hs256(R"({"alg":"HS256","kid":"h"})", PayloadExp());
  const std::string bad = WithSignature(good_hs, std::string(32, '\0'));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      VerifyContext ctx;
      for (int i = 0; i < 200; ++i) {
        Claims claims;
        if (verifier.Verify(good_hs, kNow, ctx, &claims) != Status::kOk || claims.sub != "alice") {
          ++wrong;
        }
        if (verifier.Verify(bad, kNow, ctx, nullptr) != Status::kSignatureInvalid) ++wrong;
        // The overload with a context owned by the calling thread.
        if (verifier.Verify(t % 2 ? good_es : good_hs, kNow, nullptr) != Status::kOk) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  CHECK(wrong.load() == 0);
}

}  // namespace
}  // namespace jwtgate
