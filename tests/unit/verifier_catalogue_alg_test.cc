// Security catalogue negatives for the Verifier (security-catalogue.md §1), rows A and B:
// algorithm confusion and substitution, header key parameters, kid, and the exact formats of
// ECDSA, RSA-PSS, Ed25519, HMAC and RSA signatures. Each token is signed with a valid key
// unless the row is about the signature itself.
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
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

TEST_CASE("A1: alg none and its variants are never accepted", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  // RFC 7515 A.5, the unsecured JWS: an empty signature segment.
  CHECK_STATUS(v("eyJhbGciOiJub25lIn0"
                 ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19y"
                 "b290Ijp0cnVlfQ."),
               Status::kTokenMalformed);
  CHECK_STATUS(v(B64(R"({"alg":"none"})") + "." + B64(p) + "."), Status::kTokenMalformed);
  // With a signature present (MACed with the real key, to leave only alg to reject). A string
  // that names no accepted algorithm is alg_not_allowed; a value that is not a string at all is
  // alg_invalid.
  for (std::string_view alg :
       {"none"sv, "None"sv, "NONE"sv, "nOnE"sv, "none "sv, " none"sv, "none\\u0000"sv, ""sv}) {
    INFO("alg " << alg);
    CHECK_STATUS(v(Hs256(R"({"alg":")" + std::string(alg) + "\"}", p)), Status::kAlgNotAllowed);
  }
  for (std::string_view alg :
       {R"(["none"])"sv, "null"sv, "0"sv, "true"sv, "{}"sv, R"(["HS256"])"sv}) {
    INFO("alg " << alg);
    CHECK_STATUS(v(Hs256(R"({"alg":)" + std::string(alg) + "}", p)), Status::kAlgInvalid);
  }
  CHECK_STATUS(v(Hs256(R"({"typ":"JWT"})", p)), Status::kAlgMissing);
  CHECK_STATUS(v(Hs256(R"({"ALG":"HS256"})", p)), Status::kAlgMissing);
}

TEST_CASE("A1/A3: alg names are byte-exact and case-sensitive", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view alg :
       {"hs256"sv, "Hs256"sv, "HS256 "sv, " HS256"sv, "HS-256"sv, "HS256\\n"sv, "HMAC-SHA256"sv,
        "Ed25519"sv, "ED25519"sv, "eddsa"sv, "Ed448"sv, "ES256K"sv, "RSA-OAEP"sv, "dir"sv}) {
    INFO("alg " << alg);
    CHECK_STATUS(v(Hs256(R"({"alg":")" + std::string(alg) + "\"}", p)), Status::kAlgNotAllowed);
  }
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", p)), Status::kOk);
}

TEST_CASE("A1: algorithms outside VerifierOptions::algorithms are refused",
          "[verifier][catalogue]") {
  VerifierOptions options;
  options.algorithms = AlgSet();
  options.algorithms.Add(Alg::kRS256);
  Env v(Hs256Keys(), options);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", PayloadExp())), Status::kAlgNotAllowed);
}

TEST_CASE("A2: a public key used as an HMAC secret never verifies", "[verifier][catalogue]") {
  const Generated rsa = Generate(Alg::kRS256, "rsa");
  const Pkey key = LoadPrivatePem(rsa.private_key);
  const std::string spki = SpkiPem(key.get());
  const std::string pkcs1 = Pkcs1Pem(key.get());
  const std::vector<std::pair<std::string, std::string>> secrets = {
      {"SPKI PEM", spki},
      {"PKCS#1 PEM", pkcs1},
      {"PEM with leading whitespace", "  \n" + spki},
      {"PEM with CRLF",
       [&] {
         std::string crlf;
         for (char c : spki) crlf += c == '\n' ? "\r\n"s : std::string(1, c);
         return crlf;
       }()},
      {"PEM without trailing newline", spki.substr(0, spki.size() - 1)},
      {"DER", SpkiDer(key.get())},
      {"JWK text", rsa.public_jwk},
      {"JWKS text", R"({"keys":[)" + rsa.public_jwk + "]}"},
      {"modulus bytes", RsaModulus(key.get())},
      {"empty", ""},
  };
  const std::string p = PayloadExp();

  SECTION("key set holding only the RSA key: no HS algorithm is allowed at all") {
    Env v(Keys().Jwks(rsa.public_jwk).Build());
    for (const auto& [name, secret] : secrets) {
      INFO(name);
      for (Alg hs : {Alg::kHS256, Alg::kHS384, Alg::kHS512}) {
        const std::string name_json = "\"" + std::string(AlgName(hs)) + "\"";
        const std::string h1 = B64("{\"alg\":" + name_json + "}");
        const std::string h2 = B64("{\"alg\":" + name_json + ",\"kid\":\"rsa\"}");
        // verifier.h: the accepted algorithms are intersected with the key set's, so an HS*
        // header is refused before any key lookup.
        CHECK_STATUS(v(HmacJwsSegments(h1, B64(p), secret, hs)), Status::kAlgNotAllowed);
        CHECK_STATUS(v(HmacJwsSegments(h2, B64(p), secret, hs)), Status::kAlgNotAllowed);
      }
    }
  }
  SECTION("key set with the RSA key and a real HS256 key") {
    Env v(Keys().Jwks(rsa.public_jwk).Hmac(kSecret, Alg::kHS256, "hs").Build());
    for (const auto& [name, secret] : secrets) {
      INFO(name);
      // Pointing at the RSA key's kid: that kid has no HS256 key.
      CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"rsa"})", p, secret)), Status::kKeyNotFound);
      // No kid: the single HS256 candidate is the real secret, which the attacker lacks.
      CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", p, secret)), Status::kSignatureInvalid);
    }
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"hs"})", p)), Status::kOk);
  }
}

TEST_CASE("A3: algorithm substitution within and across families", "[verifier][catalogue]") {
  const Generated rsa = Generate(Alg::kRS256, "r");
  const Pkey key = LoadPrivatePem(rsa.private_key);
  const std::string spki = SpkiPem(key.get());
  const std::string p = PayloadExp();
  auto rs256 = [&](std::string_view header) {
    const std::string input = B64(header) + "." + B64(p);
    return input + "." + B64(SignWith(key.get(), EVP_sha256(), input));
  };
  auto ps256 = [&](std::string_view header) {
    const std::string input = B64(header) + "." + B64(p);
    return input + "." + B64(SignWith(key.get(), EVP_sha256(), input, [](EVP_PKEY_CTX* c) {
             REQUIRE(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1);
             REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1);
           }));
  };

  SECTION("one RSA key bound to PS256 refuses RS256 tokens it signed") {
    Env v(Keys().Pem(spki, Alg::kPS256, "p").Build());
    CHECK_STATUS(v(ps256(R"({"alg":"PS256","kid":"p"})")), Status::kOk);
    CHECK_STATUS(v(rs256(R"({"alg":"RS256","kid":"p"})")), Status::kAlgNotAllowed);
    // A PKCS#1 v1.5 signature under a PS256 header.
    const std::string forged =
        WithSignature(ps256(R"({"alg":"PS256","kid":"p"})"),
                      Unb64(Split(rs256(R"({"alg":"PS256","kid":"p"})")).signature));
    CHECK_STATUS(v(forged), Status::kSignatureInvalid);
  }
  SECTION("the same RSA key under two kids, one per algorithm") {
    Env v(Keys().Pem(spki, Alg::kRS256, "r").Pem(spki, Alg::kPS256, "p").Build());
    CHECK_STATUS(v(rs256(R"({"alg":"RS256","kid":"r"})")), Status::kOk);
    CHECK_STATUS(v(ps256(R"({"alg":"PS256","kid":"p"})")), Status::kOk);
    CHECK_STATUS(v(rs256(R"({"alg":"RS256","kid":"p"})")), Status::kKeyNotFound);
    CHECK_STATUS(v(ps256(R"({"alg":"PS256","kid":"r"})")), Status::kKeyNotFound);
    CHECK_STATUS(v(rs256(R"({"alg":"RS384","kid":"r"})")), Status::kAlgNotAllowed);
  }
  SECTION("an ES256 header with a P-384 key") {
    const Generated p384 = Generate(Alg::kES384, "e384");
    const Generated p256 = Generate(Alg::kES256, "e256");
    const Signer s384 = SignerFor(p384);
    Env only384(Keys().Jwks(p384.public_jwk).Build());
    CHECK_STATUS(only384(SignRaw(s384, R"({"alg":"ES256","kid":"e384"})", p)),
                 Status::kAlgNotAllowed);
    Env both(Keys().Jwks(p384.public_jwk).Jwks(p256.public_jwk).Build());
    CHECK_STATUS(both(SignRaw(s384, R"({"alg":"ES256","kid":"e384"})", p)), Status::kKeyNotFound);
    CHECK_STATUS(both(SignRaw(s384, R"({"alg":"ES384","kid":"e384"})", p)), Status::kOk);
  }
}

TEST_CASE("A4: jwk, jku, x5u, x5c and x5t in the header are ignored", "[verifier][catalogue]") {
  const Generated legit = Generate(Alg::kRS256, "legit");
  const Generated attacker = Generate(Alg::kRS256, "attacker");
  const Signer attacker_signer = SignerFor(attacker);
  const Signer legit_signer = SignerFor(legit);
  const std::string p = PayloadExp();
  const std::string embedded =
      R"(,"jwk":)" + attacker.public_jwk +
      R"(,"jku":"http://127.0.0.1:9/jwks.json","x5u":"http://127.0.0.1:9/c.pem")"
      R"(,"x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],"x5t":"AAAA")";

  SECTION("a legitimately signed token carrying them verifies as usual") {
    Env v(Keys().Jwks(legit.public_jwk).Build());
    CHECK_STATUS(v(SignRaw(legit_signer, R"({"alg":"RS256","kid":"legit")" + embedded + "}", p)),
                 Status::kOk);
  }
  SECTION("an attacker's key embedded in the header is not trusted") {
    Env v(Keys().Jwks(legit.public_jwk).Build());
    // No kid: the single RS256 candidate is the configured key.
    CHECK_STATUS(v(SignRaw(attacker_signer, R"({"alg":"RS256")" + embedded + "}", p)),
                 Status::kSignatureInvalid);
    CHECK_STATUS(v(SignRaw(attacker_signer, R"({"alg":"RS256","kid":"legit")" + embedded + "}", p)),
                 Status::kSignatureInvalid);
    CHECK_STATUS(
        v(SignRaw(attacker_signer, R"({"alg":"RS256","kid":"attacker")" + embedded + "}", p)),
        Status::kUnknownKid);
  }
  SECTION("HS256 keyed with the embedded JWK's text") {
    Env v(Keys().Jwks(legit.public_jwk).Build());
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256")" + embedded + "}", p, attacker.public_jwk)),
                 Status::kAlgNotAllowed);
  }
}

TEST_CASE("kid is an opaque, capped string", "[verifier][catalogue]") {
  const std::string kid256(256, 'k');
  Env v(Keys().Hmac(kSecret, Alg::kHS256, "k1").Hmac(kSecret, Alg::kHS256, kid256).Build());
  const std::string p = PayloadExp();
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"k1"})", p)), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"\u006b1"})", p)), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":")" + kid256 + "\"}", p)), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":")" + kid256 + "k\"}", p)), Status::kKidInvalid);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":")" + std::string(900, 'k') + "\"}", p)),
               Status::kKidInvalid);
  for (std::string_view kid : {"5"sv, "null"sv, "true"sv, R"(["k1"])"sv, R"({"k":"k1"})"sv}) {
    INFO("kid " << kid);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":)" + std::string(kid) + "}", p)),
                 Status::kKidInvalid);
  }
  // Path and query syntax means nothing to an opaque kid.
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"../../dev/null"})", p)), Status::kUnknownKid);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"k1' OR '1'='1"})", p)), Status::kUnknownKid);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","kid":"K1"})", p)), Status::kUnknownKid);
  // Two HS256 keys: a token without kid is ambiguous.
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", p)), Status::kKidRequired);
}

TEST_CASE("B1/B2: ECDSA signatures are raw r||s of exactly 2*coordinate bytes",
          "[verifier][catalogue]") {
  const Generated es = Generate(Alg::kES256, "e");
  const Pkey key = LoadPrivatePem(es.private_key);
  Env v(Keys().Jwks(es.public_jwk).Build());
  const std::string token = Sign(SignerFor(es), PayloadExp(), "e");
  REQUIRE(v(token) == Status::kOk);
  const Segments s = Split(token);
  const std::string raw = Unb64(s.signature);
  const std::string order = Hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  // Psychic signatures (CVE-2022-21449): r, s in {0, n}.
  CHECK_STATUS(v(WithSignature(token, std::string(64, '\0'))), Status::kSignatureInvalid);
  CHECK_STATUS(v(WithSignature(token, order + order)), Status::kSignatureInvalid);
  CHECK_STATUS(v(WithSignature(token, order + std::string(32, '\0'))), Status::kSignatureInvalid);
  CHECK_STATUS(v(WithSignature(token, std::string(64, '\xff'))), Status::kSignatureInvalid);
  // DER instead of raw, over the same signing input.
  const std::string der = SignWith(key.get(), EVP_sha256(), s.header + "." + s.payload);
  REQUIRE(static_cast<unsigned char>(der[0]) == 0x30);
  CHECK_STATUS(v(WithSignature(token, der)), Status::kSignatureBadLength);
  // The DER zero-signature used by CVE-2022-21449 scanners.
  CHECK_STATUS(v(WithSignature(token, Hex("3006020100020100"))), Status::kSignatureBadLength);
  CHECK_STATUS(v(s.header + "." + s.payload + ".MAYCAQACAQA"), Status::kSignatureBadLength);
  // Wrong raw lengths.
  CHECK_STATUS(v(WithSignature(token, raw.substr(0, 63))), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, raw.substr(1))), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, raw + raw)), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, raw.substr(0, 32))), Status::kSignatureBadLength);
  // r and s swapped.
  CHECK_STATUS(v(WithSignature(token, raw.substr(32) + raw.substr(0, 32))),
               Status::kSignatureInvalid);
}

TEST_CASE("B5: PS* requires salt length = hash length and MGF1 with the same hash",
          "[verifier][catalogue]") {
  const Generated ps = Generate(Alg::kPS256, "p");
  const Pkey key = LoadPrivatePem(ps.private_key);
  Env v(Keys().Jwks(ps.public_jwk).Build());
  const std::string input = B64(R"({"alg":"PS256","kid":"p"})") + "." + B64(PayloadExp());
  auto pss = [&](int saltlen, const EVP_MD* mgf1) {
    return input + "." + B64(SignWith(key.get(), EVP_sha256(), input, [&](EVP_PKEY_CTX* c) {
             REQUIRE(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1);
             REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, saltlen) == 1);
             REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(c, mgf1) == 1);
           }));
  };
  CHECK_STATUS(v(pss(32, EVP_sha256())), Status::kOk);
  CHECK_STATUS(v(pss(0, EVP_sha256())), Status::kSignatureInvalid);
  CHECK_STATUS(v(pss(20, EVP_sha256())), Status::kSignatureInvalid);
  CHECK_STATUS(v(pss(64, EVP_sha256())), Status::kSignatureInvalid);
  CHECK_STATUS(v(pss(RSA_PSS_SALTLEN_MAX, EVP_sha256())), Status::kSignatureInvalid);
  CHECK_STATUS(v(pss(32, EVP_sha1())), Status::kSignatureInvalid);
  CHECK_STATUS(v(pss(32, EVP_sha512())), Status::kSignatureInvalid);
  // PKCS#1 v1.5 under a PS256 header.
  CHECK_STATUS(v(input + "." + B64(SignWith(key.get(), EVP_sha256(), input))),
               Status::kSignatureInvalid);
}

TEST_CASE("B6: Ed25519 signatures are exactly 64 bytes with S < L", "[verifier][catalogue]") {
  const Generated ed = Generate(Alg::kEdDSA, "ed");
  Env v(Keys().Jwks(ed.public_jwk).Build());
  const std::string token = Sign(SignerFor(ed), PayloadExp(), "ed");
  REQUIRE(v(token) == Status::kOk);
  const std::string sig = Unb64(Split(token).signature);
  // S + L (little-endian): the same signature modulo L, non-canonical (CVE-2026-33895).
  const std::string l = Hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  std::string malleated = sig;
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    const unsigned sum =
        static_cast<unsigned char>(sig[32 + i]) + static_cast<unsigned char>(l[i]) + carry;
    malleated[32 + i] = static_cast<char>(sum & 0xff);
    carry = sum >> 8;
  }
  REQUIRE(carry == 0);
  CHECK_STATUS(v(WithSignature(token, malleated)), Status::kSignatureInvalid);
  CHECK_STATUS(v(WithSignature(token, sig.substr(0, 63))), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, sig + "\0"s)), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, std::string(64, '\0'))), Status::kSignatureInvalid);
}

TEST_CASE("B7/B8: HMAC tags are full length; RSA signatures are modulus length",
          "[verifier][catalogue]") {
  Env v(
      Keys().Hmac(kSecret, Alg::kHS256, "a").Hmac(std::string(64, 'z'), Alg::kHS512, "b").Build());
  const std::string token = Hs256(R"({"alg":"HS256","kid":"a"})", PayloadExp());
  REQUIRE(v(token) == Status::kOk);
  const std::string tag = Unb64(Split(token).signature);
  CHECK_STATUS(v(WithSignature(token, tag.substr(0, 16))), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, tag.substr(0, 1))), Status::kSignatureBadLength);
  CHECK_STATUS(v(WithSignature(token, tag + tag)), Status::kSignatureBadLength);
  CHECK_STATUS(v(Split(token).header + "." + Split(token).payload + "."), Status::kTokenMalformed);
  // An HS512 header with a 32-byte tag.
  const std::string hs512 = HmacJwsSegments(B64(R"({"alg":"HS512","kid":"b"})"), B64(PayloadExp()),
                                            std::string(64, 'z'), Alg::kHS512);
  REQUIRE(v(hs512) == Status::kOk);
  CHECK_STATUS(v(WithSignature(hs512, Unb64(Split(hs512).signature).substr(0, 32))),
               Status::kSignatureBadLength);

  const Generated rsa = Generate(Alg::kRS256, "r");
  Env r(Keys().Jwks(rsa.public_jwk).Build());
  const std::string rs = Sign(SignerFor(rsa), PayloadExp(), "r");
  REQUIRE(r(rs) == Status::kOk);
  const std::string sig = Unb64(Split(rs).signature);
  CHECK_STATUS(r(WithSignature(rs, sig.substr(1))), Status::kSignatureBadLength);
  CHECK_STATUS(r(WithSignature(rs, "\0"s + sig)), Status::kSignatureBadLength);
  CHECK_STATUS(r(WithSignature(rs, std::string(sig.size(), '\0'))), Status::kSignatureInvalid);
  CHECK_STATUS(r(WithSignature(rs, std::string(sig.size(), '\xff'))), Status::kSignatureInvalid);
}

}  // namespace
}  // namespace jwtgate
