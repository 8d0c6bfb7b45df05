// Fuzz target: what a node reads from the shared Redis: stream entries (field/value pairs) and
// snapshots (core/replicate/entry.h). Another node, an operator or an attacker with access to
// Redis may have written them.
//
// Input: a mode byte, then
//   mode even: field/value pairs, each a 1-byte name length, the name, a 2-byte little-endian
//              value length and the value (truncated pairs end the list) -> ParseEntry;
//   mode odd:  the snapshot text -> ParseSnapshot.
// Oracles: never a crash, hang or sanitizer report; whatever is accepted survives a round
// trip: EncodeEntry of an accepted entry parses back to the same entry, and the accepted
// revocations of a snapshot, written again with SnapshotHeader and AppendSnapshotLine, parse
// back to the same revocations and covered id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "replicate/entry.h"

namespace {

using jwtgate::replicate::Entry;
using jwtgate::replicate::EntryError;

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzEntry(std::string_view in) {
  jwtgate::replicate::FieldViews fields;
  while (!in.empty()) {
    const size_t name_len = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (in.size() < name_len + 2) break;
    const std::string_view name = in.substr(0, name_len);
    in.remove_prefix(name_len);
    const size_t value_len = static_cast<uint8_t>(in[0]) | (size_t{static_cast<uint8_t>(in[1])} << 8);
    in.remove_prefix(2);
    if (in.size() < value_len) break;
    fields.emplace_back(name, in.substr(0, value_len));
    in.remove_prefix(value_len);
  }
  Entry e;
  if (jwtgate::replicate::ParseEntry(fields, &e) != EntryError::kOk) return;
  const jwtgate::replicate::Fields encoded = jwtgate::replicate::EncodeEntry(e);
  jwtgate::replicate::FieldViews again(encoded.begin(), encoded.end());
  Entry back;
  Check(jwtgate::replicate::ParseEntry(again, &back) == EntryError::kOk);
  Check(back == e);
}

void FuzzSnapshot(std::string_view text) {
  std::vector<Entry> entries;
  std::string covers;
  if (jwtgate::replicate::ParseSnapshot(text, &covers, [&](const Entry& e) {
        entries.push_back(e);
      }) != EntryError::kOk) {
    return;
  }
  std::string written = jwtgate::replicate::SnapshotHeader(covers, entries.size());
  for (const Entry& e : entries) jwtgate::replicate::AppendSnapshotLine(e, &written);
  std::vector<Entry> back;
  std::string covers_back;
  Check(jwtgate::replicate::ParseSnapshot(written, &covers_back, [&](const Entry& e) {
          back.push_back(e);
        }) == EntryError::kOk);
  Check(covers_back == covers);
  Check(back == entries);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    FuzzEntry(in);
  } else {
    FuzzSnapshot(in);
  }
  return 0;
}
