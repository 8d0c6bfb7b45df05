// The strict JSON profile (I-JSON, RFC 7493) applied to JOSE headers, claims and JWKS, on
// simdjson's DOM parser: top-level object, valid UTF-8 (simdjson validates), no duplicate member
// names at any depth (compared after unescaping), depth and size caps, no BOM.
#ifndef JWTGATE_JOSE_STRICT_JSON_H_
#define JWTGATE_JOSE_STRICT_JSON_H_

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate::jose {

enum class JsonError : uint8_t { kOk, kSyntax, kNotObject, kDuplicateMember, kTooDeep, kTooLarge };

// A simdjson parser sized for one document kind. Not thread-safe.
class StrictJsonParser {
 public:
  // `max_bytes`: largest document; `max_depth`: deepest nesting (the top-level object is 1).
  StrictJsonParser(size_t max_bytes, uint32_t max_depth);

  // Parses `len` bytes at `data`. REQUIRES: `data` is followed by at least
  // simdjson::SIMDJSON_PADDING readable bytes (padded storage; see PaddedBuffer).
  // On kOk, `*root` is the top-level object, valid until the next Parse.
  [[nodiscard]] JsonError Parse(const uint8_t* data, size_t len,
                                simdjson::dom::object* root) noexcept;

 private:
  simdjson::dom::parser parser_;
  size_t max_bytes_;
  uint32_t max_depth_;
};

// Checks an element tree for duplicate member names (after unescaping) in every object.
[[nodiscard]] bool HasNoDuplicateMembers(simdjson::dom::element e) noexcept;

}  // namespace jwtgate::jose

#endif  // JWTGATE_JOSE_STRICT_JSON_H_
