// Security catalogue rows that no other unit test pins with a specific status (the full map
// from rows to tests is tests/CATALOGUE.md). Each token is signed with a valid key, so that
// only the check under test can reject it.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "test_support.h"

namespace jwtgate {
namespace {

using namespace std::string_view_literals;

constexpr int64_t kNow = 1'700'000'000;

struct KeyPair {
  std::string private_key;  // PEM, or the oct JWK for HS*
  std::string public_jwk;
};

KeyPair Generate(Alg alg, std::string_view kid) {
  KeyPair k;
  REQUIRE(GenerateKey(alg, kid, &k.private_key, &k.public_jwk) == Status::kOk);
  return k;
}

std::shared_ptr<const KeySet> KeySetOf(const std::string& public_jwk) {
  KeySet::Builder b;
  REQUIRE(b.AddJwks(R"({"keys":[)" + public_jwk + "]}") == Status::kOk);
  return b.Build();
}

std::string Sign(const KeyPair& k, Alg alg, std::string_view header, std::string_view payload) {
  auto signer = FamilyOf(alg) == AlgFamily::kHmac ? Signer::FromJwk(k.private_key, alg)
                                                  : Signer::FromPem(k.private_key, alg);
  REQUIRE(signer.ok());
  auto token = signer.value().SignRaw(header, payload);
  REQUIRE(token.ok());
  return token.value();
}

// ---------------------------------------------------------------------------------------------
// B3: ECDSA malleability. (r, n - s) is a second valid signature of the same token; OpenSSL
// accepts it (JWS does not forbid high-S), so nothing may treat the signature bytes as the
// token's identity: revocation goes by jti and subject, and both twins are revoked together.

// The high-S twin of a raw r||s ES256 signature.
std::string HighSTwin(std::string_view raw_sig) {
  REQUIRE(raw_sig.size() == 64);
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), EC_GROUP_free);
  REQUIRE(group);
  const BIGNUM* n = EC_GROUP_get0_order(group.get());
  std::unique_ptr<BIGNUM, decltype(&BN_free)> s(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_sig.data()) + 32, 32, nullptr),
      BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> twin(BN_new(), BN_free);
  REQUIRE(s);
  REQUIRE(twin);
  REQUIRE(BN_sub(twin.get(), n, s.get()) == 1);
  unsigned char out[32];
  REQUIRE(BN_bn2binpad(twin.get(), out, 32) == 32);
  return std::string(raw_sig.substr(0, 32)) + std::string(reinterpret_cast<char*>(out), 32);
}

class RevokedJti : public RevocationCheck {
 public:
  explicit RevokedJti(std::string jti) : jti_(std::move(jti)) {}
  bool IsRevoked(const Claims& claims) const noexcept override { return claims.jti == jti_; }

 private:
  std::string jti_;
};

TEST_CASE("B3: an ES256 high-S twin verifies, and revocation by jti covers both twins",
          "[catalogue][verifier]") {
  const KeyPair k = Generate(Alg::kES256, "ec");
  const std::string payload =
      R"({"sub":"alice","jti":"t-1","iat":1700000000,"exp":1700000600})";
  const std::string token = Sign(k, Alg::kES256, R"({"alg":"ES256","kid":"ec"})", payload);
  const size_t dot = token.rfind('.');
  std::string raw;
  REQUIRE(jose::Base64UrlDecode(std::string_view(token).substr(dot + 1), &raw));
  const std::string twin = token.substr(0, dot + 1) + jose::Base64UrlEncode(HighSTwin(raw));
  REQUIRE(twin != token);

  Verifier open(KeySetOf(k.public_jwk), VerifierOptions{});
  CHECK_STATUS(open.Verify(token, kNow, nullptr), Status::kOk);
  CHECK_STATUS(open.Verify(twin, kNow, nullptr), Status::kOk);

  const RevokedJti revoked("t-1");
  Verifier guarded(KeySetOf(k.public_jwk), VerifierOptions{}, &revoked);
  CHECK_STATUS(guarded.Verify(token, kNow, nullptr), Status::kRevoked);
  CHECK_STATUS(guarded.Verify(twin, kNow, nullptr), Status::kRevoked);
}

// ---------------------------------------------------------------------------------------------
// A7: a ROCA-fingerprinted RSA modulus (CVE-2017-15361) is refused at import. Wycheproof
// json_web_key_test.json tc 7 (rejectsKeyWithRocaVulnerability); the generic label test only
// asserts "rejected", this pins the status.

std::string ReadVector(const std::string& relative) {
  std::ifstream in(std::string(JWTGATE_TEST_DATA_DIR) + "/vectors/" + relative, std::ios::binary);
  REQUIRE(in.good());  // a missing vector file fails, it never skips
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("A7: an RSA key with the ROCA fingerprint is refused as key_invalid",
          "[catalogue][keys]") {
  const nlohmann::json doc = nlohmann::json::parse(
      ReadVector("wycheproof/testvectors_v1/json_web_key_test.json"));
  std::optional<nlohmann::json> roca;
  for (const auto& group : doc.at("testGroups")) {
    for (const auto& t : group.at("tests")) {
      if (t.at("tcId") == 7) {
        REQUIRE(t.at("comment") == "rejectsKeyWithRocaVulnerability");
        roca = group.at("public");
      }
    }
  }
  REQUIRE(roca.has_value());
  KeySet::Builder b;
  CHECK_STATUS(b.AddJwks(roca->dump()), Status::kKeyInvalid);
  CHECK(b.size() == 0);

  // Control: the same importer takes a freshly generated 2048-bit modulus.
  const KeyPair fresh = Generate(Alg::kRS256, "fresh");
  KeySet::Builder control;
  CHECK_STATUS(control.AddJwks(fresh.public_jwk), Status::kOk);
}

// ---------------------------------------------------------------------------------------------
// C8: claims are compared as decoded code points, with no Unicode normalization, case folding
// or homoglyph mapping: JSON escapes of the same code points match, anything else does not.

TEST_CASE("C8: iss and aud compare decoded code points, never normalized forms",
          "[catalogue][claims]") {
  const KeyPair k = Generate(Alg::kHS256, "hs");
  VerifierOptions options;
  options.policy.issuers = {"https://caf\xC3\xA9.example"};  // U+00E9, NFC
  options.policy.audiences = {"admin"};
  Verifier v(KeySetOf(k.public_jwk), options);
  const auto token = [&](std::string_view iss_json, std::string_view aud_json) {
    const std::string payload = R"({"iss":)" + std::string(iss_json) + R"(,"aud":)" +
                                std::string(aud_json) + R"(,"exp":1700000600})";
    return Sign(k, Alg::kHS256, R"({"alg":"HS256","kid":"hs"})", payload);
  };
  const std::string_view iss = "\"https://caf\xC3\xA9.example\"";
  struct Row {
    std::string_view iss;
    std::string_view aud;
    Status want;
    std::string_view what;
  };
  const Row rows[] = {
      {iss, R"("admin")", Status::kOk, "control"},
      {R"("https://caf\u00e9.example")", R"("\u0061dmin")", Status::kOk,
       "escaped forms of the same code points"},
      {R"("https://cafe\u0301.example")", R"("admin")", Status::kIssNotAllowed,
       "NFD (e + combining acute) is not the configured NFC issuer"},
      {"\"https://cafe\xCC\x81.example\"", R"("admin")", Status::kIssNotAllowed,
       "NFD as raw UTF-8"},
      {R"("https://CAF\u00c9.example")", R"("admin")", Status::kIssNotAllowed,
       "no case folding"},
      {iss, "\"\xD0\xB0" "dmin\"", Status::kAudNotAllowed,
       "Cyrillic a (U+0430) homoglyph in aud"},
      {iss, R"("ADMIN")", Status::kAudNotAllowed, "no case folding in aud"},
      {iss, R"("admin\u0000")", Status::kAudNotAllowed, "trailing NUL in aud"},
      {iss, R"("\ufeffadmin")", Status::kAudNotAllowed, "leading zero-width no-break space"},
      {iss, R"(["x","\u202eadmin"])", Status::kAudNotAllowed, "bidi override before admin"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    CHECK_STATUS(v.Verify(token(r.iss, r.aud), kNow, nullptr), r.want);
  }
}

// ---------------------------------------------------------------------------------------------
// A5: kid bytes that would mean something to a file system, a shell or a header parser are
// only ever looked up, byte-exactly, in the in-memory key set.

TEST_CASE("A5: control bytes and separators in kid are looked up byte-exactly",
          "[catalogue][verifier]") {
  const KeyPair k = Generate(Alg::kHS256, "k1");
  Verifier v(KeySetOf(k.public_jwk), VerifierOptions{});
  const std::string payload = R"({"exp":1700000600})";
  CHECK_STATUS(v.Verify(Sign(k, Alg::kHS256, R"({"alg":"HS256","kid":"k1"})", payload), kNow,
                        nullptr),
               Status::kOk);
  for (std::string_view kid : {R"(k1\u0000)"sv, R"(k1\r\nX-Injected: 1)"sv, R"(k1\/..)"sv,
                               R"(%6b1)"sv, R"(k1 )"sv, R"(\u006b\u0031\u0000)"sv,
                               R"(*)"sv, R"(k1;rm -rf /)"sv}) {
    INFO("kid " << kid);
    CHECK_STATUS(v.Verify(Sign(k, Alg::kHS256,
                               R"({"alg":"HS256","kid":")" + std::string(kid) + "\"}", payload),
                          kNow, nullptr),
                 Status::kUnknownKid);
  }
}

}  // namespace
}  // namespace jwtgate
