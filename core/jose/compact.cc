#include "jose/compact.h"

#include <array>

#include "base/cpu_features.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(JWTGATE_X86_DISPATCH)
#include <immintrin.h>

#include "jose/alphabet_avx2.h"
#endif

namespace jwtgate::jose {
namespace {

// 1 for [A-Za-z0-9_-], 2 for '.', 0 otherwise.
constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = 1;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = 1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = 1;
  t['-'] = 1;
  t['_'] = 1;
  t['.'] = 2;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

#if defined(JWTGATE_X86_DISPATCH)
// The SSE2 loop below, 32 bytes at a time, where the CPU has AVX2 (chosen at run time), with
// the alphabet test of alphabet_avx2.h. Scans from `*i` to the end (a token shorter than one
// block is left to the loops below), advancing `*i`; records up to 4 dots. False on a fifth dot
// or on any byte outside [A-Za-z0-9_-.].
__attribute__((target("avx2"))) bool ScanBlocksAvx2(const char* p, size_t n, size_t* i,
                                                    size_t (&dots)[4], size_t* ndots) noexcept {
  __m256i bad = _mm256_setzero_si256();
  const __m256i dot = _mm256_set1_epi8('.');
  for (; *i + 32 <= n; *i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + *i));
    bad = _mm256_or_si256(bad,
                          avx2::OutsideSet(v, avx2::HighNibbles(v), avx2::LowNibbleTableCompact()));
    const __m256i is_dot = _mm256_cmpeq_epi8(v, dot);
    for (uint32_t m = static_cast<uint32_t>(_mm256_movemask_epi8(is_dot)); m != 0; m &= m - 1) {
      if (*ndots == 4) return false;
      dots[(*ndots)++] = *i + static_cast<size_t>(__builtin_ctz(m));
    }
  }
  if (*i < n && n >= 32) {
    // The tail, as the last 32 bytes of the token: the bytes already scanned are checked again
    // (harmlessly) and their dots shifted out of the mask.
    const size_t start = n - 32;
    const size_t seen = *i - start;
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + start));
    bad = _mm256_or_si256(bad,
                          avx2::OutsideSet(v, avx2::HighNibbles(v), avx2::LowNibbleTableCompact()));
    const uint32_t dot_mask =
        static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, dot)));
    for (uint32_t m = static_cast<uint32_t>(uint64_t{dot_mask} >> seen); m != 0; m &= m - 1) {
      if (*ndots == 4) return false;
      dots[(*ndots)++] = *i + static_cast<size_t>(__builtin_ctz(m));
    }
    *i = n;
  }
  return _mm256_testz_si256(bad, bad) != 0;
}
#endif

}  // namespace

namespace {

// `vector`: whether the AVX2 scan may be used (the CPU has it).
Status Split(std::string_view token, size_t max_bytes, CompactParts* out,
             [[maybe_unused]] bool vector) noexcept {
  if (token.empty()) return Status::kTokenEmpty;
  if (token.size() > max_bytes) return Status::kTokenTooLarge;
  size_t dots[4];
  size_t ndots = 0;
  uint8_t all = 1;
  size_t i = 0;
  const char* p = token.data();
  const size_t n = token.size();
#if defined(JWTGATE_X86_DISPATCH)
  if (vector && !ScanBlocksAvx2(p, n, &i, dots, &ndots)) return Status::kTokenMalformed;
#endif
#if defined(__SSE2__)
  // 16 bytes at a time: a byte is valid when it lies in one of the ranges below (signed
  // compares: bytes >= 0x80 are negative and fall in none); dots are collected from a mask.
  uint32_t bad = 0;
  const __m128i dot = _mm_set1_epi8('.');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    auto in_range = [&v](char lo, char hi) {
      return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                           _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(hi + 1)), v));
    };
    const __m128i is_dot = _mm_cmpeq_epi8(v, dot);
    const __m128i ok = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(in_range('A', 'Z'), in_range('a', 'z')), in_range('0', '9')),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))),
                     is_dot));
    bad |= ~static_cast<uint32_t>(_mm_movemask_epi8(ok)) & 0xFFFFu;
    for (uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(is_dot)); m != 0; m &= m - 1) {
      if (ndots == 4) return Status::kTokenMalformed;
      dots[ndots++] = i + static_cast<size_t>(__builtin_ctz(m));
    }
  }
  if (bad != 0) return Status::kTokenMalformed;
#endif
  for (; i < n; ++i) {
    const uint8_t k = kClass[static_cast<uint8_t>(p[i])];
    all &= static_cast<uint8_t>(k != 0);
    if (k == 2) {
      if (ndots == 4) return Status::kTokenMalformed;
      dots[ndots++] = i;
    }
  }
  if (!all) return Status::kTokenMalformed;
  // Segments must be non-empty: no leading/trailing dot, no two adjacent dots.
  size_t prev = 0;
  for (size_t d = 0; d < ndots; ++d) {
    if (dots[d] == prev) return Status::kTokenMalformed;
    prev = dots[d] + 1;
  }
  if (prev == token.size()) return Status::kTokenMalformed;
  if (ndots == 4) return Status::kTokenIsJwe;
  if (ndots != 2) return Status::kTokenMalformed;
  out->header = token.substr(0, dots[0]);
  out->payload = token.substr(dots[0] + 1, dots[1] - dots[0] - 1);
  out->signature = token.substr(dots[1] + 1);
  out->signing_input = token.substr(0, dots[1]);
  return Status::kOk;
}

}  // namespace

Status SplitCompact(std::string_view token, size_t max_bytes, CompactParts* out) noexcept {
  return Split(token, max_bytes, out, base::kHaveAvx2);
}

Status SplitCompactBaseline(std::string_view token, size_t max_bytes, CompactParts* out) noexcept {
  return Split(token, max_bytes, out, /*vector=*/false);
}

}  // namespace jwtgate::jose
