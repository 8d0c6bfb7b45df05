// Journal: a node's own record of replication, in its revocation directory
// (replication.journal), so that nothing acknowledged is lost and a restart resumes:
//   - own revocations, written and fsync'ed before the local store applies them and before
//     the answer: the outbox. An own revocation without a later "published" record is sent
//     again after a restart (a crash between the local write and the XADD loses nothing);
//   - "published" marks (seq);
//   - revocations applied from other nodes, so that the node holds every live revocation by
//     its ids (the local store keeps only fingerprints): what a re-seed of an emptied Redis
//     publishes;
//   - the last stream id applied, and the Redis epoch it belongs to.
// Records: [u32 payload length][u32 CRC-32C of type and payload][u8 type][payload], little
// endian. Open truncates the file at the first record that does not check: the torn tail a
// crash leaves after the last fsync (records are only appended, and an own revocation is
// fsync'ed before it is acknowledged). Compact rewrites the file (temporary file, fsync,
// rename) with what is still live.
//
// Thread safety: none; the Replicator serializes every call under its own mutex.
#ifndef JWTGATE_REPLICATE_JOURNAL_H_
#define JWTGATE_REPLICATE_JOURNAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "replicate/entry.h"

namespace jwtgate::replicate {

class Journal {
 public:
  // What Open found.
  struct State {
    std::vector<Entry> outbox;  // own revocations not yet published, in seq order
    uint64_t next_seq = 1;
    std::string cursor;         // the last stream id applied ("" : none)
    std::string epoch;          // the Redis epoch `cursor` belongs to ("" : none)
    uint64_t live_entries = 0;  // own and applied revocations still live
    uint64_t torn_tail_bytes = 0;
  };

  // Opens (creating) `path`. `leeway_s`: a jti revocation is live until keep_until + leeway.
  static std::unique_ptr<Journal> Open(const std::string& path, int64_t now, int64_t leeway_s,
                                       State* state, std::string* error);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  void AppendOwn(const Entry& e);
  void AppendPublished(uint64_t seq);
  void AppendApplied(const Entry& e);
  void AppendCursor(std::string_view stream_id, std::string_view epoch);
  // Writes what was appended; with `sync`, fsyncs it too. false (and `*error`) on I/O error.
  bool Flush(bool sync, std::string* error);

  // Every live revocation, own and applied (duplicates possible), by scanning the file.
  bool ForEachLive(int64_t now, const std::function<void(const Entry&)>& each, std::string* error);
  // Rewrites the file with the live revocations, the unpublished ones and the cursor.
  bool Compact(int64_t now, std::string* error);
  uint64_t bytes() const noexcept { return bytes_; }

 private:
  Journal(std::string path, int fd, int64_t leeway_s);
  bool Live(const Entry& e, int64_t now) const noexcept;
  std::string path_;
  int fd_;
  int64_t leeway_s_;
  std::string pending_;  // appended, not yet written
  uint64_t bytes_ = 0;
};

}  // namespace jwtgate::replicate

#endif  // JWTGATE_REPLICATE_JOURNAL_H_
