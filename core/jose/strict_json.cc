#include "jose/strict_json.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

namespace jwtgate::jose {
namespace {

// Objects up to this many members are checked pairwise (no allocation); larger ones sort a
// thread-local vector of names.
constexpr size_t kPairwiseLimit = 16;

constexpr size_t RoundUp64(size_t n) { return (n + 63) / 64 * 64; }

// Depth of the deepest container below and including `e` (scalars: 0). Bounded by the
// parser's depth limit, so the recursion is too.
uint32_t ContainerDepth(simdjson::dom::element e) noexcept {
  uint32_t deepest = 0;
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT:
      for (auto field : simdjson::dom::object(e))
        deepest = std::max(deepest, ContainerDepth(field.value));
      return deepest + 1;
    case simdjson::dom::element_type::ARRAY:
      for (auto v : simdjson::dom::array(e)) deepest = std::max(deepest, ContainerDepth(v));
      return deepest + 1;
    default:
      return 0;
  }
}

bool ObjectHasNoDuplicates(simdjson::dom::object obj) noexcept {
  std::string_view small[kPairwiseLimit];
  size_t n = 0;
  bool big = false;
  for (auto field : obj) {
    if (n < kPairwiseLimit) {
      for (size_t i = 0; i < n; ++i) {
        if (small[i] == field.key) return false;
      }
      small[n++] = field.key;
    } else {
      big = true;
    }
    if (!HasNoDuplicateMembers(field.value)) return false;
  }
  if (!big) return true;
  thread_local std::vector<std::string_view> names;
  names.clear();
  for (auto field : obj) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) == names.end();
}

}  // namespace

bool HasNoDuplicateMembers(simdjson::dom::element e) noexcept {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT:
      return ObjectHasNoDuplicates(simdjson::dom::object(e));
    case simdjson::dom::element_type::ARRAY:
      for (auto v : simdjson::dom::array(e)) {
        if (!HasNoDuplicateMembers(v)) return false;
      }
      return true;
    default:
      return true;
  }
}

StrictJsonParser::StrictJsonParser(size_t max_bytes, uint32_t max_depth)
    : parser_(RoundUp64(max_bytes)), max_bytes_(max_bytes), max_depth_(max_depth) {
  // Allocate once, up front: the parse path never grows the parser.
  // A failed allocation leaves the parser without capacity; Parse then reports kSyntax for
  // every document (fail closed) rather than growing on the request path.
  // simdjson sizes its structural buffers in whole 32/64-byte blocks: a document of n bytes
  // needs a capacity of n rounded up.
  // One level more than the cap: simdjson's own limit treats empty and non-empty containers
  // differently at the last level, so the exact cap is enforced by the walk in Parse.
  if (parser_.allocate(RoundUp64(max_bytes), max_depth + 1) != simdjson::SUCCESS) max_bytes_ = 0;
}

JsonError StrictJsonParser::Parse(const uint8_t* data, size_t len,
                                  simdjson::dom::object* root) noexcept {
  if (len > max_bytes_) return JsonError::kTooLarge;
  // RFC 8259 §8.1: no BOM in JSON text exchanged between systems (simdjson would skip it).
  if (len >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF) return JsonError::kSyntax;
  simdjson::dom::element doc;
  const auto err = parser_.parse(data, len, /*realloc_if_needed=*/false).get(doc);
  if (err != simdjson::SUCCESS) {
    return err == simdjson::DEPTH_ERROR ? JsonError::kTooDeep : JsonError::kSyntax;
  }
  if (doc.type() != simdjson::dom::element_type::OBJECT) return JsonError::kNotObject;
  if (ContainerDepth(doc) > max_depth_) return JsonError::kTooDeep;
  if (!HasNoDuplicateMembers(doc)) return JsonError::kDuplicateMember;
  *root = simdjson::dom::object(doc);
  return JsonError::kOk;
}

}  // namespace jwtgate::jose
