#include "jose/base64url.h"

#include <array>

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

}  // namespace

bool Base64UrlDecode(std::string_view in, uint8_t* out, size_t* out_len) noexcept {
  const size_t n = in.size();
  if (n == 0 || n % 4 == 1) return false;
  const char* p = in.data();
  uint8_t* o = out;
  size_t full = n / 4;
  // Validity is accumulated with OR so the loop has no data-dependent branch per character.
  uint32_t bad = 0;
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
