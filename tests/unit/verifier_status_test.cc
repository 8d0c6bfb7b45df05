// Verifier statuses: every status value of the token path and of key import is reached here.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
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

TEST_CASE("every token-path and key-import status is reachable", "[verifier][status]") {
  std::set<Status> seen;
  auto expect = [&](const char* what, Status got, Status want) {
    INFO(what << ": want " << ToString(want) << ", got " << ToString(got));
    CHECK(got == want);
    if (got == want) seen.insert(want);
  };
  const std::string p = PayloadExp();
  const std::string hs = R"({"alg":"HS256"})";

  // --- Token path, one HS256 key without kid.
  {
    RevokeJti revoked;
    VerifierOptions options;
    options.limits.max_payload_bytes = 512;
    Env v(Hs256Keys(), options, &revoked);
    expect("valid", v(Hs256(hs, p)), Status::kOk);
    expect("empty", v(""), Status::kTokenEmpty);
    expect("too large", v(std::string(8193, 'a')), Status::kTokenTooLarge);
    expect("two segments", v("eyJhbGciOiJIUzI1NiJ9.eyJ9"), Status::kTokenMalformed);
    expect("five segments", v("a.b.c.d.e"), Status::kTokenIsJwe);
    expect("header length 1 mod 4", v(HmacJwsSegments("eyJhbGciOiJIUzI1NiJ9A", B64(p))),
           Status::kHeaderBadBase64);
    expect("header too large",
           v(Hs256(R"({"alg":"HS256","x":")" + std::string(1100, 'x') + "\"}", p)),
           Status::kHeaderTooLarge);
    expect("header not JSON", v(Hs256("{alg:HS256}", p)), Status::kHeaderBadJson);
    expect("header not an object", v(Hs256(R"(["alg","HS256"])", p)), Status::kHeaderNotObject);
    expect("header duplicate", v(Hs256(R"({"alg":"HS256","alg":"HS256"})", p)),
           Status::kHeaderDuplicateMember);
    expect("alg missing", v(Hs256(R"({"typ":"JWT"})", p)), Status::kAlgMissing);
    expect("alg not a string", v(Hs256(R"({"alg":["HS256"]})", p)), Status::kAlgInvalid);
    expect("alg none", v(Hs256(R"({"alg":"none"})", p)), Status::kAlgNotAllowed);
    expect("alg without key", v(Hs256(R"({"alg":"HS512"})", p)), Status::kAlgNotAllowed);
    expect("kid not a string", v(Hs256(R"({"alg":"HS256","kid":5})", p)), Status::kKidInvalid);
    expect("typ not a string", v(Hs256(R"({"alg":"HS256","typ":5})", p)), Status::kTypInvalid);
    expect("crit", v(Hs256(R"({"alg":"HS256","crit":["exp"],"exp":1})", p)),
           Status::kCritUnsupported);
    expect("b64", v(Hs256(R"({"alg":"HS256","b64":false})", p)), Status::kB64Unsupported);
    expect("zip", v(Hs256(R"({"alg":"HS256","zip":"DEF"})", p)), Status::kZipUnsupported);
    expect("cty JWT", v(Hs256(R"({"alg":"HS256","cty":"JWT"})", p)), Status::kNestedJwtUnsupported);
    expect("enc", v(Hs256(R"({"alg":"HS256","enc":"A128GCM"})", p)), Status::kJweHeaderParameter);
    const std::string good = Hs256(hs, p);
    const Segments s = Split(good);
    expect("signature length 1 mod 4", v(s.header + "." + s.payload + ".A"),
           Status::kSignatureBadBase64);
    expect("signature 31 bytes", v(WithSignature(good, Unb64(s.signature).substr(0, 31))),
           Status::kSignatureBadLength);
    expect("signature wrong", v(WithSignature(good, std::string(32, '\0'))),
           Status::kSignatureInvalid);
    std::string bad_payload = B64(p);
    while (bad_payload.size() % 4 != 1) bad_payload += 'A';
    expect("payload length 1 mod 4", v(HmacJwsSegments(B64(hs), bad_payload)),
           Status::kPayloadBadBase64);
    expect("payload too large",
           v(Hs256(hs, "{\"exp\":" + std::to_string(kNow + 60) + ",\"x\":\"" +
                           std::string(600, 'x') + "\"}")),
           Status::kPayloadTooLarge);
    expect("payload not JSON", v(Hs256(hs, "Example of Ed25519 signing")), Status::kPayloadBadJson);
    expect("payload not an object", v(Hs256(hs, "[" + p + "]")), Status::kPayloadNotObject);
    expect("payload duplicate", v(Hs256(hs, PayloadExp(R"(,"sub":"mallory")"))),
           Status::kPayloadDuplicateMember);
    expect("exp string", v(Hs256(hs, R"({"exp":"1"})")), Status::kExpInvalid);
    expect("nbf string", v(Hs256(hs, PayloadExp(R"(,"nbf":"1")"))), Status::kNbfInvalid);
    expect("iat string", v(Hs256(hs, PayloadExp(R"(,"iat":"1")"))), Status::kIatInvalid);
    expect("iss number", v(Hs256(hs, PayloadExp(R"(,"iss":1)"))), Status::kIssInvalid);
    expect("sub number", v(Hs256(hs, "{\"sub\":1,\"exp\":" + std::to_string(kNow + 60) + "}")),
           Status::kSubInvalid);
    expect("aud number", v(Hs256(hs, PayloadExp(R"(,"aud":1)"))), Status::kAudInvalid);
    expect("jti number", v(Hs256(hs, PayloadExp(R"(,"jti":1)"))), Status::kJtiInvalid);
    expect("exp missing", v(Hs256(hs, R"({"sub":"alice"})")), Status::kExpMissing);
    expect("expired", v(Hs256(hs, p), kNow + 3630), Status::kExpired);
    expect("nbf future", v(Hs256(hs, PayloadExp(",\"nbf\":" + std::to_string(kNow + 600)))),
           Status::kNotYetValid);
    expect("iat future", v(Hs256(hs, PayloadExp(",\"iat\":" + std::to_string(kNow + 600)))),
           Status::kIatInFuture);
    expect("revoked", v(Hs256(hs, PayloadExp(R"(,"jti":"revoked")"))), Status::kRevoked);
  }
  {
    ClaimsPolicy policy;
    policy.issuers = {"https://issuer.example"};
    policy.audiences = {"api"};
    policy.typ = "at+jwt";
    policy.max_lifetime_s = 600;
    policy.required_claims = {"scope"};
    VerifierOptions options;
    options.policy = policy;
    Env v(Hs256Keys(), options);
    const std::string at = R"({"alg":"HS256","typ":"at+jwt"})";
    const std::string exp = "\"exp\":" + std::to_string(kNow + 60);
    const std::string ok =
        "{" + exp + R"(,"iss":"https://issuer.example","aud":"api","scope":"r"})";
    expect("policy valid", v(Hs256(at, ok)), Status::kOk);
    expect("lifetime",
           v(Hs256(at, "{\"exp\":" + std::to_string(kNow + 601) +
                           R"(,"iss":"https://issuer.example","aud":"api","scope":"r"})")),
           Status::kLifetimeTooLong);
    expect("iss missing", v(Hs256(at, "{" + exp + R"(,"aud":"api","scope":"r"})")),
           Status::kIssMissing);
    expect("iss not allowed",
           v(Hs256(at, "{" + exp + R"(,"iss":"https://evil.example","aud":"api","scope":"r"})")),
           Status::kIssNotAllowed);
    expect("aud missing",
           v(Hs256(at, "{" + exp + R"(,"iss":"https://issuer.example","scope":"r"})")),
           Status::kAudMissing);
    expect("aud not allowed",
           v(Hs256(at, "{" + exp + R"(,"iss":"https://issuer.example","aud":"web","scope":"r"})")),
           Status::kAudNotAllowed);
    expect("typ missing", v(Hs256(hs, ok)), Status::kTypMissing);
    expect("typ mismatch", v(Hs256(R"({"alg":"HS256","typ":"JWT"})", ok)), Status::kTypMismatch);
    expect("required claim",
           v(Hs256(at, "{" + exp + R"(,"iss":"https://issuer.example","aud":"api"})")),
           Status::kRequiredClaimMissing);
  }
  {
    Env v(Keys()
              .Hmac(kSecret, Alg::kHS256, "a")
              .Hmac(kSecret, Alg::kHS256, "b")
              .Hmac(std::string(64, 'c'), Alg::kHS512, "c")
              .Build());
    expect("unknown kid", v(Hs256(R"({"alg":"HS256","kid":"zz"})", p)), Status::kUnknownKid);
    expect("kid for another alg", v(Hs256(R"({"alg":"HS256","kid":"c"})", p)),
           Status::kKeyNotFound);
    expect("no kid, two candidates", v(Hs256(hs, p)), Status::kKidRequired);
  }
  {
    // An issuer whose fetched keys have not been confirmed for max_stale: its keys only name
    // the failure (RemoteKeys marks them; JwksOptions::fail_closed).
    JwksOptions stale;
    stale.fail_closed = true;
    KeySet::Builder b;
    REQUIRE(b.AddJwks(R"({"kty":"oct","alg":"HS256","kid":"s","k":")" +
                          B64(std::string(kSecret)) + "\"}",
                      stale) == Status::kOk);
    Env v(b.Build());
    expect("issuer keys stale", v(Hs256(R"({"alg":"HS256","kid":"s"})", p)),
           Status::kIssuerKeysStale);
    expect("issuer keys stale, no kid", v(Hs256(hs, p)), Status::kIssuerKeysStale);
  }

  // --- Key import.
  {
    auto jwks = [](std::string_view doc, JwksOptions options = {}) {
      KeySet::Builder b;
      return b.AddJwks(doc, options);
    };
    const std::string k32 = B64(std::string(32, 'k'));
    const std::string oct = R"({"kty":"oct","alg":"HS256","k":")" + k32 + "\"";
    expect("jwks bad json", jwks("{"), Status::kJwksBadJson);
    JwksOptions tiny;
    tiny.max_bytes = 8;
    expect("jwks too large", jwks(oct + "}", tiny), Status::kJwksTooLarge);
    expect("jwk invalid", jwks(R"({"kty":"oct","alg":"HS256"})"), Status::kJwkInvalid);
    expect("jwk kty", jwks(R"({"kty":"DSA"})"), Status::kJwkUnsupportedKty);
    expect("jwk private",
           jwks(std::string(kA3Jwk.substr(0, kA3Jwk.size() - 1)) +
                R"(,"d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"})"),
           Status::kJwkPrivateMaterial);
    expect("key alg missing", jwks(kA2Jwk), Status::kKeyAlgMissing);
    expect("key alg mismatch",
           jwks(std::string(kA3Jwk.substr(0, kA3Jwk.size() - 1)) + R"(,"alg":"ES384"})"),
           Status::kKeyAlgMismatch);
    expect("key curve", jwks(R"({"kty":"EC","crv":"secp256k1","x":"AQAB","y":"AQAB"})"),
           Status::kKeyUnsupportedCurve);
    expect("key too small",
           jwks(R"({"kty":"oct","alg":"HS256","k":")" + B64(std::string(31, 'k')) + "\"}"),
           Status::kKeyTooSmall);
    expect("key too large",
           jwks(R"({"kty":"RSA","alg":"RS256","e":"AQAB","n":")" + std::string(kN8704) + "\"}"),
           Status::kKeyTooLarge);
    const std::string a2_n = std::string(kA2Jwk.substr(0, kA2Jwk.find(R"("e":)")));
    expect("key exponent", jwks(a2_n + R"("e":"AQ","alg":"RS256"})"), Status::kKeyBadExponent);
    expect(
        "key invalid",
        jwks(R"({"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"),
        Status::kKeyInvalid);
    expect("key use", jwks(oct + R"(,"use":"enc"})"), Status::kKeyUsageMismatch);
    JwksOptions remote;
    remote.allow_symmetric = false;
    remote.skip_unsupported = true;  // no matter: a published secret refuses the whole set
    expect("jwk symmetric from a remote set", jwks(oct + "}", remote),
           Status::kJwkSymmetricNotAllowed);
    expect("key duplicate",
           jwks(R"({"keys":[)" + oct + R"(,"kid":"d"},)" + oct + R"(,"kid":"d"}]})"),
           Status::kKeyDuplicate);
    KeySet::Builder b;
    expect("pem invalid",
           b.AddPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", Alg::kRS256,
                    std::nullopt),
           Status::kPemInvalid);
  }

  // Reached elsewhere, not by a single token or key:
  //   overloaded, shutting_down: the pipeline's back-pressure and shutdown (pipeline_test.cc);
  //   internal_error: a failing revocation store (revocation_store_test.cc); on the verify
  //   path only an allocation or OpenSSL failure produces it, which needs fault injection.
  // revoked is reached above, through a RevocationCheck that revokes one jti.
  //   revocation_stale: jwtgated cut off from the fleet's revocations past its bound, with
  //   fail_closed (integration/fleet_revocation_test.py).
  //   route_*: jwtgated's route requirements, after a token verified (routes_test.cc).
  const std::set<Status> elsewhere = {Status::kOverloaded,
                                      Status::kShuttingDown,
                                      Status::kInternalError,
                                      Status::kRevocationStale,
                                      Status::kRouteDenied,
                                      Status::kRouteIssuerNotAllowed,
                                      Status::kRouteAudienceNotAllowed,
                                      Status::kRouteScopeMissing,
                                      Status::kRouteClaimNotAccepted,
                                      Status::kRouteUriInvalid};
  std::vector<std::string> missing;
#define JWTGATE_STATUS_CHECK_SEEN(name, str)                                 \
  if (seen.count(Status::name) == 0 && elsewhere.count(Status::name) == 0) { \
    missing.push_back(str);                                                  \
  }
  JWTGATE_STATUS_LIST(JWTGATE_STATUS_CHECK_SEEN)
#undef JWTGATE_STATUS_CHECK_SEEN
  std::ostringstream names;
  for (const std::string& m : missing) names << m << ' ';
  INFO("statuses never reached: " << names.str());
  CHECK(missing.empty());
  CHECK(seen.size() + elsewhere.size() == static_cast<size_t>(kStatusCount));
}

}  // namespace
}  // namespace jwtgate
