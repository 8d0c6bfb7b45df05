#include "replicate/entry.h"

#include <charconv>
#include <functional>

namespace jwtgate::replicate {
namespace {

constexpr std::string_view kForever = "forever";
constexpr std::string_view kSnapshotMagic = "jwtgate-snapshot 1 ";

// The wire names of Revocation::Kind, indexed by it.
constexpr std::string_view kKindNames[] = {"jti", "sub", "iss", "all"};

bool KindFromName(std::string_view s, Revocation::Kind* out) {
  for (size_t i = 0; i < std::size(kKindNames); ++i) {
    if (s == kKindNames[i]) {
      *out = static_cast<Revocation::Kind>(i);
      return true;
    }
  }
  return false;
}

std::string_view KindName(Revocation::Kind k) { return kKindNames[static_cast<size_t>(k)]; }

template <typename T>
bool ParseDecimal(std::string_view s, T* out) {
  if (s.empty() || s.size() > 20) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseValue(std::string_view s, Revocation::Kind kind, int64_t* out) {
  if (s == kForever) {
    if (kind != Revocation::Kind::kJti) return false;  // a watermark is a time
    *out = RevocationStore::kNoExp;
    return true;
  }
  return ParseDecimal(s, out) && *out >= 0;
}

std::string FormatValue(int64_t v) {
  return v == RevocationStore::kNoExp ? std::string(kForever) : std::to_string(v);
}

// The rules of a revocation's strings, shared by entries and snapshot lines.
EntryError CheckStrings(const Entry& e) {
  if (e.id.size() > kMaxIdBytes || e.iss.size() > kMaxIdBytes) return EntryError::kFieldTooLong;
  const bool needs_id = e.kind != Revocation::Kind::kAll;
  if (needs_id == e.id.empty()) return EntryError::kBadId;
  if ((e.kind == Revocation::Kind::kIssuer || e.kind == Revocation::Kind::kAll) && !e.iss.empty()) {
    return EntryError::kBadId;
  }
  return EntryError::kOk;
}

}  // namespace

Entry Entry::From(const Revocation& r, std::string node, uint64_t seq) {
  return Entry{r.kind, std::string(r.id), std::string(r.iss), r.value, std::move(node), seq};
}

Fields EncodeEntry(const Entry& e) {
  return {{"v", "1"},
          {"k", std::string(KindName(e.kind))},
          {"id", e.id},
          {"iss", e.iss},
          {"t", FormatValue(e.value)},
          {"n", e.node},
          {"q", std::to_string(e.seq)}};
}

EntryError ParseEntry(const FieldViews& fields, Entry* out) {
  if (fields.size() > kMaxFields) return EntryError::kTooManyFields;
  // The fields this version reads, in this order; each at most once.
  constexpr std::string_view kNames[] = {"v", "k", "id", "iss", "t", "n", "q"};
  std::string_view values[std::size(kNames)];
  bool seen[std::size(kNames)] = {};
  for (const auto& [name, value] : fields) {
    if (name.size() > kMaxFieldBytes || value.size() > kMaxFieldBytes) {
      return EntryError::kFieldTooLong;
    }
    for (size_t i = 0; i < std::size(kNames); ++i) {
      if (name != kNames[i]) continue;
      if (seen[i]) return EntryError::kDuplicateField;
      seen[i] = true;
      values[i] = value;
    }
  }
  for (bool s : seen) {
    if (!s) return EntryError::kMissingField;
  }
  if (values[0] != "1") return EntryError::kBadVersion;
  Entry e;
  if (!KindFromName(values[1], &e.kind)) return EntryError::kBadKind;
  e.id.assign(values[2]);
  e.iss.assign(values[3]);
  if (!ParseValue(values[4], e.kind, &e.value)) return EntryError::kBadNumber;
  if (values[5].size() > kMaxNodeBytes) return EntryError::kFieldTooLong;
  e.node.assign(values[5]);
  if (!ParseDecimal(values[6], &e.seq)) return EntryError::kBadNumber;
  if (EntryError s = CheckStrings(e); s != EntryError::kOk) return s;
  *out = std::move(e);
  return EntryError::kOk;
}

std::string SnapshotHeader(std::string_view covers, size_t entries) {
  return std::string(kSnapshotMagic) + std::string(covers) + " " + std::to_string(entries) + "\n";
}

void AppendSnapshotLine(const Entry& e, std::string* out) {
  out->append(KindName(e.kind)).append(" ").append(FormatValue(e.value)).append(" ");
  out->append(std::to_string(e.iss.size())).append(":").append(e.iss).append(" ");
  out->append(std::to_string(e.id.size())).append(":").append(e.id).append("\n");
}

namespace {

// Reads "<word> " from the front of `s`.
bool TakeWord(std::string_view* s, std::string_view* word) {
  const size_t sp = s->find(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  *word = s->substr(0, sp);
  s->remove_prefix(sp + 1);
  return true;
}

// Reads "<len>:<bytes>" from the front of `s`.
bool TakeCounted(std::string_view* s, std::string_view* bytes) {
  const size_t colon = s->find(':');
  if (colon == std::string_view::npos || colon > 5) return false;
  size_t len = 0;
  if (!ParseDecimal(s->substr(0, colon), &len) || len > kMaxIdBytes) return false;
  s->remove_prefix(colon + 1);
  if (s->size() < len) return false;
  *bytes = s->substr(0, len);
  s->remove_prefix(len);
  return true;
}

}  // namespace

EntryError ParseSnapshot(std::string_view text, std::string* covers,
                         const std::function<void(const Entry&)>& each) {
  if (text.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) return EntryError::kBadSnapshot;
  text.remove_prefix(kSnapshotMagic.size());
  const size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return EntryError::kBadSnapshot;
  std::string_view header = text.substr(0, eol);
  text.remove_prefix(eol + 1);
  std::string_view id_text, count_text;
  if (!TakeWord(&header, &id_text)) return EntryError::kBadSnapshot;
  count_text = header;
  StreamId id;
  uint64_t count = 0;
  if (!StreamId::Parse(id_text, &id) || !ParseDecimal(count_text, &count)) {
    return EntryError::kBadSnapshot;
  }
  // Each line is parsed whole before `each` sees it; the count must match at the end.
  uint64_t seen = 0;
  while (!text.empty()) {
    Entry e;
    std::string_view kind, value, iss, sid;
    if (!TakeWord(&text, &kind) || !TakeWord(&text, &value) || !TakeCounted(&text, &iss) ||
        text.empty() || text.front() != ' ') {
      return EntryError::kBadSnapshot;
    }
    text.remove_prefix(1);
    if (!TakeCounted(&text, &sid) || text.empty() || text.front() != '\n') {
      return EntryError::kBadSnapshot;
    }
    text.remove_prefix(1);
    if (!KindFromName(kind, &e.kind) || !ParseValue(value, e.kind, &e.value)) {
      return EntryError::kBadSnapshot;
    }
    e.iss.assign(iss);
    e.id.assign(sid);
    if (CheckStrings(e) != EntryError::kOk) return EntryError::kBadSnapshot;
    if (++seen > count) return EntryError::kBadSnapshot;
    each(e);
  }
  if (seen != count) return EntryError::kBadSnapshot;
  *covers = std::string(id_text);
  return EntryError::kOk;
}

bool StreamId::Parse(std::string_view text, StreamId* out) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return false;
  StreamId id;
  if (!ParseDecimal(text.substr(0, dash), &id.ms) ||
      !ParseDecimal(text.substr(dash + 1), &id.seq)) {
    return false;
  }
  *out = id;
  return true;
}

std::string StreamId::ToString() const { return std::to_string(ms) + "-" + std::to_string(seq); }

}  // namespace jwtgate::replicate
