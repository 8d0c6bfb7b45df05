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

// Depth of the deepest container below and including `e` (scalars: 0), to rank a duplicate name
// against a depth violation elsewhere. Bounded by the parser's depth limit, so the recursion is
// too.
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

// Member names are compared by a tag of their length, first and last byte before their bytes:
// JWT objects are small and their names short and distinct in one of the three ("iss" and
// "iat", "exp" and "aud"), so nearly every pair is settled without memcmp. The pairwise check
// with std::string_view's == spent a tenth of BM_Verify/HS256 in memcmp calls.
inline uint64_t NameTag(std::string_view name) noexcept {
  if (name.empty()) return 0;
  return (uint64_t{name.size()} << 16) | (uint64_t{static_cast<uint8_t>(name.front())} << 8) |
         static_cast<uint8_t>(name.back());
}

// Objects larger than kPairwiseLimit: sort a thread-local vector of the names.
bool LargeObjectHasNoDuplicates(simdjson::dom::object obj) noexcept {
  thread_local std::vector<std::string_view> names;
  names.clear();
  for (auto field : obj) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) == names.end();
}

// The names of an object, checked pairwise as they come (no allocation); objects larger than
// kPairwiseLimit fall back to LargeObjectHasNoDuplicates. Add() returns false on a repeat.
class NameSet {
 public:
  explicit NameSet(simdjson::dom::object obj) noexcept : obj_(obj) {}
  bool Add(std::string_view name) noexcept {
    if (n_ == kPairwiseLimit) {
      if (!checked_large_) {
        checked_large_ = true;
        return LargeObjectHasNoDuplicates(obj_);
      }
      return true;
    }
    const uint64_t tag = NameTag(name);
    for (size_t i = 0; i < n_; ++i) {
      // Equal tags: equal lengths.
      if (tags_[i] == tag && std::memcmp(names_[i], name.data(), name.size()) == 0) return false;
    }
    names_[n_] = name.data();
    tags_[n_++] = tag;
    return true;
  }

 private:
  simdjson::dom::object obj_;
  size_t n_ = 0;
  bool checked_large_ = false;
  // Plain arrays, left uninitialized: an array of string_view is zeroed on every construction.
  const char* names_[kPairwiseLimit];
  uint64_t tags_[kPairwiseLimit];
};

inline bool IsContainer(simdjson::dom::element e) noexcept {
  const auto t = e.type();
  return t == simdjson::dom::element_type::OBJECT || t == simdjson::dom::element_type::ARRAY;
}

// One walk over the tree for both rules: no container below depth `max_depth` (the container
// `e` sits at `depth`; the top-level object at 1), no duplicate names in any object. Stops at
// the first violation; the caller ranks a duplicate below a depth violation found elsewhere
// (see Parse).
JsonError CheckTree(simdjson::dom::element e, uint32_t depth, uint32_t max_depth) noexcept {
  if (depth > max_depth) return JsonError::kTooDeep;
  // Scalars are settled here, without a call: most members of a JWT are scalars.
  if (e.type() == simdjson::dom::element_type::OBJECT) {
    const simdjson::dom::object obj(e);
    NameSet names(obj);
    for (auto field : obj) {
      if (!names.Add(field.key)) return JsonError::kDuplicateMember;
      if (!IsContainer(field.value)) continue;
      if (JsonError r = CheckTree(field.value, depth + 1, max_depth); r != JsonError::kOk) {
        return r;
      }
    }
    return JsonError::kOk;
  }
  for (auto v : simdjson::dom::array(e)) {
    if (!IsContainer(v)) continue;
    if (JsonError r = CheckTree(v, depth + 1, max_depth); r != JsonError::kOk) return r;
  }
  return JsonError::kOk;
}

}  // namespace

bool HasNoDuplicateMembers(simdjson::dom::element e) noexcept {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      const simdjson::dom::object obj(e);
      NameSet names(obj);
      for (auto field : obj) {
        if (!names.Add(field.key) || !HasNoDuplicateMembers(field.value)) return false;
      }
      return true;
    }
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
  if (JsonError r = CheckTree(doc, 1, max_depth_); r != JsonError::kOk) {
    // A too-deep container outranks a duplicate name wherever each lies in the document.
    return r == JsonError::kDuplicateMember && ContainerDepth(doc) > max_depth_
               ? JsonError::kTooDeep
               : r;
  }
  *root = simdjson::dom::object(doc);
  return JsonError::kOk;
}

}  // namespace jwtgate::jose
