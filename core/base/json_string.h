// JsonString: `s` as a JSON string literal, quotes included, for JSON texts written by hand
// (the admin API's replies, the JOSE headers and JWKs the signer builds). Escapes what RFC 8259 §7
// requires: '"', '\\' and the control characters below 0x20 (as \u00xx); every other byte, UTF-8
// included, is copied as it is, so valid UTF-8 in gives valid JSON out. Thread-safe (pure).
//
// Header only, as the other tools of base that need no library (core/LAYERS.md).
#ifndef JWTGATE_BASE_JSON_STRING_H_
#define JWTGATE_BASE_JSON_STRING_H_

#include <cstdio>
#include <string>
#include <string_view>

namespace jwtgate::base {

// Appends `s` as a JSON string literal to `*out`, without a temporary. `ascii_only` escapes
// every byte >= 0x80 as well (as \u00xx, one per byte), for text nobody checked as UTF-8 (a
// request header), so that the output is valid JSON whatever it holds.
inline void AppendJsonString(std::string_view s, std::string* out, bool ascii_only = false) {
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20 || (ascii_only && u >= 0x80)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out->append(buf);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

inline std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_JSON_STRING_H_
