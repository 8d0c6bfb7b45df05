// The base64url alphabet ([A-Za-z0-9_-]), optionally with '.', classified 32 bytes at a time
// with AVX2. For base64url.cc and compact.cc, whose callers choose this path at run time
// (base/cpu_features.h); include it only where JWTGATE_X86_DISPATCH is defined.
//
// Two table lookups by nibble (vpshufb), as in W. Mula and D. Lemire, "Faster Base64 Encoding
// and Decoding using AVX2 Instructions" (ACM TWEB 2018), with tables for the URL-safe alphabet:
// the high-nibble table gives each high nibble that holds valid bytes (0x2-0x7) its own bit and
// every other one bit 6; the low-nibble table sets, for each low nibble, the bits of the classes in
// which that byte is not in the set (and always bit 6). A byte is outside the set exactly when
// its two lookups share a bit. Bytes >= 0x80 have a high nibble of 8-F: bit 6, always outside.
// The tables were derived and checked against all 256 bytes; the unit tests check every byte
// outside the alphabet at every position of long inputs.
#ifndef JWTGATE_JOSE_ALPHABET_AVX2_H_
#define JWTGATE_JOSE_ALPHABET_AVX2_H_

#include <immintrin.h>

namespace jwtgate::jose::avx2 {

// Low-nibble tables: [A-Za-z0-9_-], and the same with '.' (0x2E) for the compact form.
#define JWTGATE_LOW_NIBBLE_BASE64URL \
  0x55, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x6b, 0x6b, 0x6a, 0x6b, 0x63
#define JWTGATE_LOW_NIBBLE_COMPACT \
  0x55, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x6b, 0x6b, 0x6a, 0x6a, 0x63
#define JWTGATE_HIGH_NIBBLE_CLASS \
  0x40, 0x40, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40

__attribute__((target("avx2"))) inline __m256i LowNibbleTableBase64Url() noexcept {
  return _mm256_setr_epi8(JWTGATE_LOW_NIBBLE_BASE64URL, JWTGATE_LOW_NIBBLE_BASE64URL);
}
__attribute__((target("avx2"))) inline __m256i LowNibbleTableCompact() noexcept {
  return _mm256_setr_epi8(JWTGATE_LOW_NIBBLE_COMPACT, JWTGATE_LOW_NIBBLE_COMPACT);
}

// Each byte's high nibble (0-15).
__attribute__((target("avx2"))) inline __m256i HighNibbles(__m256i v) noexcept {
  return _mm256_and_si256(_mm256_srli_epi32(v, 4), _mm256_set1_epi8(0x0f));
}

// Non-zero in the bytes of `v` outside the set whose low-nibble table is `low_table`.
__attribute__((target("avx2"))) inline __m256i OutsideSet(__m256i v, __m256i high_nibbles,
                                                          __m256i low_table) noexcept {
  const __m256i low = _mm256_shuffle_epi8(low_table, _mm256_and_si256(v, _mm256_set1_epi8(0x0f)));
  const __m256i high = _mm256_shuffle_epi8(
      _mm256_setr_epi8(JWTGATE_HIGH_NIBBLE_CLASS, JWTGATE_HIGH_NIBBLE_CLASS), high_nibbles);
  return _mm256_and_si256(low, high);
}

#undef JWTGATE_LOW_NIBBLE_BASE64URL
#undef JWTGATE_LOW_NIBBLE_COMPACT
#undef JWTGATE_HIGH_NIBBLE_CLASS

}  // namespace jwtgate::jose::avx2

#endif  // JWTGATE_JOSE_ALPHABET_AVX2_H_
