// Replicator: every jwtgated node of a fleet denies every revoked token. Revocations travel
// through a Redis stream (Redis 7 from Debian, hiredis); each node keeps checking its own
// in-memory RevocationStore, so the request path never calls Redis.
//
//   POST /revoke on node A
//     -> journal (fsync): the outbox           (a crash from here on loses nothing)
//     -> A's store (fdatasync), in effect on A
//     -> XADD <prefix>stream                     -> 200 "replicated": true
//        (Redis unreachable: 202 "replicated": false; the outbox is sent when it is back)
//   node B: XREAD BLOCK from the last id it applied -> B's store, journal (ids, cursor)
//
// The pattern is a snapshot plus an ordered log, as list+watch:
//   - Cursor: the last stream id a node applied is kept in its journal, so a restart resumes
//     there; applying is idempotent (a set insert, a watermark max), so at-least-once delivery
//     is enough. A node skips its own entries (it applied them before publishing).
//   - Snapshot and trim: when the stream holds snapshot_every entries, the node that takes the
//     lease (<prefix>snapshot:lease, SET NX PX) merges the previous snapshot with the entries
//     after it that are older than snapshot_min_age (a minute), drops what has expired, writes
//     <prefix>snapshot and <prefix>snapshot:id (the last id it covers) in one MULTI (WATCHed), and
//     trims the stream up to that id (XTRIM MINID). The stream so holds at most snapshot_every
//     entries plus a minute's worth; a node away for less than that replays the stream, one away
//     for longer loads the snapshot. Snapshots are written on a thread of their own, by nodes that
//     have caught up. Entries are only ever trimmed once a snapshot holds them, so a node whose
//     cursor is older than <prefix>snapshot:id loads the snapshot first, then reads on from its id.
//   - Redis losing its data (a restart without persistence, a failover to an empty replica):
//     <prefix>epoch is a random value set once (SET NX); a node whose journal names another
//     epoch (or none) merges every live revocation of its journal into the snapshot, under
//     the lease, and starts reading the new stream from its beginning. Every node does this
//     once per epoch, so the snapshot ends up with the union of what the fleet held, and a
//     node that joins afterwards denies every live revocation.
//   - Readiness: a node is ready once it has caught up with the stream after starting (or,
//     with on_disconnected "serve", once Redis has been unreachable for max_disconnected: it
//     then serves its local state, and says so). Cut off for longer than max_disconnected
//     with fail_closed, stale() is true and jwtgated answers 503 (revocation_stale).
//
// Thread safety: Revoke, ready, stale and stats from any thread. Two threads of its own (the
// publisher and the subscriber), each with its own Redis connection. `done` callbacks run on
// the publisher thread.
#ifndef JWTGATE_REPLICATE_REPLICATOR_H_
#define JWTGATE_REPLICATE_REPLICATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "jwtgate/revocation.h"
#include "jwtgate/status.h"
#include "replicate/redis_client.h"

namespace jwtgate::replicate {

struct ReplicationOptions {
  RedisOptions redis;
  std::string key_prefix = "jwtgate:";
  std::string node_id;            // unique in the fleet, stable with its revocation directory
  std::string journal_path;       // <revocation dir>/replication.journal
  size_t snapshot_every = 10000;  // entries in the stream that trigger a snapshot and trim
  // Entries younger than this stay in the stream (out of the snapshot).
  std::chrono::seconds snapshot_min_age{60};
  int wait_replicas = 0;  // WAIT for this many Redis replicas before "replicated"
  std::chrono::seconds max_disconnected{60};
  bool fail_closed = false;  // cut off longer than max_disconnected: stale()
  int64_t leeway_s = 60;     // as RevocationOptions::leeway_s: when a jti entry has expired
  // Test hook: SIGKILL the process after a revocation is durable locally, before its XADD.
  bool crash_before_publish = false;
  std::function<void(bool warning, const std::string& line)> log;
};

class Replicator {
 public:
  struct Stats {
    bool connected = false;
    bool ready = false;
    bool stale = false;
    double lag_seconds = 0;       // since the node last saw the head of the stream
    uint64_t entries_behind = 0;  // 0 when caught up; an upper bound otherwise
    uint64_t applied = 0;         // entries of other nodes applied
    uint64_t published = 0;       // own entries appended to the stream
    uint64_t outbox = 0;          // own entries not yet appended
    uint64_t skipped = 0;         // malformed entries or snapshot lines skipped
    uint64_t resyncs = 0;         // snapshot loads
    uint64_t reseeds = 0;         // merges of local state into the snapshot after an epoch change
    uint64_t snapshots_written = 0;
    uint64_t disconnects = 0;
  };

  // Opens the journal and re-applies its unpublished revocations to `store` (a crash may have
  // come between the journal and the store). `store` must outlive the Replicator.
  static std::unique_ptr<Replicator> Open(ReplicationOptions options, RevocationStore* store,
                                          std::string* error);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  void Start();

  // Makes `r` durable in the journal and the store, then appends it to the stream.
  // done(kOk, true): in effect here, in the stream; done(kOk, false): in effect here, kept in
  // the outbox until Redis takes it; done(error, false): not acknowledged (validation, I/O).
  using Done = std::function<void(Status status, bool replicated)>;
  void Revoke(const Revocation& r, Done done);

  bool ready() const noexcept;
  bool stale() const noexcept;
  Stats stats() const;

  struct Rep;

 private:
  explicit Replicator(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace jwtgate::replicate

#endif  // JWTGATE_REPLICATE_REPLICATOR_H_
