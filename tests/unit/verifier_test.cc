// Verifier: RFC known answers, a mutation sweep over all 13 algorithms, a table that reaches
// every token-path and key-import status, and the security catalogue's generated negatives
// (each signed with a valid key, so that only the intended check can reject it).
#include "jwtgate/verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

constexpr int64_t kNow = 1'700'000'000;
constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes, HS256

// ---------------------------------------------------------------------------------------------
// Encoding and signing helpers, independent of the code under test where it matters.

std::string B64(std::string_view bytes) { return jose::Base64UrlEncode(bytes); }

std::string Unb64(std::string_view s) {
  std::string out;
  REQUIRE(jose::Base64UrlDecode(s, &out));
  return out;
}

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

const EVP_MD* HmacMd(Alg alg) {
  switch (alg) {
    case Alg::kHS384:
      return EVP_sha384();
    case Alg::kHS512:
      return EVP_sha512();
    default:
      return EVP_sha256();
  }
}

std::string HmacTag(std::string_view key, std::string_view data, Alg alg = Alg::kHS256) {
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(HMAC(HmacMd(alg), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), tag,
               &len) != nullptr);
  return std::string(reinterpret_cast<const char*>(tag), len);
}

// header_b64 "." payload_b64 "." base64url(HMAC(key, header_b64 "." payload_b64)).
std::string HmacJwsSegments(std::string_view header_b64, std::string_view payload_b64,
                            std::string_view key = kSecret, Alg alg = Alg::kHS256) {
  const std::string input = std::string(header_b64) + "." + std::string(payload_b64);
  return input + "." + B64(HmacTag(key, input, alg));
}

std::string Hs256(std::string_view header_json, std::string_view payload_json,
                  std::string_view key = kSecret) {
  return HmacJwsSegments(B64(header_json), B64(payload_json), key);
}

struct Segments {
  std::string header;
  std::string payload;
  std::string signature;
};

Segments Split(std::string_view token) {
  const size_t a = token.find('.');
  const size_t b = token.find('.', a + 1);
  REQUIRE(a != std::string_view::npos);
  REQUIRE(b != std::string_view::npos);
  return {std::string(token.substr(0, a)), std::string(token.substr(a + 1, b - a - 1)),
          std::string(token.substr(b + 1))};
}

std::string WithSignature(std::string_view token, std::string_view sig_bytes) {
  const Segments s = Split(token);
  return s.header + "." + s.payload + "." + B64(sig_bytes);
}

std::string FlipBit(std::string bytes, size_t bit) {
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  return bytes;
}

std::string PayloadExp(std::string_view extra = "") {
  return "{\"sub\":\"alice\",\"exp\":" + std::to_string(kNow + 3600) + std::string(extra) + "}";
}

// OpenSSL key handling for crafting signatures the Signer would never make.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey LoadPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  REQUIRE(key != nullptr);
  return key;
}

std::string BioContents(BIO* bio) {
  std::string out(BIO_ctrl_pending(bio), '\0');
  if (!out.empty()) REQUIRE(BIO_read(bio, out.data(), static_cast<int>(out.size())) > 0);
  BIO_free(bio);
  return out;
}

std::string SpkiPem(const EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PUBKEY(bio, key) == 1);
  return BioContents(bio);
}

std::string Pkcs1Pem(const EVP_PKEY* key) {
  OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM",
                                                        "type-specific", nullptr);
  REQUIRE(ctx != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(OSSL_ENCODER_to_bio(ctx, bio) == 1);
  OSSL_ENCODER_CTX_free(ctx);
  return BioContents(bio);
}

std::string SpkiDer(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string RsaModulus(const EVP_PKEY* key) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// EVP_DigestSign over `input` (md may be null for Ed25519); `configure` adjusts the context.
std::string SignWith(EVP_PKEY* key, const EVP_MD* md, std::string_view input,
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

// ---------------------------------------------------------------------------------------------
// Keys and verifiers.

struct Generated {
  Alg alg;
  std::string kid;
  std::string private_key;  // PKCS#8 PEM, or an oct JWK for HS*
  std::string public_jwk;
};

Generated Generate(Alg alg, std::string kid) {
  Generated g{alg, std::move(kid), {}, {}};
  REQUIRE(GenerateKey(alg, g.kid, &g.private_key, &g.public_jwk) == Status::kOk);
  return g;
}

Signer SignerFor(const Generated& g) {
  Result<Signer> signer = FamilyOf(g.alg) == AlgFamily::kHmac
                              ? Signer::FromJwk(g.private_key, g.alg)
                              : Signer::FromPem(g.private_key, g.alg);
  REQUIRE(signer.ok());
  return std::move(signer).value();
}

std::string Sign(const Signer& signer, std::string_view payload,
                 std::optional<std::string_view> kid = std::nullopt) {
  Result<std::string> token = signer.Sign(payload, kid);
  REQUIRE(token.ok());
  return token.value();
}

std::string SignRaw(const Signer& signer, std::string_view header, std::string_view payload) {
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

std::shared_ptr<const KeySet> Hs256Keys() { return Keys().Hmac(kSecret, Alg::kHS256).Build(); }

// Checks a status by name, so that a failure prints "want expired, got signature_invalid".
#define CHECK_STATUS(got, want)                                     \
  do {                                                              \
    const ::jwtgate::Status got_ = (got);                           \
    const ::jwtgate::Status want_ = (want);                         \
    CHECK(::jwtgate::ToString(got_) == ::jwtgate::ToString(want_)); \
  } while (false)

// Revokes tokens whose jti is "revoked".
class RevokeJti : public RevocationCheck {
 public:
  bool IsRevoked(const Claims& claims) const noexcept override { return claims.jti == "revoked"; }
};

// =============================================================================================
// (a) Known answers: RFC 7515 Appendix A and RFC 8037 Appendix A.4, transcribed exactly.

// RFC 7515 A.1 and A.2/A.3 share this payload:
//   {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
constexpr std::string_view kRfc7515Payload =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
constexpr int64_t kRfc7515Exp = 1300819380;
constexpr int64_t kRfc7515Now = kRfc7515Exp - 3600;

// A.1 (HS256). Header: {"typ":"JWT",\r\n "alg":"HS256"}
constexpr std::string_view kA1Jwk =
    R"({"kty":"oct",
 "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
constexpr std::string_view kA1Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

// A.2 (RS256). Header: {"alg":"RS256"}
constexpr std::string_view kA2Jwk =
    R"({"kty":"RSA",)"
    R"("n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx)"
    R"(HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs)"
    R"(D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH)"
    R"(SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV)"
    R"(MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8)"
    R"(NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",)"
    R"("e":"AQAB"})";
constexpr std::string_view kA2Token =
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";

// A.3 (ES256), public part of the JWK. Header: {"alg":"ES256"}
constexpr std::string_view kA3Jwk = R"({"kty":"EC","crv":"P-256",)"
                                    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                                    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr std::string_view kA3Token =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// A.4 (ES512), public part of the JWK. Header: {"alg":"ES512"}; payload: the 7 bytes "Payload"
// (not JSON).
constexpr std::string_view kA4Jwk =
    R"({"kty":"EC","crv":"P-521",)"
    R"("x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_)"
    R"(NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",)"
    R"("y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl)"
    R"(y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"})";
constexpr std::string_view kA4Token =
    "eyJhbGciOiJFUzUxMiJ9"
    ".UGF5bG9hZA"
    ".AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq"
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

// RFC 8037 A.4 (Ed25519, "Example Ed25519 signature"). Header: {"alg":"EdDSA"}; payload: the
// bytes "Example of Ed25519 signing" (not JSON).
constexpr std::string_view kEd25519Jwk =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
constexpr std::string_view kEd25519Token =
    "eyJhbGciOiJFZERTQSJ9"
    ".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

struct KnownAnswer {
  const char* name;
  std::string_view jwk;
  std::optional<Alg> default_alg;
  std::string_view token;
  Status want;  // the payloads of A.4 and RFC 8037 are not JSON: the signature verifies, then
                // the claims stage refuses them
};

const KnownAnswer kKnownAnswers[] = {
    {"RFC 7515 A.1 HS256", kA1Jwk, Alg::kHS256, kA1Token, Status::kOk},
    {"RFC 7515 A.2 RS256", kA2Jwk, Alg::kRS256, kA2Token, Status::kOk},
    {"RFC 7515 A.3 ES256", kA3Jwk, std::nullopt, kA3Token, Status::kOk},
    {"RFC 7515 A.4 ES512", kA4Jwk, std::nullopt, kA4Token, Status::kPayloadBadJson},
    {"RFC 8037 A.4 EdDSA", kEd25519Jwk, std::nullopt, kEd25519Token, Status::kPayloadBadJson},
};

TEST_CASE("RFC known answers verify, and fail with one signature bit flipped", "[verifier]") {
  for (const KnownAnswer& ka : kKnownAnswers) {
    INFO(ka.name);
    JwksOptions options;
    options.default_alg = ka.default_alg;
    Env verify(Keys().Jwks(ka.jwk, options).Build());
    Claims claims;
    CHECK_STATUS(verify(ka.token, kRfc7515Now, &claims), ka.want);

    const Segments s = Split(ka.token);
    const std::string sig = Unb64(s.signature);
    for (size_t bit : {size_t{0}, size_t{7}, sig.size() * 4, sig.size() * 8 - 1}) {
      INFO("bit " << bit);
      CHECK_STATUS(verify(WithSignature(ka.token, FlipBit(sig, bit)), kRfc7515Now),
                   Status::kSignatureInvalid);
    }
    // The signing input is the received ASCII: re-encoding the header differently (here
    // without the CR LF of A.1) invalidates the signature.
    const std::string other_header = B64("{\"alg\":\"" + std::string(AlgName(claims.alg)) + "\"}");
    if (ka.want == Status::kOk && other_header != s.header) {
      CHECK_STATUS(verify(other_header + "." + s.payload + "." + s.signature, kRfc7515Now),
                   Status::kSignatureInvalid);
    }
  }
}

TEST_CASE("RFC 7515 A.1 claims, and its expiry at exp + leeway", "[verifier]") {
  JwksOptions options;
  options.default_alg = Alg::kHS256;
  Env verify(Keys().Jwks(kA1Jwk, options).Build());
  Claims claims;
  REQUIRE(verify(kA1Token, kRfc7515Now, &claims) == Status::kOk);
  CHECK(claims.alg == Alg::kHS256);
  CHECK(claims.typ == "JWT");
  CHECK(claims.iss == "joe");
  CHECK(claims.has_exp);
  CHECK(claims.exp == kRfc7515Exp);
  CHECK(claims.payload_json == kRfc7515Payload);
  std::string_view is_root;
  REQUIRE(verify.ctx().ClaimAsString("http://example.com/is_root", &is_root));
  CHECK(is_root == "true");

  CHECK_STATUS(verify(kA1Token, kRfc7515Exp + 29), Status::kOk);
  CHECK_STATUS(verify(kA1Token, kRfc7515Exp + 30), Status::kExpired);
  // The same key bound to HS512 does not verify an HS256 token.
  JwksOptions hs512;
  hs512.default_alg = Alg::kHS512;
  Env other(Keys().Jwks(kA1Jwk, hs512).Build());
  CHECK_STATUS(other(kA1Token, kRfc7515Now), Status::kAlgNotAllowed);
}

TEST_CASE("RFC 7515 A.2/A.3 bind their keys to one algorithm", "[verifier]") {
  // The A.2 RSA key bound to PS256 refuses the RS256 token: alg comes from the key, not the
  // token (security catalogue rule 1).
  JwksOptions ps;
  ps.default_alg = Alg::kPS256;
  Env verify(Keys().Jwks(kA2Jwk, ps).Build());
  CHECK_STATUS(verify(kA2Token, kRfc7515Now), Status::kAlgNotAllowed);
  // A JWK without alg and without a default is refused on import.
  KeySet::Builder builder;
  CHECK_STATUS(builder.AddJwks(kA2Jwk), Status::kKeyAlgMissing);
}

// =============================================================================================
// (b) Mutation sweep: every signature bit flipped, every truncation length.
//
// Truncation rule for a token H.P.S cut to its first `len` bytes:
//   len == 0                            -> token_empty
//   fewer than two dots in the prefix   -> token_malformed (fewer than three segments)
//   prefix ends at the second dot       -> token_malformed (empty signature segment)
//   prefix ends inside S, the cut signature being k characters long:
//     k == 1 (mod 4)                    -> signature_bad_base64 (no base64url text has that
//                                          length)
//     otherwise                         -> signature_bad_length (shorter than the fixed size
//                                          of the key's signatures: HS* digest, RSA modulus,
//                                          2 * coordinate for ES*, 64 for EdDSA; the length is
//                                          judged before the characters are decoded)
//   len == |token|                      -> ok

Status ExpectedForPrefix(std::string_view token, size_t len) {
  if (len == 0) return Status::kTokenEmpty;
  if (len == token.size()) return Status::kOk;
  const std::string_view cut = token.substr(0, len);
  if (std::count(cut.begin(), cut.end(), '.') < 2) return Status::kTokenMalformed;
  const std::string_view sig = cut.substr(cut.rfind('.') + 1);
  if (sig.empty()) return Status::kTokenMalformed;
  return sig.size() % 4 == 1 ? Status::kSignatureBadBase64 : Status::kSignatureBadLength;
}

size_t ExpectedSignatureSize(Alg alg, size_t rsa_bytes) {
  switch (FamilyOf(alg)) {
    case AlgFamily::kHmac:
      return DigestSize(alg);
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss:
      return rsa_bytes;
    case AlgFamily::kEcdsa:
      return alg == Alg::kES256 ? 64 : alg == Alg::kES384 ? 96 : 132;
    case AlgFamily::kEdDsa:
      return 64;
  }
  return 0;
}

TEST_CASE("mutation sweep over all 13 algorithms", "[verifier][sweep]") {
  for (Alg alg : kAllAlgs) {
    DYNAMIC_SECTION(AlgName(alg)) {
      const Generated g = Generate(alg, "sweep");
      const Signer signer = SignerFor(g);
      Env verify(Keys().Jwks(g.public_jwk).Build());
      const std::string token = Sign(signer, PayloadExp(), "sweep");
      Claims claims;
      REQUIRE(verify(token, kNow, &claims) == Status::kOk);
      CHECK(claims.alg == alg);
      CHECK(claims.kid == "sweep");

      const Segments seg = Split(token);
      const std::string signing_prefix = seg.header + "." + seg.payload + ".";
      const std::string sig = Unb64(seg.signature);
      if (FamilyOf(alg) != AlgFamily::kRsaPkcs1 && FamilyOf(alg) != AlgFamily::kRsaPss) {
        CHECK(sig.size() == ExpectedSignatureSize(alg, 0));
      } else {
        CHECK(sig.size() >= 256);
      }

      std::vector<std::string> mismatches;
      for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
        const Status got = verify(signing_prefix + B64(FlipBit(sig, bit)));
        if (got != Status::kSignatureInvalid && mismatches.size() < 10) {
          mismatches.push_back("bit " + std::to_string(bit) + ": " + std::string(ToString(got)));
        }
      }
      INFO("flipped bits not rejected as signature_invalid (first 10): " << mismatches.size());
      for (const std::string& m : mismatches) INFO(m);
      CHECK(mismatches.empty());
      if (!mismatches.empty()) FAIL_CHECK(mismatches.front());

      std::vector<std::string> cut_mismatches;
      for (size_t len = 0; len <= token.size(); ++len) {
        const Status want = ExpectedForPrefix(token, len);
        const Status got = verify(std::string_view(token).substr(0, len));
        if (got != want && cut_mismatches.size() < 10) {
          cut_mismatches.push_back(
              "len " + std::to_string(len) + " of " + std::to_string(token.size()) + ": want " +
              std::string(ToString(want)) + ", got " + std::string(ToString(got)));
        }
      }
      CHECK(cut_mismatches.empty());
      for (const std::string& m : cut_mismatches) FAIL_CHECK(m);

      // Appending to the signature: one more character (by the same rule), or one more byte.
      const size_t longer = Split(token).signature.size() + 1;
      CHECK_STATUS(verify(token + "A"),
                   longer % 4 == 1 ? Status::kSignatureBadBase64 : Status::kSignatureBadLength);
      // Same length, but a non-zero trailing bit in the last character (where there is one).
      const std::string sig_b64 = Split(token).signature;
      if (sig_b64.size() % 4 != 0) {
        const std::string_view alphabet =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        std::string dirty = token;
        dirty.back() = alphabet[alphabet.find(dirty.back()) | 1];
        CHECK_STATUS(verify(dirty), Status::kSignatureBadBase64);
      }
      CHECK_STATUS(verify(WithSignature(token, sig + "\0"s)), Status::kSignatureBadLength);
      CHECK_STATUS(verify(WithSignature(token, "\0"s + sig)), Status::kSignatureBadLength);
    }
  }
}

// =============================================================================================
// (c) Every status value of the token path and of key import is reached here.

// RSA modulus of 8704 bits, a product of five primes (see key_set_test.cc).
constexpr std::string_view kN8704 =
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
  const std::set<Status> elsewhere = {Status::kOverloaded, Status::kShuttingDown,
                                      Status::kInternalError};
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

// =============================================================================================
// (d) Security catalogue negatives (security-catalogue.md §1). Each token is signed with a
// valid key unless the row is about the signature itself.

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

TEST_CASE("C1: only the compact serialization is verified", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string token = Hs256(R"({"alg":"HS256"})", PayloadExp());
  const Segments s = Split(token);
  CHECK_STATUS(v(token), Status::kOk);
  CHECK_STATUS(v(token + "." + s.signature), Status::kTokenMalformed);
  CHECK_STATUS(v(token + ".a.b"), Status::kTokenIsJwe);
  CHECK_STATUS(v(R"({"payload":")" + s.payload + R"(","protected":")" + s.header +
                 R"(","signature":")" + s.signature + "\"}"),
               Status::kTokenMalformed);
  CHECK_STATUS(v("Bearer " + token), Status::kTokenMalformed);
  CHECK_STATUS(v(token + "\n"), Status::kTokenMalformed);
  CHECK_STATUS(v(" " + token), Status::kTokenMalformed);
}

TEST_CASE("C2: non-canonical base64url in each segment", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  // A 16-byte header (22 characters, 2 mod 4: four trailing bits) and a payload whose encoding
  // is 3 mod 4 characters long (two trailing bits), so that each has trailing bits to set.
  const std::string header = R"({"alg":"HS256"} )";
  std::string payload = PayloadExp();
  while (payload.size() % 3 != 2) payload += ' ';
  const std::string h = B64(header);
  const std::string p = B64(payload);
  REQUIRE(h.size() % 4 == 2);
  REQUIRE(p.size() % 4 == 3);
  const std::string token = HmacJwsSegments(h, p);
  REQUIRE(v(token) == Status::kOk);

  // Sets the lowest (trailing) bit of the last character.
  auto dirty = [](std::string seg) {
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    seg.back() = alphabet[alphabet.find(seg.back()) | 1];
    return seg;
  };
  // Signed over the modified ASCII, so the MAC is valid and only decoding can reject.
  CHECK_STATUS(v(HmacJwsSegments(dirty(h), p)), Status::kHeaderBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(h, dirty(p))), Status::kPayloadBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(B64(R"({"alg":"HS256"})") + "A", p)), Status::kHeaderBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(h, p.substr(0, p.size() - 2))), Status::kPayloadBadBase64);
  const Segments s = Split(token);
  // The 32-byte tag is 43 characters: 2 trailing bits.
  CHECK_STATUS(v(s.header + "." + s.payload + "." + dirty(s.signature)),
               Status::kSignatureBadBase64);
  CHECK_STATUS(v(s.header + "." + s.payload + "." + s.signature + "AA"),
               Status::kSignatureBadBase64);

  // Characters outside the alphabet never get past the split, in any segment.
  for (std::string_view bad :
       {"="sv, "=="sv, " "sv, "\t"sv, "\r\n"sv, "+"sv, "/"sv, "?"sv, "#"sv, "\0"sv, "%3D"sv}) {
    INFO("inserted " << bad.size() << " bytes");
    CHECK_STATUS(v(HmacJwsSegments(h + std::string(bad), p)), Status::kTokenMalformed);
    CHECK_STATUS(v(HmacJwsSegments(h, p + std::string(bad))), Status::kTokenMalformed);
    CHECK_STATUS(v(token + std::string(bad)), Status::kTokenMalformed);
    CHECK_STATUS(v(HmacJwsSegments(h.substr(0, 4) + std::string(bad) + h.substr(4), p)),
                 Status::kTokenMalformed);
  }
}

TEST_CASE("C3: duplicate members, including escaped duplicates", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view header :
       {R"({"alg":"HS256","alg":"HS256"})"sv, R"({"alg":"none","alg":"HS256"})"sv,
        R"({"alg":"HS256","\u0061lg":"none"})"sv, R"({"\u0061lg":"none","alg":"HS256"})"sv,
        R"({"alg":"HS256","kid":"a","kid":"b"})"sv, R"({"alg":"HS256","x":{"y":1,"y":2}})"sv}) {
    INFO("header " << header);
    CHECK_STATUS(v(Hs256(header, p)), Status::kHeaderDuplicateMember);
  }
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60);
  for (const std::string& payload :
       {"{" + exp + R"(,"sub":"alice","sub":"admin"})", "{" + exp + R"(,"sub":"a","\u0073ub":"b"})",
        "{" + exp + "," + exp + "}", "{" + exp + R"(,"ctx":{"role":"user","role":"admin"}})",
        "{" + exp + R"(,"l":[{"a":1,"a":2}]})"}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", payload)), Status::kPayloadDuplicateMember);
  }
}

TEST_CASE("C4: JSON encoding errors in header and payload", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string hs = R"({"alg":"HS256"})";
  const std::string p = PayloadExp();
  for (const std::string& header :
       {"\xef\xbb\xbf" + hs, R"({"alg":"HS256",})"s, R"({"alg":"HS256"/*c*/})"s,
        "{\"alg\":\"HS256\",\"x\":\"\xff\"}"s, R"({"alg":"HS256","x":"\ud800"})"s,
        R"({"alg":"HS256","x":NaN})"s, "{\"alg\":\"HS256\"}\0"s, ""s, "{"s,
        R"({'alg':'HS256'})"s}) {
    INFO("header " << header);
    CHECK_STATUS(v(header.empty() ? "." + B64(p) + ".AAAA" : Hs256(header, p)),
                 header.empty() ? Status::kTokenMalformed : Status::kHeaderBadJson);
  }
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60);
  for (const std::string& payload :
       {"\xef\xbb\xbf{" + exp + "}", "{" + exp + ",}", "{" + exp + "//c\n}",
        "{" + exp + ",\"x\":\"\xc0\xaf\"}", "{" + exp + R"(,"x":"\udc00"})",
        "{" + exp + ",\"x\":Infinity}", "{" + exp + "} {}"}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(hs, payload)), Status::kPayloadBadJson);
  }
  for (std::string_view payload : {"[]"sv, "null"sv, "1700003600"sv, R"("claims")"sv, "true"sv}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(hs, payload)), Status::kPayloadNotObject);
  }
  CHECK_STATUS(v(Hs256(R"("HS256")", p)), Status::kHeaderNotObject);
  CHECK_STATUS(v(Hs256("[]", p)), Status::kHeaderNotObject);
}

TEST_CASE("C5: JSON depth is capped in header and payload", "[verifier][catalogue]") {
  // {"exp":...,"a":{"a":...{"b":1}...}}: `depth` objects in all, the top level being 1.
  auto nested = [](size_t depth, std::string_view first) {
    std::string s = "{" + std::string(first);
    for (size_t i = 1; i < depth; ++i) s += "\"a\":{";
    s += "\"b\":1";
    for (size_t i = 0; i < depth; ++i) s += "}";
    return s;
  };
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60) + ",";
  Env v(Hs256Keys());  // max_json_depth 16
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(2, exp))), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(16, exp))), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(17, exp))), Status::kPayloadBadJson);
  CHECK_STATUS(v(Hs256(nested(16, R"("alg":"HS256",)"), PayloadExp())), Status::kOk);
  CHECK_STATUS(v(Hs256(nested(17, R"("alg":"HS256",)"), PayloadExp())), Status::kHeaderBadJson);

  // 100 000 levels (CVE-2025-53864), with caps raised so that only depth applies.
  VerifierOptions options;
  options.limits.max_token_bytes = 1 << 20;
  options.limits.max_payload_bytes = 1 << 19;
  Env big(Hs256Keys(), options);
  const std::string deep =
      "{" + exp + "\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_STATUS(big(Hs256(R"({"alg":"HS256"})", deep)), Status::kPayloadBadJson);
  CHECK_STATUS(big(Hs256(R"({"alg":"HS256"})", "{" + exp + "\"a\":" + std::string(100000, '['))),
               Status::kPayloadBadJson);
}

TEST_CASE("D1: crit is refused unless every entry is understood (none is)",
          "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view crit :
       {R"(["exp"])"sv, R"([])"sv, R"("b64")"sv, R"(["alg"])"sv, R"([null])"sv, R"(["nope"])"sv,
        R"(["x","x"])"sv, "null"sv, "{}"sv, R"(["b64"])"sv}) {
    INFO("crit " << crit);
    CHECK_STATUS(
        v(Hs256(R"({"alg":"HS256","crit":)" + std::string(crit) + R"(,"exp":1,"x":1})", p)),
        Status::kCritUnsupported);
  }
}

TEST_CASE("D2/D4/D5: b64, cty JWT and zip are refused", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","b64":false})", p)), Status::kB64Unsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","b64":true})", p)), Status::kB64Unsupported);
  // panva/jose's unencoded-payload vector (key: 32 zero bytes): with its detached, empty
  // payload segment it never gets past the split.
  {
    Env zero(Keys().Hmac(std::string(32, '\0'), Alg::kHS256).Build());
    const Status s = zero(
        "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19..VklKdp4tVYD61VNPDBTqxqdEQcUL3JK-"
        "D4dGXu9NvWs");
    CHECK_STATUS(s, Status::kTokenMalformed);
  }
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":"JWT"})", p)), Status::kNestedJwtUnsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","zip":"DEF"})", p)), Status::kZipUnsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","zip":"none"})", p)), Status::kZipUnsupported);
  // A cty that is not JWT is only a hint and is ignored; so are unknown members.
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":"example"})", p)), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","foo":{"bar":[1,2]}})", p)), Status::kOk);
}

TEST_CASE("D5: JWE-only header parameters are refused in a JWS", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view member : {R"("enc":"A128GCM")"sv, R"("epk":{"kty":"EC"})"sv,
                                  R"("p2c":1200000)"sv, R"("p2s":"AAAA")"sv, R"("iv":"AAAA")"sv,
                                  R"("tag":"AAAA")"sv, R"("apu":"AAAA")"sv, R"("apv":"AAAA")"sv}) {
    INFO(member);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256",)" + std::string(member) + "}", p)),
                 Status::kJweHeaderParameter);
  }
}

TEST_CASE("D4: cty is a media type, so every spelling of JWT is refused", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view cty : {"jwt"sv, "Jwt"sv, "application/jwt"sv, "APPLICATION/JWT"sv}) {
    INFO("cty " << cty);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":")" + std::string(cty) + "\"}", p)),
                 Status::kNestedJwtUnsupported);
  }
}

TEST_CASE("E1: size caps at cap - 1, cap and cap + 1", "[verifier][catalogue]") {
  const std::string hs = R"({"alg":"HS256"})";
  SECTION("token") {
    const std::string token = Hs256(hs, PayloadExp());
    for (size_t delta : {size_t{0}, size_t{1}}) {
      VerifierOptions options;
      options.limits.max_token_bytes = token.size() + delta;
      Env v(Hs256Keys(), options);
      CHECK_STATUS(v(token), Status::kOk);
    }
    VerifierOptions options;
    options.limits.max_token_bytes = token.size() - 1;
    Env v(Hs256Keys(), options);
    CHECK_STATUS(v(token), Status::kTokenTooLarge);
  }
  SECTION("decoded header, default 1024 bytes") {
    Env v(Hs256Keys());
    auto header_of = [](size_t n) {
      return R"({"alg":"HS256","pad":")" + std::string(n - 24, 'x') + "\"}";
    };
    REQUIRE(header_of(1024).size() == 1024);
    CHECK_STATUS(v(Hs256(header_of(1023), PayloadExp())), Status::kOk);
    CHECK_STATUS(v(Hs256(header_of(1024), PayloadExp())), Status::kOk);
    CHECK_STATUS(v(Hs256(header_of(1025), PayloadExp())), Status::kHeaderTooLarge);
  }
  SECTION("decoded payload, default 6144 bytes") {
    VerifierOptions options;
    options.limits.max_token_bytes = 16384;  // so that only the payload cap applies
    Env v(Hs256Keys(), options);
    auto payload_of = [](size_t n) {
      const std::string head = "{\"exp\":" + std::to_string(kNow + 60) + ",\"pad\":\"";
      return head + std::string(n - head.size() - 2, 'x') + "\"}";
    };
    REQUIRE(payload_of(6144).size() == 6144);
    CHECK_STATUS(v(Hs256(hs, payload_of(6143))), Status::kOk);
    CHECK_STATUS(v(Hs256(hs, payload_of(6144))), Status::kOk);
    CHECK_STATUS(v(Hs256(hs, payload_of(6145))), Status::kPayloadTooLarge);
  }
  SECTION("the default token cap is 8192 bytes") {
    Env v(Hs256Keys());
    CHECK_STATUS(v(std::string(8193, 'A')), Status::kTokenTooLarge);
    CHECK_STATUS(v(std::string(1 << 20, 'A')), Status::kTokenTooLarge);
  }
}

// =============================================================================================
// Order of the stages and the other entry points.

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
