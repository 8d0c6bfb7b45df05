// Lower-case hexadecimal text of bytes, for digests, random ids and escaped bytes in messages.
// Thread-safe (pure). Header only, as the other tools of base that need no library
// (core/LAYERS.md). Nothing here is constant-time: do not hex a secret you then compare.
#ifndef JWTGATE_BASE_HEX_H_
#define JWTGATE_BASE_HEX_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jwtgate::base {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// Appends the two digits of `byte` to `*out`.
inline void AppendHexByte(uint8_t byte, std::string* out) {
  out->push_back(kHexDigits[byte >> 4]);
  out->push_back(kHexDigits[byte & 0xf]);
}

// `n` bytes at `p` as 2n digits.
inline std::string HexEncode(const void* p, size_t n) {
  std::string out;
  out.reserve(2 * n);
  const auto* bytes = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) AppendHexByte(bytes[i], &out);
  return out;
}

inline std::string HexEncode(std::string_view bytes) {
  return HexEncode(bytes.data(), bytes.size());
}

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_HEX_H_
