// Signer: makes compact JWS tokens. Used by the CLI (`jwtgate sign`), the tests and the
// benchmarks; not on the verification path.
//
// Thread safety: a Signer is immutable after it is made; Sign and SignRaw may be called from
// several threads at once (each call uses an OpenSSL context of its own over the shared key).
#ifndef JWTGATE_SIGNER_H_
#define JWTGATE_SIGNER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "jwtgate/alg.h"
#include "jwtgate/result.h"
#include "jwtgate/status.h"

namespace jwtgate {

class Signer {
 public:
  // A private key in PEM (PKCS#8 or traditional) for RS/PS/ES/EdDSA, bound to `alg`.
  static Result<Signer> FromPem(std::string_view pem, Alg alg);
  // A secret JWK (kty oct, as `jwtgate keygen` writes for HS*) bound to an HS* `alg`. When
  // the JWK names an `alg`, it must be `alg`.
  static Result<Signer> FromJwk(std::string_view jwk_json, Alg alg);
  // An HMAC secret for HS*.
  static Result<Signer> FromSecret(std::string_view secret, Alg alg);

  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;
  ~Signer();

  Alg alg() const noexcept;

  // Signs base64url(header_json) "." base64url(payload_json). The JSON texts are used as
  // given (the caller is responsible for them being what it wants signed).
  Result<std::string> SignRaw(std::string_view header_json, std::string_view payload_json) const;
  // Builds the header {"alg":..,"typ":"JWT"[,"kid":..]} and signs `payload_json`.
  Result<std::string> Sign(std::string_view payload_json,
                           std::optional<std::string_view> kid = std::nullopt,
                           std::optional<std::string_view> typ = "JWT") const;

 private:
  struct Rep;
  explicit Signer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Key generation for `jwtgate keygen`. `private_out` receives a PEM (PKCS#8) for asymmetric
// algorithms or a JWK (kty oct) for HS*; `public_jwk_out` the public JWK (for HS*, the oct
// JWK itself) with kid, alg and use.
Status GenerateKey(Alg alg, std::optional<std::string_view> kid, std::string* private_out,
                   std::string* public_jwk_out);

}  // namespace jwtgate

#endif  // JWTGATE_SIGNER_H_
