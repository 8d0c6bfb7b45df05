// The SHA-2 digest that goes with an HS*, RS*, PS* or ES* algorithm, from OpenSSL's built-in
// table (EVP_sha256 and the others: no provider fetch, no lock). For signing and the
// benchmarks; the verify path keeps digests fetched once per process (DigestFor in
// signature.cc). Thread-safe.
#ifndef JWTGATE_CRYPTO_SHA2_H_
#define JWTGATE_CRYPTO_SHA2_H_

#include <openssl/evp.h>

#include "jwtgate/alg.h"

namespace jwtgate::crypto {

// REQUIRES: alg is not EdDSA (Ed25519 hashes internally).
inline const EVP_MD* Sha2For(Alg alg) {
  switch (DigestSize(alg)) {
    case 32:
      return EVP_sha256();
    case 48:
      return EVP_sha384();
    default:
      return EVP_sha512();
  }
}

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_SHA2_H_
