#include "replicate/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>

#include "revoke/crc32c.h"

namespace jwtgate::replicate {
namespace {

enum RecordType : uint8_t { kOwn = 1, kPublished = 2, kApplied = 3, kCursor = 4 };
constexpr size_t kHeaderBytes = 9;          // length, CRC, type
constexpr uint32_t kMaxPayload = 8 * 1024;  // an entry is at most ~2.2 KiB

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutString16(std::string* out, std::string_view s) {
  Put16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}

// Reads little-endian fields from a payload; any overrun makes ok() false.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  uint64_t Get(size_t bytes) {
    if (s_.size() < bytes) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(s_[i])} << (8 * i);
    s_.remove_prefix(bytes);
    return v;
  }
  std::string_view String16() {
    const size_t n = Get(2);
    if (!ok_ || s_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string_view v = s_.substr(0, n);
    s_.remove_prefix(n);
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
  bool ok_ = true;
};

std::string EntryPayload(const Entry& e) {
  std::string p;
  p.push_back(static_cast<char>(e.kind));
  Put64(&p, static_cast<uint64_t>(e.value));
  Put64(&p, e.seq);
  PutString16(&p, e.node);
  PutString16(&p, e.iss);
  PutString16(&p, e.id);
  return p;
}

bool ParseEntryPayload(std::string_view payload, Entry* e) {
  Reader r(payload);
  const uint64_t kind = r.Get(1);
  e->value = static_cast<int64_t>(r.Get(8));
  e->seq = r.Get(8);
  e->node.assign(r.String16());
  e->iss.assign(r.String16());
  e->id.assign(r.String16());
  if (!r.ok() || !r.done() || kind > static_cast<uint64_t>(Revocation::Kind::kAll)) return false;
  e->kind = static_cast<Revocation::Kind>(kind);
  return e->id.size() <= kMaxIdBytes && e->iss.size() <= kMaxIdBytes;
}

void AppendRecord(std::string* out, RecordType type, std::string_view payload) {
  Put32(out, static_cast<uint32_t>(payload.size()));
  std::string body(1, static_cast<char>(type));
  body.append(payload);
  Put32(out, revoke::Crc32c(body.data(), body.size()));
  out->append(body);
}

// Calls `each(type, payload)` for every record that checks; returns the offset where the
// valid records end (the rest is a torn tail).
template <typename Fn>
size_t ScanRecords(std::string_view data, Fn&& each) {
  size_t off = 0;
  while (data.size() - off >= kHeaderBytes) {
    Reader h(data.substr(off, 8));
    const uint32_t len = static_cast<uint32_t>(h.Get(4));
    const uint32_t crc = static_cast<uint32_t>(h.Get(4));
    if (len > kMaxPayload || data.size() - off - 8 < size_t{len} + 1) break;
    const std::string_view body = data.substr(off + 8, size_t{len} + 1);
    if (revoke::Crc32c(body.data(), body.size()) != crc) break;
    each(static_cast<uint8_t>(body[0]), body.substr(1));
    off += 8 + len + 1;
  }
  return off;
}

bool ReadAll(int fd, std::string* out, std::string* error) {
  out->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
}

bool WriteAll(int fd, std::string_view data, std::string* error) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string KeyOf(const Entry& e) {
  std::string k(1, static_cast<char>(e.kind));
  PutString16(&k, e.iss);
  k.append(e.id);
  return k;
}

}  // namespace

Journal::Journal(std::string path, int fd, int64_t leeway_s)
    : path_(std::move(path)), fd_(fd), leeway_s_(leeway_s) {}

Journal::~Journal() {
  std::string e;
  Flush(false, &e);
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::Live(const Entry& e, int64_t now) const noexcept {
  if (e.kind != Revocation::Kind::kJti || e.value == RevocationStore::kNoExp) return true;
  return e.value > now - leeway_s_;
}

std::unique_ptr<Journal> Journal::Open(const std::string& path, int64_t now, int64_t leeway_s,
                                       State* state, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<Journal> j(new Journal(path, fd, leeway_s));
  std::string data;
  if (!ReadAll(fd, &data, error)) {
    *error = path + ": " + *error;
    return nullptr;
  }
  std::map<uint64_t, Entry> outbox;
  State s;
  const size_t valid = ScanRecords(data, [&](uint8_t type, std::string_view payload) {
    Entry e;
    switch (type) {
      case kOwn:
        if (!ParseEntryPayload(payload, &e)) return;
        s.next_seq = std::max(s.next_seq, e.seq + 1);
        if (j->Live(e, now)) ++s.live_entries;
        outbox[e.seq] = std::move(e);
        break;
      case kPublished: {
        Reader r(payload);
        outbox.erase(r.Get(8));
        break;
      }
      case kApplied:
        if (ParseEntryPayload(payload, &e) && j->Live(e, now)) ++s.live_entries;
        break;
      case kCursor: {
        Reader r(payload);
        s.cursor.assign(r.String16());
        s.epoch.assign(r.String16());
        break;
      }
      default:
        break;
    }
  });
  if (valid < data.size()) {
    s.torn_tail_bytes = data.size() - valid;
    if (::ftruncate(fd, static_cast<off_t>(valid)) != 0) {
      *error = path + ": truncating a torn tail: " + std::strerror(errno);
      return nullptr;
    }
  }
  if (::lseek(fd, static_cast<off_t>(valid), SEEK_SET) < 0) {
    *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  j->bytes_ = valid;
  for (auto& [seq, e] : outbox) s.outbox.push_back(std::move(e));
  *state = std::move(s);
  return j;
}

namespace {

// Appends an entry record straight into `out` (no temporary strings: a catch-up appends a
// record per applied revocation, hundreds of thousands a second).
void AppendEntryRecord(std::string* out, RecordType type, const Entry& e) {
  const size_t start = out->size();
  const size_t payload = 1 + 8 + 8 + 2 + e.node.size() + 2 + e.iss.size() + 2 + e.id.size();
  out->reserve(start + 8 + 1 + payload);
  Put32(out, static_cast<uint32_t>(payload));
  Put32(out, 0);  // the CRC, filled in below
  out->push_back(static_cast<char>(type));
  out->push_back(static_cast<char>(e.kind));
  Put64(out, static_cast<uint64_t>(e.value));
  Put64(out, e.seq);
  PutString16(out, e.node);
  PutString16(out, e.iss);
  PutString16(out, e.id);
  const uint32_t crc = revoke::Crc32c(out->data() + start + 8, out->size() - start - 8);
  for (int i = 0; i < 4; ++i) (*out)[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

}  // namespace

void Journal::AppendOwn(const Entry& e) { AppendEntryRecord(&pending_, kOwn, e); }

void Journal::AppendPublished(uint64_t seq) {
  std::string p;
  Put64(&p, seq);
  AppendRecord(&pending_, kPublished, p);
}

void Journal::AppendApplied(const Entry& e) { AppendEntryRecord(&pending_, kApplied, e); }

void Journal::AppendCursor(std::string_view stream_id, std::string_view epoch) {
  std::string p;
  PutString16(&p, stream_id);
  PutString16(&p, epoch);
  AppendRecord(&pending_, kCursor, p);
}

bool Journal::Flush(bool sync, std::string* error) {
  if (!pending_.empty()) {
    if (!WriteAll(fd_, pending_, error)) {
      *error = path_ + ": " + *error;
      return false;
    }
    bytes_ += pending_.size();
    pending_.clear();
  }
  if (sync && ::fdatasync(fd_) != 0) {
    *error = path_ + ": fdatasync: " + std::strerror(errno);
    return false;
  }
  return true;
}

bool Journal::ForEachLive(int64_t now, const std::function<void(const Entry&)>& each,
                          std::string* error) {
  if (!Flush(false, error)) return false;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  std::string data;
  if (fd < 0 || !ReadAll(fd, &data, error)) {
    if (fd >= 0) ::close(fd);
    *error = path_ + ": " + (fd < 0 ? std::string(std::strerror(errno)) : *error);
    return false;
  }
  ::close(fd);
  ScanRecords(data, [&](uint8_t type, std::string_view payload) {
    Entry e;
    if ((type == kOwn || type == kApplied) && ParseEntryPayload(payload, &e) && Live(e, now)) {
      each(e);
    }
  });
  return true;
}

bool Journal::Compact(int64_t now, std::string* error) {
  if (!Flush(false, error)) return false;
  std::string data;
  if (::lseek(fd_, 0, SEEK_SET) < 0 || !ReadAll(fd_, &data, error)) {
    *error = path_ + ": " + *error;
    return false;
  }
  // The latest value of each revocation (a watermark only rises; a jti is kept the longest),
  // the unpublished own ones, the last cursor.
  std::unordered_map<std::string, Entry> live;
  std::map<uint64_t, Entry> outbox;
  std::string cursor_payload;
  ScanRecords(data, [&](uint8_t type, std::string_view payload) {
    Entry e;
    if (type == kPublished) {
      Reader r(payload);
      outbox.erase(r.Get(8));
      return;
    }
    if (type == kCursor) {
      cursor_payload.assign(payload);
      return;
    }
    if ((type != kOwn && type != kApplied) || !ParseEntryPayload(payload, &e)) return;
    if (type == kOwn) outbox[e.seq] = e;
    if (!Live(e, now)) return;
    auto [it, inserted] = live.try_emplace(KeyOf(e), e);
    if (!inserted && e.value > it->second.value) it->second = e;
  });
  std::string out;
  for (const auto& [key, e] : live) AppendRecord(&out, kApplied, EntryPayload(e));
  for (const auto& [seq, e] : outbox) AppendRecord(&out, kOwn, EntryPayload(e));
  if (!cursor_payload.empty()) AppendRecord(&out, kCursor, cursor_payload);
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !WriteAll(fd, out, error) || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    *error = tmp + ": " + (error->empty() ? std::string(std::strerror(errno)) : *error);
    return false;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::close(fd);
    *error = path_ + ": rename: " + std::strerror(errno);
    return false;
  }
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  ::close(fd_);
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    *error = path_ + ": " + std::strerror(errno);
    return false;
  }
  bytes_ = out.size();
  return true;
}

}  // namespace jwtgate::replicate
