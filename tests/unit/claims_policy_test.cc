// Claims policy through the public Verifier: time claims with leeway, NumericDate types and
// ranges, iss/aud/sub/jti types and exact matching, typ media types, lifetime and required
// claims. Every token is correctly signed (HS256), so only the policy can reject it.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "test_support.h"
#include "verify/claims_policy.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr std::string_view kSecret = "claims-policy-test-secret-0123456789";

std::string N(int64_t v) { return std::to_string(v); }

// A verifier with one HS256 key and the given policy, and the matching signer.
class PolicyFixture {
 public:
  explicit PolicyFixture(ClaimsPolicy policy) {
    KeySet::Builder builder;
    const auto* bytes = reinterpret_cast<const uint8_t*>(kSecret.data());
    REQUIRE(builder.AddHmacSecret({bytes, kSecret.size()}, Alg::kHS256, std::nullopt) ==
            Status::kOk);
    VerifierOptions options;
    options.policy = std::move(policy);
    verifier_ = std::make_unique<Verifier>(builder.Build(), std::move(options));
    Result<Signer> signer = Signer::FromSecret(kSecret, Alg::kHS256);
    REQUIRE(signer.ok());
    signer_.emplace(std::move(signer).value());
  }

  std::string Sign(std::string_view payload, std::optional<std::string_view> typ = "JWT") const {
    Result<std::string> token = signer_->Sign(payload, std::nullopt, typ);
    REQUIRE(token.ok());
    return token.value();
  }

  std::string SignRaw(std::string_view header, std::string_view payload) const {
    Result<std::string> token = signer_->SignRaw(header, payload);
    REQUIRE(token.ok());
    return token.value();
  }

  Status Verify(std::string_view payload, int64_t now = kNow,
                std::optional<std::string_view> typ = "JWT", Claims* out = nullptr) {
    return verifier_->Verify(Sign(payload, typ), now, ctx_, out);
  }

  Status VerifyToken(std::string_view token, int64_t now = kNow, Claims* out = nullptr) {
    return verifier_->Verify(token, now, ctx_, out);
  }

 private:
  std::unique_ptr<Verifier> verifier_;
  std::optional<Signer> signer_;
  VerifyContext ctx_;
};

struct Case {
  std::string payload;
  Status want;
  int64_t now = kNow;
};

void RunCases(PolicyFixture& f, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const Status got = f.Verify(c.payload, c.now);
    INFO("payload: " << c.payload << "  now: " << c.now);
    INFO("want " << ToString(c.want) << ", got " << ToString(got));
    CHECK(got == c.want);
  }
}

ClaimsPolicy WithLeeway(int64_t leeway) {
  ClaimsPolicy p;
  p.leeway_s = leeway;
  return p;
}

const std::string kExpOk = "\"exp\":" + N(kNow + 3600);

// RFC 7519 §4.1.4: the current time MUST be before exp, so a token is expired from
// now >= exp + leeway on. §4.1.5: the current time MUST be at or after nbf, so it is valid from
// now >= nbf - leeway on. iat is refused only when strictly later than now + leeway.
TEST_CASE("exp, nbf and iat boundaries with the default 30 s leeway", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  const std::vector<Case> cases = {
      {"{\"exp\":" + N(kNow + 3600) + "}", Status::kOk},
      {"{\"exp\":" + N(kNow - 29) + "}", Status::kOk},
      {"{\"exp\":" + N(kNow - 30) + "}", Status::kExpired},
      {"{\"exp\":" + N(kNow - 31) + "}", Status::kExpired},
      {"{\"exp\":" + N(kNow - 86400) + "}", Status::kExpired},
      {"{\"exp\":" + N(kNow) + "}", Status::kOk},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow + 30) + "}", Status::kOk},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow + 31) + "}", Status::kNotYetValid},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow - 86400) + "}", Status::kOk},
      {"{" + kExpOk + ",\"nbf\":0}", Status::kOk},
      {"{" + kExpOk + ",\"iat\":" + N(kNow + 30) + "}", Status::kOk},
      {"{" + kExpOk + ",\"iat\":" + N(kNow + 31) + "}", Status::kIatInFuture},
      {"{" + kExpOk + ",\"iat\":" + N(kNow - 86400) + "}", Status::kOk},
      {"{" + kExpOk + ",\"iat\":0}", Status::kOk},
  };
  RunCases(f, cases);
}

TEST_CASE("exp, nbf and iat boundaries with zero leeway", "[claims]") {
  PolicyFixture f{WithLeeway(0)};
  const std::vector<Case> cases = {
      {"{\"exp\":" + N(kNow + 1) + "}", Status::kOk},
      {"{\"exp\":" + N(kNow) + "}", Status::kExpired},
      {"{\"exp\":" + N(kNow - 1) + "}", Status::kExpired},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow) + "}", Status::kOk},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow + 1) + "}", Status::kNotYetValid},
      {"{" + kExpOk + ",\"iat\":" + N(kNow) + "}", Status::kOk},
      {"{" + kExpOk + ",\"iat\":" + N(kNow + 1) + "}", Status::kIatInFuture},
  };
  RunCases(f, cases);
}

TEST_CASE("leeway applies symmetrically at a larger value", "[claims]") {
  PolicyFixture f{WithLeeway(300)};
  const std::vector<Case> cases = {
      {"{\"exp\":" + N(kNow - 299) + "}", Status::kOk},
      {"{\"exp\":" + N(kNow - 300) + "}", Status::kExpired},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow + 300) + "}", Status::kOk},
      {"{" + kExpOk + ",\"nbf\":" + N(kNow + 301) + "}", Status::kNotYetValid},
      {"{" + kExpOk + ",\"iat\":" + N(kNow + 300) + "}", Status::kOk},
      {"{" + kExpOk + ",\"iat\":" + N(kNow + 301) + "}", Status::kIatInFuture},
  };
  RunCases(f, cases);
}

TEST_CASE("time arithmetic saturates instead of wrapping", "[claims]") {
  SECTION("a huge leeway never turns into a negative one") {
    PolicyFixture f{WithLeeway(kMax)};
    const std::vector<Case> cases = {
        {"{\"exp\":1}", Status::kOk},
        {"{" + kExpOk + ",\"nbf\":9007199254740991}", Status::kOk},
        {"{" + kExpOk + ",\"iat\":9007199254740991}", Status::kOk},
    };
    RunCases(f, cases);
  }
  SECTION("now at the top of the range") {
    ClaimsPolicy p;
    p.require_exp = false;
    PolicyFixture f{p};
    const std::vector<Case> cases = {
        {"{\"iat\":" + N(kNow) + "}", Status::kOk, kMax},
        {"{\"nbf\":" + N(kNow) + "}", Status::kOk, kMax},
        {"{\"exp\":9007199254740991}", Status::kExpired, kMax},
        {"{\"exp\":" + N(kNow) + "}", Status::kExpired, kMax},
    };
    RunCases(f, cases);
  }
}

// RFC 7519 §2 NumericDate: a JSON number, fractions allowed. jwtgate accepts [0, 2^53) and
// truncates fractions toward zero (claims.h). Anything else present is an error, never
// "absent" (CVE-2026-25537, CVE-2026-44459).
TEST_CASE("NumericDate claims must be numbers in range", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  struct TypeCase {
    std::string value;
    Status want_exp;  // as `exp`
    Status want_nbf;  // as `nbf` (with a valid exp)
    Status want_iat;  // as `iat` (with a valid exp)
  };
  const std::vector<TypeCase> cases = {
      {"\"" + N(kNow + 3600) + "\"", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"\"\"", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"true", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"false", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"null", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"[" + N(kNow + 3600) + "]", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"[]", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"{}", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"{\"t\":" + N(kNow + 3600) + "}", Status::kExpInvalid, Status::kNbfInvalid,
       Status::kIatInvalid},
      // Out of range: negative, 2^53 and beyond, as integers and as doubles.
      {"-1", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"-1700000000", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"-9223372036854775808", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"9007199254740992", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"9007199254740993", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"9223372036854775807", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"9223372036854775808", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"18446744073709551615", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"1e300", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"9.007199254740992e15", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"-1.5", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      {"-1e300", Status::kExpInvalid, Status::kNbfInvalid, Status::kIatInvalid},
      // Numbers a double cannot hold are not I-JSON (RFC 7493 §2.2): the strict JSON layer
      // refuses the whole claims set before any claim is looked at.
      {"1e400", Status::kPayloadBadJson, Status::kPayloadBadJson, Status::kPayloadBadJson},
      {"-1e400", Status::kPayloadBadJson, Status::kPayloadBadJson, Status::kPayloadBadJson},
      {"18446744073709551616", Status::kPayloadBadJson, Status::kPayloadBadJson,
       Status::kPayloadBadJson},
      {"NaN", Status::kPayloadBadJson, Status::kPayloadBadJson, Status::kPayloadBadJson},
      {"Infinity", Status::kPayloadBadJson, Status::kPayloadBadJson, Status::kPayloadBadJson},
  };
  for (const TypeCase& c : cases) {
    INFO("value: " << c.value);
    const Status exp = f.Verify("{\"exp\":" + c.value + "}");
    const Status nbf = f.Verify("{" + kExpOk + ",\"nbf\":" + c.value + "}");
    const Status iat = f.Verify("{" + kExpOk + ",\"iat\":" + c.value + "}");
    CHECK(ToString(exp) == ToString(c.want_exp));
    CHECK(ToString(nbf) == ToString(c.want_nbf));
    CHECK(ToString(iat) == ToString(c.want_iat));
  }
}

TEST_CASE("NumericDate values in range, including fractions and zero", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  Claims claims;
  SECTION("the largest accepted value is 2^53 - 1") {
    REQUIRE(f.Verify("{\"exp\":9007199254740991}", kNow, "JWT", &claims) == Status::kOk);
    CHECK(claims.exp == 9007199254740991);
  }
  SECTION("exponent notation") {
    REQUIRE(f.Verify("{\"exp\":1.7000036e9}", kNow, "JWT", &claims) == Status::kOk);
    CHECK(claims.exp == 1'700'003'600);
  }
  SECTION("fractions are truncated toward zero") {
    REQUIRE(f.Verify("{\"exp\":" + N(kNow + 100) + ".9,\"nbf\":" + N(kNow - 5) +
                         ".5,\"iat\":" + N(kNow - 10) + ".999}",
                     kNow, "JWT", &claims) == Status::kOk);
    CHECK(claims.exp == kNow + 100);
    CHECK(claims.nbf == kNow - 5);
    CHECK(claims.iat == kNow - 10);
    CHECK(claims.has_exp);
    CHECK(claims.has_nbf);
    CHECK(claims.has_iat);
  }
  SECTION("truncation makes exp earlier: exp = now - 30 + 0.9 is expired at now") {
    CHECK_STATUS(f.Verify("{\"exp\":" + N(kNow - 30) + ".9}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{\"exp\":" + N(kNow - 29) + ".1}"), Status::kOk);
  }
  SECTION("truncation makes nbf and iat earlier too") {
    CHECK_STATUS(f.Verify("{" + kExpOk + ",\"nbf\":" + N(kNow + 30) + ".9}"), Status::kOk);
    CHECK_STATUS(f.Verify("{" + kExpOk + ",\"iat\":" + N(kNow + 30) + ".9}"), Status::kOk);
  }
  SECTION("zero and negative zero are the epoch, long expired") {
    CHECK_STATUS(f.Verify("{\"exp\":0}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{\"exp\":-0}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{\"exp\":-0.0}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{\"exp\":0.0}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{\"exp\":1e-400}"), Status::kExpired);
    CHECK_STATUS(f.Verify("{" + kExpOk + ",\"nbf\":-0}"), Status::kOk);
    CHECK_STATUS(f.Verify("{" + kExpOk + ",\"iat\":-0.0}"), Status::kOk);
  }
}

TEST_CASE("exp is required unless the policy says otherwise", "[claims]") {
  SECTION("default policy") {
    PolicyFixture f{ClaimsPolicy{}};
    const std::vector<Case> cases = {
        {"{}", Status::kExpMissing},
        {"{\"sub\":\"alice\"}", Status::kExpMissing},
        {"{\"nbf\":" + N(kNow) + ",\"iat\":" + N(kNow) + "}", Status::kExpMissing},
        {"{\"EXP\":" + N(kNow + 3600) + "}", Status::kExpMissing},  // names are case-sensitive
        {"{\"x\":{\"exp\":" + N(kNow + 3600) + "}}", Status::kExpMissing},  // top level only
    };
    RunCases(f, cases);
  }
  SECTION("require_exp = false") {
    ClaimsPolicy p;
    p.require_exp = false;
    PolicyFixture f{p};
    Claims claims;
    REQUIRE(f.Verify("{\"sub\":\"alice\"}", kNow, "JWT", &claims) == Status::kOk);
    CHECK_FALSE(claims.has_exp);
    const std::vector<Case> cases = {
        {"{}", Status::kOk},
        // A present exp is still checked, for value and type.
        {"{\"exp\":" + N(kNow - 30) + "}", Status::kExpired},
        {"{\"exp\":\"soon\"}", Status::kExpInvalid},
        {"{\"exp\":null}", Status::kExpInvalid},
        {"{\"nbf\":" + N(kNow + 31) + "}", Status::kNotYetValid},
    };
    RunCases(f, cases);
  }
}

TEST_CASE("iss must be a string equal to an allowed issuer", "[claims]") {
  ClaimsPolicy p;
  p.issuers = {"https://issuer.example", "https://other.example/tenant"};
  PolicyFixture f{p};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + e + "\"iss\":\"https://issuer.example\"}", Status::kOk},
      {"{" + e + "\"iss\":\"https://other.example/tenant\"}", Status::kOk},
      // JSON escapes are compared after unescaping.
      {"{" + e + "\"iss\":\"https:\\/\\/issuer.example\"}", Status::kOk},
      {"{" + e + "\"iss\":\"\\u0068ttps://issuer.example\"}", Status::kOk},
      // Exact match only: no prefix, suffix, substring, case folding or normalization.
      {"{" + e + "\"iss\":\"https://issuer.example/\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"https://issuer.exampl\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"https://issuer.example.evil\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"xhttps://issuer.example\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"issuer.example\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"HTTPS://ISSUER.EXAMPLE\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"https://issuer.example \"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"https://issuer.example\\u0000\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"https://other.example\"}", Status::kIssNotAllowed},
      {"{" + e + "\"iss\":\"\"}", Status::kIssNotAllowed},
      // Wrong types: an array is not a membership test (CVE-2024-53861, CVE-2025-30144).
      {"{" + e + "\"iss\":[\"https://issuer.example\"]}", Status::kIssInvalid},
      {"{" + e + "\"iss\":[\"https://issuer.example\",\"https://evil.example\"]}",
       Status::kIssInvalid},
      {"{" + e + "\"iss\":[]}", Status::kIssInvalid},
      {"{" + e + "\"iss\":5}", Status::kIssInvalid},
      {"{" + e + "\"iss\":true}", Status::kIssInvalid},
      {"{" + e + "\"iss\":null}", Status::kIssInvalid},
      {"{" + e + "\"iss\":{\"iss\":\"https://issuer.example\"}}", Status::kIssInvalid},
      // Missing.
      {"{" + kExpOk + "}", Status::kIssMissing},
      {"{" + e + "\"ISS\":\"https://issuer.example\"}", Status::kIssMissing},
  };
  RunCases(f, cases);
}

TEST_CASE("iss without an allow-list is optional but typed", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + kExpOk + "}", Status::kOk},
      {"{" + e + "\"iss\":\"anyone\"}", Status::kOk},
      {"{" + e + "\"iss\":\"\"}", Status::kOk},
      {"{" + e + "\"iss\":[\"anyone\"]}", Status::kIssInvalid},
      {"{" + e + "\"iss\":5}", Status::kIssInvalid},
      {"{" + e + "\"iss\":null}", Status::kIssInvalid},
  };
  RunCases(f, cases);
}

TEST_CASE("aud is a string or a non-empty array of strings matching an audience", "[claims]") {
  ClaimsPolicy p;
  p.audiences = {"api://one", "api://two"};
  PolicyFixture f{p};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + e + "\"aud\":\"api://one\"}", Status::kOk},
      {"{" + e + "\"aud\":\"api://two\"}", Status::kOk},
      {"{" + e + "\"aud\":[\"api://one\"]}", Status::kOk},
      {"{" + e + "\"aud\":[\"x\",\"y\",\"api://two\"]}", Status::kOk},
      {"{" + e + "\"aud\":\"api:\\/\\/one\"}", Status::kOk},
      // No match.
      {"{" + e + "\"aud\":\"api://on\"}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":\"api://one2\"}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":\"API://ONE\"}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":\"api://one api://two\"}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":\"\"}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":[\"x\"]}", Status::kAudNotAllowed},
      {"{" + e + "\"aud\":[\"\"]}", Status::kAudNotAllowed},
      // Wrong shapes, even when a matching value is also present (CVE-2020-26160).
      {"{" + e + "\"aud\":[]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[\"api://one\",5]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[5,\"api://one\"]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[\"api://one\",null]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[[\"api://one\"]]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[{\"aud\":\"api://one\"}]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":5}", Status::kAudInvalid},
      {"{" + e + "\"aud\":true}", Status::kAudInvalid},
      {"{" + e + "\"aud\":null}", Status::kAudInvalid},
      {"{" + e + "\"aud\":{}}", Status::kAudInvalid},
      // Missing.
      {"{" + kExpOk + "}", Status::kAudMissing},
  };
  RunCases(f, cases);
}

TEST_CASE("aud without configured audiences is optional but typed", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + e + "\"aud\":\"anything\"}", Status::kOk},
      {"{" + e + "\"aud\":[\"a\",\"b\"]}", Status::kOk},
      {"{" + e + "\"aud\":5}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[]}", Status::kAudInvalid},
      {"{" + e + "\"aud\":[\"a\",1]}", Status::kAudInvalid},
  };
  RunCases(f, cases);
}

TEST_CASE("sub and jti must be strings when present", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + e + "\"sub\":\"alice\",\"jti\":\"id-1\"}", Status::kOk},
      {"{" + e + "\"sub\":\"\"}", Status::kOk},
      {"{" + e + "\"sub\":5}", Status::kSubInvalid},
      {"{" + e + "\"sub\":[\"alice\"]}", Status::kSubInvalid},
      {"{" + e + "\"sub\":null}", Status::kSubInvalid},
      {"{" + e + "\"sub\":{}}", Status::kSubInvalid},
      {"{" + e + "\"jti\":5}", Status::kJtiInvalid},
      {"{" + e + "\"jti\":[\"id-1\"]}", Status::kJtiInvalid},
      {"{" + e + "\"jti\":false}", Status::kJtiInvalid},
      {"{" + e + "\"jti\":null}", Status::kJtiInvalid},
  };
  RunCases(f, cases);
}

TEST_CASE("typ is compared as a media type", "[claims]") {
  SECTION("TypMatches") {
    struct TypCase {
      std::string_view configured;
      std::string_view received;
      bool want;
    };
    const TypCase cases[] = {
        {"at+jwt", "at+jwt", true},
        {"at+jwt", "application/at+jwt", true},
        {"application/at+jwt", "at+jwt", true},
        {"application/at+jwt", "application/at+jwt", true},
        {"at+jwt", "AT+JWT", true},
        {"at+jwt", "Application/At+Jwt", true},
        {"AT+JWT", "application/at+jwt", true},
        {"at+jwt", "APPLICATION/at+jwt", true},
        {"JWT", "JWT", true},
        {"JWT", "jwt", true},
        {"JWT", "application/jwt", true},
        {"jwt", "application/JWT", true},
        {"text/plain", "text/plain", true},
        {"text/plain", "TEXT/PLAIN", true},
        {"at+jwt", "jwt", false},
        {"at+jwt", "JWT", false},
        {"JWT", "at+jwt", false},
        {"at+jwt", "at+jw", false},
        {"at+jwt", "at+jwtx", false},
        {"at+jwt", "at+jwt ", false},
        {"at+jwt", " at+jwt", false},
        {"at+jwt", "application/at+jwtx", false},
        {"at+jwt", "application//at+jwt", false},
        {"at+jwt", "xapplication/at+jwt", false},
        {"at+jwt", "application/", false},
        {"at+jwt", "text/at+jwt", false},
        {"application/at+jwt", "text/at+jwt", false},
        {"text/plain", "plain", false},
        {"text/plain", "application/plain", false},
        {"at+jwt", "", false},
        {"at+jwt", "application/at+jwt/x", false},
    };
    for (const TypCase& c : cases) {
      INFO("configured " << c.configured << ", received " << c.received);
      CHECK(verify::TypMatches(c.configured, c.received) == c.want);
    }
  }

  SECTION("through the verifier, configured at+jwt (RFC 9068)") {
    ClaimsPolicy p;
    p.typ = "at+jwt";
    PolicyFixture f{p};
    const std::string payload = "{" + kExpOk + "}";
    CHECK_STATUS(f.Verify(payload, kNow, "at+jwt"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, "application/at+jwt"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, "AT+JWT"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, "JWT"), Status::kTypMismatch);
    CHECK_STATUS(f.Verify(payload, kNow, "jwt"), Status::kTypMismatch);
    CHECK_STATUS(f.Verify(payload, kNow, "application/jwt"), Status::kTypMismatch);
    CHECK_STATUS(f.Verify(payload, kNow, "at+jwt "), Status::kTypMismatch);
    CHECK_STATUS(f.Verify(payload, kNow, ""), Status::kTypMismatch);
    CHECK_STATUS(f.Verify(payload, kNow, std::nullopt), Status::kTypMissing);
    CHECK_STATUS(f.VerifyToken(f.SignRaw(R"({"alg":"HS256","typ":5})", payload)),
                 Status::kTypInvalid);
    CHECK_STATUS(f.VerifyToken(f.SignRaw(R"({"alg":"HS256","typ":["at+jwt"]})", payload)),
                 Status::kTypInvalid);
    CHECK_STATUS(f.VerifyToken(f.SignRaw(R"({"alg":"HS256","typ":null})", payload)),
                 Status::kTypInvalid);
    Claims claims;
    REQUIRE(f.Verify(payload, kNow, "application/AT+jwt", &claims) == Status::kOk);
    CHECK(claims.typ == "application/AT+jwt");
  }

  SECTION("not configured: any string typ, or none, passes; other types do not") {
    PolicyFixture f{ClaimsPolicy{}};
    const std::string payload = "{" + kExpOk + "}";
    CHECK_STATUS(f.Verify(payload, kNow, "JWT"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, "at+jwt"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, "anything"), Status::kOk);
    CHECK_STATUS(f.Verify(payload, kNow, std::nullopt), Status::kOk);
    CHECK_STATUS(f.VerifyToken(f.SignRaw(R"({"alg":"HS256","typ":5})", payload)),
                 Status::kTypInvalid);
    CHECK_STATUS(f.VerifyToken(f.SignRaw(R"({"alg":"HS256","typ":{}})", payload)),
                 Status::kTypInvalid);
  }
}

TEST_CASE("maximum lifetime", "[claims]") {
  ClaimsPolicy p;
  p.max_lifetime_s = 3600;
  SECTION("exp - iat, or exp - now without iat") {
    PolicyFixture f{p};
    const std::vector<Case> cases = {
        // exp - iat when iat is present.
        {"{\"iat\":" + N(kNow) + ",\"exp\":" + N(kNow + 3600) + "}", Status::kOk},
        {"{\"iat\":" + N(kNow) + ",\"exp\":" + N(kNow + 3601) + "}", Status::kLifetimeTooLong},
        {"{\"iat\":" + N(kNow - 100) + ",\"exp\":" + N(kNow + 3500) + "}", Status::kOk},
        {"{\"iat\":" + N(kNow - 100) + ",\"exp\":" + N(kNow + 3501) + "}",
         Status::kLifetimeTooLong},
        {"{\"iat\":0,\"exp\":" + N(kNow + 60) + "}", Status::kLifetimeTooLong},
        // exp - now when iat is absent.
        {"{\"exp\":" + N(kNow + 3600) + "}", Status::kOk},
        {"{\"exp\":" + N(kNow + 3601) + "}", Status::kLifetimeTooLong},
        {"{\"exp\":9007199254740991}", Status::kLifetimeTooLong},
    };
    RunCases(f, cases);
  }
  SECTION("without exp the lifetime is unbounded, so a lifetime limit requires exp") {
    ClaimsPolicy q;
    q.max_lifetime_s = 3600;
    q.require_exp = false;
    PolicyFixture g{q};
    CHECK_STATUS(g.Verify("{\"iat\":" + N(kNow) + "}"), Status::kExpMissing);
    CHECK_STATUS(g.Verify("{\"iat\":" + N(kNow) + ",\"exp\":" + N(kNow + 60) + "}"), Status::kOk);
  }
  SECTION("zero means no limit") {
    PolicyFixture g{ClaimsPolicy{}};
    CHECK_STATUS(g.Verify("{\"iat\":0,\"exp\":9007199254740991}"), Status::kOk);
  }
}

TEST_CASE("required claims must be present at the top level, with any type", "[claims]") {
  ClaimsPolicy p;
  p.required_claims = {"sub", "tenant"};
  PolicyFixture f{p};
  const std::string e = kExpOk + ",";
  const std::vector<Case> cases = {
      {"{" + e + "\"sub\":\"alice\",\"tenant\":\"t1\"}", Status::kOk},
      {"{" + e + "\"sub\":\"alice\",\"tenant\":null}", Status::kOk},
      {"{" + e + "\"sub\":\"alice\",\"tenant\":[1,2]}", Status::kOk},
      {"{" + e + "\"sub\":\"alice\",\"tenant\":{}}", Status::kOk},
      {"{" + e + "\"sub\":\"alice\"}", Status::kRequiredClaimMissing},
      {"{" + e + "\"tenant\":\"t1\"}", Status::kRequiredClaimMissing},
      {"{" + kExpOk + "}", Status::kRequiredClaimMissing},
      {"{" + e + "\"sub\":\"alice\",\"x\":{\"tenant\":\"t1\"}}", Status::kRequiredClaimMissing},
      {"{" + e + "\"sub\":\"alice\",\"Tenant\":\"t1\"}", Status::kRequiredClaimMissing},
      {"{" + e + "\"sub\":\"alice\",\"\\u0074enant\":\"t1\"}", Status::kOk},
  };
  RunCases(f, cases);
}

TEST_CASE("every required claim is enforced, however many there are", "[claims]") {
  // 70 required names; the token carries all but one, at each of a few positions in the list.
  ClaimsPolicy p;
  for (int i = 0; i < 70; ++i) p.required_claims.push_back("c" + std::to_string(i));
  PolicyFixture f{p};
  auto payload_without = [&](int missing) {
    std::string s = "{" + kExpOk;
    for (int i = 0; i < 70; ++i) {
      if (i != missing) s += ",\"c" + std::to_string(i) + "\":" + std::to_string(i);
    }
    return s + "}";
  };
  CHECK_STATUS(f.Verify(payload_without(-1)), Status::kOk);
  for (int missing : {0, 1, 63, 64, 65, 69}) {
    INFO("missing c" << missing);
    CHECK_STATUS(f.Verify(payload_without(missing)), Status::kRequiredClaimMissing);
  }
}

TEST_CASE("verified claims are exposed as typed views", "[claims]") {
  PolicyFixture f{ClaimsPolicy{}};
  const std::string payload =
      "{\"iss\":\"https:\\/\\/issuer.example\",\"sub\":\"al\\u0069ce\","
      "\"jti\":\"id-7\",\"exp\":" +
      N(kNow + 60) + ",\"nbf\":" + N(kNow - 60) + ",\"iat\":" + N(kNow - 61) + ",\"x\":[1,{}]}";
  Claims claims;
  REQUIRE(f.Verify(payload, kNow, "JWT", &claims) == Status::kOk);
  CHECK(claims.alg == Alg::kHS256);
  CHECK(claims.iss == "https://issuer.example");
  CHECK(claims.sub == "alice");
  CHECK(claims.jti == "id-7");
  CHECK(claims.typ == "JWT");
  CHECK_FALSE(claims.has_kid);
  CHECK(claims.kid.empty());
  CHECK(claims.has_exp);
  CHECK(claims.has_nbf);
  CHECK(claims.has_iat);
  CHECK(claims.exp == kNow + 60);
  CHECK(claims.nbf == kNow - 60);
  CHECK(claims.iat == kNow - 61);
  CHECK(claims.payload_json == payload);

  Claims bare;
  REQUIRE(f.Verify("{" + kExpOk + "}", kNow, std::nullopt, &bare) == Status::kOk);
  CHECK(bare.iss.empty());
  CHECK(bare.sub.empty());
  CHECK(bare.jti.empty());
  CHECK(bare.typ.empty());
  CHECK_FALSE(bare.has_nbf);
  CHECK_FALSE(bare.has_iat);
}

}  // namespace
}  // namespace jwtgate
