// Signer and GenerateKey: round trips through KeySet and Verifier for all 13 algorithms, an
// independent OpenSSL check of every signature format, and refusal of mismatched keys.
#include "jwtgate/signer.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "crypto/sha2.h"
#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "test_support.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;
using test::LoadPrivatePem;
using test::Pkey;
using test::SpkiPem;
using test::Unb64;

constexpr int64_t kNow = 1'700'000'000;

std::string Payload() { return "{\"sub\":\"alice\",\"exp\":" + std::to_string(kNow + 600) + "}"; }

struct Parts {
  std::string header;
  std::string payload;
  std::string signature;
  std::string signing_input;
};

Parts Split(std::string_view token) {
  const size_t a = token.find('.');
  const size_t b = token.find('.', a + 1);
  REQUIRE(b != std::string_view::npos);
  REQUIRE(token.find('.', b + 1) == std::string_view::npos);
  return {Unb64(token.substr(0, a)), Unb64(token.substr(a + 1, b - a - 1)),
          Unb64(token.substr(b + 1)), std::string(token.substr(0, b))};
}

// Top-level string member of a JSON object, or nullopt.
std::optional<std::string> Member(std::string_view json, const char* name) {
  simdjson::dom::parser parser;
  const simdjson::padded_string doc(json);
  simdjson::dom::object obj;
  REQUIRE(parser.parse(doc).get(obj) == simdjson::SUCCESS);
  std::string_view v;
  if (obj[name].get(v) != simdjson::SUCCESS) return std::nullopt;
  return std::string(v);
}

bool HasMember(std::string_view json, const char* name) {
  simdjson::dom::parser parser;
  const simdjson::padded_string doc(json);
  simdjson::dom::object obj;
  REQUIRE(parser.parse(doc).get(obj) == simdjson::SUCCESS);
  return obj[name].error() == simdjson::SUCCESS;
}

// Raw r||s to DER, for OpenSSL's ECDSA verify.
std::string EcdsaRawToDer(std::string_view raw) {
  const size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half),
                        nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half),
                        static_cast<int>(half), nullptr);
  REQUIRE(ECDSA_SIG_set0(sig, r, s) == 1);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

// Verifies with OpenSSL directly, with every JWA parameter set explicitly (RFC 7518 §3).
bool OpenSslVerifies(Alg alg, EVP_PKEY* key, const Parts& parts) {
  std::string sig = parts.signature;
  if (FamilyOf(alg) == AlgFamily::kEcdsa) sig = EcdsaRawToDer(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = FamilyOf(alg) == AlgFamily::kEdDsa ? nullptr : crypto::Sha2For(alg);
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && FamilyOf(alg) == AlgFamily::kRsaPss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, static_cast<int>(DigestSize(alg))) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
  } else if (ok && FamilyOf(alg) == AlgFamily::kRsaPkcs1) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(parts.signing_input.data()),
                              parts.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<Signer> SignerFromGenerated(Alg alg, const std::string& private_key) {
  return FamilyOf(alg) == AlgFamily::kHmac ? Signer::FromJwk(private_key, alg)
                                           : Signer::FromPem(private_key, alg);
}

TEST_CASE("GenerateKey, Signer and Verifier round-trip for every algorithm", "[signer]") {
  for (Alg alg : kAllAlgs) {
    DYNAMIC_SECTION(AlgName(alg)) {
      const std::string kid = "kid-" + std::string(AlgName(alg));
      std::string private_key;
      std::string public_jwk;
      REQUIRE(GenerateKey(alg, kid, &private_key, &public_jwk) == Status::kOk);

      // The public JWK names its kid, alg and use, and carries no private member.
      CHECK(Member(public_jwk, "kid") == kid);
      CHECK(Member(public_jwk, "alg") == std::string(AlgName(alg)));
      CHECK(Member(public_jwk, "use") == "sig");
      const char* kty = FamilyOf(alg) == AlgFamily::kHmac    ? "oct"
                        : FamilyOf(alg) == AlgFamily::kEcdsa ? "EC"
                        : FamilyOf(alg) == AlgFamily::kEdDsa ? "OKP"
                                                             : "RSA";
      CHECK(Member(public_jwk, "kty") == kty);
      if (FamilyOf(alg) != AlgFamily::kHmac) {
        for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
          INFO("member " << m);
          CHECK_FALSE(HasMember(public_jwk, m));
        }
        CHECK(private_key.find("-----BEGIN PRIVATE KEY-----") == 0);
      } else {
        CHECK(Unb64(*Member(public_jwk, "k")).size() >= DigestSize(alg));
        CHECK(Member(private_key, "kty") == "oct");
      }

      Result<Signer> signer = SignerFromGenerated(alg, private_key);
      REQUIRE(signer.ok());
      CHECK(signer->alg() == alg);

      KeySet::Builder builder;
      REQUIRE(builder.AddJwks(public_jwk) == Status::kOk);
      const Verifier verifier(builder.Build(), {});
      VerifyContext ctx;

      Result<std::string> token = signer->Sign(Payload(), kid);
      REQUIRE(token.ok());
      Claims claims;
      REQUIRE(verifier.Verify(*token, kNow, ctx, &claims) == Status::kOk);
      CHECK(claims.alg == alg);
      CHECK(claims.kid == kid);
      CHECK(claims.has_kid);
      CHECK(claims.typ == "JWT");
      CHECK(claims.sub == "alice");
      CHECK(claims.payload_json == Payload());

      // The header the Signer builds: alg, typ and kid, nothing else.
      const Parts parts = Split(*token);
      CHECK(Member(parts.header, "alg") == std::string(AlgName(alg)));
      CHECK(Member(parts.header, "typ") == "JWT");
      CHECK(Member(parts.header, "kid") == kid);
      CHECK(parts.payload == Payload());

      // Signature formats (RFC 7518 §3): full HMAC tag, raw r||s, 64-byte Ed25519.
      switch (FamilyOf(alg)) {
        case AlgFamily::kHmac:
          CHECK(parts.signature.size() == DigestSize(alg));
          break;
        case AlgFamily::kEcdsa:
          CHECK(parts.signature.size() == (alg == Alg::kES256   ? 64u
                                           : alg == Alg::kES384 ? 96u
                                                                : 132u));
          break;
        case AlgFamily::kEdDsa:
          CHECK(parts.signature.size() == 64);
          break;
        default:
          CHECK(parts.signature.size() >= 256);
          break;
      }

      // An independent check of the signature, outside jwtgate.
      if (FamilyOf(alg) == AlgFamily::kHmac) {
        const std::string secret = Unb64(*Member(private_key, "k"));
        unsigned char tag[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        REQUIRE(HMAC(crypto::Sha2For(alg), secret.data(), static_cast<int>(secret.size()),
                     reinterpret_cast<const unsigned char*>(parts.signing_input.data()),
                     parts.signing_input.size(), tag, &len) != nullptr);
        CHECK(std::string(reinterpret_cast<const char*>(tag), len) == parts.signature);
      } else {
        const Pkey key = LoadPrivatePem(private_key);
        CHECK(OpenSslVerifies(alg, key.get(), parts));
      }

      // Without kid (the single candidate) and without typ.
      Result<std::string> bare = signer->Sign(Payload(), std::nullopt, std::nullopt);
      REQUIRE(bare.ok());
      Claims bare_claims;
      REQUIRE(verifier.Verify(*bare, kNow, ctx, &bare_claims) == Status::kOk);
      CHECK_FALSE(bare_claims.has_kid);
      CHECK(bare_claims.typ.empty());
      const Parts bare_parts = Split(*bare);
      CHECK_FALSE(HasMember(bare_parts.header, "kid"));
      CHECK_FALSE(HasMember(bare_parts.header, "typ"));

      // Deterministic schemes give the same token twice; PSS and ECDSA are randomized.
      Result<std::string> again = signer->Sign(Payload(), kid);
      REQUIRE(again.ok());
      const bool randomized =
          FamilyOf(alg) == AlgFamily::kRsaPss || FamilyOf(alg) == AlgFamily::kEcdsa;
      CHECK((*again == *token) == !randomized);
      CHECK_STATUS(verifier.Verify(*again, kNow, ctx, nullptr), Status::kOk);
    }
  }
}

TEST_CASE("SignRaw signs the JSON texts exactly as given", "[signer]") {
  const std::string secret(32, 's');
  Result<Signer> signer = Signer::FromSecret(secret, Alg::kHS256);
  REQUIRE(signer.ok());
  const std::string header = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
  const std::string payload = "{\"exp\":" + std::to_string(kNow + 60) + ",\r\n \"x\":  1 }";
  Result<std::string> token = signer->SignRaw(header, payload);
  REQUIRE(token.ok());
  const Parts parts = Split(*token);
  CHECK(parts.header == header);
  CHECK(parts.payload == payload);
  KeySet::Builder builder;
  REQUIRE(builder.AddHmacSecret({reinterpret_cast<const uint8_t*>(secret.data()), secret.size()},
                                Alg::kHS256, std::nullopt) == Status::kOk);
  const Verifier verifier(builder.Build(), {});
  VerifyContext ctx;
  Claims claims;
  REQUIRE(verifier.Verify(*token, kNow, ctx, &claims) == Status::kOk);
  CHECK(claims.payload_json == payload);
}

TEST_CASE("Signer::FromPem refuses a key of the wrong type for the algorithm", "[signer]") {
  std::string rsa;
  std::string ec256;
  std::string ec384;
  std::string ed;
  std::string unused;
  REQUIRE(GenerateKey(Alg::kRS256, std::nullopt, &rsa, &unused) == Status::kOk);
  REQUIRE(GenerateKey(Alg::kES256, std::nullopt, &ec256, &unused) == Status::kOk);
  REQUIRE(GenerateKey(Alg::kES384, std::nullopt, &ec384, &unused) == Status::kOk);
  REQUIRE(GenerateKey(Alg::kEdDSA, std::nullopt, &ed, &unused) == Status::kOk);

  struct Case {
    const char* name;
    const std::string* pem;
    Alg alg;
    bool ok;
  };
  const Case cases[] = {
      {"RSA for RS256", &rsa, Alg::kRS256, true},
      {"RSA for PS384", &rsa, Alg::kPS384, true},
      {"RSA for RS512", &rsa, Alg::kRS512, true},
      {"RSA for ES256", &rsa, Alg::kES256, false},
      {"RSA for EdDSA", &rsa, Alg::kEdDSA, false},
      {"RSA for HS256", &rsa, Alg::kHS256, false},
      {"P-256 for ES256", &ec256, Alg::kES256, true},
      {"P-256 for ES384", &ec256, Alg::kES384, false},
      {"P-256 for ES512", &ec256, Alg::kES512, false},
      {"P-256 for RS256", &ec256, Alg::kRS256, false},
      {"P-256 for EdDSA", &ec256, Alg::kEdDSA, false},
      {"P-384 for ES256", &ec384, Alg::kES256, false},
      {"P-384 for ES384", &ec384, Alg::kES384, true},
      {"Ed25519 for EdDSA", &ed, Alg::kEdDSA, true},
      {"Ed25519 for ES256", &ed, Alg::kES256, false},
      {"Ed25519 for PS256", &ed, Alg::kPS256, false},
      {"Ed25519 for HS512", &ed, Alg::kHS512, false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Result<Signer> signer = Signer::FromPem(*c.pem, c.alg);
    CHECK(signer.ok() == c.ok);
    if (!c.ok) CHECK(ToString(signer.status()) == ToString(Status::kKeyAlgMismatch));
  }

  SECTION("not a private key") {
    const Pkey key = LoadPrivatePem(rsa);
    CHECK_FALSE(Signer::FromPem(SpkiPem(key.get()), Alg::kRS256).ok());
    CHECK(ToString(Signer::FromPem("garbage", Alg::kRS256).status()) ==
          ToString(Status::kPemInvalid));
    CHECK(ToString(Signer::FromPem("", Alg::kES256).status()) == ToString(Status::kPemInvalid));
  }
}

TEST_CASE("Signer::FromSecret and FromJwk are bound to HS* and to the JWK's key", "[signer]") {
  const std::string secret(64, 's');
  CHECK(Signer::FromSecret(secret, Alg::kHS256).ok());
  CHECK(Signer::FromSecret(secret, Alg::kHS512).ok());
  CHECK(ToString(Signer::FromSecret(secret, Alg::kRS256).status()) ==
        ToString(Status::kKeyAlgMismatch));
  CHECK(ToString(Signer::FromSecret(secret, Alg::kEdDSA).status()) ==
        ToString(Status::kKeyAlgMismatch));

  std::string oct;
  std::string public_jwk;
  REQUIRE(GenerateKey(Alg::kHS384, "h", &oct, &public_jwk) == Status::kOk);
  CHECK(Signer::FromJwk(oct, Alg::kHS384).ok());
  CHECK_FALSE(Signer::FromJwk(oct, Alg::kRS256).ok());
  CHECK_FALSE(Signer::FromJwk(oct, Alg::kES384).ok());

  // A public JWK cannot sign.
  std::string pem;
  std::string rsa_jwk;
  REQUIRE(GenerateKey(Alg::kRS256, "r", &pem, &rsa_jwk) == Status::kOk);
  CHECK_FALSE(Signer::FromJwk(rsa_jwk, Alg::kRS256).ok());
  CHECK_FALSE(Signer::FromJwk("not json", Alg::kHS256).ok());
}

TEST_CASE("GenerateKey without kid, and keys that differ each time", "[signer]") {
  std::string a;
  std::string b;
  std::string jwk_a;
  std::string jwk_b;
  REQUIRE(GenerateKey(Alg::kHS256, std::nullopt, &a, &jwk_a) == Status::kOk);
  REQUIRE(GenerateKey(Alg::kHS256, std::nullopt, &b, &jwk_b) == Status::kOk);
  CHECK_FALSE(HasMember(jwk_a, "kid"));
  CHECK(Member(jwk_a, "k") != Member(jwk_b, "k"));
  REQUIRE(GenerateKey(Alg::kEdDSA, std::nullopt, &a, &jwk_a) == Status::kOk);
  REQUIRE(GenerateKey(Alg::kEdDSA, std::nullopt, &b, &jwk_b) == Status::kOk);
  CHECK(Member(jwk_a, "x") != Member(jwk_b, "x"));
  CHECK(Member(jwk_a, "crv") == "Ed25519");
}

}  // namespace
}  // namespace jwtgate
