#include "jose/base64url.h"

#include <array>

#include "base/cpu_features.h"

#if defined(JWTGATE_X86_DISPATCH)
#include <immintrin.h>

#include "jose/alphabet_avx2.h"
#endif

namespace jwtgate::jose {
namespace {

constexpr uint8_t kInvalid = 0xFF;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  return t;
}

constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();
constexpr char kEncode[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline uint8_t D(char c) noexcept { return kDecode[static_cast<uint8_t>(c)]; }

#if defined(JWTGATE_X86_DISPATCH)
// 32 characters to 24 bytes per step with AVX2, chosen at run time (the build targets baseline
// x86-64). Debian bookworm packages no SIMD base64 decoder, and the payload and signature of
// every token pass through here: the scalar loop was an eighth of BM_Verify/HS256. The rules
// are the scalar loop's: any byte outside the 64 characters rejects.
//
// Characters to values: the alphabet test of alphabet_avx2.h, then an offset by high nibble
// (one more table lookup) and +33 for '_', the one character whose offset differs from the
// rest of its nibble ('P'-'Z'). Values to bytes (the pack of Mula and Lemire, cited there):
// maddubs joins pairs into 12 bits, madd joins those into 24 in each 32-bit lane, a byte
// shuffle puts each lane's three bytes in order; each 128-bit half then holds 12 bytes, stored
// as 16 + 8 bytes that end exactly at the block's 24th byte (nothing is written past it).
//
// Decodes 32 characters at `in` into 24 bytes at `out`; returns non-zero bytes where a
// character is invalid.
__attribute__((target("avx2"))) inline __m256i DecodeBlockAvx2(const char* in,
                                                               uint8_t* out) noexcept {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
  const __m256i high_nibbles = avx2::HighNibbles(v);
  const __m256i invalid = avx2::OutsideSet(v, high_nibbles, avx2::LowNibbleTableBase64Url());
  // By high nibble: '-' 62 - 0x2D, digits 52 - 0x30, 'A'-'Z' -0x41, 'a'-'z' 26 - 0x61.
  const __m256i offset_by_nibble =
      _mm256_setr_epi8(0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
                       0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i underscore_fix =
      _mm256_and_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('_')), _mm256_set1_epi8(33));
  const __m256i values = _mm256_add_epi8(
      v, _mm256_add_epi8(_mm256_shuffle_epi8(offset_by_nibble, high_nibbles), underscore_fix));
  const __m256i pairs = _mm256_maddubs_epi16(values, _mm256_set1_epi32(0x01400140));
  const __m256i words = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));
  const __m256i bytes = _mm256_shuffle_epi8(
      words, _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                              2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1));
  const __m128i low = _mm256_castsi256_si128(bytes);
  const __m128i high = _mm256_extracti128_si256(bytes, 1);
  // Bytes 0-11 from the low half, 12-23 from the high half: 12 + 4 in one store, 8 in another.
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_or_si128(low, _mm_slli_si128(high, 12)));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), _mm_srli_si128(high, 4));
  return invalid;
}

// Decodes the `quads` whole groups of four characters at `in` (at least 8 of them). The last
// block overlaps the one before it when the count is not a multiple of 8; it rewrites the same
// bytes. Returns false on any invalid character.
__attribute__((target("avx2"))) bool DecodeQuadsAvx2(const char* in, size_t quads,
                                                     uint8_t* out) noexcept {
  const size_t chars = quads * 4;
  __m256i invalid = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= chars; i += 32) {
    invalid = _mm256_or_si256(invalid, DecodeBlockAvx2(in + i, out + i / 4 * 3));
  }
  if (i < chars) {
    invalid =
        _mm256_or_si256(invalid, DecodeBlockAvx2(in + chars - 32, out + (chars - 32) / 4 * 3));
  }
  return _mm256_testz_si256(invalid, invalid) != 0;
}

#endif

}  // namespace

namespace {

// `vector`: whether the AVX2 blocks may be used (the CPU has them).
bool Decode(std::string_view in, uint8_t* out, size_t* out_len,
            [[maybe_unused]] bool vector) noexcept {
  const size_t n = in.size();
  if (n == 0 || n % 4 == 1) return false;
  const char* p = in.data();
  uint8_t* o = out;
  size_t full = n / 4;
  // Validity is accumulated with OR so the loop has no data-dependent branch per character.
  uint32_t bad = 0;
#if defined(JWTGATE_X86_DISPATCH)
  if (vector && full >= 8) {
    if (!DecodeQuadsAvx2(p, full, o)) return false;
    p += full * 4;
    o += full * 3;
    full = 0;
  }
#endif
  for (size_t i = 0; i < full; ++i, p += 4, o += 3) {
    const uint32_t a = D(p[0]), b = D(p[1]), c = D(p[2]), d = D(p[3]);
    bad |= a | b | c | d;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
  }
  switch (n % 4) {
    case 2: {
      const uint32_t a = D(p[0]), b = D(p[1]);
      bad |= a | b;
      if ((b & 0x0F) != 0) return false;  // non-zero trailing bits: not canonical
      *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
      break;
    }
    case 3: {
      const uint32_t a = D(p[0]), b = D(p[1]), c = D(p[2]);
      bad |= a | b | c;
      if ((c & 0x03) != 0) return false;
      const uint32_t v = (a << 18) | (b << 12) | (c << 6);
      *o++ = static_cast<uint8_t>(v >> 16);
      *o++ = static_cast<uint8_t>(v >> 8);
      break;
    }
    default:
      break;
  }
  // Every valid symbol is < 64; kInvalid (0xFF) sets bit 7 (and 6).
  if ((bad & 0xC0) != 0) return false;
  *out_len = static_cast<size_t>(o - out);
  return true;
}

}  // namespace

bool Base64UrlDecode(std::string_view in, uint8_t* out, size_t* out_len) noexcept {
  return Decode(in, out, out_len, base::kHaveAvx2);
}

bool Base64UrlDecodeBaseline(std::string_view in, uint8_t* out, size_t* out_len) noexcept {
  return Decode(in, out, out_len, /*vector=*/false);
}

bool Base64UrlDecode(std::string_view in, std::string* out) {
  if (in.size() % 4 == 1) return false;
  out->resize(Base64UrlDecodedSize(in.size()));
  size_t len = 0;
  if (!Base64UrlDecode(in, reinterpret_cast<uint8_t*>(out->data()), &len)) return false;
  out->resize(len);
  return true;
}

void Base64UrlEncode(const uint8_t* in, size_t n, std::string* out) {
  out->clear();
  out->reserve(Base64UrlEncodedSize(n));
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    out->push_back(kEncode[(v >> 18) & 63]);
    out->push_back(kEncode[(v >> 12) & 63]);
    out->push_back(kEncode[(v >> 6) & 63]);
    out->push_back(kEncode[v & 63]);
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{in[i]} << 16;
    out->push_back(kEncode[(v >> 18) & 63]);
    out->push_back(kEncode[(v >> 12) & 63]);
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    out->push_back(kEncode[(v >> 18) & 63]);
    out->push_back(kEncode[(v >> 12) & 63]);
    out->push_back(kEncode[(v >> 6) & 63]);
  }
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  Base64UrlEncode(reinterpret_cast<const uint8_t*>(in.data()), in.size(), &out);
  return out;
}

}  // namespace jwtgate::jose
