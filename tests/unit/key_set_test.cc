// KeySet import rules (keys.h, security catalogue rules 1, 2, 6, 9 and rows A3, A6, A7, E2)
// and key selection by (kid, alg).
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "crypto/key_set_access.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "test_support.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;
using test::B64;
using test::BioContents;
using test::Hex;
using test::Pkcs1Pem;
using test::Pkey;
using test::SpkiPem;

// ---------------------------------------------------------------------------------------------
// Test keys, made with OpenSSL's EVP API.

Pkey GenerateRsa(size_t bits) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  REQUIRE(key != nullptr);
  return key;
}

Pkey GenerateEc(const char* group) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group));
  REQUIRE(key != nullptr);
  return key;
}

Pkey GenerateEd25519() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(key != nullptr);
  return key;
}

// One RSA-2048 key per process: generation is the slow part of these tests.
const EVP_PKEY* Rsa2048() {
  static const Pkey key = GenerateRsa(2048);
  return key.get();
}

std::string BnParam(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// 0x04 || X || Y, each coordinate at full length.
std::string EcPoint(const EVP_PKEY* key) {
  unsigned char buf[1 + 2 * 66];
  size_t len = 0;
  REQUIRE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf),
                                          &len) == 1);
  REQUIRE(buf[0] == 0x04);
  return std::string(reinterpret_cast<const char*>(buf), len);
}

std::string Ed25519Raw(const EVP_PKEY* key) {
  unsigned char buf[32];
  size_t len = sizeof(buf);
  REQUIRE(EVP_PKEY_get_raw_public_key(key, buf, &len) == 1);
  return std::string(reinterpret_cast<const char*>(buf), len);
}

std::string Pkcs8Pem(const EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return BioContents(bio);
}

// Minimal big-endian encoding of an unsigned integer (RFC 7518 §2 Base64urlUInt).
std::string UInt(uint64_t v) {
  std::string out;
  while (v != 0) {
    out.insert(out.begin(), static_cast<char>(v & 0xff));
    v >>= 8;
  }
  if (out.empty()) out = std::string(1, '\0');
  return out;
}

// ---------------------------------------------------------------------------------------------
// JWK text.

std::string RsaJwk(std::string_view n, std::string_view e, std::string_view extra = "") {
  return R"({"kty":"RSA","n":")" + B64(n) + R"(","e":")" + B64(e) + "\"" + std::string(extra) + "}";
}

std::string RsaJwkFor(const EVP_PKEY* key, std::string_view extra = "") {
  return RsaJwk(BnParam(key, OSSL_PKEY_PARAM_RSA_N), BnParam(key, OSSL_PKEY_PARAM_RSA_E), extra);
}

std::string EcJwk(std::string_view crv, std::string_view x, std::string_view y,
                  std::string_view extra = "") {
  return R"({"kty":"EC","crv":")" + std::string(crv) + R"(","x":")" + B64(x) + R"(","y":")" +
         B64(y) + "\"" + std::string(extra) + "}";
}

std::string EcJwkFor(const EVP_PKEY* key, std::string_view crv, std::string_view extra = "") {
  const std::string point = EcPoint(key);
  const size_t len = (point.size() - 1) / 2;
  return EcJwk(crv, point.substr(1, len), point.substr(1 + len, len), extra);
}

std::string OkpJwk(std::string_view crv, std::string_view x, std::string_view extra = "") {
  return R"({"kty":"OKP","crv":")" + std::string(crv) + R"(","x":")" + B64(x) + "\"" +
         std::string(extra) + "}";
}

std::string OctJwk(std::string_view k, std::string_view extra = "") {
  return R"({"kty":"oct","k":")" + B64(k) + "\"" + std::string(extra) + "}";
}

std::string Jwks(const std::vector<std::string>& keys) {
  std::string out = R"({"keys":[)";
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
  return out + "]}";
}

// RFC 8037 A.2 public key.
constexpr std::string_view kRfc8037X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

// RSA moduli made once with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_primes:5` (a
// genuine product of five primes, so EVP_PKEY_public_check passes and only the size rule can
// refuse them): 8192 bits, the largest accepted, and 8704 bits.
constexpr std::string_view kN8192 =
    "kQ2ToVFh6RXMBOV0tnlWfqNQD6K02w1vyWPM3cxbhVCenIMfXY4UKBPMTJ4814rb8M_mAF5wIcLQcmzTTMWHHu5-q_"
    "UqKTZ2uecf1IeI-x2LZH-tTYwEimFZgzekQk7mxwl1sNgssT9goI5OWMSuN1SPFEz867AS3OfDZmk7juoV-1FAJe1j"
    "5-r58I1V5B8f2U1sRPgRYD7Gw7VFtnYYFwVV0GZHXHSAGANkKO8mf6jQI3hPglIYz7VzvmAoUK4uyLSWn0PnWMT-Sz"
    "eehd024mZavouZ3k64GdPzO6FsU6AtMVNl-clw3LSF-JOJCyOlTQD9yezOwz9GLrn7f_zrs8paa_wHpHgDqFNlwBJ0"
    "ShHUFZcH-Kj0M-ueS4L-oPSD5TKjykZxVnNxgzsfDVfkVm2LWZ5YokIhi2NGgKo-Hhh5B9KkVdvCpVweI5So517rbO"
    "vWU-LO1fs8Drsy9oVdmDyCv94OSMTI0LWS7BPBoe_qcNS0YJB9-KiPiSZXNlu1UUvXr2JrgAPtIqB4R-q0yAgzgcZ1"
    "sMXAzc6GtZ_cXh1XNOLJk5m0fJJTqamCMiQjqulsLCPxX4sAGPEQMjnMQIRi6BhXwRfhhaXFpY7dvtKYqTP6FbUAQS"
    "1tY7NIQKEoHjGkA-7zJoAWCH2uekmXwxTOC3O0pUkkZSHhO6-K34SsNkYZZUHKdsON5atBhjd_0ypcOmHwnST8ayas"
    "FsaXX-s-ea-YrDRvQx2bLvYwy2HKwyIuqL_owatXwfNBpFmnvsAnD59t8POBb_JkbOwc_vTwF_eaxGQfdC-6fle4Vh"
    "Qb2QYL3t7AbwEvqb8LpHck9tLNxdxeaJTKTC2kCHt1fQuBs2i-S5NQI2Jthm2T-r14314vwBBeE7wNpwhJv7mO-0_n"
    "9o2dpnxg_rd151c-rMd5udgXF-SNgywVJNLRFLKFFt47vWeo4opOaoYIyNbEoMc8I3mhdRrBOVr_OS0j_4m14N4Qg9"
    "6D7URtQRqD8Syz2Gkf9GPSeukftyN14W8Gn7a1bDqQJVMVxoDNOSBghCrSWWoE6w5XDUyyQ_TAICttAYalpxSndsuC"
    "A9wWLqEzvnGmlN2hyiCwIe0hgmq9hKvyCG_wnip0Edaed-IX8vo9484X9HG5Vf5Hid-3pSYGP_GtRs6VeHVvpNhLKo"
    "L0NpNJioh-Oc-cHapv1nBHHjpxw8wgFbZLdP_XY_cBpZ_gD7a4_4F4KSTLGfnwIINjFQkiOH07R5LoO6RNqFwQHLid"
    "yko4LFuk5BhsEmsnZgLEjS4VnMNqSlwq1ddADE0gKRt0VKq5btVMx1WbCAZSV-B7qoOTi2P3DhiA8tR2TWO05cxV--"
    "QRh7cXfnRHkucZ9Q";

std::string FromB64(std::string_view s) {
  std::string out;
  REQUIRE(jose::Base64UrlDecode(s, &out));
  return out;
}

Status Import(std::string_view jwks, const JwksOptions& options = {}) {
  KeySet::Builder builder;
  return builder.AddJwks(jwks, options);
}

JwksOptions DefaultAlg(Alg alg) {
  JwksOptions o;
  o.default_alg = alg;
  return o;
}

struct ImportCase {
  std::string name;
  std::string jwks;
  Status want;
  JwksOptions options = {};
};

void RunImports(const std::vector<ImportCase>& cases) {
  for (const ImportCase& c : cases) {
    const Status got = Import(c.jwks, c.options);
    INFO(c.name << ": " << c.jwks.substr(0, 300));
    INFO("want " << ToString(c.want) << ", got " << ToString(got));
    CHECK(got == c.want);
  }
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("RSA JWK: modulus size between 2048 and 8192 bits", "[keys]") {
  const Pkey rsa1024 = GenerateRsa(1024);
  const Pkey rsa2047 = GenerateRsa(2047);
  const std::string e = UInt(65537);
  const std::vector<ImportCase> cases = {
      {"2048", RsaJwkFor(Rsa2048(), R"(,"alg":"RS256")"), Status::kOk},
      {"2047", RsaJwkFor(rsa2047.get(), R"(,"alg":"RS256")"), Status::kKeyTooSmall},
      {"1024", RsaJwkFor(rsa1024.get(), R"(,"alg":"RS256")"), Status::kKeyTooSmall},
      {"1024 for PS256", RsaJwkFor(rsa1024.get(), R"(,"alg":"PS256")"), Status::kKeyTooSmall},
      {"8192", RsaJwk(FromB64(kN8192), e, R"(,"alg":"RS256")"), Status::kOk},
      {"8704", RsaJwk(FromB64(test::kN8704), e, R"(,"alg":"RS256")"), Status::kKeyTooLarge},
  };
  RunImports(cases);
}

TEST_CASE("RSA JWK: e odd with 3 <= e <= 2^32", "[keys]") {
  const std::string n = BnParam(Rsa2048(), OSSL_PKEY_PARAM_RSA_N);
  std::string huge(256, '\xa5');
  huge.back() = '\x01';
  const std::vector<ImportCase> cases = {
      {"e = 65537", RsaJwk(n, UInt(65537), R"(,"alg":"RS256")"), Status::kOk},
      {"e = 3", RsaJwk(n, UInt(3), R"(,"alg":"RS256")"), Status::kOk},
      {"e = 2^32 - 1", RsaJwk(n, UInt(0xffffffffULL), R"(,"alg":"RS256")"), Status::kOk},
      // e = 1 makes the signature equal to the encoded message: forgeable by anyone.
      {"e = 1", RsaJwk(n, UInt(1), R"(,"alg":"RS256")"), Status::kKeyBadExponent},
      {"e = 2", RsaJwk(n, UInt(2), R"(,"alg":"RS256")"), Status::kKeyBadExponent},
      {"e = 65536", RsaJwk(n, UInt(65536), R"(,"alg":"RS256")"), Status::kKeyBadExponent},
      {"e = 2^32", RsaJwk(n, UInt(0x100000000ULL), R"(,"alg":"RS256")"), Status::kKeyBadExponent},
      {"e = 2^32 + 1", RsaJwk(n, UInt(0x100000001ULL), R"(,"alg":"RS256")"),
       Status::kKeyBadExponent},
      {"e = 2^64 - 1", RsaJwk(n, UInt(0xffffffffffffffffULL), R"(,"alg":"RS256")"),
       Status::kKeyBadExponent},
      // A 2048-bit odd exponent: an RS256 verify would cost ~100x (catalogue E2).
      {"e of 2048 bits", RsaJwk(n, huge, R"(,"alg":"RS256")"), Status::kKeyBadExponent},
  };
  RunImports(cases);
}

TEST_CASE("RSA JWK: a modulus that is not an RSA modulus fails the public check", "[keys]") {
  std::string n = BnParam(Rsa2048(), OSSL_PKEY_PARAM_RSA_N);
  std::string even = n;
  even.back() = static_cast<char>(even.back() & 0xfe);
  const std::vector<ImportCase> cases = {
      {"even n", RsaJwk(even, UInt(65537), R"(,"alg":"RS256")"), Status::kKeyInvalid},
  };
  RunImports(cases);
}

// p * q with q a random odd number of the remaining bits: not a usable RSA modulus.
std::string ModulusWithFactor(unsigned p, int bits) {
  BIGNUM* q = BN_new();
  REQUIRE(BN_rand(q, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD) == 1);  // n has >= bits bits
  REQUIRE(BN_mul_word(q, p) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(q)), '\0');
  BN_bn2bin(q, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(q);
  return out;
}

TEST_CASE("RSA JWK: a modulus with a factor below 2^16 is refused every time", "[keys]") {
  // 1163 is the first prime past OpenSSL's own trial division (primes below 752): above it,
  // OpenSSL's randomized check alone refused such a modulus only now and then. 65521 is the
  // largest prime below 2^16.
  for (const unsigned p : {3u, 751u, 1163u, 40009u, 65521u}) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      const std::string n = ModulusWithFactor(p, 2048);
      INFO("factor " << p << ", attempt " << attempt);
      CHECK(Import(RsaJwk(n, UInt(65537), R"(,"alg":"RS256")")) == Status::kKeyInvalid);
    }
  }
}

TEST_CASE("RSA JWK: structural errors", "[keys]") {
  const std::string n = B64(BnParam(Rsa2048(), OSSL_PKEY_PARAM_RSA_N));
  const std::vector<ImportCase> cases = {
      {"no n", R"({"kty":"RSA","e":"AQAB","alg":"RS256"})", Status::kJwkInvalid},
      {"no e", R"({"kty":"RSA","n":")" + n + R"(","alg":"RS256"})", Status::kJwkInvalid},
      {"n not a string", R"({"kty":"RSA","n":5,"e":"AQAB","alg":"RS256"})", Status::kJwkInvalid},
      {"n padded base64", R"({"kty":"RSA","n":")" + n + R"(=","e":"AQAB","alg":"RS256"})",
       Status::kJwkInvalid},
      {"e standard base64", R"({"kty":"RSA","n":")" + n + R"(","e":"AQ+B","alg":"RS256"})",
       Status::kJwkInvalid},
      {"kty missing", R"({"n":")" + n + R"(","e":"AQAB","alg":"RS256"})", Status::kJwkInvalid},
      {"kty not a string", R"({"kty":1,"n":")" + n + R"(","e":"AQAB","alg":"RS256"})",
       Status::kJwkInvalid},
      {"alg not a string", R"({"kty":"RSA","n":")" + n + R"(","e":"AQAB","alg":5})",
       Status::kJwkInvalid},
  };
  RunImports(cases);
}

TEST_CASE("EC JWK: curves, coordinate lengths and points on the curve", "[keys]") {
  const Pkey p256 = GenerateEc("P-256");
  const Pkey p384 = GenerateEc("P-384");
  const Pkey p521 = GenerateEc("P-521");
  const std::string pt = EcPoint(p256.get());
  const std::string x = pt.substr(1, 32);
  const std::string y = pt.substr(33, 32);
  std::string off_y = y;
  off_y.back() = static_cast<char>(off_y.back() ^ 1);
  const std::string zeros(32, '\0');

  const std::vector<ImportCase> cases = {
      {"P-256, alg from the curve", EcJwkFor(p256.get(), "P-256"), Status::kOk},
      {"P-384, alg from the curve", EcJwkFor(p384.get(), "P-384"), Status::kOk},
      {"P-521, alg from the curve", EcJwkFor(p521.get(), "P-521"), Status::kOk},
      {"P-256 ES256", EcJwkFor(p256.get(), "P-256", R"(,"alg":"ES256")"), Status::kOk},
      {"P-384 ES384", EcJwkFor(p384.get(), "P-384", R"(,"alg":"ES384")"), Status::kOk},
      {"P-521 ES512", EcJwkFor(p521.get(), "P-521", R"(,"alg":"ES512")"), Status::kOk},
      // The curve is bound to the algorithm (RFC 7518 §3.4).
      {"P-256 ES384", EcJwkFor(p256.get(), "P-256", R"(,"alg":"ES384")"), Status::kKeyAlgMismatch},
      {"P-384 ES256", EcJwkFor(p384.get(), "P-384", R"(,"alg":"ES256")"), Status::kKeyAlgMismatch},
      {"P-521 ES384", EcJwkFor(p521.get(), "P-521", R"(,"alg":"ES384")"), Status::kKeyAlgMismatch},
      {"P-256 RS256", EcJwkFor(p256.get(), "P-256", R"(,"alg":"RS256")"), Status::kKeyAlgMismatch},
      {"P-256 EdDSA", EcJwkFor(p256.get(), "P-256", R"(,"alg":"EdDSA")"), Status::kKeyAlgMismatch},
      {"P-256 HS256", EcJwkFor(p256.get(), "P-256", R"(,"alg":"HS256")"), Status::kKeyAlgMismatch},
      // Unsupported curves.
      {"P-192", EcJwk("P-192", x.substr(0, 24), y.substr(0, 24)), Status::kKeyUnsupportedCurve},
      {"secp256k1", EcJwk("secp256k1", x, y), Status::kKeyUnsupportedCurve},
      {"p-256 (case)", EcJwk("p-256", x, y), Status::kKeyUnsupportedCurve},
      // The coordinates of the wrong curve's length: P-384-sized coordinates labelled P-256.
      {"P-256 with P-384 coordinates", EcJwkFor(p384.get(), "P-256"), Status::kKeyInvalid},
      // Coordinates of the wrong length (RFC 7518 §6.2.1.2: the full coordinate size).
      {"x one byte short", EcJwk("P-256", x.substr(1), y), Status::kKeyInvalid},
      {"y one byte short", EcJwk("P-256", x, y.substr(1)), Status::kKeyInvalid},
      {"x with a leading zero byte", EcJwk("P-256", "\0"s + x, y), Status::kKeyInvalid},
      {"y with a leading zero byte", EcJwk("P-256", x, "\0"s + y), Status::kKeyInvalid},
      // Points not on the curve, and the all-zero "point".
      {"off-curve y", EcJwk("P-256", x, off_y), Status::kKeyInvalid},
      {"(0, 0)", EcJwk("P-256", zeros, zeros), Status::kKeyInvalid},
      {"x = y", EcJwk("P-256", x, x), Status::kKeyInvalid},
      // Structure.
      {"no crv", R"({"kty":"EC","x":")" + B64(x) + R"(","y":")" + B64(y) + "\"}",
       Status::kJwkInvalid},
      {"no y", R"({"kty":"EC","crv":"P-256","x":")" + B64(x) + "\"}", Status::kJwkInvalid},
      {"x not base64url", R"({"kty":"EC","crv":"P-256","x":"@@@@","y":")" + B64(y) + "\"}",
       Status::kJwkInvalid},
  };
  RunImports(cases);
}

TEST_CASE("OKP JWK: Ed25519 only, canonical and not of small order", "[keys]") {
  const Pkey ed = GenerateEd25519();
  const std::vector<ImportCase> cases = {
      {"generated Ed25519", OkpJwk("Ed25519", Ed25519Raw(ed.get())), Status::kOk},
      {"RFC 8037 key", R"({"kty":"OKP","crv":"Ed25519","x":")" + std::string(kRfc8037X) + "\"}",
       Status::kOk},
      {"RFC 8037 key, alg EdDSA",
       R"({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":")" + std::string(kRfc8037X) + "\"}",
       Status::kOk},
      // Small-order points (C2SP CCTV low_order_A): any signature check against them is
      // meaningless.
      {"identity (y = 1)",
       OkpJwk("Ed25519", Hex("0100000000000000000000000000000000000000000000000000000000000000")),
       Status::kKeyInvalid},
      {"order 4 (y = 0)",
       OkpJwk("Ed25519", Hex("0000000000000000000000000000000000000000000000000000000000000000")),
       Status::kKeyInvalid},
      {"order 2 (y = -1)",
       OkpJwk("Ed25519", Hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
       Status::kKeyInvalid},
      {"order 8",
       OkpJwk("Ed25519", Hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")),
       Status::kKeyInvalid},
      {"order 8, other",
       OkpJwk("Ed25519", Hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")),
       Status::kKeyInvalid},
      // Non-canonical encodings (y >= p; RFC 8032 §5.1.3 requires rejecting them).
      {"non-canonical identity (y = p + 1)",
       OkpJwk("Ed25519", Hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
       Status::kKeyInvalid},
      {"non-canonical, sign bit set",
       OkpJwk("Ed25519", Hex("0100000000000000000000000000000000000000000000000000000000000080")),
       Status::kKeyInvalid},
      // y = p + 3 encodes the point with y = 3, which is on the curve and of large order: only
      // the canonical-encoding rule refuses it.
      {"non-canonical, large order (y = p + 3)",
       OkpJwk("Ed25519", Hex("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
       Status::kKeyInvalid},
      // y = 2 is not on the curve.
      {"not a point (y = 2)",
       OkpJwk("Ed25519", Hex("0200000000000000000000000000000000000000000000000000000000000000")),
       Status::kKeyInvalid},
      {"31 bytes", OkpJwk("Ed25519", Ed25519Raw(ed.get()).substr(1)), Status::kKeyInvalid},
      {"33 bytes", OkpJwk("Ed25519", Ed25519Raw(ed.get()) + "\0"s), Status::kKeyInvalid},
      // Other OKP curves.
      {"Ed448", OkpJwk("Ed448", std::string(57, '\x11')), Status::kKeyUnsupportedCurve},
      {"X25519", OkpJwk("X25519", Ed25519Raw(ed.get())), Status::kKeyUnsupportedCurve},
      {"X448", OkpJwk("X448", std::string(56, '\x11')), Status::kKeyUnsupportedCurve},
      // Algorithm binding.
      {"Ed25519 ES256", OkpJwk("Ed25519", Ed25519Raw(ed.get()), R"(,"alg":"ES256")"),
       Status::kKeyAlgMismatch},
      {"Ed25519 HS256", OkpJwk("Ed25519", Ed25519Raw(ed.get()), R"(,"alg":"HS256")"),
       Status::kKeyAlgMismatch},
      {"no crv", R"({"kty":"OKP","x":")" + std::string(kRfc8037X) + "\"}", Status::kJwkInvalid},
      {"no x", R"({"kty":"OKP","crv":"Ed25519"})", Status::kJwkInvalid},
  };
  RunImports(cases);
}

TEST_CASE("oct JWK: at least the hash length, never empty", "[keys]") {
  const std::vector<ImportCase> cases = {
      {"HS256, 32 bytes", OctJwk(std::string(32, 'k'), R"(,"alg":"HS256")"), Status::kOk},
      {"HS256, 64 bytes", OctJwk(std::string(64, 'k'), R"(,"alg":"HS256")"), Status::kOk},
      {"HS256, 31 bytes", OctJwk(std::string(31, 'k'), R"(,"alg":"HS256")"), Status::kKeyTooSmall},
      {"HS256, 1 byte", OctJwk("k", R"(,"alg":"HS256")"), Status::kKeyTooSmall},
      {"HS384, 48 bytes", OctJwk(std::string(48, 'k'), R"(,"alg":"HS384")"), Status::kOk},
      {"HS384, 47 bytes", OctJwk(std::string(47, 'k'), R"(,"alg":"HS384")"), Status::kKeyTooSmall},
      {"HS384, 32 bytes", OctJwk(std::string(32, 'k'), R"(,"alg":"HS384")"), Status::kKeyTooSmall},
      {"HS512, 64 bytes", OctJwk(std::string(64, 'k'), R"(,"alg":"HS512")"), Status::kOk},
      {"HS512, 63 bytes", OctJwk(std::string(63, 'k'), R"(,"alg":"HS512")"), Status::kKeyTooSmall},
      // An empty secret (CVE-2026-102266, CVE-2019-20933).
      {"empty k", R"({"kty":"oct","k":"","alg":"HS256"})", Status::kKeyTooSmall},
      {"no k", R"({"kty":"oct","alg":"HS256"})", Status::kJwkInvalid},
      {"k not a string", R"({"kty":"oct","k":5,"alg":"HS256"})", Status::kJwkInvalid},
      {"k padded", R"({"kty":"oct","k":")" + B64(std::string(32, 'k')) + R"(=","alg":"HS256"})",
       Status::kJwkInvalid},
      // Binding.
      {"oct RS256", OctJwk(std::string(32, 'k'), R"(,"alg":"RS256")"), Status::kKeyAlgMismatch},
      {"oct EdDSA", OctJwk(std::string(64, 'k'), R"(,"alg":"EdDSA")"), Status::kKeyAlgMismatch},
      {"oct ES256", OctJwk(std::string(32, 'k'), R"(,"alg":"ES256")"), Status::kKeyAlgMismatch},
  };
  RunImports(cases);
}

TEST_CASE("JWK alg: from the JWK, the curve or JwksOptions::default_alg, never the token",
          "[keys]") {
  const std::string rsa = RsaJwkFor(Rsa2048());
  const std::string oct = OctJwk(std::string(64, 'k'));
  const Pkey p256 = GenerateEc("P-256");
  const std::vector<ImportCase> cases = {
      {"RSA without alg", rsa, Status::kKeyAlgMissing},
      {"oct without alg", oct, Status::kKeyAlgMissing},
      {"RSA, default RS256", rsa, Status::kOk, DefaultAlg(Alg::kRS256)},
      {"RSA, default PS512", rsa, Status::kOk, DefaultAlg(Alg::kPS512)},
      {"oct, default HS256", oct, Status::kOk, DefaultAlg(Alg::kHS256)},
      {"oct, default HS512", oct, Status::kOk, DefaultAlg(Alg::kHS512)},
      // A default of another key type does not apply to the key, which is left without an
      // algorithm (one default may serve a set that mixes key types).
      {"RSA, default ES256", rsa, Status::kKeyAlgMissing, DefaultAlg(Alg::kES256)},
      {"RSA, default HS256", rsa, Status::kKeyAlgMissing, DefaultAlg(Alg::kHS256)},
      {"oct, default RS256", oct, Status::kKeyAlgMissing, DefaultAlg(Alg::kRS256)},
      // EC and OKP keys take their algorithm from the curve; a default for RSA does not apply.
      {"EC without alg, default RS256", EcJwkFor(p256.get(), "P-256"), Status::kOk,
       DefaultAlg(Alg::kRS256)},
      // alg/kty mismatches.
      {"RSA ES256", RsaJwkFor(Rsa2048(), R"(,"alg":"ES256")"), Status::kKeyAlgMismatch},
      {"RSA HS256", RsaJwkFor(Rsa2048(), R"(,"alg":"HS256")"), Status::kKeyAlgMismatch},
      {"RSA EdDSA", RsaJwkFor(Rsa2048(), R"(,"alg":"EdDSA")"), Status::kKeyAlgMismatch},
      {"RSA PS256", RsaJwkFor(Rsa2048(), R"(,"alg":"PS256")"), Status::kOk},
  };
  RunImports(cases);

  SECTION("the JWK's alg wins over default_alg") {
    KeySet::Builder builder;
    REQUIRE(builder.AddJwks(RsaJwkFor(Rsa2048(), R"(,"alg":"PS384","kid":"k")"),
                            DefaultAlg(Alg::kRS256)) == Status::kOk);
    auto set = builder.Build();
    CHECK(set->algs().Contains(Alg::kPS384));
    CHECK_FALSE(set->algs().Contains(Alg::kRS256));
  }
  SECTION("a default applies to exactly the one algorithm it names") {
    KeySet::Builder builder;
    REQUIRE(builder.AddJwks(rsa, DefaultAlg(Alg::kRS384)) == Status::kOk);
    auto set = builder.Build();
    CHECK(set->algs().Contains(Alg::kRS384));
    CHECK_FALSE(set->algs().Contains(Alg::kRS256));
    CHECK_FALSE(set->algs().Contains(Alg::kPS384));
  }
}

TEST_CASE("JWK use and key_ops are honoured", "[keys]") {
  const std::string k = B64(std::string(32, 'k'));
  auto oct = [&](std::string_view extra) {
    return R"({"kty":"oct","alg":"HS256","k":")" + k + "\"" + std::string(extra) + "}";
  };
  const std::vector<ImportCase> cases = {
      {"use sig", oct(R"(,"use":"sig")"), Status::kOk},
      {"use enc", oct(R"(,"use":"enc")"), Status::kKeyUsageMismatch},
      {"use SIG", oct(R"(,"use":"SIG")"), Status::kKeyUsageMismatch},
      {"use empty", oct(R"(,"use":"")"), Status::kKeyUsageMismatch},
      {"key_ops verify", oct(R"(,"key_ops":["verify"])"), Status::kOk},
      {"key_ops sign, verify", oct(R"(,"key_ops":["sign","verify"])"), Status::kOk},
      {"key_ops sign", oct(R"(,"key_ops":["sign"])"), Status::kKeyUsageMismatch},
      {"key_ops encrypt", oct(R"(,"key_ops":["encrypt","decrypt"])"), Status::kKeyUsageMismatch},
      {"key_ops empty", oct(R"(,"key_ops":[])"), Status::kKeyUsageMismatch},
      {"use sig, key_ops verify", oct(R"(,"use":"sig","key_ops":["verify"])"), Status::kOk},
  };
  RunImports(cases);
  SECTION("RSA use enc") {
    CHECK_STATUS(Import(RsaJwkFor(Rsa2048(), R"(,"alg":"RS256","use":"enc")")),
                 Status::kKeyUsageMismatch);
  }
  SECTION("skip_unsupported skips use enc and unknown kty, but never invalid keys") {
    JwksOptions skip;
    skip.skip_unsupported = true;
    KeySet::Builder builder;
    REQUIRE(builder.AddJwks(Jwks({oct(R"(,"use":"enc","kid":"e")"), R"({"kty":"foo","kid":"f"})",
                                  oct(R"(,"use":"sig","kid":"s")")}),
                            skip) == Status::kOk);
    CHECK(builder.size() == 1);
    auto set = builder.Build();
    REQUIRE(set->size() == 1);
    CHECK(set->Describe().at(0).kid == "s");

    KeySet::Builder strict;
    CHECK_STATUS(strict.AddJwks(Jwks({oct(R"(,"kid":"s")"), R"({"kty":"oct","alg":"HS256","k":")" +
                                                                B64("short") + "\"}"}),
                                skip),
                 Status::kKeyTooSmall);
    CHECK(strict.failed_index() == 1);
  }
}

TEST_CASE("JWKs carrying private key material are refused", "[keys]") {
  const std::string rsa = RsaJwkFor(Rsa2048(), R"(,"alg":"RS256")");
  const std::string member = R"("AQAB")";
  std::vector<ImportCase> cases;
  for (const char* name : {"d", "p", "q", "dp", "dq", "qi"}) {
    cases.push_back({"RSA with "s + name,
                     RsaJwkFor(Rsa2048(), R"(,"alg":"RS256",")"s + name + "\":" + member),
                     Status::kJwkPrivateMaterial});
  }
  cases.push_back(
      {"RSA with oth",
       RsaJwkFor(Rsa2048(), R"(,"alg":"RS256","oth":[{"r":"AQAB","d":"AQAB","t":"AQAB"}])"),
       Status::kJwkPrivateMaterial});
  const Pkey p256 = GenerateEc("P-256");
  const Pkey ed = GenerateEd25519();
  cases.push_back(
      {"EC with d", EcJwkFor(p256.get(), "P-256", R"(,"d":"AQAB")"), Status::kJwkPrivateMaterial});
  cases.push_back({"OKP with d", OkpJwk("Ed25519", Ed25519Raw(ed.get()), R"(,"d":"AQAB")"),
                   Status::kJwkPrivateMaterial});
  // An oct key is a secret by nature.
  cases.push_back({"oct", OctJwk(std::string(32, 'k'), R"(,"alg":"HS256")"), Status::kOk});
  cases.push_back({"RSA public", rsa, Status::kOk});
  RunImports(cases);
}

TEST_CASE("JWKS documents: shape, size and key-count caps, unsupported kty", "[keys]") {
  const std::string oct_a = OctJwk(std::string(32, 'a'), R"(,"alg":"HS256","kid":"a")");
  const std::string oct_b = OctJwk(std::string(32, 'b'), R"(,"alg":"HS256","kid":"b")");
  const std::vector<ImportCase> cases = {
      {"a single JWK", oct_a, Status::kOk},
      {"a set of two", Jwks({oct_a, oct_b}), Status::kOk},
      {"an empty set", R"({"keys":[]})", Status::kOk},
      {"not JSON", "not json", Status::kJwksBadJson},
      {"empty", "", Status::kJwksBadJson},
      {"top-level array", "[" + oct_a + "]", Status::kJwksBadJson},
      {"trailing comma", R"({"keys":[)" + oct_a + ",]}", Status::kJwksBadJson},
      {"duplicate member",
       R"({"kty":"oct","kty":"oct","alg":"HS256","k":")" + B64(std::string(32, 'k')) + "\"}",
       Status::kJwksBadJson},
      {"invalid UTF-8", "{\"keys\":[],\"x\":\"\xff\"}", Status::kJwksBadJson},
      {"unsupported kty", R"({"kty":"foo","kid":"x"})", Status::kJwkUnsupportedKty},
      {"unsupported kty in a set", Jwks({oct_a, R"({"kty":"DSA"})"}), Status::kJwkUnsupportedKty},
      {"kty case", R"({"kty":"rsa","n":"AQAB","e":"AQAB"})", Status::kJwkUnsupportedKty},
  };
  RunImports(cases);

  SECTION("max_bytes") {
    const std::string doc = Jwks({oct_a, oct_b});
    JwksOptions o;
    o.max_bytes = doc.size();
    CHECK_STATUS(Import(doc, o), Status::kOk);
    o.max_bytes = doc.size() - 1;
    CHECK_STATUS(Import(doc, o), Status::kJwksTooLarge);
  }
  SECTION("max_keys") {
    const std::string doc = Jwks({oct_a, oct_b});
    JwksOptions o;
    o.max_keys = 2;
    CHECK_STATUS(Import(doc, o), Status::kOk);
    o.max_keys = 1;
    CHECK_STATUS(Import(doc, o), Status::kJwksTooLarge);
  }
  SECTION("failed_index names the offending JWK") {
    KeySet::Builder builder;
    const std::string bad = OctJwk(std::string(8, 'c'), R"(,"alg":"HS256","kid":"c")");
    CHECK_STATUS(builder.AddJwks(Jwks({oct_a, oct_b, bad})), Status::kKeyTooSmall);
    CHECK(builder.failed_index() == 2);
  }
}

TEST_CASE("keys are unique by (kid, alg)", "[keys]") {
  const std::string k1 = std::string(32, '1');
  const std::string k2 = std::string(32, '2');
  SECTION("same kid and alg in one document") {
    KeySet::Builder builder;
    CHECK_STATUS(builder.AddJwks(Jwks({OctJwk(k1, R"(,"alg":"HS256","kid":"a")"),
                                       OctJwk(k2, R"(,"alg":"HS256","kid":"a")")})),
                 Status::kKeyDuplicate);
    CHECK(builder.failed_index() == 1);
  }
  SECTION("same kid and alg across documents and import paths") {
    KeySet::Builder builder;
    REQUIRE(builder.AddJwks(OctJwk(k1, R"(,"alg":"HS256","kid":"a")")) == Status::kOk);
    CHECK_STATUS(builder.AddJwks(OctJwk(k2, R"(,"alg":"HS256","kid":"a")")), Status::kKeyDuplicate);
    const auto* bytes = reinterpret_cast<const uint8_t*>(k2.data());
    CHECK_STATUS(builder.AddHmacSecret({bytes, k2.size()}, Alg::kHS256, "a"),
                 Status::kKeyDuplicate);
    CHECK_STATUS(builder.AddPem(SpkiPem(Rsa2048()), Alg::kRS256, "r"), Status::kOk);
    CHECK_STATUS(builder.AddJwks(RsaJwkFor(Rsa2048(), R"(,"alg":"RS256","kid":"r")")),
                 Status::kKeyDuplicate);
  }
  SECTION("same kid, different alg; and several keys without kid") {
    KeySet::Builder builder;
    REQUIRE(builder.AddJwks(Jwks({OctJwk(k1, R"(,"alg":"HS256","kid":"a")"),
                                  OctJwk(std::string(48, '1'), R"(,"alg":"HS384","kid":"a")"),
                                  OctJwk(k1, R"(,"alg":"HS256")"),
                                  OctJwk(k2, R"(,"alg":"HS256")")})) == Status::kOk);
    CHECK(builder.size() == 4);
    CHECK(builder.Build()->size() == 4);
  }
}

TEST_CASE("failed_index counts skipped JWKs and JWKs that are not objects", "[keys]") {
  const std::string oct_a = OctJwk(std::string(32, 'a'), R"(,"alg":"HS256","kid":"a")");
  SECTION("a duplicate after a skipped JWK") {
    JwksOptions skip;
    skip.skip_unsupported = true;
    KeySet::Builder builder;
    CHECK_STATUS(builder.AddJwks(Jwks({R"({"kty":"foo"})", oct_a, oct_a}), skip),
                 Status::kKeyDuplicate);
    CHECK(builder.failed_index() == 2);
    CHECK(builder.size() == 0);
  }
  SECTION("an element that is not an object") {
    KeySet::Builder builder;
    CHECK_STATUS(builder.AddJwks(Jwks({oct_a, "7"})), Status::kJwkInvalid);
    CHECK(builder.failed_index() == 1);
  }
}

TEST_CASE("KeySet::Builder tells a failure of the document from a failure of one key", "[keys]") {
  const std::string oct_a = OctJwk(std::string(32, 'a'), R"(,"alg":"HS256","kid":"a")");
  const std::string short_c = OctJwk(std::string(8, 'c'), R"(,"alg":"HS256","kid":"c")");
  const std::string short_nokid = OctJwk(std::string(8, 'c'), R"(,"alg":"HS256")");
  const std::string long_kid(300, 'k');
  struct Case {
    const char* name;
    std::string json;
    Status status;
    size_t index;
    std::optional<std::string> kid;
    std::string description;
  };
  const size_t kNoKey = KeySet::Builder::kNoKey;
  const std::vector<Case> cases = {
      {"not JSON", "{\"keys\":[", Status::kJwksBadJson, kNoKey, std::nullopt,
       "not a JSON document (jwks_bad_json)"},
      {"empty", "", Status::kJwksBadJson, kNoKey, std::nullopt,
       "not a JSON document (jwks_bad_json)"},
      {"an array", "[]", Status::kJwksBadJson, kNoKey, std::nullopt,
       "not a JSON object: a key set is {\"keys\":[...]} (jwks_bad_json)"},
      {"a member twice", R"({"keys":[],"keys":[]})", Status::kJwksBadJson, kNoKey, std::nullopt,
       "an object has the same member twice (jwks_bad_json)"},
      {"keys not an array", R"({"keys":{}})", Status::kJwksBadJson, kNoKey, std::nullopt,
       "\"keys\" is not an array (jwks_bad_json)"},
      {"neither a set nor a JWK", R"({"k":"x"})", Status::kJwkInvalid, kNoKey, std::nullopt,
       "no \"keys\" array, and not a single JWK either (no \"kty\") (jwk_invalid)"},
      {"a bad key with a kid", Jwks({oct_a, short_c}), Status::kKeyTooSmall, 1, "c",
       "key #1 (kid \"c\"): key_too_small"},
      {"a bad key without a kid", Jwks({short_nokid}), Status::kKeyTooSmall, 0, std::nullopt,
       "key #0: key_too_small"},
      {"a single bad JWK", short_c, Status::kKeyTooSmall, 0, "c",
       "key #0 (kid \"c\"): key_too_small"},
      {"a duplicate", Jwks({oct_a, oct_a}), Status::kKeyDuplicate, 1, "a",
       "key #1 (kid \"a\"): key_duplicate"},
      {"not an object", Jwks({oct_a, "[]"}), Status::kJwkInvalid, 1, std::nullopt,
       "key #1: jwk_invalid (not a JSON object)"},
      {"a kid with a quote and a newline",
       OctJwk(std::string(8, 'c'), R"(,"alg":"HS256","kid":"q\"\n")"), Status::kKeyTooSmall, 0,
       "q\"\n", "key #0 (kid \"q\\\"\\x0a\"): key_too_small"},
      {"a kid too long to print whole", OctJwk("", R"(,"alg":"HS256","kid":")" + long_kid + "\""),
       Status::kJwkInvalid, 0, long_kid,
       "key #0 (kid \"" + std::string(64, 'k') + "...\"): jwk_invalid"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    KeySet::Builder builder;
    CHECK_STATUS(builder.AddJwks(c.json), c.status);
    CHECK(builder.failed_index() == c.index);
    CHECK(builder.failed_kid() == c.kid);
    CHECK(builder.DescribeFailure() == c.description);
  }

  SECTION("size and count caps") {
    JwksOptions o;
    o.max_bytes = 10;
    KeySet::Builder builder;
    CHECK_STATUS(builder.AddJwks(Jwks({oct_a}), o), Status::kJwksTooLarge);
    CHECK(builder.failed_index() == kNoKey);
    CHECK(builder.DescribeFailure() == "larger than 10 bytes (jwks_too_large)");
    o = JwksOptions{};
    o.max_keys = 1;
    CHECK_STATUS(builder.AddJwks(Jwks({oct_a, short_c}), o), Status::kJwksTooLarge);
    CHECK(builder.DescribeFailure() == "2 keys, more than the limit of 1 (jwks_too_large)");
    o.max_keys = 2;
    REQUIRE(builder.AddJwks(Jwks({oct_a}), o) == Status::kOk);
    CHECK(builder.failed_index() == kNoKey);
    CHECK(builder.failed_kid() == std::nullopt);
    CHECK(builder.DescribeFailure().empty());
    CHECK_STATUS(builder.AddJwks(Jwks({short_c, short_c}), o), Status::kJwksTooLarge);
    CHECK(builder.DescribeFailure() ==
          "2 keys with the 1 already added, more than the limit of 2 (jwks_too_large)");
  }
}

TEST_CASE("KeySet::Find selects by (kid, alg)", "[keys]") {
  const Pkey p256 = GenerateEc("P-256");
  KeySet::Builder builder;
  REQUIRE(builder.AddJwks(Jwks({
              RsaJwkFor(Rsa2048(), R"(,"alg":"RS256","kid":"r1")"),
              RsaJwkFor(Rsa2048(), R"(,"alg":"RS256","kid":"r2")"),
              EcJwkFor(p256.get(), "P-256", R"(,"kid":"e1")"),
              OctJwk(std::string(32, 'h'), R"(,"alg":"HS256")"),
          })) == Status::kOk);
  const auto set = builder.Build();
  REQUIRE(set->size() == 4);
  CHECK(set->algs().Contains(Alg::kRS256));
  CHECK(set->algs().Contains(Alg::kES256));
  CHECK(set->algs().Contains(Alg::kHS256));
  CHECK_FALSE(set->algs().Contains(Alg::kPS256));
  CHECK_FALSE(set->algs().Contains(Alg::kEdDSA));

  const Key* r1 = nullptr;
  const Key* r2 = nullptr;
  const Key* key = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "r1", Alg::kRS256, &r1), Status::kOk);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "r2", Alg::kRS256, &r2), Status::kOk);
  CHECK(r1 != nullptr);
  CHECK(r2 != nullptr);
  CHECK(r1 != r2);
  // No kid: chosen only when it is the single candidate for the alg.
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kRS256, &key), Status::kKidRequired);
  key = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kES256, &key), Status::kOk);
  CHECK(key != nullptr);
  key = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kHS256, &key), Status::kOk);
  CHECK(key != nullptr);
  // Unknown kid, and a kid that exists for another algorithm (RS/PS and ES confusion, A3).
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "zz", Alg::kRS256, &key), Status::kUnknownKid);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "R1", Alg::kRS256, &key), Status::kUnknownKid);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "r1 ", Alg::kRS256, &key), Status::kUnknownKid);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "e1", Alg::kRS256, &key), Status::kKeyNotFound);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "r1", Alg::kPS256, &key), Status::kKeyNotFound);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "r1", Alg::kHS256, &key), Status::kKeyNotFound);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "e1", Alg::kES384, &key), Status::kKeyNotFound);
  // No key at all for the alg.
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kPS256, &key), Status::kKeyNotFound);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kEdDSA, &key), Status::kKeyNotFound);
  // A token kid never matches a key that has none.
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "h", Alg::kHS256, &key), Status::kUnknownKid);

  const auto info = set->Describe();
  REQUIRE(info.size() == 4);
  size_t with_kid = 0;
  for (const auto& i : info) with_kid += i.has_kid ? 1 : 0;
  CHECK(with_kid == 3);
}

TEST_CASE("KeySet::Find with a kid shared by several algorithms", "[keys]") {
  KeySet::Builder builder;
  REQUIRE(builder.AddJwks(Jwks({OctJwk(std::string(32, '1'), R"(,"alg":"HS256","kid":"k")"),
                                OctJwk(std::string(64, '2'), R"(,"alg":"HS512","kid":"k")")})) ==
          Status::kOk);
  const auto set = builder.Build();
  const Key* a = nullptr;
  const Key* b = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "k", Alg::kHS256, &a), Status::kOk);
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "k", Alg::kHS512, &b), Status::kOk);
  CHECK(a != b);
  const Key* c = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, true, "k", Alg::kHS384, &c), Status::kKeyNotFound);
}

TEST_CASE("an empty KeySet finds nothing", "[keys]") {
  KeySet::Builder builder;
  const auto set = builder.Build();
  CHECK(set->size() == 0);
  CHECK(set->algs().Empty());
  const Key* key = nullptr;
  CHECK_STATUS(crypto::KeySetAccess::Find(*set, false, "", Alg::kHS256, &key), Status::kKeyNotFound);
}

TEST_CASE("PEM import: SPKI and PKCS#1, validated like JWKs", "[keys]") {
  const Pkey p256 = GenerateEc("P-256");
  const Pkey p384 = GenerateEc("P-384");
  const Pkey ed = GenerateEd25519();
  const Pkey rsa1024 = GenerateRsa(1024);
  auto add = [](std::string_view pem, Alg alg) {
    KeySet::Builder builder;
    return builder.AddPem(pem, alg, std::nullopt);
  };
  CHECK_STATUS(add(SpkiPem(Rsa2048()), Alg::kRS256), Status::kOk);
  CHECK_STATUS(add(SpkiPem(Rsa2048()), Alg::kPS512), Status::kOk);
  CHECK_STATUS(add(Pkcs1Pem(Rsa2048()), Alg::kRS256), Status::kOk);
  CHECK_STATUS(add(SpkiPem(p256.get()), Alg::kES256), Status::kOk);
  CHECK_STATUS(add(SpkiPem(p384.get()), Alg::kES384), Status::kOk);
  CHECK_STATUS(add(SpkiPem(ed.get()), Alg::kEdDSA), Status::kOk);
  // Key type and curve bound to the algorithm.
  CHECK_STATUS(add(SpkiPem(Rsa2048()), Alg::kES256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(Rsa2048()), Alg::kHS256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(Rsa2048()), Alg::kEdDSA), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(p256.get()), Alg::kES384), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(p384.get()), Alg::kES256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(p256.get()), Alg::kRS256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(SpkiPem(ed.get()), Alg::kES256), Status::kKeyAlgMismatch);
  // A verifier holds no private keys, whatever the format.
  CHECK_STATUS(add(Pkcs8Pem(Rsa2048()), Alg::kRS256), Status::kJwkPrivateMaterial);
  CHECK_STATUS(add(Pkcs8Pem(p256.get()), Alg::kES256), Status::kJwkPrivateMaterial);
  CHECK_STATUS(add(Pkcs8Pem(ed.get()), Alg::kEdDSA), Status::kJwkPrivateMaterial);
  // Same policy as JWKs.
  CHECK_STATUS(add(SpkiPem(rsa1024.get()), Alg::kRS256), Status::kKeyTooSmall);
  CHECK_STATUS(add(Pkcs1Pem(rsa1024.get()), Alg::kRS256), Status::kKeyTooSmall);
  // An Ed25519 SubjectPublicKeyInfo (302a300506032b6570032100 || A) holding the identity point
  // A = 01 00..00, which has small order.
  const std::string small_order_pem =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
      "-----END PUBLIC KEY-----\n";
  CHECK_STATUS(add(small_order_pem, Alg::kEdDSA), Status::kKeyInvalid);

  SECTION("garbage and damaged PEM") {
    const std::string good = SpkiPem(Rsa2048());
    // Base64 characters 12-15 of the body encode DER bytes 9-11, inside the rsaEncryption OID
    // (2a 86 48 86 f7 0d 01 01 01): changing one turns it into an unknown algorithm.
    std::string corrupt = good;
    const size_t body = good.find('\n') + 1;
    corrupt[body + 13] = corrupt[body + 13] == 'A' ? 'B' : 'A';
    std::string bad_char = good;
    bad_char[40] = '*';
    const std::string truncated = good.substr(0, good.size() / 2);
    const std::string no_footer = good.substr(0, good.find("-----END"));
    CHECK_STATUS(add("", Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add("not a pem", Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n", Alg::kRS256),
                 Status::kPemInvalid);
    CHECK_STATUS(add("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", Alg::kRS256),
                 Status::kPemInvalid);
    CHECK_STATUS(add(bad_char, Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add(truncated, Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add(no_footer, Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add(RsaJwkFor(Rsa2048(), R"(,"alg":"RS256")"), Alg::kRS256), Status::kPemInvalid);
    CHECK_STATUS(add(corrupt, Alg::kRS256), Status::kPemInvalid);
  }
}

TEST_CASE("AddHmacSecret applies the oct rules", "[keys]") {
  auto add = [](size_t len, Alg alg) {
    KeySet::Builder builder;
    const std::string secret(len, 's');
    const auto* bytes = reinterpret_cast<const uint8_t*>(secret.data());
    return builder.AddHmacSecret({bytes, secret.size()}, alg, "k");
  };
  CHECK_STATUS(add(32, Alg::kHS256), Status::kOk);
  CHECK_STATUS(add(31, Alg::kHS256), Status::kKeyTooSmall);
  CHECK_STATUS(add(0, Alg::kHS256), Status::kKeyTooSmall);
  CHECK_STATUS(add(48, Alg::kHS384), Status::kOk);
  CHECK_STATUS(add(47, Alg::kHS384), Status::kKeyTooSmall);
  CHECK_STATUS(add(64, Alg::kHS512), Status::kOk);
  CHECK_STATUS(add(63, Alg::kHS512), Status::kKeyTooSmall);
  CHECK_STATUS(add(64, Alg::kRS256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(64, Alg::kES256), Status::kKeyAlgMismatch);
  CHECK_STATUS(add(64, Alg::kEdDSA), Status::kKeyAlgMismatch);
}

}  // namespace
}  // namespace jwtgate
