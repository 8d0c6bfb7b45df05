// What several unit tests share: a status check that prints names, base64url, hex and JWS
// segment helpers, OpenSSL key handling for crafting keys and signatures the library would
// never make, and the fixtures of the Verifier tests (verifier_*_test.cc): generated keys and
// their signers, a key-set builder that fails the test on a refused key, and a verifier with
// its own context. Everything is in jwtgate::test; a test file takes what it uses with
// using-declarations (the Verifier tests with `using namespace test`).
#ifndef JWTGATE_TESTS_UNIT_TEST_SUPPORT_H_
#define JWTGATE_TESTS_UNIT_TEST_SUPPORT_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/c_handle.h"
#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

// Checks a status by name, so that a failure prints "want expired, got signature_invalid".
#define CHECK_STATUS(got, want)                                     \
  do {                                                              \
    const ::jwtgate::Status got_ = (got);                           \
    const ::jwtgate::Status want_ = (want);                         \
    CHECK(::jwtgate::ToString(got_) == ::jwtgate::ToString(want_)); \
  } while (false)

namespace jwtgate::test {

// ---------------------------------------------------------------------------------------------
// Bytes and JWS text, independent of the code under test where it matters.

inline std::string B64(std::string_view bytes) { return jose::Base64UrlEncode(bytes); }

inline std::string Unb64(std::string_view s) {
  std::string out;
  REQUIRE(jose::Base64UrlDecode(s, &out));
  return out;
}

inline std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

inline std::string FlipBit(std::string bytes, size_t bit) {
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  return bytes;
}

struct Segments {
  std::string header;
  std::string payload;
  std::string signature;
};

inline Segments Split(std::string_view token) {
  const size_t a = token.find('.');
  const size_t b = token.find('.', a + 1);
  REQUIRE(a != std::string_view::npos);
  REQUIRE(b != std::string_view::npos);
  return {std::string(token.substr(0, a)), std::string(token.substr(a + 1, b - a - 1)),
          std::string(token.substr(b + 1))};
}

inline std::string WithSignature(std::string_view token, std::string_view sig_bytes) {
  const Segments s = Split(token);
  return s.header + "." + s.payload + "." + B64(sig_bytes);
}

// ---------------------------------------------------------------------------------------------
// OpenSSL key handling for crafting keys and signatures the Signer would never make.

using Pkey = base::CHandle<EVP_PKEY, EVP_PKEY_free>;

inline Pkey LoadPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  REQUIRE(key != nullptr);
  return key;
}

inline std::string BioContents(BIO* bio) {
  std::string out(BIO_ctrl_pending(bio), '\0');
  if (!out.empty()) REQUIRE(BIO_read(bio, out.data(), static_cast<int>(out.size())) > 0);
  BIO_free(bio);
  return out;
}

inline std::string SpkiPem(const EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PUBKEY(bio, key) == 1);
  return BioContents(bio);
}

// "-----BEGIN RSA PUBLIC KEY-----" (PKCS#1 RSAPublicKey).
inline std::string Pkcs1Pem(const EVP_PKEY* key) {
  OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM",
                                                        "type-specific", nullptr);
  REQUIRE(ctx != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(OSSL_ENCODER_to_bio(ctx, bio) == 1);
  OSSL_ENCODER_CTX_free(ctx);
  std::string pem = BioContents(bio);
  REQUIRE(pem.find("-----BEGIN RSA PUBLIC KEY-----") == 0);
  return pem;
}

inline std::string SpkiDer(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

inline std::string RsaModulus(const EVP_PKEY* key) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// EVP_DigestSign over `input` (md may be null for Ed25519); `configure` adjusts the context.
inline std::string SignWith(EVP_PKEY* key, const EVP_MD* md, std::string_view input,
                            const std::function<void(EVP_PKEY_CTX*)>& configure = {}) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  REQUIRE(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) == 1);
  if (configure) configure(pctx);
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(ctx, nullptr, &len, data, input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                         input.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

inline const EVP_MD* HmacMd(Alg alg) {
  switch (alg) {
    case Alg::kHS384:
      return EVP_sha384();
    case Alg::kHS512:
      return EVP_sha512();
    default:
      return EVP_sha256();
  }
}

inline std::string HmacTag(std::string_view key, std::string_view data, Alg alg = Alg::kHS256) {
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(HMAC(HmacMd(alg), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), tag,
               &len) != nullptr);
  return std::string(reinterpret_cast<const char*>(tag), len);
}

// ---------------------------------------------------------------------------------------------
// Public keys of RFC 7515 Appendix A, transcribed exactly: A.2 (RSA, for RS256) and the public
// part of A.3 (EC P-256, for ES256). The known-answer tests verify the RFC's tokens with them;
// the status tests use them as well-formed JWKs to alter.

inline constexpr std::string_view kA2Jwk =
    R"({"kty":"RSA",)"
    R"("n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx)"
    R"(HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs)"
    R"(D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH)"
    R"(SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV)"
    R"(MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8)"
    R"(NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",)"
    R"("e":"AQAB"})";

inline constexpr std::string_view kA3Jwk = R"({"kty":"EC","crv":"P-256",)"
                                           R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                                           R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";

// ---------------------------------------------------------------------------------------------
// Verifier fixtures: keys, signers and verifiers.

// An RSA modulus of 8704 bits (base64url), a product of five primes: over the 8192-bit cap
// (key_too_large).
inline constexpr std::string_view kN8704 =
    "-EdYyxkYZaaPKndzNDpaH-wSChK0vVdortgsWDLdDIGc1l0fNIAtLn-OTwkWBabp4rT_IrPE_6L1jPiNwIPnhDV6vF"
    "vQk7umAfnHek2g54oM1eHqHZSs-y4kcuiYVg5OAbf4Zw-vvndwr02SzAH6EgridyNulx96bANqYTDii54xi8HIFofh"
    "Q620cXyMnKt2DW-V4gFTqvLC1Q0flr6aTfeK9bxQJhB5wDRDjLDSdkermmT6AcyYGtm-CUNgJst6YmkBIM1DRzQHNs"
    "oYmPnB3dTD9AJyCgV3uWaquz6H6TWMh8JoAjZKq5pU9VaEzaEGcysvvhS8N1c6ZpjnRcHyyb4Gcftth6lVr3BKINHk"
    "YC3ERTdGfF_1V31ox6HpmWKJDA1P0vhzmhfVxSS5PMql8zxey0tBQXuwg4BFOPxVRKq65QTeHXVIwD8CZOIyJb_6i5"
    "j-xvKEYRLfEPTCXIT4oz0YaJ9u4Gc4YYLCkOAf-yqIEIMlV8S_KJrZx16W2Cm-Pre5EzGw3JGnsuh_2evMFox8QLCm"
    "mkyjCfeHMm7dIP7xlKyoNkWC_Rmu0BeXUcu22xxBCk8cjdePrjrFSSUbSjkq3I4eebSaQVQ0xm9gynDY7tsmYzEf6r"
    "qsdS_gTgMrIZH_gxq-NbjNiqQVGPM4EhfiI_oPkruLIkz1pN_VNCcXzHH1etj7uF7zwA7Vm9ORZnmLswCt899lzRy7"
    "i-Sk-N2xRmCZH3m7TqXmyQjgY8U33Uzzu2i0ERqWXNBdDzlE66Rmg2r3R-q85xxj5MHxaZE-gQEURzFNUcY7koG9jf"
    "EBP4Dooc_Hzvz5DK9HxZOvZ2oNJ8FlnhVxvSzfttph5awMQrun5J8-hhoJvKpRIrAE_ebzN761hsRurrLIL4q-GmTL"
    "ki7V8mAZHTLSTTKoKowrUk9n1cqwuKHxJ0u-JwwK5UGvi2WIGVMqoPSKkDnuMEYnExcguY_r9IO_rSTcD7rEp771hG"
    "P4SFOjGvddOQfdBU6PW1NBBZmTZsAz3qt6vHKOsN1kLk93r9iRE4USwWyGmCtqEF3B3O_K-3obfD56W46Afgi6yIEv"
    "QkF1LLIpAHogm3ZUhDmIyWWTfUNnZ0mR37NXHnlQCoBI9nQrAFLtkiDPogFkVim6hVgf8RwL54ZXzRnZCBoBMbQJz1"
    "nXvTmpt7hXXUqgDBZ9Fxjsb8IwfGZ_qa3W4twBT3CLPtHnV7zTQ4qdffwebxyXGfkoXH9zAcDTngFDiUnGc9EuGcy5"
    "WMXk4WAaEYlOgwzXbmKdE1oU_pXfbMV7U8Q7Ohiy6pMRHJa1MZufeA5QZYWeBNQCbElFHKhm3of-9Nt5AI-gtyhvrm"
    "nXrvsQRRqcwHWNBEdVhXrnrCgxcaCrTYot-iS_SS1FLvLRXf9vuC-2hlB1f-9bvEblWyyfYnvfD-XkvyWZ4jzHPurv"
    "P0BzG97AtVs";

inline constexpr int64_t kNow = 1'700'000'000;
inline constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes, HS256

// header_b64 "." payload_b64 "." base64url(HMAC(key, header_b64 "." payload_b64)).
inline std::string HmacJwsSegments(std::string_view header_b64, std::string_view payload_b64,
                                   std::string_view key = kSecret, Alg alg = Alg::kHS256) {
  const std::string input = std::string(header_b64) + "." + std::string(payload_b64);
  return input + "." + B64(HmacTag(key, input, alg));
}

inline std::string Hs256(std::string_view header_json, std::string_view payload_json,
                         std::string_view key = kSecret) {
  return HmacJwsSegments(B64(header_json), B64(payload_json), key);
}

inline std::string PayloadExp(std::string_view extra = "") {
  return "{\"sub\":\"alice\",\"exp\":" + std::to_string(kNow + 3600) + std::string(extra) + "}";
}

struct Generated {
  Alg alg;
  std::string kid;
  std::string private_key;  // PKCS#8 PEM, or an oct JWK for HS*
  std::string public_jwk;
};

inline Generated Generate(Alg alg, std::string kid) {
  Generated g{alg, std::move(kid), {}, {}};
  REQUIRE(GenerateKey(alg, g.kid, &g.private_key, &g.public_jwk) == Status::kOk);
  return g;
}

inline Signer SignerFor(const Generated& g) {
  Result<Signer> signer = FamilyOf(g.alg) == AlgFamily::kHmac
                              ? Signer::FromJwk(g.private_key, g.alg)
                              : Signer::FromPem(g.private_key, g.alg);
  REQUIRE(signer.ok());
  return std::move(signer).value();
}

inline std::string Sign(const Signer& signer, std::string_view payload,
                        std::optional<std::string_view> kid = std::nullopt) {
  Result<std::string> token = signer.Sign(payload, kid);
  REQUIRE(token.ok());
  return token.value();
}

inline std::string SignRaw(const Signer& signer, std::string_view header,
                           std::string_view payload) {
  Result<std::string> token = signer.SignRaw(header, payload);
  REQUIRE(token.ok());
  return token.value();
}

class Keys {
 public:
  Keys& Jwks(std::string_view jwks, const JwksOptions& options = {}) {
    INFO("JWKS: " << jwks);
    REQUIRE(builder_.AddJwks(jwks, options) == Status::kOk);
    return *this;
  }
  Keys& Hmac(std::string_view secret, Alg alg, std::optional<std::string> kid = std::nullopt) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(secret.data());
    REQUIRE(builder_.AddHmacSecret({bytes, secret.size()}, alg, std::move(kid)) == Status::kOk);
    return *this;
  }
  Keys& Pem(std::string_view pem, Alg alg, std::optional<std::string> kid = std::nullopt) {
    REQUIRE(builder_.AddPem(pem, alg, std::move(kid)) == Status::kOk);
    return *this;
  }
  std::shared_ptr<const KeySet> Build() { return builder_.Build(); }

 private:
  KeySet::Builder builder_;
};

// A verifier with its own context.
class Env {
 public:
  explicit Env(std::shared_ptr<const KeySet> keys, VerifierOptions options = {},
               const RevocationCheck* revocation = nullptr)
      : verifier_(std::move(keys), std::move(options), revocation) {}

  Status operator()(std::string_view token, int64_t now = kNow, Claims* out = nullptr) {
    return verifier_.Verify(token, now, ctx_, out);
  }
  const Verifier& verifier() const { return verifier_; }
  VerifyContext& ctx() { return ctx_; }

 private:
  Verifier verifier_;
  VerifyContext ctx_;
};

inline std::shared_ptr<const KeySet> Hs256Keys() {
  return Keys().Hmac(kSecret, Alg::kHS256).Build();
}

// Revokes tokens whose jti is "revoked".
class RevokeJti : public RevocationCheck {
 public:
  bool IsRevoked(const Claims& claims) const noexcept override { return claims.jti == "revoked"; }
};

}  // namespace jwtgate::test

#endif  // JWTGATE_TESTS_UNIT_TEST_SUPPORT_H_
