#include "replicate/replicator.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/hex.h"
#include "base/thread_annotations.h"
#include "replicate/entry.h"
#include "replicate/journal.h"

namespace jwtgate::replicate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadCount = 10000;      // entries per XREAD
constexpr milliseconds kBlock{1000};      // XREAD BLOCK
constexpr size_t kPublishChunk = 1000;    // XADDs per pipeline
constexpr milliseconds kLeaseTtl{60000};  // the snapshot writer's lease
constexpr uint64_t kCompactBytes = uint64_t{64} << 20;

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t SteadyMs() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) base::AppendHexByte(static_cast<uint8_t>(rd()), &out);
  return out;
}

// The key of a revocation, for merging snapshots (kind, issuer, id).
std::string MergeKey(const Entry& e) {
  std::string k(1, static_cast<char>(e.kind));
  k.append(std::to_string(e.iss.size())).append(":").append(e.iss).append(e.id);
  return k;
}

bool IsNil(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_NIL; }

// XADD <key> * <the entry's fields>.
std::vector<std::string> XAddArgs(const std::string& key, const Entry& e) {
  std::vector<std::string> argv = {"XADD", key, "*"};
  for (auto& [f, v] : EncodeEntry(e)) {
    argv.push_back(std::move(f));
    argv.push_back(std::move(v));
  }
  return argv;
}

// The id after `id` (XTRIM MINID keeps ids >= its argument).
std::string NextId(const StreamId& id) {
  StreamId n = id;
  ++n.seq;
  return n.ToString();
}

}  // namespace

struct Replicator::Rep {
  ReplicationOptions opt;
  RevocationStore* store;
  std::string stream_key, snapshot_key, snapshot_id_key, lease_key, epoch_key;

  // Journal, outbox, cursor: the publisher and the subscriber share them.
  base::Mutex mu;
  std::unique_ptr<Journal> journal JWTGATE_GUARDED_BY(mu);
  std::vector<Entry> outbox JWTGATE_GUARDED_BY(mu);
  uint64_t next_seq JWTGATE_GUARDED_BY(mu) = 1;
  std::string cursor JWTGATE_GUARDED_BY(mu);  // "" : nothing read in this epoch
  std::string epoch JWTGATE_GUARDED_BY(mu);

  // Requests waiting for the publisher.
  struct Request {
    Entry entry;
    Done done;
  };
  base::Mutex queue_mu;
  std::condition_variable queue_cv;
  std::vector<Request> queue JWTGATE_GUARDED_BY(queue_mu);
  bool stopping JWTGATE_GUARDED_BY(queue_mu) = false;
  std::atomic<bool> stop{false};
  // Three threads, each with its own Redis connection: the publisher (XADD), the subscriber
  // (XREAD, never held up by a snapshot being written) and the snapshotter.
  std::thread publisher, subscriber, snapshotter;
  uint64_t compacted_bytes JWTGATE_GUARDED_BY(mu) = 0;  // the journal's size after Compact

  // State and counters (relaxed: figures for metrics and the readiness flag, which is
  // published with release after the data it stands for).
  std::atomic<bool> connected{false}, initial_sync{false};
  std::atomic<int64_t> started_ms{0}, disconnected_since_ms{0}, caught_up_ms{0};
  std::atomic<uint64_t> behind{0}, applied{0}, published{0}, outbox_size{0}, skipped{0}, resyncs{0},
      reseeds{0}, snapshots_written{0}, disconnects{0};
  // Subscriber thread only: the catch-up under way (for `behind`).
  uint64_t catchup_length = 0, catchup_read = 0;

  void Log(bool warning, const std::string& line) const {
    if (opt.log) opt.log(warning, line);
  }

  void MarkConnected(bool up) {
    const bool was = connected.exchange(up, std::memory_order_relaxed);
    if (up) {
      disconnected_since_ms.store(0, std::memory_order_relaxed);
      if (!was) Log(false, "replication: connected to Redis at " + opt.redis.address);
    } else if (was || disconnected_since_ms.load(std::memory_order_relaxed) == 0) {
      disconnected_since_ms.store(SteadyMs(), std::memory_order_relaxed);
      disconnects.fetch_add(1, std::memory_order_relaxed);
    }
  }
  int64_t DisconnectedMs() const {
    const int64_t since = disconnected_since_ms.load(std::memory_order_relaxed);
    return since == 0 ? 0 : SteadyMs() - since;
  }

  // Publisher.
  void PublisherLoop();
  // Appends the outbox to the stream; returns the seqs now published.
  std::vector<uint64_t> PublishOutbox(RedisClient& redis);
  // These own revocations are in the stream: out of the outbox, marked in the journal.
  void MarkPublished(const std::vector<uint64_t>& seqs);

  // Subscriber.
  void SubscriberLoop();
  bool SyncEpoch(RedisClient& redis, std::string* error);
  bool Reseed(RedisClient& redis, std::string* error);
  bool ResyncIfBehindSnapshot(RedisClient& redis, std::string* error);
  bool ReadOnce(RedisClient& redis, std::string* error);
  void MaybeWriteSnapshot(RedisClient& redis);
  void SnapshotterLoop();
  bool WriteSnapshot(RedisClient& redis, std::string* error);
  bool LoadSnapshot(RedisClient& redis, std::unordered_map<std::string, Entry>* entries,
                    std::string* covers, std::string* error);
  // Applies other nodes' entries (durably) and moves the cursor to `last_id`.
  bool Apply(const std::vector<Entry>& entries, const std::string& last_id, std::string* error);
};

std::vector<uint64_t> Replicator::Rep::PublishOutbox(RedisClient& redis) {
  std::vector<Entry> pending;
  {
    base::MutexLock l(&mu);
    pending = outbox;
  }
  std::vector<uint64_t> done;
  if (pending.empty()) return done;
  std::string error;
  for (size_t begin = 0; begin < pending.size(); begin += kPublishChunk) {
    const size_t end = std::min(pending.size(), begin + kPublishChunk);
    std::vector<std::vector<std::string>> commands;
    for (size_t i = begin; i < end; ++i) {
      commands.push_back(XAddArgs(stream_key, pending[i]));
    }
    std::vector<RedisClient::Reply> replies;
    if (!redis.Pipeline(commands, &replies, &error)) {
      MarkConnected(false);
      Log(true, "replication: XADD failed: " + error + "; " +
                    std::to_string(pending.size() - begin) + " revocation(s) kept in the outbox");
      break;
    }
    MarkConnected(true);
    bool all = true;
    for (size_t i = 0; i < replies.size(); ++i) {
      if (replies[i]->type != REDIS_REPLY_STRING) {
        Log(true, "replication: XADD refused: " + std::string(ReplyText(replies[i].get())));
        all = false;
        break;
      }
      done.push_back(pending[begin + i].seq);
    }
    if (!all) break;
  }
  if (done.empty()) return done;
  if (opt.wait_replicas > 0) {
    RedisClient::Reply w = redis.Command({"WAIT", std::to_string(opt.wait_replicas),
                                          std::to_string(opt.redis.command_timeout.count())},
                                         &error);
    if (!w || w->type != REDIS_REPLY_INTEGER || w->integer < opt.wait_replicas) {
      Log(true, "replication: WAIT " + std::to_string(opt.wait_replicas) +
                    ": fewer Redis replicas acknowledged; answering not replicated");
      // In the stream all the same (no second XADD), but not as durable as asked.
      MarkPublished(done);
      return {};
    }
  }
  MarkPublished(done);
  return done;
}

void Replicator::Rep::MarkPublished(const std::vector<uint64_t>& seqs) {
  base::MutexLock l(&mu);
  for (uint64_t seq : seqs) journal->AppendPublished(seq);
  std::erase_if(outbox, [&](const Entry& e) {
    return std::find(seqs.begin(), seqs.end(), e.seq) != seqs.end();
  });
  outbox_size.store(outbox.size(), std::memory_order_relaxed);
  std::string e;
  if (!journal->Flush(false, &e)) Log(true, "replication journal: " + e);
  published.fetch_add(seqs.size(), std::memory_order_relaxed);
}

void Replicator::Rep::PublisherLoop() {
  RedisClient redis(opt.redis);
  for (;;) {
    std::vector<Request> batch;
    {
      base::MutexLock l(&queue_mu);
      if (!stopping && queue.empty()) {
        // With an outbox, retry every second; otherwise wait for work.
        if (outbox_size.load(std::memory_order_relaxed) > 0) {
          queue_mu.WaitUntil(queue_cv, Clock::now() + std::chrono::seconds(1));
        } else {
          queue_mu.Wait(queue_cv);
        }
      }
      if (stopping && queue.empty()) return;
      batch.swap(queue);
    }
    // 1. Journal (fsync), then the store: in effect here, and nothing acknowledged is lost.
    std::vector<Status> local(batch.size(), Status::kOk);
    if (!batch.empty()) {
      std::string error;
      bool journaled = true;
      {
        base::MutexLock l(&mu);
        for (Request& r : batch) {
          r.entry.node = opt.node_id;
          r.entry.seq = next_seq++;
          journal->AppendOwn(r.entry);
        }
        journaled = journal->Flush(true, &error);
        if (journaled) {
          for (const Request& r : batch) outbox.push_back(r.entry);
          outbox_size.store(outbox.size(), std::memory_order_relaxed);
        }
      }
      if (!journaled) {
        Log(true, "replication journal: " + error);
        for (Request& r : batch) r.done(Status::kInternalError, false);
        continue;
      }
      std::vector<Revocation> revs;
      for (const Request& r : batch) revs.push_back(r.entry.AsRevocation());
      const Status s = store->Revoke(revs);
      if (s != Status::kOk) std::fill(local.begin(), local.end(), s);
      if (opt.crash_before_publish) ::raise(SIGKILL);  // test hook (ReplicationOptions)
    }
    // 2. The stream: every unpublished revocation, oldest first.
    const std::vector<uint64_t> published_now = PublishOutbox(redis);
    // 3. The answers.
    for (size_t i = 0; i < batch.size(); ++i) {
      const bool replicated = std::find(published_now.begin(), published_now.end(),
                                        batch[i].entry.seq) != published_now.end();
      batch[i].done(local[i], local[i] == Status::kOk && replicated);
    }
  }
}

bool Replicator::Rep::Apply(const std::vector<Entry>& entries, const std::string& last_id,
                            std::string* error) {
  if (!entries.empty()) {
    std::vector<Revocation> revs;
    revs.reserve(entries.size());
    for (const Entry& e : entries) revs.push_back(e.AsRevocation());
    if (const Status s = store->Revoke(revs); s != Status::kOk) {
      *error = "the revocation store refused " + std::to_string(entries.size()) +
               " replicated revocation(s): " + std::string(ToString(s));
      return false;
    }
  }
  base::MutexLock l(&mu);
  for (const Entry& e : entries) journal->AppendApplied(e);
  cursor = last_id;
  journal->AppendCursor(cursor, epoch);
  if (!journal->Flush(false, error)) return false;
  applied.fetch_add(entries.size(), std::memory_order_relaxed);
  // Compacted once it has grown well past its live content, and not while catching up (a
  // large catch-up would otherwise compact several times over).
  if (initial_sync.load(std::memory_order_relaxed) &&
      journal->bytes() > std::max(kCompactBytes, 4 * compacted_bytes)) {
    if (journal->Compact(UnixNow(), error)) {
      compacted_bytes = journal->bytes();
    } else {
      Log(true, "replication journal: compaction failed: " + *error);
    }
  }
  return true;
}

bool Replicator::Rep::LoadSnapshot(RedisClient& redis,
                                   std::unordered_map<std::string, Entry>* entries,
                                   std::string* covers, std::string* error) {
  RedisClient::Reply r = redis.Command({"GET", snapshot_key}, error);
  if (!r) return false;
  covers->clear();
  if (IsNil(r.get())) return true;
  std::vector<Entry> parsed;
  const EntryError e =
      ParseSnapshot(ReplyText(r.get()), covers, [&](const Entry& x) { parsed.push_back(x); });
  if (e != EntryError::kOk) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    *error = snapshot_key + ": not a valid snapshot (" + std::string(ToString(e)) + ")";
    covers->clear();
    return false;
  }
  for (Entry& x : parsed) {
    auto [it, inserted] = entries->try_emplace(MergeKey(x), x);
    if (!inserted && x.value > it->second.value) it->second = std::move(x);
  }
  return true;
}

bool Replicator::Rep::SyncEpoch(RedisClient& redis, std::string* error) {
  RedisClient::Reply r = redis.Command({"GET", epoch_key}, error);
  if (!r) return false;
  if (IsNil(r.get())) {
    // First use of this Redis, or it lost its data: a new epoch (one node's SET wins).
    if (!redis.Command({"SET", epoch_key, RandomHex(16), "NX"}, error)) return false;
    r = redis.Command({"GET", epoch_key}, error);
    if (!r) return false;
  }
  const std::string current(ReplyText(r.get()));
  std::string previous;
  {
    base::MutexLock l(&mu);
    if (current == epoch) return true;
    previous = epoch;
  }
  if (!previous.empty()) {
    Log(true, "replication: Redis epoch changed from " + previous + " to " + current +
                  " (Redis lost its data, or this is another Redis): re-seeding it from this "
                  "node's revocations");
  }
  if (!Reseed(redis, error)) return false;
  if (!previous.empty()) reseeds.fetch_add(1, std::memory_order_relaxed);
  base::MutexLock l(&mu);
  epoch = current;
  cursor.clear();  // read the new epoch's snapshot and stream from their beginning
  journal->AppendCursor(cursor, epoch);
  return journal->Flush(true, error);
}

// Appends every live revocation this node holds that the snapshot lacks to the stream (as
// entries of this node with seq 0), so that the fleet's union reaches Redis again.
bool Replicator::Rep::Reseed(RedisClient& redis, std::string* error) {
  std::unordered_map<std::string, Entry> in_snapshot;
  std::string covers;
  if (!LoadSnapshot(redis, &in_snapshot, &covers, error)) return false;
  std::vector<Entry> missing;
  {
    base::MutexLock l(&mu);
    std::unordered_map<std::string, Entry> mine;
    if (!journal->ForEachLive(
            UnixNow(),
            [&](const Entry& e) {
              auto [it, inserted] = mine.try_emplace(MergeKey(e), e);
              if (!inserted && e.value > it->second.value) it->second = e;
            },
            error)) {
      return false;
    }
    for (auto& [key, e] : mine) {
      const auto it = in_snapshot.find(key);
      if (it != in_snapshot.end() && it->second.value >= e.value) continue;
      e.node = opt.node_id;
      e.seq = 0;
      missing.push_back(std::move(e));
    }
  }
  for (size_t begin = 0; begin < missing.size(); begin += kPublishChunk) {
    std::vector<std::vector<std::string>> commands;
    for (size_t i = begin; i < std::min(missing.size(), begin + kPublishChunk); ++i) {
      commands.push_back(XAddArgs(stream_key, missing[i]));
    }
    std::vector<RedisClient::Reply> replies;
    if (!redis.Pipeline(commands, &replies, error)) return false;
  }
  if (!missing.empty()) {
    Log(false, "replication: re-seeded " + std::to_string(missing.size()) + " revocation(s)");
  }
  return true;
}

bool Replicator::Rep::ResyncIfBehindSnapshot(RedisClient& redis, std::string* error) {
  RedisClient::Reply r = redis.Command({"GET", snapshot_id_key}, error);
  if (!r) return false;
  if (IsNil(r.get())) return true;
  StreamId snap_id, mine;
  if (!StreamId::Parse(ReplyText(r.get()), &snap_id)) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    *error = snapshot_id_key + ": not a stream id";
    return false;
  }
  {
    base::MutexLock l(&mu);
    // A node new to this epoch loads the snapshot; one whose cursor is older than it may have
    // missed entries the snapshot's writer trimmed.
    if (!cursor.empty() && StreamId::Parse(cursor, &mine) && !(mine < snap_id)) return true;
  }
  RedisClient::Reply snap = redis.Command({"GET", snapshot_key}, error);
  if (!snap) return false;
  if (IsNil(snap.get())) return true;  // deleted meanwhile
  // A snapshot holds each revocation once: applied as parsed, in chunks (the store and the
  // journal take them in batches), with no merge.
  std::vector<Entry> list;
  std::string covers;
  if (const EntryError e =
          ParseSnapshot(ReplyText(snap.get()), &covers, [&](const Entry& x) { list.push_back(x); });
      e != EntryError::kOk) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    *error = snapshot_key + ": not a valid snapshot (" + std::string(ToString(e)) + ")";
    return false;
  }
  snap.reset();
  constexpr size_t kChunk = 100000;
  for (size_t begin = 0; begin < list.size(); begin += kChunk) {
    const size_t end = std::min(list.size(), begin + kChunk);
    const std::vector<Entry> chunk(
        std::make_move_iterator(list.begin() + static_cast<std::ptrdiff_t>(begin)),
        std::make_move_iterator(list.begin() + static_cast<std::ptrdiff_t>(end)));
    // The cursor moves to the snapshot's id with the last chunk only.
    std::string at;
    {
      base::MutexLock l(&mu);
      at = cursor;
    }
    if (!Apply(chunk, end == list.size() ? covers : at, error)) return false;
  }
  if (list.empty() && !Apply({}, covers, error)) return false;
  resyncs.fetch_add(1, std::memory_order_relaxed);
  Log(false, "replication: loaded the snapshot (" + std::to_string(list.size()) +
                 " revocations, up to " + covers + ")");
  return true;
}

bool Replicator::Rep::ReadOnce(RedisClient& redis, std::string* error) {
  std::string from;
  uint64_t known_seq = 0;
  {
    base::MutexLock l(&mu);
    from = cursor.empty() ? "0-0" : cursor;
    known_seq = next_seq;
  }
  // Until the initial sync is done, read without blocking: the node is not ready before it
  // has seen the end of the stream, and a final full batch must not cost a BLOCK period.
  const bool block = initial_sync.load(std::memory_order_relaxed);
  std::vector<std::string> argv = {"XREAD", "COUNT", std::to_string(kReadCount)};
  if (block) {
    argv.push_back("BLOCK");
    argv.push_back(std::to_string(kBlock.count()));
  }
  argv.insert(argv.end(), {"STREAMS", stream_key, from});
  RedisClient::Reply r = redis.Command(argv, error, kBlock + opt.redis.command_timeout);
  if (!r) return false;
  if (r->type == REDIS_REPLY_ERROR) {
    *error = "XREAD: " + std::string(ReplyText(r.get()));
    return false;
  }
  size_t n = 0;
  std::vector<Entry> entries;
  std::string last_id = from;
  if (!IsNil(r.get()) && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
    const redisReply* stream = r->element[0];
    if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2 &&
        stream->element[1]->type == REDIS_REPLY_ARRAY) {
      const redisReply* items = stream->element[1];
      n = items->elements;
      entries.reserve(n);
      FieldViews fields;  // reused: one allocation per batch, not per entry
      for (size_t i = 0; i < items->elements; ++i) {
        const redisReply* item = items->element[i];
        if (item->type != REDIS_REPLY_ARRAY || item->elements != 2) continue;
        last_id.assign(ReplyText(item->element[0]));
        const redisReply* kv = item->element[1];
        fields.clear();
        if (kv->type == REDIS_REPLY_ARRAY) {
          for (size_t j = 0; j + 1 < kv->elements && fields.size() <= kMaxFields; j += 2) {
            fields.emplace_back(ReplyText(kv->element[j]), ReplyText(kv->element[j + 1]));
          }
        }
        Entry e;
        if (const EntryError err = ParseEntry(fields, &e); err != EntryError::kOk) {
          if (skipped.fetch_add(1, std::memory_order_relaxed) < 10) {
            Log(true,
                "replication: stream entry " + last_id + " skipped: " + std::string(ToString(err)));
          }
          continue;
        }
        // Applied already: this node's own entries (published after they were in effect).
        if (e.node == opt.node_id && e.seq < known_seq) continue;
        entries.push_back(std::move(e));
      }
    }
  }
  if (n > 0 && !Apply(entries, last_id, error)) return false;
  if (n < kReadCount) {
    behind.store(0, std::memory_order_relaxed);
    catchup_length = 0;
    caught_up_ms.store(SteadyMs(), std::memory_order_relaxed);
    if (!initial_sync.exchange(true, std::memory_order_release)) {
      Log(false, "replication: initial sync done (" + std::to_string(applied.load()) +
                     " revocation(s) applied)");
    }
  } else {
    // Behind: an upper bound that falls as the node reads (the stream's length when this
    // catch-up began, less what has been read since; the entries before the cursor count too).
    if (catchup_length == 0) {
      RedisClient::Reply len = redis.Command({"XLEN", stream_key}, error);
      if (len && len->type == REDIS_REPLY_INTEGER && len->integer > 0) {
        catchup_length = static_cast<uint64_t>(len->integer);
        catchup_read = 0;
      }
    }
    catchup_read += n;
    behind.store(catchup_length > catchup_read ? catchup_length - catchup_read : 1,
                 std::memory_order_relaxed);
  }
  return true;
}

bool Replicator::Rep::WriteSnapshot(RedisClient& redis, std::string* error) {
  // WATCH: should the lease expire meanwhile and another node write a snapshot, this one
  // is not written over it (EXEC fails).
  if (!redis.Command({"WATCH", snapshot_id_key}, error)) return false;
  std::unordered_map<std::string, Entry> entries;
  std::string covers;
  if (!LoadSnapshot(redis, &entries, &covers, error)) return false;
  std::string from = covers.empty() ? "-" : "(" + covers;
  std::string last = covers;
  // Entries younger than snapshot_min_age stay out of the snapshot and in the stream: a node
  // that was away briefly replays them instead of loading the whole snapshot.
  const int64_t unix_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string until = std::to_string(std::max<int64_t>(
      0, unix_ms - std::chrono::duration_cast<milliseconds>(opt.snapshot_min_age).count()));
  for (;;) {
    RedisClient::Reply r = redis.Command(
        {"XRANGE", stream_key, from, until, "COUNT", std::to_string(kReadCount)}, error);
    if (!r) return false;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) break;
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* item = r->element[i];
      if (item->type != REDIS_REPLY_ARRAY || item->elements != 2) continue;
      last.assign(ReplyText(item->element[0]));
      const redisReply* kv = item->element[1];
      FieldViews fields;
      for (size_t j = 0;
           kv->type == REDIS_REPLY_ARRAY && j + 1 < kv->elements && j < 2 * kMaxFields; j += 2) {
        fields.emplace_back(ReplyText(kv->element[j]), ReplyText(kv->element[j + 1]));
      }
      Entry e;
      if (ParseEntry(fields, &e) != EntryError::kOk) continue;
      auto [it, inserted] = entries.try_emplace(MergeKey(e), e);
      if (!inserted && e.value > it->second.value) it->second = std::move(e);
    }
    if (r->elements < kReadCount) break;
    from = "(" + last;
  }
  if (last.empty() || last == covers) {
    redis.Command({"UNWATCH"}, error);
    return true;  // nothing new
  }
  const int64_t now = UnixNow();
  std::string body;
  size_t kept = 0;
  for (const auto& [k, e] : entries) {
    if (e.kind == Revocation::Kind::kJti && e.value != RevocationStore::kNoExp &&
        e.value <= now - opt.leeway_s) {
      continue;  // expired: a token with that exp is rejected anyway
    }
    AppendSnapshotLine(e, &body);
    ++kept;
  }
  std::vector<RedisClient::Reply> replies;
  if (!redis.Pipeline({{"MULTI"},
                       {"SET", snapshot_key, SnapshotHeader(last, kept) + body},
                       {"SET", snapshot_id_key, last},
                       {"EXEC"}},
                      &replies, error)) {
    return false;
  }
  if (IsNil(replies.back().get())) {
    *error = "another node wrote a snapshot meanwhile";
    return false;
  }
  StreamId last_id;
  if (StreamId::Parse(last, &last_id)) {
    // Only what the snapshot now holds is trimmed.
    redis.Command({"XTRIM", stream_key, "MINID", NextId(last_id)}, error);
  }
  snapshots_written.fetch_add(1, std::memory_order_relaxed);
  Log(false, "replication: snapshot of " + std::to_string(kept) + " revocation(s) up to " + last +
                 " written; stream trimmed");
  return true;
}

void Replicator::Rep::MaybeWriteSnapshot(RedisClient& redis) {
  std::string error;
  RedisClient::Reply len = redis.Command({"XLEN", stream_key}, &error);
  if (!len || len->type != REDIS_REPLY_INTEGER ||
      static_cast<uint64_t>(len->integer) < opt.snapshot_every) {
    return;
  }
  const std::string token = opt.node_id + ":" + RandomHex(8);
  RedisClient::Reply lease = redis.Command(
      {"SET", lease_key, token, "NX", "PX", std::to_string(kLeaseTtl.count())}, &error);
  if (!lease || lease->type != REDIS_REPLY_STATUS) return;  // another node holds it
  if (!WriteSnapshot(redis, &error)) Log(true, "replication: snapshot not written: " + error);
  RedisClient::Reply holder = redis.Command({"GET", lease_key}, &error);
  if (holder && ReplyText(holder.get()) == token) redis.Command({"DEL", lease_key}, &error);
}

// Every second: when the stream has grown past snapshot_every, the node holding the lease
// writes a snapshot. Only a node that has caught up takes part (one catching up would write a
// snapshot it is about to outdate).
void Replicator::Rep::SnapshotterLoop() {
  RedisClient redis(opt.redis);
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 10 && !stop.load(std::memory_order_relaxed); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    if (stop.load(std::memory_order_relaxed) || !initial_sync.load(std::memory_order_relaxed)) {
      continue;
    }
    std::string error;
    if (redis.Connect(&error)) MaybeWriteSnapshot(redis);
  }
}

void Replicator::Rep::SubscriberLoop() {
  RedisClient redis(opt.redis);
  std::string last_error;
  while (!stop.load(std::memory_order_relaxed)) {
    std::string error;
    bool ok = redis.Connect(&error);
    // Every round: a FLUSHALL keeps the connection, so only the epoch key tells.
    if (ok) ok = SyncEpoch(redis, &error);
    if (ok) ok = ResyncIfBehindSnapshot(redis, &error);
    if (ok) ok = ReadOnce(redis, &error);
    if (ok) {
      MarkConnected(true);
      last_error.clear();
      continue;
    }
    if (!redis.connected()) MarkConnected(false);
    if (error != last_error) Log(true, "replication: " + error + "; retrying");
    last_error = error;
    // Serving local state after max_disconnected without a first sync (documented).
    if (!initial_sync.load(std::memory_order_relaxed) && !opt.fail_closed &&
        SteadyMs() - started_ms.load(std::memory_order_relaxed) >
            std::chrono::duration_cast<milliseconds>(opt.max_disconnected).count()) {
      if (!initial_sync.exchange(true, std::memory_order_release)) {
        Log(true, "replication: no initial sync after " +
                      std::to_string(opt.max_disconnected.count()) +
                      " s; serving with this node's revocations (on_disconnected: serve)");
      }
    }
    for (int i = 0; i < 10 && !stop.load(std::memory_order_relaxed); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
}

Replicator::Replicator(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

std::unique_ptr<Replicator> Replicator::Open(ReplicationOptions options, RevocationStore* store,
                                             std::string* error) {
  if (options.node_id.empty() || options.node_id.size() > kMaxNodeBytes) {
    *error = "node_id: required, at most " + std::to_string(kMaxNodeBytes) + " bytes";
    return nullptr;
  }
  std::string host, path;
  int port = 0;
  if (!ParseRedisAddress(options.redis.address, &host, &port, &path, error)) return nullptr;
  auto rep = std::make_unique<Rep>();
  rep->store = store;
  rep->stream_key = options.key_prefix + "stream";
  rep->snapshot_key = options.key_prefix + "snapshot";
  rep->snapshot_id_key = options.key_prefix + "snapshot:id";
  rep->lease_key = options.key_prefix + "snapshot:lease";
  rep->epoch_key = options.key_prefix + "epoch";
  Journal::State state;
  std::unique_ptr<Journal> journal =
      Journal::Open(options.journal_path, UnixNow(), options.leeway_s, &state, error);
  if (!journal) return nullptr;
  rep->opt = std::move(options);
  // A crash may have come between the journal and the store: apply the unpublished ones again
  // (idempotent) before anything is answered.
  if (!state.outbox.empty()) {
    std::vector<Revocation> revs;
    for (const Entry& e : state.outbox) revs.push_back(e.AsRevocation());
    if (const Status s = store->Revoke(revs); s != Status::kOk) {
      *error = "re-applying " + std::to_string(revs.size()) +
               " unpublished revocation(s): " + std::string(ToString(s));
      return nullptr;
    }
    rep->Log(false, "replication: " + std::to_string(revs.size()) +
                        " revocation(s) from the journal not yet in the stream; sending them");
  }
  {
    base::MutexLock l(&rep->mu);
    rep->journal = std::move(journal);
    rep->outbox = std::move(state.outbox);
    rep->next_seq = state.next_seq;
    rep->cursor = state.cursor;
    rep->epoch = state.epoch;
    rep->outbox_size.store(rep->outbox.size(), std::memory_order_relaxed);
  }
  if (state.torn_tail_bytes > 0) {
    rep->Log(true, "replication journal: a torn tail of " + std::to_string(state.torn_tail_bytes) +
                       " bytes was truncated (a crash during a write)");
  }
  return std::unique_ptr<Replicator>(new Replicator(std::move(rep)));
}

Replicator::~Replicator() {
  {
    base::MutexLock l(&rep_->queue_mu);
    rep_->stopping = true;
  }
  rep_->stop.store(true, std::memory_order_relaxed);
  rep_->queue_cv.notify_all();
  if (rep_->publisher.joinable()) rep_->publisher.join();
  if (rep_->subscriber.joinable()) rep_->subscriber.join();
  if (rep_->snapshotter.joinable()) rep_->snapshotter.join();
  // Requests that never reached the publisher: not acknowledged.
  base::MutexLock l(&rep_->queue_mu);
  for (Rep::Request& r : rep_->queue) r.done(Status::kShuttingDown, false);
  rep_->queue.clear();
}

void Replicator::Start() {
  Rep* r = rep_.get();
  r->started_ms.store(SteadyMs(), std::memory_order_relaxed);
  r->publisher = std::thread([r] { r->PublisherLoop(); });
  r->subscriber = std::thread([r] { r->SubscriberLoop(); });
  r->snapshotter = std::thread([r] { r->SnapshotterLoop(); });
}

void Replicator::Revoke(const Revocation& r, Done done) {
  {
    base::MutexLock l(&rep_->queue_mu);
    if (rep_->stopping) {
      done(Status::kShuttingDown, false);
      return;
    }
    rep_->queue.push_back(Rep::Request{Entry::From(r, {}, 0), std::move(done)});
  }
  rep_->queue_cv.notify_one();
}

bool Replicator::ready() const noexcept {
  return rep_->initial_sync.load(std::memory_order_acquire);
}

bool Replicator::stale() const noexcept {
  return rep_->opt.fail_closed &&
         rep_->DisconnectedMs() >
             std::chrono::duration_cast<milliseconds>(rep_->opt.max_disconnected).count();
}

Replicator::Stats Replicator::stats() const {
  const Rep& r = *rep_;
  Stats s;
  s.connected = r.connected.load(std::memory_order_relaxed);
  s.ready = ready();
  s.stale = stale();
  s.entries_behind = r.behind.load(std::memory_order_relaxed);
  // 0 while connected and caught up; otherwise the time since the node last saw the head.
  const int64_t caught = r.caught_up_ms.load(std::memory_order_relaxed);
  const int64_t since = caught == 0 ? r.started_ms.load(std::memory_order_relaxed) : caught;
  s.lag_seconds = s.connected && caught != 0 && s.entries_behind == 0
                      ? 0.0
                      : static_cast<double>(SteadyMs() - since) / 1000.0;
  s.applied = r.applied.load(std::memory_order_relaxed);
  s.published = r.published.load(std::memory_order_relaxed);
  s.outbox = r.outbox_size.load(std::memory_order_relaxed);
  s.skipped = r.skipped.load(std::memory_order_relaxed);
  s.resyncs = r.resyncs.load(std::memory_order_relaxed);
  s.reseeds = r.reseeds.load(std::memory_order_relaxed);
  s.snapshots_written = r.snapshots_written.load(std::memory_order_relaxed);
  s.disconnects = r.disconnects.load(std::memory_order_relaxed);
  return s;
}

}  // namespace jwtgate::replicate
