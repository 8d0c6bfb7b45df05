// Public-key signature verification for RS*, PS*, ES* (OpenSSL 3) and EdDSA (libsodium).
//
// Keys arrive here already validated (see keys.h); this layer binds each to one algorithm,
// prepares everything that can be prepared at import (message digest, padding, PSS salt
// length and MGF1 hash, set explicitly), and keeps one initialised EVP_PKEY_CTX per thread
// and key so that the verify path performs no fetch by name and no decoder call.
#ifndef JWTGATE_CRYPTO_SIGNATURE_H_
#define JWTGATE_CRYPTO_SIGNATURE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "jwtgate/alg.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;

namespace jwtgate::crypto {

class EvpVerifier {
 public:
  // Takes ownership of `pkey` (one reference, released on failure too). Null when the digest
  // cannot be fetched or the key's signature size is unknown: a key that could never verify
  // correctly is refused at import, not carried half-built. REQUIRES: RS*, PS* or ES* `alg`
  // matching the key type and curve (checked by the importer).
  static std::unique_ptr<EvpVerifier> Create(EVP_PKEY* pkey, Alg alg);
  ~EvpVerifier();
  EvpVerifier(const EvpVerifier&) = delete;
  EvpVerifier& operator=(const EvpVerifier&) = delete;

  // Exact signature length the JWS encoding must have: the modulus size for RSA, 2 x the
  // coordinate size for ECDSA (RFC 7518 §3.4).
  size_t signature_size() const noexcept { return sig_size_; }

  // True only when OpenSSL returns exactly 1. REQUIRES: sig_len == signature_size().
  bool Verify(std::string_view message, const uint8_t* sig, size_t sig_len) const noexcept;

  EVP_PKEY* pkey() const noexcept { return pkey_; }

 private:
  EvpVerifier(EVP_PKEY* pkey, Alg alg, const EVP_MD* md, size_t sig_size);
  EVP_PKEY_CTX* NewCtx() const noexcept;
  bool VerifyDigest(EVP_PKEY_CTX* ctx, const uint8_t* sig, size_t sig_len, const uint8_t* dgst,
                    size_t dgst_len) const noexcept;

  // A thread whose ThreadSlot (base/thread_slot.h) is below this keeps a context per key; any
  // other builds one per call. Slots are handed out lowest first, so the first 256 threads
  // alive at once (whatever else they use their slot for) are covered, at 2 KiB per key.
  static constexpr size_t kContextSlots = 256;

  EVP_PKEY* pkey_;
  Alg alg_;
  const EVP_MD* md_;  // process-lifetime (see DigestFor in signature.cc)
  size_t sig_size_;
  // One initialised context per thread slot; a slot is only ever touched by the thread that
  // holds it, and the array is torn down only once no thread uses the key (shared_ptr).
  std::unique_ptr<std::atomic<EVP_PKEY_CTX*>[]> ctx_;
};

class Ed25519Verifier {
 public:
  // REQUIRES: `pk` is a canonical Ed25519 point not of small order (checked by the importer).
  explicit Ed25519Verifier(const uint8_t pk[32]) noexcept;
  static constexpr size_t kSignatureSize = 64;
  bool Verify(std::string_view message, const uint8_t* sig) const noexcept;
  const uint8_t* public_key() const noexcept { return pk_.data(); }

 private:
  std::array<uint8_t, 32> pk_;
};

// Encodes a raw r||s ECDSA signature (each half `n` bytes, big-endian) as a DER
// Ecdsa-Sig-Value into `der` (capacity >= 2 * n + 9). Returns the DER length.
size_t EcdsaRawToDer(const uint8_t* rs, size_t n, uint8_t* der) noexcept;

// True when `pk` is a valid Ed25519 public key for verification: canonical encoding, on the
// curve, in the prime-order subgroup, not of small order.
bool Ed25519PublicKeyIsValid(const uint8_t pk[32]) noexcept;

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_SIGNATURE_H_
