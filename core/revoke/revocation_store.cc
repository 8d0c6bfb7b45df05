// RevocationStore implementation: the published View (read side), the writer state behind one
// mutex, group commit, DropExpired, Compact (snapshot) and recovery.
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/epoch.h"
#include "base/thread_annotations.h"
#include "jwtgate/revocation.h"
#include "revoke/crc32c.h"
#include "revoke/file_io.h"
#include "revoke/filtered_table.h"
#include "revoke/hash.h"
#include "revoke/log_format.h"
#include "revoke/log_scan.h"

namespace jwtgate {
namespace {

using base::EpochDomain;
using revoke::BlockedBloomFilter;
using revoke::DecodeResult;
using revoke::Fingerprint;
using revoke::FingerprintMap;
using revoke::KeyKind;
using revoke::LogRecord;
using revoke::RecordType;
using revoke::Retired;
using revoke::SectionType;
using revoke::ValueMap;

constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

// The keep-until window of a time: floor(t / 2^shift) (arithmetic shift floors negatives too).
int64_t BucketOf(int64_t t, uint32_t shift) noexcept { return t >> shift; }

int64_t SaturatingSub(int64_t a, int64_t b) noexcept {
  int64_t r;
  return __builtin_sub_overflow(a, b, &r) ? kNoWatermark : r;
}

// The three kinds of jti entries, each in a table (and filter) of its own so that a check
// probes the second and third only when they hold something.
enum JtiKind : size_t {
  kIssuerJti = 0,     // (iss, jti): what RevokeJti with an issuer writes
  kAnyIssuerJti = 1,  // jti under every issuer: RevokeJti with an empty issuer
  kLegacyJti = 2,     // (jti, exp) of a state written before jtis were keyed by issuer
  kJtiKinds = 3,
};

// The hash input of a token's key of one jti kind.
struct JtiKey {
  KeyKind kind;
  uint64_t value;
  std::string_view a;
  std::string_view b;
};

// REQUIRES: !c.jti.empty(); for kIssuerJti, !c.iss.empty().
JtiKey KeyOf(JtiKind k, const Claims& c) noexcept {
  switch (k) {
    case kIssuerJti:
      return {KeyKind::kIssuerJti, c.iss.size(), c.iss, c.jti};
    case kAnyIssuerJti:
      return {KeyKind::kAnyIssuerJti, 0, c.jti, {}};
    default:
      return {KeyKind::kJti,
              static_cast<uint64_t>(c.has_exp ? c.exp : RevocationStore::kNoExp),
              c.jti,
              {}};
  }
}

// What readers see: immutable once published, except that the tables and filters it points
// to gain entries and bits in place. Replaced (copy on write) whenever a table or filter
// appears, disappears or is rebuilt.
struct View {
  // One per JtiKind: the filter's lines (no load from the filter object on the probe path)
  // and the table. Empty lines: no entry of that kind.
  struct Jtis {
    BlockedBloomFilter::Lines filter;
    const FingerprintMap* table = nullptr;
  };
  Jtis jtis[kJtiKinds];
  bool extra_jtis = false;  // any-issuer or legacy entries exist
  ValueMap::Ref issuers;
  ValueMap::Ref subjects;
  ValueMap::Ref issuer_subjects;
  int64_t global = kNoWatermark;
  bool any_watermark = false;
};

class Store final : public RevocationStore {
 public:
  Store(const RevocationOptions& options, FileEnv& env, const revoke::StateFile& state,
        double bits_per_key, int64_t now)
      : options_(options),
        env_(env),
        shift_(state.generation_shift),
        hasher_(state.secret),
        bits_per_key_(bits_per_key),
        epoch_(EpochDomain::Global()),
        cut_(BucketOf(SaturatingSub(now, options.leeway_s), state.generation_shift)) {}

  ~Store() override {
    std::thread committer;
    {
      base::MutexLock l(&mu_);
      stopping_ = true;
      commit_cv_.notify_all();
      committer = std::move(committer_);
    }
    // The commit thread drains what was accepted (writes it, calls every `done`), then ends.
    if (committer.joinable()) committer.join();
    base::MutexLock l(&mu_);
    while (leader_active_) mu_.Wait(cv_);
    delete view_.load(std::memory_order_relaxed);
  }

  // Loads the state; keeps `lock` (the writer lock, null when read-only) for its lifetime.
  bool Recover(std::unique_ptr<FileLock> lock, std::string* error);

  bool IsRevoked(const Claims& claims) const noexcept override;
  void IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept override;

  Status RevokeJti(std::string_view jti, std::string_view iss, int64_t keep_until) override {
    const Revocation r = Revocation::Jti(jti, iss, keep_until);
    return Revoke({&r, 1});
  }
  Status RevokeSubject(std::string_view sub, int64_t t, std::string_view iss) override {
    const Revocation r = Revocation::Subject(sub, t, iss);
    return Revoke({&r, 1});
  }
  Status RevokeIssuer(std::string_view iss, int64_t t) override {
    const Revocation r = Revocation::Issuer(iss, t);
    return Revoke({&r, 1});
  }
  Status RevokeAll(int64_t t) override {
    const Revocation r = Revocation::All(t);
    return Revoke({&r, 1});
  }
  Status Revoke(std::span<const Revocation> batch) override;
  Status RevokeAsync(std::span<const Revocation> batch, RevokeDone done) override;
  size_t DropExpired(int64_t now) override;
  Status Compact() override;
  RevocationStats Stats() const override;
  std::string last_error() const override {
    base::MutexLock l(&mu_);
    return last_error_;
  }

 private:
  // Recovery's inputs: the newest snapshot and the logs after it, validated and mapped.
  struct LogImage {
    uint64_t number;
    std::string path;
    std::unique_ptr<FileImage> file;
    revoke::LogScan scan;
  };
  struct DirImage {
    std::vector<std::string> names;  // the directory listing
    uint64_t snapshot = 0;           // 0: none
    std::vector<uint64_t> obsolete;  // logs a snapshot covers (a compaction was interrupted)
    std::unique_ptr<FileImage> snapshot_file;
    revoke::SnapshotImage snapshot_image;
    std::vector<LogImage> logs;
  };

  bool WatermarkRevoked(const View& v, const Claims& c) const noexcept;
  bool Probe(const View::Jtis& j, const JtiKey& k) const noexcept {
    const uint64_t lo = hasher_.Lo(k.kind, k.value, k.a, k.b);
    return j.filter.MayContain(lo) &&
           j.table->Contains({lo, hasher_.Hi(k.kind, k.value, k.a, k.b)});
  }
  // The any-issuer and legacy probes. REQUIRES: !c.jti.empty().
  bool ExtraJtiRevoked(const View& v, const Claims& c) const noexcept {
    for (JtiKind k : {kAnyIssuerJti, kLegacyJti}) {
      if (!v.jtis[k].filter.empty() && Probe(v.jtis[k], KeyOf(k, c))) return true;
    }
    return false;
  }
  // The watermark `r` holds for the key (kind, value, a, b), if it holds one: the filter first,
  // the table only on a "maybe". REQUIRES: r.filter != nullptr. Always inlined, as
  // KeyHasher::Lo: it is on the path of every check while watermarks exist.
  [[gnu::always_inline]] bool FindWatermark(const ValueMap::Ref& r, KeyKind kind, uint64_t value,
                                            std::string_view a, std::string_view b,
                                            int64_t* w) const noexcept {
    const uint64_t lo = hasher_.Lo(kind, value, a, b);
    return r.filter->MayContain(lo) && r.table->Find({lo, hasher_.Hi(kind, value, a, b)}, w);
  }
  LogRecord ToRecord(const Revocation& r) const noexcept;

  // Writer side. REQUIRES(mu_) throughout.
  bool ApplyLocked(const LogRecord& r, Retired* retired, bool* keep) JWTGATE_REQUIRES(mu_);
  bool InsertJtiLocked(JtiKind kind, const Fingerprint& f, int64_t keep_until, Retired* retired)
      JWTGATE_REQUIRES(mu_);
  void CountWindowLocked(int64_t keep_until, int delta) JWTGATE_REQUIRES(mu_);
  void RecountWindowsLocked() JWTGATE_REQUIRES(mu_);
  size_t DropJtisLocked(Retired* retired) JWTGATE_REQUIRES(mu_);
  bool DropWatermarksLocked(int64_t now, Retired* retired) JWTGATE_REQUIRES(mu_);
  void PublishLocked(Retired* retired) JWTGATE_REQUIRES(mu_);
  Status WaitDurableLocked(uint64_t ticket, bool gather) JWTGATE_REQUIRES(mu_);
  // Applies `records` and queues those worth logging; *ticket: the ticket to wait for, or 0
  // when nothing needs writing.
  Status AppendLocked(const std::vector<LogRecord>& records, uint64_t* ticket)
      JWTGATE_REQUIRES(mu_);
  // The commit thread of RevokeAsync.
  void CommitLoop();
  bool WritePendingLocked(std::string* error) JWTGATE_REQUIRES(mu_);
  Status FailLocked(std::string message) JWTGATE_REQUIRES(mu_);
  // After durable_ticket_ advanced outside a batch (Compact) or a failure: every follower
  // re-checks.
  void WakeAllWaitersLocked() JWTGATE_REQUIRES(mu_) {
    batch_cv_[0].notify_all();
    batch_cv_[1].notify_all();
  }
  bool WriteSnapshotLocked(uint64_t number, std::string* error) JWTGATE_REQUIRES(mu_);
  bool StartLogLocked(uint64_t number, std::string* error) JWTGATE_REQUIRES(mu_);
  std::unique_ptr<ValueMap>& MapFor(RecordType t) JWTGATE_REQUIRES(mu_);

  // Recovery steps, in order.
  bool ListStateLocked(DirImage* d, std::string* error) JWTGATE_REQUIRES(mu_);
  bool MapSnapshotLocked(DirImage* d, std::string* error) JWTGATE_REQUIRES(mu_);
  bool ScanLogsLocked(DirImage* d, std::string* error) JWTGATE_REQUIRES(mu_);
  void LoadEntriesLocked(const DirImage& d) JWTGATE_REQUIRES(mu_);
  bool PrepareWritableLocked(DirImage* d, std::string* error) JWTGATE_REQUIRES(mu_);

  const RevocationOptions options_;
  FileEnv& env_;  // outlives the store (RevocationOptions::env)
  const uint32_t shift_;
  const revoke::KeyHasher hasher_;
  const double bits_per_key_;
  EpochDomain& epoch_;
  // The published View. Readers load it with acquire inside an epoch Guard; the writer
  // stores a new one with release and frees the old one after a grace period.
  std::atomic<const View*> view_{nullptr};

  mutable base::Mutex mu_;
  std::condition_variable cv_;  // leader_active_ cleared (Compact, the destructor wait on it)
  // Followers of group-commit batch `seq` wait on batch_cv_[seq & 1] (WaitDurableLocked).
  std::condition_variable batch_cv_[2];
  uint64_t batch_seq_ JWTGATE_GUARDED_BY(mu_) = 0;    // the current or last batch
  uint64_t leader_upto_ JWTGATE_GUARDED_BY(mu_) = 0;  // the last ticket it covers
  // Group-commit batching. With several writers, a new leader gathers for up to
  // group_commit_max_delay_us before writing: writers that the previous fdatasync just
  // released come back meanwhile and share this one (otherwise writers settle into two
  // alternating half-size batches). A lone writer (previous batch of one record, nobody
  // arriving) never waits. arriving_: writers between Revoke's entry and their append.
  static constexpr size_t kMaxBatchRecords = 4096;
  std::atomic<int> arriving_{0};
  std::condition_variable arrive_cv_;  // pending_ reached kMaxBatchRecords
  bool leader_waiting_ JWTGATE_GUARDED_BY(mu_) = false;
  size_t last_batch_records_ JWTGATE_GUARDED_BY(mu_) = 0;

  // jti entries by kind (value: keep-until), and how many entries of all kinds each
  // keep-until window holds (kNoExp: forever_), so that DropExpired knows without a scan
  // whether anything can go. Windows before cut_ have been dropped.
  std::unique_ptr<ValueMap> jtis_[kJtiKinds] JWTGATE_GUARDED_BY(mu_);
  std::map<int64_t, uint64_t> windows_ JWTGATE_GUARDED_BY(mu_);
  uint64_t forever_ JWTGATE_GUARDED_BY(mu_) = 0;
  int64_t cut_ JWTGATE_GUARDED_BY(mu_);
  // Watermarks: issuer, subject (any issuer), subject within an issuer.
  std::unique_ptr<ValueMap> watermarks_[3] JWTGATE_GUARDED_BY(mu_);
  int64_t global_ JWTGATE_GUARDED_BY(mu_) = kNoWatermark;

  // The active log. Written by the group-commit leader with mu_ released; leader_active_
  // keeps everyone else (Compact included) away from it meanwhile.
  std::unique_ptr<AppendableFile> log_;
  uint64_t log_number_ JWTGATE_GUARDED_BY(mu_) = 0;
  std::string pending_ JWTGATE_GUARDED_BY(mu_);  // encoded records not yet written
  uint64_t next_ticket_ JWTGATE_GUARDED_BY(mu_) = 0;
  uint64_t durable_ticket_ JWTGATE_GUARDED_BY(mu_) = 0;
  bool leader_active_ JWTGATE_GUARDED_BY(mu_) = false;
  bool failed_ JWTGATE_GUARDED_BY(mu_) = false;
  // RevokeAsync: batches accepted and not yet completed, in ticket order, and the thread that
  // makes them durable and completes them (started by the first RevokeAsync).
  struct AsyncWaiter {
    uint64_t ticket;
    RevokeDone done;
  };
  std::deque<AsyncWaiter> async_ JWTGATE_GUARDED_BY(mu_);
  std::condition_variable commit_cv_;  // async_ reached commit_wake_at_, or stopping_ was set
  // The commit thread sleeps until async_ holds this many batches (1 when idle; while it
  // gathers, as many as it completed last time: the callers it just answered coming back).
  size_t commit_wake_at_ JWTGATE_GUARDED_BY(mu_) = 1;
  // Duration of the last write + fdatasync; bounds how long the commit thread gathers.
  std::chrono::steady_clock::duration last_write_time_ JWTGATE_GUARDED_BY(mu_){};
  bool stopping_ JWTGATE_GUARDED_BY(mu_) = false;
  std::thread committer_ JWTGATE_GUARDED_BY(mu_);
  std::string last_error_ JWTGATE_GUARDED_BY(mu_);
  uint64_t records_written_ JWTGATE_GUARDED_BY(mu_) = 0;
  uint64_t log_bytes_ JWTGATE_GUARDED_BY(mu_) = 0;  // log_.size() as of the last write
  uint64_t syncs_ JWTGATE_GUARDED_BY(mu_) = 0;
  RevocationStats::Recovery recovery_;
  std::unique_ptr<FileLock> lock_;  // null when read-only
};

// ---------------------------------------------------------------------------------------------
// Read side.

bool Store::WatermarkRevoked(const View& v, const Claims& c) const noexcept {
  int64_t eff = v.global;
  bool applies = v.global != kNoWatermark;
  int64_t w;
  if (v.issuers.filter != nullptr && !c.iss.empty() &&
      FindWatermark(v.issuers, KeyKind::kIssuer, 0, c.iss, {}, &w)) {
    eff = std::max(eff, w);
    applies = true;
  }
  if (v.subjects.filter != nullptr && !c.sub.empty() &&
      FindWatermark(v.subjects, KeyKind::kSubject, 0, c.sub, {}, &w)) {
    eff = std::max(eff, w);
    applies = true;
  }
  if (v.issuer_subjects.filter != nullptr && !c.sub.empty() && !c.iss.empty() &&
      FindWatermark(v.issuer_subjects, KeyKind::kIssuerSubject, c.iss.size(), c.iss, c.sub, &w)) {
    eff = std::max(eff, w);
    applies = true;
  }
  if (!applies) return false;
  // Fail closed: without iat the token cannot show it was issued after the watermark.
  if (!c.has_iat) return true;
  return c.iat <= eff;
}

bool Store::IsRevoked(const Claims& c) const noexcept {
  // The Guard costs two thread-local stores and no fence (base/epoch.h: the writer's
  // membarrier supplies the store-load ordering).
  EpochDomain::Guard guard(epoch_);
  // acquire: pairs with the release store in PublishLocked; everything the View points to
  // was built before it was published.
  const View* v = view_.load(std::memory_order_acquire);
  if (v->any_watermark && WatermarkRevoked(*v, c)) return true;
  if (c.jti.empty()) return false;
  // A token without iss can match only an any-issuer (or legacy) entry: an empty issuer
  // revokes under every issuer and is stored as such.
  if (!c.iss.empty() && !v->jtis[kIssuerJti].filter.empty() &&
      Probe(v->jtis[kIssuerJti], KeyOf(kIssuerJti, c))) {
    return true;
  }
  return v->extra_jtis && ExtraJtiRevoked(*v, c);
}

void Store::IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept {
  EpochDomain::Guard guard(epoch_);
  const View* v = view_.load(std::memory_order_acquire);
  // Read once: `revoked` is a bool array, which the compiler must assume may alias the View.
  const bool watermarks = v->any_watermark;
  const bool extra = v->extra_jtis;
  const View::Jtis main = v->jtis[kIssuerJti];
  // Chunks of kChunk tokens, double-buffered: while the filter lines of chunk k are tested,
  // chunk k + 1 has been hashed and its lines requested, so that 32 to 64 cache misses are in
  // flight; each pass is a short, branch-light loop. The (iss, jti) probe is the one that is
  // prefetched; the any-issuer and legacy probes, when those tables hold anything, follow
  // unbatched (they are rare: operators' revocations without an issuer, and a migrated
  // state's entries until they expire).
  constexpr size_t kChunk = 32;
  struct Located {
    const uint64_t* block;  // the token's filter line; null: nothing to test
    uint64_t lo;
    bool jti;  // the token has a jti and no watermark revoked it
  };
  Located located[2][kChunk];
  // The tokens of a batch nearly all come from one issuer: its part of the hash is computed
  // once per run of equal issuers (comparing the bytes costs a third of hashing them).
  std::string_view prefix_iss;
  uint64_t prefix = 0;
  auto locate = [&](size_t begin, size_t end, Located* out) {
    for (size_t i = begin; i < end; ++i) {
      const Claims& c = claims[i];
      Located& e = out[i - begin];
      e.block = nullptr;
      revoked[i] = watermarks && WatermarkRevoked(*v, c);
      e.jti = !revoked[i] && !c.jti.empty();
      if (!e.jti || c.iss.empty() || main.filter.empty()) continue;
      if (c.iss != prefix_iss) {
        prefix = hasher_.LoPrefix(KeyKind::kIssuerJti, c.iss.size(), c.iss);
        prefix_iss = c.iss;
      }
      e.lo = hasher_.LoContinue(prefix, c.jti);
      e.block = main.filter.Block(e.lo);
      __builtin_prefetch(e.block, 0, 3);
    }
  };
  // Filter "maybe"s (revoked tokens, and 0.1 % of the others): the exact tag is computed and
  // the table's home slot prefetched at once, the lookup deferred until kConfirmDepth are
  // queued or the batch ends, so that the table misses of a batch of revoked tokens overlap
  // as well.
  constexpr size_t kConfirmDepth = 16;
  struct Queued {
    size_t i;
    Fingerprint f;
  };
  Queued queue[kConfirmDepth];
  size_t queued = 0;
  auto confirm_queued = [&] {
    for (size_t k = 0; k < queued; ++k) {
      const size_t i = queue[k].i;
      revoked[i] = main.table->Contains(queue[k].f) || (extra && ExtraJtiRevoked(*v, claims[i]));
    }
    queued = 0;
  };
  locate(0, std::min(n, kChunk), located[0]);
  for (size_t begin = 0, k = 0; begin < n; begin += kChunk, k ^= 1) {
    const size_t end = std::min(n, begin + kChunk);
    if (end < n) locate(end, std::min(n, end + kChunk), located[k ^ 1]);
    for (size_t i = begin; i < end; ++i) {
      const Located& e = located[k][i - begin];
      if (e.block == nullptr || !BlockedBloomFilter::Lines::TestBlock(e.block, e.lo)) {
        if (extra && e.jti) revoked[i] = ExtraJtiRevoked(*v, claims[i]);
        continue;
      }
      const Claims& c = claims[i];
      const Fingerprint f{e.lo, hasher_.Hi(KeyKind::kIssuerJti, c.iss.size(), c.iss, c.jti)};
      main.table->Prefetch(f.hi);
      queue[queued++] = {i, f};
      if (queued == kConfirmDepth) confirm_queued();
    }
  }
  confirm_queued();
}

// ---------------------------------------------------------------------------------------------
// Write side.

LogRecord Store::ToRecord(const Revocation& r) const noexcept {
  switch (r.kind) {
    case Revocation::Kind::kJti:
      if (r.iss.empty()) return {RecordType::kAnyIssuerJti, r.value, hasher_.AnyIssuerJti(r.id)};
      return {RecordType::kIssuerJti, r.value, hasher_.IssuerJti(r.iss, r.id)};
    case Revocation::Kind::kSubject:
      if (r.iss.empty()) {
        return {RecordType::kSubject, r.value, hasher_.Of(KeyKind::kSubject, 0, r.id)};
      }
      return {RecordType::kIssuerSubject, r.value,
              hasher_.Of(KeyKind::kIssuerSubject, r.iss.size(), r.iss, r.id)};
    case Revocation::Kind::kIssuer:
      return {RecordType::kIssuer, r.value, hasher_.Of(KeyKind::kIssuer, 0, r.id)};
    case Revocation::Kind::kAll:
      break;
  }
  return {RecordType::kGlobal, r.value, {}};
}

std::unique_ptr<ValueMap>& Store::MapFor(RecordType t) {
  switch (t) {
    case RecordType::kIssuer:
      return watermarks_[0];
    case RecordType::kSubject:
      return watermarks_[1];
    default:
      return watermarks_[2];
  }
}

void CountWindow(int64_t keep_until, int delta, uint32_t shift,
                 std::map<int64_t, uint64_t>* windows, uint64_t* forever) {
  if (keep_until == RevocationStore::kNoExp) {
    *forever = static_cast<uint64_t>(static_cast<int64_t>(*forever) + delta);
    return;
  }
  auto it = windows->try_emplace(BucketOf(keep_until, shift), 0).first;
  it->second = static_cast<uint64_t>(static_cast<int64_t>(it->second) + delta);
  if (it->second == 0) windows->erase(it);
}

void Store::CountWindowLocked(int64_t keep_until, int delta) {
  CountWindow(keep_until, delta, shift_, &windows_, &forever_);
}

void Store::RecountWindowsLocked() {
  // Counted into locals: the lambda cannot show the thread-safety analysis that mu_ is held.
  std::map<int64_t, uint64_t> windows;
  uint64_t forever = 0;
  for (const std::unique_ptr<ValueMap>& m : jtis_) {
    if (!m) continue;
    m->ForEach([&](const Fingerprint&, int64_t keep_until) {
      CountWindow(keep_until, 1, shift_, &windows, &forever);
    });
  }
  windows_ = std::move(windows);
  forever_ = forever;
}

bool Store::InsertJtiLocked(JtiKind kind, const Fingerprint& f, int64_t keep_until,
                            Retired* retired) {
  std::unique_ptr<ValueMap>& m = jtis_[kind];
  bool changed = false;
  if (!m) {
    m = std::make_unique<ValueMap>(kind == kIssuerJti ? options_.initial_capacity : 64,
                                   bits_per_key_);
    changed = true;
  }
  int64_t old = 0;
  const bool existed = m->table().Find(f, &old);
  if (existed && old >= keep_until) return changed;
  // An empty table is published as "nothing of this kind" (FilteredTable::ref): its first
  // entry must republish the View.
  changed |= m->size() == 0;
  bool added = false;
  // An existing entry's keep-until rises in place (relaxed store of the max, see
  // FingerprintTable::Insert); only a new key can change the published objects.
  changed |= m->Insert(f, keep_until, &added, retired);
  if (existed) CountWindowLocked(old, -1);
  CountWindowLocked(keep_until, 1);
  return changed;
}

bool Store::ApplyLocked(const LogRecord& r, Retired* retired, bool* keep) {
  *keep = true;
  switch (r.type) {
    case RecordType::kJti:
    case RecordType::kIssuerJti:
    case RecordType::kAnyIssuerJti: {
      if (BucketOf(r.value, shift_) < cut_) {
        *keep = false;  // its window has passed: nothing to keep, nothing to log
        return false;
      }
      const JtiKind kind = r.type == RecordType::kIssuerJti      ? kIssuerJti
                           : r.type == RecordType::kAnyIssuerJti ? kAnyIssuerJti
                                                                 : kLegacyJti;
      return InsertJtiLocked(kind, r.fp, r.value, retired);
    }
    case RecordType::kSubject:
    case RecordType::kIssuerSubject:
    case RecordType::kIssuer: {
      std::unique_ptr<ValueMap>& m = MapFor(r.type);
      bool changed = false;
      if (!m) {
        m = std::make_unique<ValueMap>(64, bits_per_key_);
        changed = true;
      }
      changed |= m->size() == 0;  // published as empty until now (FilteredTable::ref)
      bool added = false;
      // An existing watermark rises in place (relaxed store of the max, see
      // FingerprintTable::Insert); only a new key can change the published objects.
      changed |= m->Insert(r.fp, r.value, &added, retired);
      return changed;
    }
    case RecordType::kGlobal:
      if (r.value <= global_) return false;
      global_ = r.value;
      return true;
    case RecordType::kLogHeader:
      break;
  }
  *keep = false;
  return false;
}

void Store::PublishLocked(Retired* retired) {
  auto v = std::make_unique<View>();
  for (size_t k = 0; k < kJtiKinds; ++k) {
    if (!jtis_[k]) continue;
    const ValueMap::Ref r = jtis_[k]->ref();
    if (r.filter != nullptr) v->jtis[k] = {r.filter->lines(), r.table};
  }
  v->extra_jtis = !v->jtis[kAnyIssuerJti].filter.empty() || !v->jtis[kLegacyJti].filter.empty();
  ValueMap::Ref* refs[3] = {&v->issuers, &v->subjects, &v->issuer_subjects};
  for (size_t i = 0; i < 3; ++i) {
    if (watermarks_[i]) *refs[i] = watermarks_[i]->ref();
  }
  v->global = global_;
  v->any_watermark = global_ != kNoWatermark || v->issuers.filter != nullptr ||
                     v->subjects.filter != nullptr || v->issuer_subjects.filter != nullptr;
  // release: readers that acquire the new View see the objects it points to fully built.
  const View* old = view_.exchange(v.release(), std::memory_order_acq_rel);
  if (old != nullptr) retired->push_back(std::shared_ptr<const View>(old));
  epoch_.Synchronize();
  retired->clear();
}

Status Store::FailLocked(std::string message) {
  failed_ = true;
  WakeAllWaitersLocked();  // they return kInternalError
  last_error_ = std::move(message);
  return Status::kInternalError;
}

bool Store::WritePendingLocked(std::string* error) {
  if (pending_.empty()) return true;
  if (!log_->Append(pending_.data(), pending_.size(), error)) return false;
  if (options_.sync && !log_->Sync(error)) return false;
  records_written_ += pending_.size() / revoke::kRecordBytes;
  ++syncs_;
  log_bytes_ = log_->size();
  pending_.clear();
  durable_ticket_ = next_ticket_;
  return true;
}

Status Store::WaitDurableLocked(uint64_t ticket, bool gather) {
  // Group commit: the first waiter becomes the leader, takes everything pending, writes it
  // with one write(2) and one fdatasync(2) with the mutex released, and wakes the others.
  // Records that arrive meanwhile form the next batch.
  // Wake-ups are per batch (no thundering herd): a follower sleeps on the condition variable
  // of the batch that will cover its ticket, batch_cv_[seq & 1], the current one (seq
  // batch_seq_) while leader_upto_ covers it, else the next one. A finishing leader wakes all
  // followers of its batch (done) and one of the next batch (to lead it); the others of the
  // next batch sleep on until that batch is durable.
  while (durable_ticket_ < ticket) {
    if (failed_) return Status::kInternalError;
    if (leader_active_) {
      const uint64_t seq = ticket <= leader_upto_ ? batch_seq_ : batch_seq_ + 1;
      mu_.Wait(batch_cv_[seq & 1]);
      continue;
    }
    leader_active_ = true;
    ++batch_seq_;
    leader_upto_ = std::numeric_limits<uint64_t>::max();  // while gathering: all that comes
    const bool concurrent =
        last_batch_records_ > 1 || arriving_.load(std::memory_order_relaxed) > 0;
    if (gather && concurrent && options_.group_commit_max_delay_us > 0) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::microseconds(options_.group_commit_max_delay_us);
      leader_waiting_ = true;
      while (pending_.size() / revoke::kRecordBytes < kMaxBatchRecords &&
             mu_.WaitUntil(arrive_cv_, deadline)) {
      }
      leader_waiting_ = false;
    }
    std::string batch;
    batch.swap(pending_);
    last_batch_records_ = batch.size() / revoke::kRecordBytes;
    const uint64_t upto = next_ticket_;
    leader_upto_ = upto;
    std::string error;
    mu_.Unlock();
    const auto write_start = std::chrono::steady_clock::now();
    bool ok = log_->Append(batch.data(), batch.size(), &error);
    if (ok && options_.sync) ok = log_->Sync(&error);
    const auto write_time = std::chrono::steady_clock::now() - write_start;
    mu_.Lock();
    last_write_time_ = write_time;
    leader_active_ = false;
    if (ok) {
      durable_ticket_ = upto;
      records_written_ += batch.size() / revoke::kRecordBytes;
      ++syncs_;
      log_bytes_ = log_->size();  // the leader was the only writer of log_
      batch_cv_[batch_seq_ & 1].notify_all();
      batch_cv_[(batch_seq_ + 1) & 1].notify_one();
    } else {
      (void)FailLocked(std::move(error));
    }
    cv_.notify_all();
  }
  return Status::kOk;
}

namespace {

Status Validate(std::span<const Revocation> batch) noexcept {
  for (const Revocation& r : batch) {
    switch (r.kind) {
      case Revocation::Kind::kJti:
        if (r.id.empty()) return Status::kJtiInvalid;
        break;
      case Revocation::Kind::kSubject:
        if (r.id.empty()) return Status::kSubInvalid;
        break;
      case Revocation::Kind::kIssuer:
        if (r.id.empty()) return Status::kIssInvalid;
        break;
      case Revocation::Kind::kAll:
        break;
    }
  }
  return Status::kOk;
}

}  // namespace

Status Store::AppendLocked(const std::vector<LogRecord>& records, uint64_t* ticket) {
  *ticket = 0;
  if (options_.read_only) {
    last_error_ = "the revocation state was opened read-only";
    return Status::kInternalError;
  }
  if (failed_) return Status::kInternalError;
  Retired retired;
  bool changed = false;
  bool any = false;
  for (const LogRecord& r : records) {
    bool keep = false;
    changed |= ApplyLocked(r, &retired, &keep);
    if (!keep) continue;
    uint8_t buf[revoke::kRecordBytes];
    revoke::EncodeRecord(r, buf);
    pending_.append(reinterpret_cast<const char*>(buf), sizeof(buf));
    any = true;
  }
  if (leader_waiting_ && pending_.size() / revoke::kRecordBytes >= kMaxBatchRecords) {
    arrive_cv_.notify_one();
  }
  if (changed) PublishLocked(&retired);
  if (any) *ticket = ++next_ticket_;
  return Status::kOk;
}

Status Store::Revoke(std::span<const Revocation> batch) {
  if (const Status st = Validate(batch); st != Status::kOk) return st;
  // Hash outside the lock.
  arriving_.fetch_add(1, std::memory_order_relaxed);
  std::vector<LogRecord> records;
  records.reserve(batch.size());
  for (const Revocation& r : batch) records.push_back(ToRecord(r));

  base::MutexLock l(&mu_);
  // relaxed: only a batching hint, read under mu_.
  arriving_.fetch_sub(1, std::memory_order_relaxed);
  uint64_t ticket = 0;
  if (const Status st = AppendLocked(records, &ticket); st != Status::kOk) return st;
  if (ticket == 0) return Status::kOk;
  return WaitDurableLocked(ticket, /*gather=*/true);
}

Status Store::RevokeAsync(std::span<const Revocation> batch, RevokeDone done) {
  if (const Status st = Validate(batch); st != Status::kOk) return st;
  std::vector<LogRecord> records;
  records.reserve(batch.size());
  for (const Revocation& r : batch) records.push_back(ToRecord(r));

  base::MutexLock l(&mu_);
  // (While the store is being destroyed only a `done` running on the commit thread can get
  // here; that thread drains the queue before it ends.)
  if (!options_.read_only && !failed_ && !stopping_ && !committer_.joinable()) {
    try {
      committer_ = std::thread([this] { CommitLoop(); });
    } catch (const std::system_error& e) {
      last_error_ = std::string("cannot start the revocation commit thread: ") + e.what();
      return Status::kInternalError;
    }
  }
  uint64_t ticket = 0;
  if (const Status st = AppendLocked(records, &ticket); st != Status::kOk) return st;
  // Nothing to write (an expired jti, a watermark already as high): complete once everything
  // queued before it is durable, so that completions stay in submission order.
  if (ticket == 0) ticket = next_ticket_;
  async_.push_back({ticket, std::move(done)});
  if (async_.size() >= commit_wake_at_) commit_cv_.notify_one();
  return Status::kOk;
}

void Store::CommitLoop() {
  std::vector<AsyncWaiter> ready;
  size_t answered = 0;  // batches completed by the previous round
  base::MutexLock l(&mu_);
  for (;;) {
    if (async_.empty()) {
      if (stopping_) return;
      commit_wake_at_ = 1;
      mu_.Wait(commit_cv_);
      continue;
    }
    // Gather. The callers answered last round usually come straight back with their next
    // request; starting the next fdatasync before they do would split N requests in flight
    // into two alternating half-size batches (half the rate). So wait until as many batches
    // are queued as were answered, but no longer than half the last fdatasync (and
    // group_commit_max_delay_us): a lull costs a request at most 1.5 fdatasyncs.
    if (answered > 1 && async_.size() < answered && options_.group_commit_max_delay_us > 0 &&
        !stopping_) {
      const auto limit = std::min<std::chrono::steady_clock::duration>(
          last_write_time_ / 2, std::chrono::microseconds(options_.group_commit_max_delay_us));
      const auto deadline = std::chrono::steady_clock::now() + limit;
      commit_wake_at_ = answered;
      while (async_.size() < answered && !stopping_ && mu_.WaitUntil(commit_cv_, deadline)) {
      }
      commit_wake_at_ = 1;
    }
    // Lead (or follow) one group commit covering every queued batch; whatever arrives
    // during its fdatasync forms the next one.
    const Status st = WaitDurableLocked(async_.back().ticket, /*gather=*/false);
    while (!async_.empty() && (st != Status::kOk || async_.front().ticket <= durable_ticket_)) {
      ready.push_back(std::move(async_.front()));
      async_.pop_front();
    }
    answered = ready.size();
    mu_.Unlock();
    for (AsyncWaiter& w : ready) {
      if (w.done) w.done(st);
    }
    ready.clear();
    mu_.Lock();
  }
}

// Rebuilds `m` with the entries `keep(f, value)` accepts, fitted to them; null when none is.
template <typename Keep>
std::unique_ptr<ValueMap> Filtered(const ValueMap& m, double bits_per_key, Keep keep) {
  size_t n = 0;
  m.ForEach([&](const Fingerprint& f, int64_t v) {
    if (keep(f, v)) ++n;
  });
  if (n == 0) return nullptr;
  std::unique_ptr<ValueMap> out = ValueMap::ForLoad(n, bits_per_key);
  m.ForEach([&](const Fingerprint& f, int64_t v) {
    if (keep(f, v)) out->LoadInsert(f, v);
  });
  out->FinishLoad();
  return out;
}

size_t Store::DropJtisLocked(Retired* retired) {
  size_t dropped = 0;
  for (auto it = windows_.begin(); it != windows_.end() && it->first < cut_; ++it) {
    dropped += it->second;
  }
  if (dropped == 0) return 0;
  for (std::unique_ptr<ValueMap>& m : jtis_) {
    if (!m) continue;
    const int64_t cut = cut_;
    std::unique_ptr<ValueMap> rebuilt =
        Filtered(*m, bits_per_key_, [this, cut](const Fingerprint&, int64_t keep_until) {
          return BucketOf(keep_until, shift_) >= cut;
        });
    if (rebuilt && rebuilt->size() == m->size()) continue;  // none of this kind expired
    retired->push_back(std::shared_ptr<ValueMap>(std::move(m)));
    m = std::move(rebuilt);
  }
  windows_.erase(windows_.begin(), windows_.lower_bound(cut_));
  return dropped;
}

bool Store::DropWatermarksLocked(int64_t now, Retired* retired) {
  const int64_t oldest = SaturatingSub(now, options_.watermark_retention_s);
  bool changed = false;
  for (std::unique_ptr<ValueMap>& m : watermarks_) {
    if (!m) continue;
    std::unique_ptr<ValueMap> rebuilt = Filtered(
        *m, bits_per_key_, [oldest](const Fingerprint&, int64_t w) { return w >= oldest; });
    if (rebuilt && rebuilt->size() == m->size()) continue;
    retired->push_back(std::shared_ptr<ValueMap>(std::move(m)));
    m = std::move(rebuilt);
    changed = true;
  }
  if (global_ != kNoWatermark && global_ < oldest) {
    global_ = kNoWatermark;
    changed = true;
  }
  return changed;
}

size_t Store::DropExpired(int64_t now) {
  base::MutexLock l(&mu_);
  Retired retired;
  bool changed = false;
  size_t dropped = 0;
  const int64_t cut = BucketOf(SaturatingSub(now, options_.leeway_s), shift_);
  if (cut > cut_) {
    cut_ = cut;
    dropped = DropJtisLocked(&retired);
    changed = dropped > 0;
  }
  if (options_.watermark_retention_s > 0) changed |= DropWatermarksLocked(now, &retired);
  if (changed) PublishLocked(&retired);
  return dropped;
}

bool Store::StartLogLocked(uint64_t number, std::string* error) {
  const std::string path = revoke::JoinPath(options_.dir, revoke::LogFileName(number));
  std::unique_ptr<AppendableFile> f;
  uint8_t header[revoke::kRecordBytes];
  revoke::EncodeRecord(revoke::LogHeaderRecord(number), header);
  if (!env_.OpenAppendable(path, /*create=*/true, &f, error) ||
      !f->Append(header, sizeof(header), error) || !f->Sync(error) ||
      !env_.SyncDir(options_.dir, error)) {
    return false;
  }
  log_ = std::move(f);
  log_number_ = number;
  log_bytes_ = log_->size();
  return true;
}

bool Store::WriteSnapshotLocked(uint64_t number, std::string* error) {
  const std::string name = revoke::SnapshotFileName(number);
  const std::string tmp = revoke::JoinPath(options_.dir, name + ".tmp");
  revoke::SnapshotWriter w(env_);
  if (!w.Create(tmp, error)) return false;
  uint8_t header[revoke::kSnapshotHeaderBytes] = {};
  if (!w.Write(header, sizeof(header), error)) return false;  // patched at the end
  uint32_t sections = 0;
  // One section of 24-byte entries (hi, lo, value): header placeholder, entries with a
  // running CRC, patch.
  auto write_section = [&](SectionType type, const ValueMap& table) -> bool {
    revoke::SectionHeader h;
    h.type = type;
    h.entry_bytes = 24;
    h.bucket = 0;
    const uint64_t at = w.offset();
    uint8_t hb[revoke::kSectionHeaderBytes] = {};
    if (!w.Write(hb, sizeof(hb), error)) return false;
    uint32_t crc = 0;
    uint64_t count = 0;
    bool ok = true;
    table.ForEach([&](const Fingerprint& f, int64_t v) {
      if (!ok) return;
      uint8_t e[24];
      std::memcpy(e, &f.hi, 8);
      std::memcpy(e + 8, &f.lo, 8);
      std::memcpy(e + 16, &v, 8);
      crc = revoke::Crc32cExtend(crc, e, h.entry_bytes);
      ok = w.Write(e, h.entry_bytes, error);
      ++count;
    });
    if (!ok) return false;
    h.count = count;
    h.entries_crc = crc;
    revoke::EncodeSectionHeader(h, hb);
    ++sections;
    return w.PatchAt(at, hb, sizeof(hb), error);
  };
  // Legacy (jti, exp) entries go out as kLongLived (value: exp), the one legacy section that
  // carries each entry's exp.
  static constexpr SectionType kJtiSections[kJtiKinds] = {
      SectionType::kIssuerJti, SectionType::kAnyIssuerJti, SectionType::kLongLived};
  static constexpr SectionType kWatermarkSections[3] = {SectionType::kIssuer, SectionType::kSubject,
                                                        SectionType::kIssuerSubject};
  for (size_t k = 0; k < kJtiKinds; ++k) {
    if (jtis_[k] && !write_section(kJtiSections[k], *jtis_[k])) return false;
  }
  for (size_t i = 0; i < 3; ++i) {
    if (watermarks_[i] && !write_section(kWatermarkSections[i], *watermarks_[i])) return false;
  }
  uint8_t trailer[revoke::kSnapshotTrailerBytes];
  revoke::EncodeSnapshotTrailer(sections, trailer);
  if (!w.Write(trailer, sizeof(trailer), error)) return false;
  revoke::SnapshotHeader sh;
  sh.generation_shift = shift_;
  sh.log_number = number;
  sh.global_watermark = global_;
  sh.section_count = sections;
  sh.base_bucket = cut_;
  revoke::EncodeSnapshotHeader(sh, header);
  if (!w.PatchAt(0, header, sizeof(header), error) || !w.Finish(error)) return false;
  if (!env_.Rename(tmp, revoke::JoinPath(options_.dir, name), error)) return false;
  return env_.SyncDir(options_.dir, error);
}

Status Store::Compact() {
  base::MutexLock l(&mu_);
  if (options_.read_only) {
    last_error_ = "the revocation state was opened read-only";
    return Status::kInternalError;
  }
  while (leader_active_) mu_.Wait(cv_);
  if (failed_) return Status::kInternalError;
  std::string error;
  if (!WritePendingLocked(&error)) return FailLocked(std::move(error));
  WakeAllWaitersLocked();
  // Refit filters and tables to their content.
  Retired retired;
  bool changed = false;
  for (std::unique_ptr<ValueMap>& m : jtis_) {
    if (m) changed |= m->Refit(&retired);
  }
  for (std::unique_ptr<ValueMap>& m : watermarks_) {
    if (m) changed |= m->Refit(&retired);
  }
  if (changed) PublishLocked(&retired);
  // Snapshot as of the end of the current log, then a new log; then the covered files go.
  const uint64_t covered = log_number_;
  if (!WriteSnapshotLocked(covered, &error)) {
    // The old files are intact; the store can go on appending to the current log.
    last_error_ = std::move(error);
    return Status::kInternalError;
  }
  if (!StartLogLocked(covered + 1, &error)) return FailLocked(std::move(error));
  std::vector<std::string> names;
  if (!env_.ListDir(options_.dir, &names, &error)) {
    last_error_ = std::move(error);
    return Status::kOk;  // the compaction itself is durable; stale files are removed later
  }
  for (const std::string& n : names) {
    uint64_t number = 0;
    bool is_log = false;
    if (!revoke::ParseFileName(n, &number, &is_log)) continue;
    if ((is_log && number <= covered) || (!is_log && number < covered)) {
      (void)env_.Remove(revoke::JoinPath(options_.dir, n), &error);
    }
  }
  (void)env_.SyncDir(options_.dir, &error);
  return Status::kOk;
}

RevocationStats Store::Stats() const {
  base::MutexLock l(&mu_);
  RevocationStats s;
  double filter_bits = 0;
  double set_bits = 0;
  double fpr_weighted = 0;
  for (const std::unique_ptr<ValueMap>& t : jtis_) {
    if (!t) continue;
    s.jti_revocations += t->size();
    s.filter_bytes += t->filter_bytes();
    s.exact_bytes += t->table_bytes();
    if (t->filter() == nullptr) continue;
    const double bits = static_cast<double>(t->filter()->bytes()) * 8;
    filter_bits += bits;
    set_bits += bits * t->filter()->FillRatio();
    if (t->size() > 0) {
      fpr_weighted += static_cast<double>(t->size()) *
                      BlockedBloomFilter::ModelFpr(bits / static_cast<double>(t->size()));
    }
  }
  s.any_issuer_revocations = jtis_[kAnyIssuerJti] ? jtis_[kAnyIssuerJti]->size() : 0;
  s.legacy_revocations = jtis_[kLegacyJti] ? jtis_[kLegacyJti]->size() : 0;
  s.long_lived_revocations = forever_;
  s.generations = windows_.size();
  for (const std::unique_ptr<ValueMap>& m : watermarks_) {
    if (m) s.watermark_bytes += m->filter_bytes() + m->table_bytes();
  }
  s.issuer_watermarks = watermarks_[0] ? watermarks_[0]->size() : 0;
  s.subject_watermarks =
      (watermarks_[1] ? watermarks_[1]->size() : 0) + (watermarks_[2] ? watermarks_[2]->size() : 0);
  s.has_global_watermark = global_ != kNoWatermark;
  s.global_watermark = global_;
  if (s.jti_revocations > 0) {
    s.filter_bits_per_key = filter_bits / static_cast<double>(s.jti_revocations);
    s.expected_fpr = fpr_weighted / static_cast<double>(s.jti_revocations);
  }
  s.filter_fill = filter_bits > 0 ? set_bits / filter_bits : 0;
  s.log_number = log_number_;
  s.log_bytes = log_bytes_;
  s.records_written = records_written_;
  s.syncs = syncs_;
  s.recovery = recovery_;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Recovery.

bool Store::Recover(std::unique_ptr<FileLock> lock, std::string* error) {
  lock_ = std::move(lock);
  const auto started = std::chrono::steady_clock::now();
  base::MutexLock l(&mu_);
  DirImage d;
  if (!ListStateLocked(&d, error) || !MapSnapshotLocked(&d, error) || !ScanLogsLocked(&d, error)) {
    return false;
  }
  LoadEntriesLocked(d);
  if (!options_.read_only) {
    if (!PrepareWritableLocked(&d, error)) return false;
  } else if (!d.logs.empty()) {
    log_number_ = d.logs.back().number;
  }
  Retired retired;
  PublishLocked(&retired);
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return true;
}

// 1. The files: the newest snapshot, the logs after it, and the logs it made obsolete.
bool Store::ListStateLocked(DirImage* d, std::string* error) {
  if (!env_.ListDir(options_.dir, &d->names, error)) return false;
  std::vector<uint64_t> logs;
  for (const std::string& n : d->names) {
    uint64_t number = 0;
    bool is_log = false;
    if (!revoke::ParseFileName(n, &number, &is_log)) continue;
    if (is_log) {
      logs.push_back(number);
    } else {
      d->snapshot = std::max(d->snapshot, number);
    }
  }
  std::sort(logs.begin(), logs.end());
  for (uint64_t number : logs) {
    if (number <= d->snapshot) {
      d->obsolete.push_back(number);
    } else {
      const std::string path = revoke::JoinPath(options_.dir, revoke::LogFileName(number));
      d->logs.push_back(LogImage{number, path, {}, {}});
    }
  }
  return true;
}

// 2. The snapshot, validated whole before anything of it is used.
bool Store::MapSnapshotLocked(DirImage* d, std::string* error) {
  if (d->snapshot == 0) return true;
  const std::string path = revoke::JoinPath(options_.dir, revoke::SnapshotFileName(d->snapshot));
  if (!env_.ReadFile(path, &d->snapshot_file, error)) return false;
  if (!revoke::ParseSnapshot(d->snapshot_file->data(), d->snapshot_file->size(), &d->snapshot_image,
                             error)) {
    *error = path + ": " + *error;
    return false;
  }
  const revoke::SnapshotHeader& h = d->snapshot_image.header;
  if (h.generation_shift != shift_ || h.log_number != d->snapshot) {
    *error = path + ": does not belong to this state (generation shift or number differ)";
    return false;
  }
  // What is dropped is decided by `now`, never by the snapshot's first window: a snapshot
  // written by a clock ahead of this one (or a damaged one with a valid checksum) would
  // otherwise drop revocations of tokens that are still valid by this clock.
  global_ = std::max(global_, h.global_watermark);
  recovery_.snapshot_number = d->snapshot;
  return true;
}

// 3. The logs after it, mapped and classified (torn tail, corrupt records).
bool Store::ScanLogsLocked(DirImage* d, std::string* error) {
  for (size_t i = 0; i < d->logs.size(); ++i) {
    LogImage& li = d->logs[i];
    if (!env_.ReadFile(li.path, &li.file, error)) return false;
    const bool last = i + 1 == d->logs.size();
    li.scan = revoke::ScanLog(li.file->data(), li.file->size(), li.number, last);
    if (!li.scan.error.empty()) {
      *error = li.path + ": " + li.scan.error;
      return false;
    }
    if (!li.scan.corrupt.empty()) {
      if (!options_.skip_corrupt_records) {
        *error = li.path + ": " + revoke::DescribeCorruption(li.scan) +
                 "; refusing to open (RevocationOptions::skip_corrupt_records skips damaged "
                 "records, losing them)";
        return false;
      }
      recovery_.corrupt_records += li.scan.corrupt.size();
    }
    recovery_.torn_tail_bytes += li.scan.torn_bytes;
  }
  return true;
}

// 4. Every table sized from the counts, then loaded with the snapshot's entries and the logs'
// records. All operations are set inserts and maxima, so order does not matter.
void Store::LoadEntriesLocked(const DirImage& d) {
  // Where an entry goes: a jti table (kind) or a watermark map (3 + index); -1: nowhere. A
  // log record goes where the snapshot section of its kind does.
  static constexpr int kSectionHome[] = {
      -1,             // 0: no section type
      kLegacyJti,     // kGeneration
      kLegacyJti,     // kLongLived
      3,              // kIssuer
      4,              // kSubject
      5,              // kIssuerSubject
      kIssuerJti,     // kIssuerJti
      kAnyIssuerJti,  // kAnyIssuerJti
  };
  static_assert(std::size(kSectionHome) == static_cast<size_t>(SectionType::kAnyIssuerJti) + 1);
  auto section_home = [](SectionType t) -> int {
    const auto i = static_cast<size_t>(t);
    return i < std::size(kSectionHome) ? kSectionHome[i] : -1;
  };
  auto record_home = [&section_home](RecordType t) -> int {
    static constexpr struct {
      RecordType record;
      SectionType section;
    } kSectionOf[] = {
        {RecordType::kJti, SectionType::kLongLived},
        {RecordType::kIssuerJti, SectionType::kIssuerJti},
        {RecordType::kAnyIssuerJti, SectionType::kAnyIssuerJti},
        {RecordType::kIssuer, SectionType::kIssuer},
        {RecordType::kSubject, SectionType::kSubject},
        {RecordType::kIssuerSubject, SectionType::kIssuerSubject},
    };
    for (const auto& e : kSectionOf) {
      if (e.record == t) return section_home(e.section);
    }
    return -1;  // the log header, the global watermark
  };
  size_t counts[kJtiKinds + 3] = {};
  for (const revoke::SnapshotSection& s : d.snapshot_image.sections) {
    counts[static_cast<size_t>(section_home(s.header.type))] += s.header.count;
  }
  for (const LogImage& li : d.logs) {
    li.scan.ForEachRecord(li.file->data(), [&](const LogRecord& r) {
      const int home = record_home(r.type);
      if (home >= 0) ++counts[static_cast<size_t>(home)];
    });
  }
  ValueMap* tables[kJtiKinds + 3] = {};
  for (size_t i = 0; i < kJtiKinds + 3; ++i) {
    if (counts[i] == 0) continue;
    std::unique_ptr<ValueMap>& m = i < kJtiKinds ? jtis_[i] : watermarks_[i - kJtiKinds];
    m = ValueMap::ForLoad(counts[i], bits_per_key_);
    tables[i] = m.get();
  }
  // Entries arrive in random table order: insert through a delay line that prefetches each
  // one's home slot 16 entries ahead.
  struct Pending {
    ValueMap* table;
    Fingerprint f;
    int64_t value;
  };
  auto prefetch = [](const Pending& p) { p.table->table().Prefetch(p.f.hi); };
  auto insert = [](const Pending& p) { p.table->LoadInsert(p.f, p.value); };
  revoke::DelayLine<Pending, decltype(prefetch), decltype(insert)> line(prefetch, insert);
  // Guarded state is read and written through locals inside the lambdas below: the
  // thread-safety analysis cannot see that mu_ is held there.
  const int64_t cut = cut_;
  int64_t global = global_;
  auto load = [&](int home, const Fingerprint& f, int64_t value) {
    if (home < static_cast<int>(kJtiKinds) && BucketOf(value, shift_) < cut) {
      ++recovery_.records_expired;  // its window has passed
      return;
    }
    line.Push({tables[static_cast<size_t>(home)], f, value});
  };
  for (const revoke::SnapshotSection& s : d.snapshot_image.sections) {
    recovery_.snapshot_entries += s.header.count;
    const int home = section_home(s.header.type);
    if (s.header.type == SectionType::kGeneration) {
      // (jti, exp) entries without their exp: kept to the end of the exp's window.
      const int64_t b = s.header.bucket;
      if (b < cut_) {
        recovery_.records_expired += s.header.count;
        continue;
      }
      const int64_t keep_until =
          b >= (std::numeric_limits<int64_t>::max() >> shift_) ? kNoExp : ((b + 1) << shift_) - 1;
      for (uint64_t i = 0; i < s.header.count; ++i) load(home, s.Entry(i), keep_until);
      continue;
    }
    for (uint64_t i = 0; i < s.header.count; ++i) load(home, s.Entry(i), s.Value(i));
  }
  for (const LogImage& li : d.logs) {
    ++recovery_.logs_replayed;
    li.scan.ForEachRecord(li.file->data(), [&](const LogRecord& r) {
      ++recovery_.records_replayed;
      if (r.type == RecordType::kGlobal) global = std::max(global, r.value);
      const int home = record_home(r.type);
      if (home >= 0) load(home, r.fp, r.value);
    });
  }
  line.Flush();
  global_ = global;
  // Tables sized for records that had all expired stay empty: they are dropped.
  for (std::unique_ptr<ValueMap>& m : jtis_) {
    if (m && m->size() == 0) m.reset();
    if (m) m->FinishLoad();
  }
  for (std::unique_ptr<ValueMap>& m : watermarks_) {
    if (m && m->size() == 0) m.reset();
    if (m) m->FinishLoad();
  }
  RecountWindowsLocked();
}

// 5. Writable: cut a torn tail, remove obsolete files, open (or start) the log.
bool Store::PrepareWritableLocked(DirImage* d, std::string* error) {
  const std::string& dir = options_.dir;
  if (!d->logs.empty() && d->logs.back().scan.torn_bytes > 0) {
    LogImage& li = d->logs.back();
    li.file.reset();  // unmapped before it is cut
    if (!env_.Truncate(li.path, li.scan.valid_end, error)) return false;
  }
  for (uint64_t n : d->obsolete) {
    if (!env_.Remove(revoke::JoinPath(dir, revoke::LogFileName(n)), error)) return false;
  }
  for (const std::string& n : d->names) {
    uint64_t number = 0;
    bool is_log = false;
    const bool stale_snapshot =
        revoke::ParseFileName(n, &number, &is_log) && !is_log && number < d->snapshot;
    const bool tmp = n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0;
    if (stale_snapshot || tmp) {
      if (!env_.Remove(revoke::JoinPath(dir, n), error)) return false;
    }
  }
  if (!d->logs.empty() && d->logs.back().scan.valid_end >= revoke::kRecordBytes) {
    if (!env_.OpenAppendable(d->logs.back().path, /*create=*/false, &log_, error)) return false;
    log_number_ = d->logs.back().number;
    log_bytes_ = log_->size();
  } else {
    // No log after the snapshot, or the last one died before its header was durable.
    uint64_t number = std::max<uint64_t>(d->snapshot, d->logs.empty() ? 0 : d->logs.back().number);
    if (!d->logs.empty() && d->logs.back().scan.valid_end < revoke::kRecordBytes) {
      if (!env_.Remove(d->logs.back().path, error)) return false;
      number = d->logs.back().number - 1;
    }
    if (!StartLogLocked(number + 1, error)) return false;
  }
  return env_.SyncDir(dir, error);
}

bool ReadState(FileEnv& env, const std::string& dir, bool create, uint32_t shift,
               revoke::StateFile* state, std::string* error) {
  const std::string path = revoke::JoinPath(dir, revoke::kStateFileName);
  if (env.Exists(path)) {
    std::unique_ptr<FileImage> f;
    if (!env.ReadFile(path, &f, error)) return false;
    std::string why;
    if (!revoke::DecodeState(f->data(), f->size(), state, &why)) {
      *error = path + ": " + why;
      return false;
    }
    return true;
  }
  if (!create) {
    *error = path + ": missing (not a revocation state directory)";
    return false;
  }
  std::vector<std::string> names;
  if (!env.ListDir(dir, &names, error)) return false;
  for (const std::string& n : names) {
    uint64_t number;
    bool is_log;
    if (revoke::ParseFileName(n, &number, &is_log)) {
      *error = path + ": missing, but " + revoke::JoinPath(dir, n) +
               " exists; refusing to start a new state over old revocations";
      return false;
    }
  }
  if (sodium_init() < 0) {
    *error = "libsodium initialization failed";
    return false;
  }
  state->generation_shift = shift;
  randombytes_buf(state->secret.fast.data(), sizeof(state->secret.fast));
  randombytes_buf(state->secret.sip.data(), state->secret.sip.size());
  for (uint64_t& w : state->secret.fast) w |= 1;  // odd multipliers
  uint8_t buf[revoke::kStateBytes];
  revoke::EncodeState(*state, buf);
  return revoke::WriteFileDurably(env, dir, revoke::kStateFileName, buf, sizeof(buf), error);
}

Result<std::unique_ptr<RevocationStore>> OpenStore(const RevocationOptions& options,
                                                   std::string* error) {
  if (options.dir.empty()) {
    *error = "no state directory given";
    return Status::kInternalError;
  }
  if (options.leeway_s < 0 || options.watermark_retention_s < 0) {
    *error = "leeway_s and watermark_retention_s must be >= 0";
    return Status::kInternalError;
  }
  if (options.generation_shift < 1 || options.generation_shift > 40) {
    *error = "generation_shift must be in [1, 40]";
    return Status::kInternalError;
  }
  if (options.bits_per_key <= 0 && !(options.target_fpr > 0 && options.target_fpr < 1)) {
    *error = "target_fpr must be in (0, 1) (or set bits_per_key)";
    return Status::kInternalError;
  }
  const double bpk = options.bits_per_key > 0
                         ? options.bits_per_key
                         : BlockedBloomFilter::BitsPerKeyForFpr(options.target_fpr);
  const int64_t now = options.now != 0 ? options.now : static_cast<int64_t>(std::time(nullptr));

  FileEnv& env = options.env != nullptr ? *options.env : *DefaultFileEnv();
  if (!env.EnsureDir(options.dir, options.create_if_missing && !options.read_only, error)) {
    return Status::kInternalError;
  }

  std::unique_ptr<FileLock> lock;
  if (!options.read_only &&
      !env.LockFile(revoke::JoinPath(options.dir, revoke::kLockFileName), &lock, error)) {
    return Status::kInternalError;
  }
  revoke::StateFile state;
  if (!ReadState(env, options.dir, options.create_if_missing && !options.read_only,
                 options.generation_shift, &state, error)) {
    return Status::kInternalError;
  }
  // A read-only reader races with the owner's compactions, which replace files; a failed
  // attempt is retried from the directory listing.
  for (int attempt = 0;; ++attempt) {
    auto store = std::make_unique<Store>(options, env, state, bpk, now);
    try {
      if (store->Recover(options.read_only ? nullptr : std::move(lock), error)) {
        return std::unique_ptr<RevocationStore>(std::move(store));
      }
    } catch (const std::bad_alloc&) {
      *error = "out of memory while loading the revocation state";
      return Status::kInternalError;
    }
    if (!options.read_only || attempt == 2) return Status::kInternalError;
  }
}

}  // namespace

Result<std::unique_ptr<RevocationStore>> RevocationStore::Open(const RevocationOptions& options,
                                                               std::string* error) {
  std::string local;
  return OpenStore(options, error != nullptr ? error : &local);
}

}  // namespace jwtgate
