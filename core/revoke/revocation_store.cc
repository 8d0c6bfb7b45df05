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
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "jwtgate/revocation.h"
#include "revoke/crc32c.h"
#include "revoke/epoch.h"
#include "revoke/file_io.h"
#include "revoke/filtered_table.h"
#include "revoke/hash.h"
#include "revoke/log_format.h"
#include "revoke/log_scan.h"
#include "revoke/thread_annotations.h"

namespace jwtgate {
namespace {

using revoke::BlockedBloomFilter;
using revoke::DecodeResult;
using revoke::EpochDomain;
using revoke::Fingerprint;
using revoke::FingerprintMap;
using revoke::FingerprintSet;
using revoke::JtiSet;
using revoke::KeyKind;
using revoke::LogRecord;
using revoke::RecordType;
using revoke::Retired;
using revoke::ValueMap;

constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();
constexpr uint64_t kMaxWindow = uint64_t{1} << 20;

// The generation of an exp: floor(exp / 2^shift) (arithmetic shift floors negatives too).
int64_t BucketOf(int64_t t, uint32_t shift) noexcept { return t >> shift; }

int64_t SaturatingSub(int64_t a, int64_t b) noexcept {
  int64_t r;
  return __builtin_sub_overflow(a, b, &r) ? kNoWatermark : r;
}

// What readers see: immutable once published, except that the tables and filters it points
// to gain entries and bits in place. Replaced (copy on write) whenever a generation, set or
// map appears, disappears or is rebuilt.
struct View {
  int64_t base = 0;   // bucket of gens[0]
  uint64_t span = 0;  // gens has span entries
  uint32_t shift = 0;
  // One entry per generation in [base, base + span): its filter's lines (no load from the
  // filter object on the probe path) and its table; empty lines: no revocation there.
  struct Gen {
    BlockedBloomFilter::Lines filter;
    const FingerprintSet* table = nullptr;
  };
  std::unique_ptr<Gen[]> gens;
  ValueMap::Ref long_lived;  // jtis with bucket >= base + span (value: exp)
  BlockedBloomFilter::Lines long_lived_filter;
  ValueMap::Ref issuers;
  ValueMap::Ref subjects;
  ValueMap::Ref issuer_subjects;
  int64_t global = kNoWatermark;
  bool any_watermark = false;
};

// Where a jti of a token with a given exp would be.
struct JtiProbe {
  BlockedBloomFilter::Lines filter;  // empty: nowhere, not revoked
  const FingerprintSet* set = nullptr;
  const FingerprintMap* map = nullptr;

  bool Contains(const Fingerprint& f) const noexcept {
    return set != nullptr ? set->Contains(f) : map->Contains(f);
  }
  void Prefetch(uint64_t hi) const noexcept {
    if (set != nullptr) {
      set->Prefetch(hi);
    } else {
      map->Prefetch(hi);
    }
  }
};

JtiProbe ProbeFor(const View& v, int64_t exp) noexcept {
  const int64_t b = BucketOf(exp, v.shift);
  if (b < v.base) return {};  // its window has passed (the token has expired)
  const uint64_t d = static_cast<uint64_t>(b) - static_cast<uint64_t>(v.base);
  if (d < v.span) {
    const View::Gen& g = v.gens[d];
    return {g.filter, g.table, nullptr};
  }
  return {v.long_lived_filter, nullptr, v.long_lived.table};
}

class Store final : public RevocationStore {
 public:
  Store(const RevocationOptions& options, const revoke::StateFile& state, double bits_per_key,
        int64_t now)
      : options_(options),
        shift_(state.generation_shift),
        window_(std::min<uint64_t>(std::max<uint32_t>(options.generation_window, 1), kMaxWindow)),
        hasher_(state.secret),
        bits_per_key_(bits_per_key),
        epoch_(EpochDomain::Global()),
        base_(BucketOf(SaturatingSub(now, options.leeway_s), state.generation_shift)),
        span_(window_) {}

  ~Store() override {
    std::thread committer;
    {
      revoke::MutexLock l(&mu_);
      stopping_ = true;
      commit_cv_.notify_all();
      committer = std::move(committer_);
    }
    // The commit thread drains what was accepted (writes it, calls every `done`), then ends.
    if (committer.joinable()) committer.join();
    revoke::MutexLock l(&mu_);
    while (leader_active_) mu_.Wait(cv_);
    delete view_.load(std::memory_order_relaxed);
  }

  // Loads the state; keeps `lock` (the writer lock, null when read-only) for its lifetime.
  bool Recover(std::unique_ptr<revoke::DirLock> lock, std::string* error);

  bool IsRevoked(const Claims& claims) const noexcept override;
  void IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept override;

  Status RevokeJti(std::string_view jti, int64_t exp) override {
    const Revocation r = Revocation::Jti(jti, exp);
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
    revoke::MutexLock l(&mu_);
    return last_error_;
  }

 private:
  bool WatermarkRevoked(const View& v, const Claims& c) const noexcept;
  bool Confirm(const JtiProbe& p, uint64_t lo, const Claims& c, int64_t exp) const noexcept {
    return p.Contains({lo, hasher_.Hi(KeyKind::kJti, static_cast<uint64_t>(exp), c.jti)});
  }
  static bool FindWatermark(const ValueMap::Ref& r, const Fingerprint& f, int64_t* w) noexcept {
    return r.table->Find(f, w);
  }
  LogRecord ToRecord(const Revocation& r) const noexcept;

  // bucket - base_. REQUIRES: base_ <= bucket < base_ + span_.
  uint64_t Offset(int64_t bucket) const JWTGATE_REQUIRES(mu_) {
    return static_cast<uint64_t>(bucket) - static_cast<uint64_t>(base_);
  }

  // Writer side. REQUIRES(mu_) throughout.
  bool ApplyLocked(const LogRecord& r, Retired* retired, bool* keep) JWTGATE_REQUIRES(mu_);
  bool InsertJtiLocked(const Fingerprint& f, int64_t exp, Retired* retired) JWTGATE_REQUIRES(mu_);
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
  void RefreshSpanLocked() JWTGATE_REQUIRES(mu_);
  bool WriteSnapshotLocked(uint64_t number, std::string* error) JWTGATE_REQUIRES(mu_);
  bool StartLogLocked(uint64_t number, std::string* error) JWTGATE_REQUIRES(mu_);
  std::unique_ptr<ValueMap>& MapFor(RecordType t) JWTGATE_REQUIRES(mu_);

  const RevocationOptions options_;
  const uint32_t shift_;
  const uint64_t window_;
  const revoke::KeyHasher hasher_;
  const double bits_per_key_;
  EpochDomain& epoch_;
  // The published View. Readers load it with acquire inside an epoch Guard; the writer
  // stores a new one with release and frees the old one after a grace period.
  std::atomic<const View*> view_{nullptr};

  mutable revoke::Mutex mu_;
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
  int64_t base_ JWTGATE_GUARDED_BY(mu_);
  uint64_t span_ JWTGATE_GUARDED_BY(mu_);
  std::map<int64_t, std::unique_ptr<JtiSet>> gens_ JWTGATE_GUARDED_BY(mu_);
  std::unique_ptr<ValueMap> long_lived_ JWTGATE_GUARDED_BY(mu_);
  std::unique_ptr<ValueMap> issuers_ JWTGATE_GUARDED_BY(mu_);
  std::unique_ptr<ValueMap> subjects_ JWTGATE_GUARDED_BY(mu_);
  std::unique_ptr<ValueMap> issuer_subjects_ JWTGATE_GUARDED_BY(mu_);
  int64_t global_ JWTGATE_GUARDED_BY(mu_) = kNoWatermark;

  // The active log. Written by the group-commit leader with mu_ released; leader_active_
  // keeps everyone else (Compact included) away from it meanwhile.
  revoke::AppendFile log_;
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
  std::unique_ptr<revoke::DirLock> lock_;  // null when read-only
};

// ---------------------------------------------------------------------------------------------
// Read side.

bool Store::WatermarkRevoked(const View& v, const Claims& c) const noexcept {
  int64_t eff = v.global;
  bool applies = v.global != kNoWatermark;
  int64_t w;
  if (v.issuers.filter != nullptr && !c.iss.empty()) {
    const uint64_t lo = hasher_.Lo(KeyKind::kIssuer, 0, c.iss);
    if (v.issuers.filter->MayContain(lo) &&
        FindWatermark(v.issuers, {lo, hasher_.Hi(KeyKind::kIssuer, 0, c.iss)}, &w)) {
      eff = std::max(eff, w);
      applies = true;
    }
  }
  if (v.subjects.filter != nullptr && !c.sub.empty()) {
    const uint64_t lo = hasher_.Lo(KeyKind::kSubject, 0, c.sub);
    if (v.subjects.filter->MayContain(lo) &&
        FindWatermark(v.subjects, {lo, hasher_.Hi(KeyKind::kSubject, 0, c.sub)}, &w)) {
      eff = std::max(eff, w);
      applies = true;
    }
  }
  if (v.issuer_subjects.filter != nullptr && !c.sub.empty() && !c.iss.empty()) {
    const uint64_t n = c.iss.size();
    const uint64_t lo = hasher_.Lo(KeyKind::kIssuerSubject, n, c.iss, c.sub);
    if (v.issuer_subjects.filter->MayContain(lo) &&
        FindWatermark(v.issuer_subjects, {lo, hasher_.Hi(KeyKind::kIssuerSubject, n, c.iss, c.sub)},
                      &w)) {
      eff = std::max(eff, w);
      applies = true;
    }
  }
  if (!applies) return false;
  // Fail closed: without iat the token cannot show it was issued after the watermark.
  if (!c.has_iat) return true;
  return c.iat <= eff;
}

bool Store::IsRevoked(const Claims& c) const noexcept {
  // The Guard costs two thread-local stores and no fence (revoke/epoch.h: the writer's
  // membarrier supplies the store-load ordering).
  EpochDomain::Guard guard(epoch_);
  // acquire: pairs with the release store in PublishLocked; everything the View points to
  // was built before it was published.
  const View* v = view_.load(std::memory_order_acquire);
  if (v->any_watermark && WatermarkRevoked(*v, c)) return true;
  if (c.jti.empty()) return false;
  const int64_t exp = c.has_exp ? c.exp : kNoExp;
  const JtiProbe p = ProbeFor(*v, exp);
  if (p.filter.empty()) return false;
  const uint64_t lo = hasher_.Lo(KeyKind::kJti, static_cast<uint64_t>(exp), c.jti);
  if (!p.filter.MayContain(lo)) return false;
  return Confirm(p, lo, c, exp);
}

void Store::IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept {
  EpochDomain::Guard guard(epoch_);
  const View* v = view_.load(std::memory_order_acquire);
  // Read once: `revoked` is a bool array, which the compiler must assume may alias the View.
  const bool watermarks = v->any_watermark;
  // Chunks of kChunk tokens, double-buffered: while the filter lines of chunk k are tested,
  // chunk k + 1 has been hashed and its lines requested, so that 32 to 64 cache misses are in
  // flight; each pass is a short, branch-light loop.
  constexpr size_t kChunk = 32;
  struct Located {
    const uint64_t* block;  // the token's filter line; null: nothing to test
    uint64_t lo;
  };
  Located located[2][kChunk];
  auto locate = [&](size_t begin, size_t end, Located* out) {
    for (size_t i = begin; i < end; ++i) {
      const Claims& c = claims[i];
      Located& e = out[i - begin];
      e.block = nullptr;
      revoked[i] = watermarks && WatermarkRevoked(*v, c);
      if (revoked[i] || c.jti.empty()) continue;
      const int64_t exp = c.has_exp ? c.exp : kNoExp;
      const JtiProbe p = ProbeFor(*v, exp);
      if (p.filter.empty()) continue;
      e.lo = hasher_.Lo(KeyKind::kJti, static_cast<uint64_t>(exp), c.jti);
      e.block = p.filter.Block(e.lo);
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
    JtiProbe probe;
    Fingerprint f;
  };
  Queued queue[kConfirmDepth];
  size_t queued = 0;
  auto confirm_queued = [&] {
    for (size_t k = 0; k < queued; ++k) revoked[queue[k].i] = queue[k].probe.Contains(queue[k].f);
    queued = 0;
  };
  locate(0, std::min(n, kChunk), located[0]);
  for (size_t begin = 0, k = 0; begin < n; begin += kChunk, k ^= 1) {
    const size_t end = std::min(n, begin + kChunk);
    if (end < n) locate(end, std::min(n, end + kChunk), located[k ^ 1]);
    for (size_t i = begin; i < end; ++i) {
      const Located& e = located[k][i - begin];
      if (e.block == nullptr || !BlockedBloomFilter::Lines::TestBlock(e.block, e.lo)) continue;
      const Claims& c = claims[i];
      const int64_t exp = c.has_exp ? c.exp : kNoExp;
      const JtiProbe p = ProbeFor(*v, exp);
      const Fingerprint f{e.lo, hasher_.Hi(KeyKind::kJti, static_cast<uint64_t>(exp), c.jti)};
      p.Prefetch(f.hi);
      queue[queued++] = {i, p, f};
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
      return {RecordType::kJti, r.value, hasher_.Jti(r.id, r.value)};
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
      return issuers_;
    case RecordType::kSubject:
      return subjects_;
    default:
      return issuer_subjects_;
  }
}

bool Store::InsertJtiLocked(const Fingerprint& f, int64_t exp, Retired* retired) {
  const int64_t b = BucketOf(exp, shift_);
  const uint64_t d = static_cast<uint64_t>(b) - static_cast<uint64_t>(base_);
  bool changed = false;
  bool added = false;
  if (d < span_) {
    std::unique_ptr<JtiSet>& g = gens_[b];
    if (!g) {
      g = std::make_unique<JtiSet>(options_.initial_generation_capacity, bits_per_key_);
      changed = true;
    }
    changed |= g->Insert(f, 0, &added, retired);
  } else {
    if (!long_lived_) {
      long_lived_ = std::make_unique<ValueMap>(64, bits_per_key_);
      changed = true;
    }
    changed |= long_lived_->Insert(f, exp, &added, retired);
  }
  return changed;
}

bool Store::ApplyLocked(const LogRecord& r, Retired* retired, bool* keep) {
  *keep = true;
  switch (r.type) {
    case RecordType::kJti:
      if (BucketOf(r.value, shift_) < base_) {
        *keep = false;  // its window has passed: nothing to keep, nothing to log
        return false;
      }
      return InsertJtiLocked(r.fp, r.value, retired);
    case RecordType::kSubject:
    case RecordType::kIssuerSubject:
    case RecordType::kIssuer: {
      std::unique_ptr<ValueMap>& m = MapFor(r.type);
      bool changed = false;
      if (!m) {
        m = std::make_unique<ValueMap>(64, bits_per_key_);
        changed = true;
      }
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
  v->base = base_;
  v->span = span_;
  v->shift = shift_;
  v->gens = std::make_unique<View::Gen[]>(span_);
  for (const auto& [bucket, set] : gens_) {
    const uint64_t d = static_cast<uint64_t>(bucket) - static_cast<uint64_t>(base_);
    const JtiSet::Ref r = set->ref();
    if (d < span_ && r.filter != nullptr) v->gens[d] = {r.filter->lines(), r.table};
  }
  if (long_lived_) v->long_lived = long_lived_->ref();
  if (v->long_lived.filter != nullptr) v->long_lived_filter = v->long_lived.filter->lines();
  if (issuers_) v->issuers = issuers_->ref();
  if (subjects_) v->subjects = subjects_->ref();
  if (issuer_subjects_) v->issuer_subjects = issuer_subjects_->ref();
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
  if (!log_.Append(pending_.data(), pending_.size(), error)) return false;
  if (options_.sync && !log_.Sync(error)) return false;
  records_written_ += pending_.size() / revoke::kRecordBytes;
  ++syncs_;
  log_bytes_ = log_.size();
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
    bool ok = log_.Append(batch.data(), batch.size(), &error);
    if (ok && options_.sync) ok = log_.Sync(&error);
    const auto write_time = std::chrono::steady_clock::now() - write_start;
    mu_.Lock();
    last_write_time_ = write_time;
    leader_active_ = false;
    if (ok) {
      durable_ticket_ = upto;
      records_written_ += batch.size() / revoke::kRecordBytes;
      ++syncs_;
      log_bytes_ = log_.size();  // the leader was the only writer of log_
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

  revoke::MutexLock l(&mu_);
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

  revoke::MutexLock l(&mu_);
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
  revoke::MutexLock l(&mu_);
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

void Store::RefreshSpanLocked() {
  uint64_t span = window_;
  if (!gens_.empty()) {
    const int64_t last = gens_.rbegin()->first;
    if (last >= base_) {
      span =
          std::max<uint64_t>(span, static_cast<uint64_t>(last) - static_cast<uint64_t>(base_) + 1);
    }
  }
  span_ = span;
}

size_t Store::DropExpired(int64_t now) {
  revoke::MutexLock l(&mu_);
  Retired retired;
  bool changed = false;
  size_t dropped = 0;
  const int64_t base = BucketOf(SaturatingSub(now, options_.leeway_s), shift_);
  if (base > base_) {
    base_ = base;
    while (!gens_.empty() && gens_.begin()->first < base_) {
      dropped += gens_.begin()->second->size();
      retired.push_back(std::shared_ptr<JtiSet>(std::move(gens_.begin()->second)));
      gens_.erase(gens_.begin());
    }
    RefreshSpanLocked();
    changed = true;
    // Long-lived revocations whose exp came into the window move to their generation; those
    // whose window passed are dropped.
    if (long_lived_) {
      std::vector<std::pair<Fingerprint, int64_t>> keep;
      std::vector<std::pair<Fingerprint, int64_t>> move;
      long_lived_->ForEach([&](const Fingerprint& f, int64_t exp) {
        const int64_t b = BucketOf(exp, shift_);
        if (b < base_) {
          ++dropped;
        } else if (static_cast<uint64_t>(b) - static_cast<uint64_t>(base_) < span_) {
          move.emplace_back(f, exp);
        } else {
          keep.emplace_back(f, exp);
        }
      });
      if (keep.size() != long_lived_->size()) {
        // Into the generations first, so the entries are never missing from both places for
        // a reader of the new View.
        for (const auto& [f, exp] : move) InsertJtiLocked(f, exp, &retired);
        std::unique_ptr<ValueMap> rebuilt;
        if (!keep.empty()) {
          rebuilt = ValueMap::ForLoad(keep.size(), bits_per_key_);
          for (const auto& [f, exp] : keep) rebuilt->LoadInsert(f, exp);
          rebuilt->FinishLoad();
        }
        retired.push_back(std::shared_ptr<ValueMap>(std::move(long_lived_)));
        long_lived_ = std::move(rebuilt);
      }
    }
  }
  if (options_.watermark_retention_s > 0) {
    const int64_t oldest = SaturatingSub(now, options_.watermark_retention_s);
    for (std::unique_ptr<ValueMap>* m : {&issuers_, &subjects_, &issuer_subjects_}) {
      if (!*m) continue;
      std::vector<std::pair<Fingerprint, int64_t>> keep;
      (*m)->ForEach([&](const Fingerprint& f, int64_t w) {
        if (w >= oldest) keep.emplace_back(f, w);
      });
      if (keep.size() == (*m)->size()) continue;
      std::unique_ptr<ValueMap> rebuilt;
      if (!keep.empty()) {
        rebuilt = ValueMap::ForLoad(keep.size(), bits_per_key_);
        for (const auto& [f, w] : keep) rebuilt->LoadInsert(f, w);
        rebuilt->FinishLoad();
      }
      retired.push_back(std::shared_ptr<ValueMap>(std::move(*m)));
      *m = std::move(rebuilt);
      changed = true;
    }
    if (global_ != kNoWatermark && global_ < oldest) {
      global_ = kNoWatermark;
      changed = true;
    }
  }
  if (changed) PublishLocked(&retired);
  return dropped;
}

bool Store::StartLogLocked(uint64_t number, std::string* error) {
  const std::string path = revoke::JoinPath(options_.dir, revoke::LogFileName(number));
  revoke::AppendFile f;
  if (!f.Open(path, /*create=*/true, error)) return false;
  uint8_t header[revoke::kRecordBytes];
  revoke::EncodeRecord(revoke::LogHeaderRecord(number), header);
  if (!f.Append(header, sizeof(header), error) || !f.Sync(error) ||
      !revoke::SyncDir(options_.dir, error)) {
    return false;
  }
  f.Close();
  log_.Close();
  if (!log_.Open(path, /*create=*/false, error)) return false;
  log_number_ = number;
  log_bytes_ = log_.size();
  return true;
}

bool Store::WriteSnapshotLocked(uint64_t number, std::string* error) {
  const std::string name = revoke::SnapshotFileName(number);
  const std::string tmp = revoke::JoinPath(options_.dir, name + ".tmp");
  revoke::SnapshotWriter w;
  if (!w.Create(tmp, error)) return false;
  uint8_t header[revoke::kSnapshotHeaderBytes] = {};
  if (!w.Write(header, sizeof(header), error)) return false;  // patched at the end
  uint32_t sections = 0;
  // One section: header placeholder, entries (hi, lo[, value]) with a running CRC, patch.
  auto write_section = [&](revoke::SectionType type, int64_t bucket, auto& table) -> bool {
    constexpr bool kWithValue = std::remove_reference_t<decltype(table)>::Table::kSlotWords == 3;
    revoke::SectionHeader h;
    h.type = type;
    h.entry_bytes = kWithValue ? 24 : 16;
    h.bucket = bucket;
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
  for (const auto& [bucket, set] : gens_) {
    if (!write_section(revoke::SectionType::kGeneration, bucket, *set)) return false;
  }
  if (long_lived_ && !write_section(revoke::SectionType::kLongLived, 0, *long_lived_)) {
    return false;
  }
  if (issuers_ && !write_section(revoke::SectionType::kIssuer, 0, *issuers_)) return false;
  if (subjects_ && !write_section(revoke::SectionType::kSubject, 0, *subjects_)) return false;
  if (issuer_subjects_ &&
      !write_section(revoke::SectionType::kIssuerSubject, 0, *issuer_subjects_)) {
    return false;
  }
  uint8_t trailer[revoke::kSnapshotTrailerBytes];
  revoke::EncodeSnapshotTrailer(sections, trailer);
  if (!w.Write(trailer, sizeof(trailer), error)) return false;
  revoke::SnapshotHeader sh;
  sh.generation_shift = shift_;
  sh.log_number = number;
  sh.global_watermark = global_;
  sh.section_count = sections;
  sh.base_bucket = base_;
  revoke::EncodeSnapshotHeader(sh, header);
  if (!w.PatchAt(0, header, sizeof(header), error) || !w.Finish(error)) return false;
  if (!revoke::RenameFile(tmp, revoke::JoinPath(options_.dir, name), error)) return false;
  return revoke::SyncDir(options_.dir, error);
}

Status Store::Compact() {
  revoke::MutexLock l(&mu_);
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
  for (auto& [bucket, set] : gens_) changed |= set->Refit(&retired);
  for (std::unique_ptr<ValueMap>* m : {&long_lived_, &issuers_, &subjects_, &issuer_subjects_}) {
    if (*m) changed |= (*m)->Refit(&retired);
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
  if (!revoke::ListDir(options_.dir, &names, &error)) {
    last_error_ = std::move(error);
    return Status::kOk;  // the compaction itself is durable; stale files are removed later
  }
  for (const std::string& n : names) {
    uint64_t number = 0;
    bool is_log = false;
    if (!revoke::ParseFileName(n, &number, &is_log)) continue;
    if ((is_log && number <= covered) || (!is_log && number < covered)) {
      (void)revoke::RemoveFile(revoke::JoinPath(options_.dir, n), &error);
    }
  }
  (void)revoke::SyncDir(options_.dir, &error);
  return Status::kOk;
}

RevocationStats Store::Stats() const {
  revoke::MutexLock l(&mu_);
  RevocationStats s;
  double filter_bits = 0;
  double set_bits = 0;
  double fpr_weighted = 0;
  auto add_jti = [&](const auto& t) {
    s.jti_revocations += t.size();
    s.filter_bytes += t.filter_bytes();
    s.exact_bytes += t.table_bytes();
    if (t.filter() != nullptr) {
      const double bits = static_cast<double>(t.filter()->bytes()) * 8;
      filter_bits += bits;
      set_bits += bits * t.filter()->FillRatio();
      if (t.size() > 0) {
        fpr_weighted += static_cast<double>(t.size()) *
                        BlockedBloomFilter::ModelFpr(bits / static_cast<double>(t.size()));
      }
    }
  };
  for (const auto& [bucket, set] : gens_) {
    add_jti(*set);
    ++s.generations;
  }
  if (long_lived_) {
    add_jti(*long_lived_);
    s.long_lived_revocations = long_lived_->size();
  }
  for (const std::unique_ptr<ValueMap>* m : {&issuers_, &subjects_, &issuer_subjects_}) {
    if (!*m) continue;
    s.watermark_bytes += (*m)->filter_bytes() + (*m)->table_bytes();
  }
  s.issuer_watermarks = issuers_ ? issuers_->size() : 0;
  s.subject_watermarks =
      (subjects_ ? subjects_->size() : 0) + (issuer_subjects_ ? issuer_subjects_->size() : 0);
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

bool Store::Recover(std::unique_ptr<revoke::DirLock> lock, std::string* error) {
  lock_ = std::move(lock);
  const auto started = std::chrono::steady_clock::now();
  revoke::MutexLock l(&mu_);
  const std::string& dir = options_.dir;
  std::vector<std::string> names;
  if (!revoke::ListDir(dir, &names, error)) return false;
  uint64_t snapshot = 0;
  std::vector<uint64_t> logs;
  for (const std::string& n : names) {
    uint64_t number = 0;
    bool is_log = false;
    if (!revoke::ParseFileName(n, &number, &is_log)) continue;
    if (is_log) {
      logs.push_back(number);
    } else {
      snapshot = std::max(snapshot, number);
    }
  }
  std::sort(logs.begin(), logs.end());
  // Logs up to the snapshot are obsolete (a compaction was interrupted before removing them).
  std::vector<uint64_t> obsolete;
  while (!logs.empty() && logs.front() <= snapshot) {
    obsolete.push_back(logs.front());
    logs.erase(logs.begin());
  }

  // 1. The snapshot: validated whole before anything is used.
  revoke::MappedFile snap;
  revoke::SnapshotImage image;
  if (snapshot != 0) {
    const std::string path = revoke::JoinPath(dir, revoke::SnapshotFileName(snapshot));
    if (!snap.Open(path, error)) return false;
    if (!revoke::ParseSnapshot(snap.data(), snap.size(), &image, error)) {
      *error = path + ": " + *error;
      return false;
    }
    if (image.header.generation_shift != shift_ || image.header.log_number != snapshot) {
      *error = path + ": does not belong to this state (generation shift or number differ)";
      return false;
    }
    // The window starts where `now` puts it, never where the snapshot says: a snapshot
    // written by a clock ahead of this one (or a damaged one with a valid checksum) would
    // otherwise move the start past `now`, and a revocation of a still-valid token whose exp
    // falls before it would be acknowledged as "already expired" and have no effect.
    // Generations of the snapshot at or after base_ are all loaded below.
    if (image.header.global_watermark > global_) global_ = image.header.global_watermark;
    recovery_.snapshot_number = snapshot;
  }

  // 2. The logs after it: mapped and classified (torn tail, corrupt records).
  struct LogImage {
    uint64_t number;
    std::string path;
    revoke::MappedFile file;
    revoke::LogScan scan;
  };
  std::vector<LogImage> images;
  for (size_t i = 0; i < logs.size(); ++i) {
    LogImage li;
    li.number = logs[i];
    li.path = revoke::JoinPath(dir, revoke::LogFileName(logs[i]));
    if (!li.file.Open(li.path, error)) return false;
    const bool last = i + 1 == logs.size();
    li.scan = revoke::ScanLog(li.file.data(), li.file.size(), li.number, last);
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
    images.push_back(std::move(li));
  }

  // 3. Size every set from the counts, then load snapshot entries and log records (all
  // operations are set inserts and maxima, so order does not matter).
  for (const revoke::SnapshotSection& s : image.sections) {
    if (s.header.type != revoke::SectionType::kGeneration || s.header.bucket < base_) continue;
    // The store only creates generations inside its window, and the window only grows on
    // recovery by as much as this clock is behind the snapshot's. Far beyond that (the
    // per-bucket tables below are sized by the distance) the section cannot be the store's.
    if (static_cast<uint64_t>(s.header.bucket) - static_cast<uint64_t>(base_) >= kMaxWindow) {
      *error = revoke::JoinPath(dir, revoke::SnapshotFileName(snapshot)) +
               ": generation section for bucket " + std::to_string(s.header.bucket) +
               " lies beyond the revocation window (first bucket " + std::to_string(base_) + ")";
      return false;
    }
    gens_.try_emplace(s.header.bucket);
  }
  RefreshSpanLocked();
  // Indexed by bucket - base_ (< span_): no map lookup per record.
  std::vector<size_t> gen_counts(span_, 0);
  size_t long_count = 0;
  size_t map_counts[3] = {0, 0, 0};
  auto jti_home = [&](int64_t exp, int64_t* bucket) -> int {  // 0 expired, 1 gen, 2 long-lived
    *bucket = BucketOf(exp, shift_);
    if (*bucket < base_) return 0;
    return static_cast<uint64_t>(*bucket) - static_cast<uint64_t>(base_) < span_ ? 1 : 2;
  };
  auto map_index = [](RecordType t) -> size_t {
    return t == RecordType::kIssuer ? 0 : t == RecordType::kSubject ? 1 : 2;
  };
  for (const revoke::SnapshotSection& s : image.sections) {
    switch (s.header.type) {
      case revoke::SectionType::kGeneration:
        if (s.header.bucket >= base_) gen_counts[Offset(s.header.bucket)] += s.header.count;
        break;
      case revoke::SectionType::kLongLived:
        for (uint64_t i = 0; i < s.header.count; ++i) {
          int64_t b;
          switch (jti_home(s.Value(i), &b)) {
            case 1:
              ++gen_counts[Offset(b)];
              break;
            case 2:
              ++long_count;
              break;
            default:
              break;
          }
        }
        break;
      case revoke::SectionType::kIssuer:
        map_counts[0] += s.header.count;
        break;
      case revoke::SectionType::kSubject:
        map_counts[1] += s.header.count;
        break;
      case revoke::SectionType::kIssuerSubject:
        map_counts[2] += s.header.count;
        break;
    }
  }
  for (LogImage& li : images) {
    li.scan.ForEachRecord(li.file.data(), [&](const LogRecord& r) {
      if (r.type == RecordType::kJti) {
        int64_t b;
        switch (jti_home(r.value, &b)) {
          case 1:
            ++gen_counts[Offset(b)];
            break;
          case 2:
            ++long_count;
            break;
          default:
            break;
        }
      } else if (r.type != RecordType::kGlobal) {
        ++map_counts[map_index(r.type)];
      }
    });
  }
  gens_.clear();
  std::vector<JtiSet*> gen_at(span_, nullptr);
  for (uint64_t d = 0; d < span_; ++d) {
    if (gen_counts[d] == 0) continue;
    auto& g = gens_[base_ + static_cast<int64_t>(d)];
    g = JtiSet::ForLoad(gen_counts[d], bits_per_key_);
    gen_at[d] = g.get();
  }
  if (long_count > 0) long_lived_ = ValueMap::ForLoad(long_count, bits_per_key_);
  std::unique_ptr<ValueMap>* maps[3] = {&issuers_, &subjects_, &issuer_subjects_};
  for (size_t i = 0; i < 3; ++i) {
    if (map_counts[i] > 0) *maps[i] = ValueMap::ForLoad(map_counts[i], bits_per_key_);
  }
  // Log records arrive in random table order: insert through a delay line that prefetches
  // each record's home slot 16 records ahead.
  struct PendingJti {
    JtiSet* gen;
    Fingerprint f;
    int64_t exp;
  };
  auto prefetch_jti = [&](const PendingJti& p) {
    if (p.gen != nullptr) {
      p.gen->table().Prefetch(p.f.hi);
    } else {
      long_lived_->table().Prefetch(p.f.hi);
    }
  };
  auto insert_jti = [&](const PendingJti& p) {
    if (p.gen != nullptr) {
      p.gen->LoadInsert(p.f, 0);
    } else {
      long_lived_->LoadInsert(p.f, p.exp);
    }
  };
  revoke::DelayLine<PendingJti, decltype(prefetch_jti), decltype(insert_jti)> jti_line(prefetch_jti,
                                                                                       insert_jti);
  auto load_jti = [&](const Fingerprint& f, int64_t exp) {
    int64_t b;
    switch (jti_home(exp, &b)) {
      case 1:
        jti_line.Push({gen_at[Offset(b)], f, exp});
        break;
      case 2:
        jti_line.Push({nullptr, f, exp});
        break;
      default:
        ++recovery_.records_expired;
        break;
    }
  };
  for (const revoke::SnapshotSection& s : image.sections) {
    recovery_.snapshot_entries += s.header.count;
    JtiSet* gen = nullptr;
    if (s.header.type == revoke::SectionType::kGeneration && s.header.bucket >= base_) {
      gen = gen_at[Offset(s.header.bucket)];
    }
    for (uint64_t i = 0; i < s.header.count; ++i) {
      const Fingerprint f = s.Entry(i);
      switch (s.header.type) {
        case revoke::SectionType::kGeneration:
          if (gen != nullptr) {
            gen->LoadInsert(f, 0);
          } else {
            ++recovery_.records_expired;
          }
          break;
        case revoke::SectionType::kLongLived:
          load_jti(f, s.Value(i));
          break;
        case revoke::SectionType::kIssuer:
          issuers_->LoadInsert(f, s.Value(i));
          break;
        case revoke::SectionType::kSubject:
          subjects_->LoadInsert(f, s.Value(i));
          break;
        case revoke::SectionType::kIssuerSubject:
          issuer_subjects_->LoadInsert(f, s.Value(i));
          break;
      }
    }
  }
  for (LogImage& li : images) {
    ++recovery_.logs_replayed;
    li.scan.ForEachRecord(li.file.data(), [&](const LogRecord& r) {
      ++recovery_.records_replayed;
      switch (r.type) {
        case RecordType::kJti:
          load_jti(r.fp, r.value);
          break;
        case RecordType::kGlobal:
          global_ = std::max(global_, r.value);
          break;
        case RecordType::kIssuer:
        case RecordType::kSubject:
        case RecordType::kIssuerSubject:
          (*maps[map_index(r.type)])->LoadInsert(r.fp, r.value);
          break;
        case RecordType::kLogHeader:
          break;
      }
    });
  }
  jti_line.Flush();
  for (auto& [bucket, set] : gens_) set->FinishLoad();
  if (long_lived_) long_lived_->FinishLoad();
  for (std::unique_ptr<ValueMap>* m : maps) {
    if (*m) (*m)->FinishLoad();
  }

  // 4. Writable: cut a torn tail, remove obsolete files, open (or start) the log.
  if (!options_.read_only) {
    if (!images.empty() && images.back().scan.torn_bytes > 0) {
      LogImage& li = images.back();
      li.file = revoke::MappedFile();
      if (!revoke::TruncateFile(li.path, li.scan.valid_end, error)) return false;
    }
    for (uint64_t n : obsolete) {
      if (!revoke::RemoveFile(revoke::JoinPath(dir, revoke::LogFileName(n)), error)) return false;
    }
    for (const std::string& n : names) {
      uint64_t number = 0;
      bool is_log = false;
      const bool stale_snapshot =
          revoke::ParseFileName(n, &number, &is_log) && !is_log && number < snapshot;
      const bool tmp = n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0;
      if (stale_snapshot || tmp) {
        if (!revoke::RemoveFile(revoke::JoinPath(dir, n), error)) return false;
      }
    }
    if (!images.empty() && images.back().scan.valid_end >= revoke::kRecordBytes) {
      if (!log_.Open(images.back().path, /*create=*/false, error)) return false;
      log_number_ = images.back().number;
      log_bytes_ = log_.size();
    } else {
      // No log after the snapshot, or the last one died before its header was durable.
      uint64_t number = std::max<uint64_t>(snapshot, logs.empty() ? 0 : logs.back());
      if (!images.empty() && images.back().scan.valid_end < revoke::kRecordBytes) {
        if (!revoke::RemoveFile(images.back().path, error)) return false;
        number = images.back().number - 1;
      }
      if (!StartLogLocked(number + 1, error)) return false;
    }
    if (!revoke::SyncDir(dir, error)) return false;
  } else if (!images.empty()) {
    log_number_ = images.back().number;
  }

  Retired retired;
  PublishLocked(&retired);
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return true;
}

bool ReadState(const std::string& dir, bool create, uint32_t shift, revoke::StateFile* state,
               std::string* error) {
  const std::string path = revoke::JoinPath(dir, revoke::kStateFileName);
  if (revoke::FileExists(path)) {
    revoke::MappedFile f;
    if (!f.Open(path, error)) return false;
    std::string why;
    if (!revoke::DecodeState(f.data(), f.size(), state, &why)) {
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
  if (!revoke::ListDir(dir, &names, error)) return false;
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
  return revoke::WriteFileDurably(dir, revoke::kStateFileName, buf, sizeof(buf), error);
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

  if (!revoke::EnsureDir(options.dir, options.create_if_missing && !options.read_only, error)) {
    return Status::kInternalError;
  }

  auto lock = std::make_unique<revoke::DirLock>();
  if (!options.read_only &&
      !lock->Acquire(revoke::JoinPath(options.dir, revoke::kLockFileName), error)) {
    return Status::kInternalError;
  }
  revoke::StateFile state;
  if (!ReadState(options.dir, options.create_if_missing && !options.read_only,
                 options.generation_shift, &state, error)) {
    return Status::kInternalError;
  }
  // A read-only reader races with the owner's compactions, which replace files; a failed
  // attempt is retried from the directory listing.
  for (int attempt = 0;; ++attempt) {
    auto store = std::make_unique<Store>(options, state, bpk, now);
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
