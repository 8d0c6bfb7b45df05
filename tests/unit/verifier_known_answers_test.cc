// Verifier known answers: RFC 7515 Appendix A and RFC 8037 Appendix A.4, transcribed exactly,
// each also with one signature bit flipped; the A.1 claims and expiry; keys bound to one
// algorithm.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// A.2 (RS256), with kA2Jwk (test_support.h). Header: {"alg":"RS256"}
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

// A.3 (ES256), with kA3Jwk (test_support.h). Header: {"alg":"ES256"}
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

}  // namespace
}  // namespace jwtgate
