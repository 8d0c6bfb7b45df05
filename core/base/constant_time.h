// ConstantTimeEquals: compares secrets a client presents (the admin bearer token) so that the
// time taken does not depend on where the first differing byte is; an early-exit compare
// lets a caller find a secret byte by byte from response times.
//
// Semantics: true when `a` and `b` hold the same bytes. The time depends on the lengths only:
// the length is not treated as secret (unequal lengths return at once). Thread-safe (pure).
//
// Not OpenSSL's CRYPTO_memcmp: base depends on nothing outside the C and C++ libraries, so
// that net and store, which stand on base alone (core/LAYERS.md), never link OpenSSL
// (jwtgate_store links no crypto library at all). The loop is that of CRYPTO_memcmp's generic
// C version, an OR of XORs with no branch on the data; the accumulator goes through an empty
// asm statement on every byte so that the compiler cannot prove an early exit equivalent and
// add one. Signature and HMAC tag checks keep using CRYPTO_memcmp (crypto/hmac.cc).
#ifndef JWTGATE_BASE_CONSTANT_TIME_H_
#define JWTGATE_BASE_CONSTANT_TIME_H_

#include <cstddef>
#include <string_view>

namespace jwtgate::base {

[[nodiscard]] inline bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(
        diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    __asm__ volatile("" : "+r"(diff));  // opaque to the optimiser: no early exit
  }
  return diff == 0;
}

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_CONSTANT_TIME_H_
