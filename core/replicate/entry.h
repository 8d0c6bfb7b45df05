// The revocations that travel between jwtgated nodes: one Redis stream entry per revocation,
// and the snapshot that compacts a stream. Both are read from a server every node shares, so
// they are untrusted input: parsed strictly, bounded, and a bad one is rejected with a reason
// (the node skips and counts it), never a crash (tests/fuzz/replication_entry_fuzz.cc).
//
// Stream entry (XADD field/value pairs; unknown fields are ignored, for later versions):
//   v  "1"                     format version
//   k  "jti" | "sub" | "iss" | "all"
//   id the jti, subject or issuer ("" for all)
//   iss the issuer a jti or subject revocation is limited to ("" : every issuer)
//   t  keep-until of a jti revocation (decimal seconds, or "forever"); the watermark of the
//      others (tokens issued at or before it are revoked)
//   n  the node that made it (node_id); q its sequence number on that node
//
// Snapshot (the value of <prefix>snapshot): a header line, then one line per revocation,
// every string length-prefixed so that any byte may occur in an id:
//   jwtgate-snapshot 1 <stream id it covers> <entries>\n
//   <kind> <t> <len>:<iss> <len>:<id>\n
#ifndef JWTGATE_REPLICATE_ENTRY_H_
#define JWTGATE_REPLICATE_ENTRY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jwtgate/named_enum.h"
#include "jwtgate/revocation.h"

namespace jwtgate::replicate {

// Bounds every parser enforces.
inline constexpr size_t kMaxIdBytes = 1024;  // id and iss
inline constexpr size_t kMaxNodeBytes = 128;
inline constexpr size_t kMaxFields = 32;        // field/value pairs in one entry
inline constexpr size_t kMaxFieldBytes = 2048;  // any one field name or value

struct Entry {
  Revocation::Kind kind = Revocation::Kind::kJti;
  std::string id;
  std::string iss;
  int64_t value = 0;  // keep-until (RevocationStore::kNoExp: for ever) or watermark
  std::string node;
  uint64_t seq = 0;

  Revocation AsRevocation() const { return Revocation{kind, id, iss, value}; }
  static Entry From(const Revocation& r, std::string node, uint64_t seq);
  bool operator==(const Entry&) const = default;
};

// Why an entry or a snapshot line was refused. Names are metric label values.
#define JWTGATE_ENTRY_ERROR_LIST(X)     \
  X(kOk, "ok")                          \
  X(kTooManyFields, "too_many_fields")  \
  X(kFieldTooLong, "field_too_long")    \
  X(kDuplicateField, "duplicate_field") \
  X(kMissingField, "missing_field")     \
  X(kBadVersion, "bad_version")         \
  X(kBadKind, "bad_kind")               \
  X(kBadNumber, "bad_number")           \
  X(kBadId, "bad_id")                   \
  X(kBadSnapshot, "bad_snapshot")

enum class EntryError : uint8_t { JWTGATE_ENTRY_ERROR_LIST(JWTGATE_ENUMERATOR) };

inline constexpr std::string_view kEntryErrorNames[] = {
    JWTGATE_ENTRY_ERROR_LIST(JWTGATE_ENUM_NAME)};

constexpr std::string_view ToString(EntryError e) noexcept {
  return internal::EnumName(e, kEntryErrorNames, "unknown");
}

using Fields = std::vector<std::pair<std::string, std::string>>;
using FieldViews = std::vector<std::pair<std::string_view, std::string_view>>;

// The XADD field/value pairs of `e`.
Fields EncodeEntry(const Entry& e);
// Parses the field/value pairs of a stream entry.
EntryError ParseEntry(const FieldViews& fields, Entry* out);

// Snapshot: header and lines. AppendSnapshotLine writes one revocation (node and seq are not
// kept: a snapshot is what is revoked, not who said so).
std::string SnapshotHeader(std::string_view covers, size_t entries);
void AppendSnapshotLine(const Entry& e, std::string* out);
// Parses a whole snapshot, calling `each` for every revocation. Returns kOk, or the error
// (kBadSnapshot) with nothing of it applied when `each` is only collecting.
EntryError ParseSnapshot(std::string_view text, std::string* covers,
                         const std::function<void(const Entry&)>& each);

// Stream ids ("<ms>-<seq>"): parsing and order. A valid id has two decimal parts.
struct StreamId {
  uint64_t ms = 0, seq = 0;
  static bool Parse(std::string_view text, StreamId* out);
  std::string ToString() const;
  auto operator<=>(const StreamId&) const = default;
};

}  // namespace jwtgate::replicate

#endif  // JWTGATE_REPLICATE_ENTRY_H_
