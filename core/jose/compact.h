// Splitting a JWS compact serialization (RFC 7515 §7.1) into views of its three segments.
#ifndef JWTGATE_JOSE_COMPACT_H_
#define JWTGATE_JOSE_COMPACT_H_

#include <cstddef>
#include <string_view>

#include "jwtgate/status.h"

namespace jwtgate::jose {

struct CompactParts {
  std::string_view header;         // base64url
  std::string_view payload;        // base64url
  std::string_view signature;      // base64url
  std::string_view signing_input;  // header "." payload: a view of the token itself
};

// Accepts exactly `^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$` of at most `max_bytes`.
// Returns kTokenEmpty, kTokenTooLarge, kTokenIsJwe (five well-formed segments) or
// kTokenMalformed (anything else) on failure. Views point into `token`.
[[nodiscard]] Status SplitCompact(std::string_view token, size_t max_bytes,
                                  CompactParts* out) noexcept;

// The same without the AVX2 scan, what a CPU without it runs: for the tests, which compare the
// two paths on every input.
[[nodiscard]] Status SplitCompactBaseline(std::string_view token, size_t max_bytes,
                                          CompactParts* out) noexcept;

}  // namespace jwtgate::jose

#endif  // JWTGATE_JOSE_COMPACT_H_
