// HMAC-SHA-256/384/512 with precomputed inner and outer states (RFC 2104 §4 "implementation
// note"): the key schedule runs once at import, each verification hashes only the message and
// the inner digest.
//
// Written over OpenSSL's low-level SHA256_CTX/SHA512_CTX rather than EVP_MAC: copying a
// precomputed state is a memcpy of ~200 bytes, while EVP_MAC_CTX_dup/EVP_MD_CTX_copy_ex on
// OpenSSL 3 providers allocate and take ~100 ns each, half the cost of the HMAC itself. The
// low-level functions are deprecated in OpenSSL 3.0 but remain supported through 3.x; the
// results are checked against OpenSSL's HMAC() in the tests and against Wycheproof vectors.
#ifndef JWTGATE_CRYPTO_HMAC_H_
#define JWTGATE_CRYPTO_HMAC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/cache_line.h"
#include "jwtgate/alg.h"

namespace jwtgate::crypto {

class HmacKey {
 public:
  // The key schedule for `secret`, or null when a SHA-2 call failed (fail closed: a key whose
  // precomputed states are not known to be right is never handed out).
  // REQUIRES: `alg` is HS256/384/512.
  static std::unique_ptr<HmacKey> Create(Alg alg, std::span<const uint8_t> secret) noexcept;
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  size_t tag_size() const noexcept { return tag_size_; }

  // Computes the full tag of `message` into `tag` (tag_size() bytes). False (and `tag`
  // zeroed) when a SHA-2 call failed: the caller must not use `tag` then.
  [[nodiscard]] bool Compute(std::string_view message, uint8_t* tag) const noexcept;

  // True when `tag` (exactly tag_size() bytes) is the tag of `message`; constant-time compare.
  // False whenever the tag could not be computed.
  bool Verify(std::string_view message, const uint8_t* tag) const noexcept;

 private:
  HmacKey(Alg alg) noexcept;
  Alg alg_;
  size_t tag_size_;
  // Inner and outer states after absorbing key^ipad and key^opad. SHA-384 uses SHA512_CTX.
  alignas(base::kCacheLine) unsigned char inner_[256];
  alignas(base::kCacheLine) unsigned char outer_[256];
};

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_HMAC_H_
