// Importers: JWK (RFC 7517/7518/8037) and PEM into validated, algorithm-bound Keys. The rules
// are listed in jwtgate/keys.h. Start-up and reload path only (allocates, may call decoders).
// Beside the keys they build (crypto/key.h); the JSON and base64url they read are parsed by
// jose/. Thread-safe: no shared state.
#ifndef JWTGATE_CRYPTO_JWK_IMPORT_H_
#define JWTGATE_CRYPTO_JWK_IMPORT_H_

#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/key.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"

namespace jwtgate::crypto {

// Imports one JWK object. On kOk, `*out` holds the key. When options.skip_unsupported is set
// and the JWK is of a type or use this verifier does not handle, returns kOk with `*out`
// null.
[[nodiscard]] Status ImportJwk(simdjson::dom::object jwk, const JwksOptions& options,
                               std::unique_ptr<Key>* out);

// Imports a public key in PEM (SubjectPublicKeyInfo, or "RSA PUBLIC KEY" PKCS#1) for `alg`.
[[nodiscard]] Status ImportPem(std::string_view pem, Alg alg, std::optional<std::string> kid,
                               std::unique_ptr<Key>* out);

// Validates an asymmetric public key for `alg` (RSA size and exponent, EC curve, Ed25519
// point, EVP_PKEY_public_check). Does not take ownership.
[[nodiscard]] Status ValidatePublicKey(EVP_PKEY* pkey, Alg alg);

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_JWK_IMPORT_H_
