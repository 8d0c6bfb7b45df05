// RevocationStore: taking a JWT back before it expires, without a database round trip.
//
// The Verifier asks it, for every token whose signature and claims passed, "is this token
// revoked?" (RevocationCheck). The answer comes from memory in nanoseconds, and every
// revocation the store has acknowledged survives kill -9 and power loss.
//
// What a token is revoked by:
//   - its jti, revoked together with the token's exp (RevokeJti). The pair is the key: the
//     revocation is needed only until that exp (plus leeway), so it is kept exactly that long;
//   - a watermark: "tokens issued at or before T are invalid", for one subject (logout
//     everywhere, role change; all issuers or one), for one issuer, or for every token.
// A token is revoked when
//   (a) it has a jti, and (jti, exp) was revoked (a token without exp matches kNoExp), or
//   (b) it has iat, and iat <= the effective watermark, the maximum of every watermark that
//       applies to it: global, issuer(iss), subject(sub), subject(iss, sub), or
//   (c) it has no iat and any watermark applies to it (fail closed: its age is unknown).
// The jti key ignores iss: a revoked (jti, exp) is revoked for every issuer.
//
// How the check stays fast. Revocations are partitioned by exp into generations of
// 2^generation_shift seconds. Each generation has a cache-line blocked Bloom filter (one
// 64-byte line per key, about 16 bits per key for a 0.1 % false-positive rate) in front of an
// exact table of 128-bit keyed fingerprints. A check hashes the jti, probes the one filter line
// of the token's generation, and only on a "maybe" confirms against the exact table, so a
// false positive never rejects a valid token and a revoked token is always found. A generation
// is dropped whole once its exps are past (DropExpired), so memory follows the revocations
// that still matter. Readers take no lock and perform no atomic read-modify-write.
//
// Durability. A revocation is appended to a log (32-byte records with a CRC-32C each) and the
// log is fdatasync'ed before the call returns; concurrent callers share one fdatasync (group
// commit). RevokeAsync queues a revocation and reports it durable through a callback instead.
// Compact() writes a snapshot and retires the logs it covers. Open() loads the newest
// snapshot, replays the logs after it, truncates a torn tail (what a crash leaves after the
// last durable batch) and refuses a corrupt record anywhere else, saying where it is. The
// on-disk formats are described in core/revoke/log_format.h.
//
// Time. The store never reads the clock on its own: Open takes `now` (default: the system
// clock, for the CLI), DropExpired takes `now`. A jti revocation is kept while
// now < (the end of its exp's generation) + leeway_s.
// REQUIRES: leeway_s >= the Verifier's leeway, and the `now` given to Open and DropExpired is
// not ahead of the `now` the Verifier checks exp with; otherwise a revocation could be dropped
// while its token is still accepted.
//
// Thread safety. Every method may be called from any thread concurrently. IsRevoked and
// IsRevokedBatch never block, never fail, take no lock and perform no atomic
// read-modify-write; they allocate nothing beyond a thread's one-time registration with the
// reclamation scheme on its first call (revoke/epoch.h). Writers (Revoke*, DropExpired,
// Compact) are serialized internally and block each other, never readers. The store must
// outlive every call; destroying it while another thread is inside a method is undefined.
#ifndef JWTGATE_REVOCATION_H_
#define JWTGATE_REVOCATION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "jwtgate/claims.h"
#include "jwtgate/result.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate {

struct RevocationOptions {
  // The state directory. Created (with parents' existence required) when missing and
  // create_if_missing is set.
  std::string dir;
  bool create_if_missing = true;
  // Open without the writer lock and without modifying anything: for tools that only check
  // tokens (jwtgate verify --state) while a daemon owns the directory. Revoke*, Compact fail
  // with kInternalError. A torn tail is ignored, not truncated.
  bool read_only = false;
  // Seconds since the epoch. Recovery skips revocations that have expired by then, and the
  // generation window starts there. 0: read the system clock.
  int64_t now = 0;
  // Seconds a jti revocation is kept after its token's exp. REQUIRES: >= the Verifier's
  // leeway (ClaimsPolicy::leeway_s).
  int64_t leeway_s = 60;
  // Filter sizing: the false-positive rate each filter is sized for (bits per key follow from
  // the block-load model in revoke/bloom_filter.h: 15.7 for 0.1 %). bits_per_key > 0
  // overrides it.
  double target_fpr = 0.001;
  double bits_per_key = 0;
  // Width of a generation, 2^generation_shift seconds (default 4096 s, about 68 minutes).
  // Used when the state is created; an existing state keeps its own.
  uint32_t generation_shift = 12;
  // Generations indexed directly from the current one (default: about 12 days of exps).
  // Revocations with later exps (and tokens without exp) live in one long-lived set.
  uint32_t generation_window = 256;
  // Initial capacity of a new generation; it grows by 1.5x as needed and is fitted to its
  // content by recovery and Compact.
  size_t initial_generation_capacity = 1024;
  // Subject and issuer watermarks older than now - watermark_retention_s are dropped by
  // DropExpired; 0 keeps them forever. REQUIRES: >= the longest token lifetime plus leeway.
  int64_t watermark_retention_s = 0;
  // fdatasync before acknowledging. Turning it off loses durability; for tests and
  // benchmarks only.
  bool sync = true;
  // Group commit: with several concurrent writers, the one about to write and fdatasync a
  // batch first gathers others' records for up to this long (or until 4096 are pending), so
  // that more revocations share one fdatasync. A lone writer never waits. 0: never wait.
  int64_t group_commit_max_delay_us = 1000;
  // Recovery: skip (and count) corrupt log records instead of refusing to open. The skipped
  // revocations are lost; RevocationStats::recovery says how many.
  bool skip_corrupt_records = false;
};

// One revocation, for the batch form Revoke(std::span<const Revocation>).
struct Revocation {
  enum class Kind : uint8_t { kJti, kSubject, kIssuer, kAll };
  Kind kind = Kind::kJti;
  std::string_view id;   // jti, subject or issuer; empty for kAll
  std::string_view iss;  // kSubject only: restrict to this issuer; empty: every issuer
  // kJti: the token's exp (RevocationStore::kNoExp for a token without exp).
  // Others: the watermark; tokens issued at or before it are revoked.
  int64_t value = 0;

  static Revocation Jti(std::string_view jti, int64_t exp) { return {Kind::kJti, jti, {}, exp}; }
  static Revocation Subject(std::string_view sub, int64_t issued_at_or_before,
                            std::string_view iss = {}) {
    return {Kind::kSubject, sub, iss, issued_at_or_before};
  }
  static Revocation Issuer(std::string_view iss, int64_t issued_at_or_before) {
    return {Kind::kIssuer, iss, {}, issued_at_or_before};
  }
  static Revocation All(int64_t issued_at_or_before) {
    return {Kind::kAll, {}, {}, issued_at_or_before};
  }
};

struct RevocationStats {
  // Live content.
  uint64_t jti_revocations = 0;         // in generations and the long-lived set
  uint64_t long_lived_revocations = 0;  // of which beyond the generation window or without exp
  uint64_t generations = 0;             // generations holding revocations
  uint64_t subject_watermarks = 0;      // both scopes
  uint64_t issuer_watermarks = 0;
  bool has_global_watermark = false;
  int64_t global_watermark = 0;
  // Memory (bytes) and filter quality.
  uint64_t filter_bytes = 0;       // jti filters
  uint64_t exact_bytes = 0;        // jti fingerprint tables
  uint64_t watermark_bytes = 0;    // watermark filters and tables
  double filter_bits_per_key = 0;  // filter_bits / jti_revocations
  double filter_fill = 0;          // fraction of filter bits set (all jti filters)
  double expected_fpr = 0;         // model FPR at the current load, weighted by generation
  // Durability.
  uint64_t log_number = 0;       // the log being appended to
  uint64_t log_bytes = 0;        // its size
  uint64_t records_written = 0;  // since Open
  uint64_t syncs = 0;            // fdatasync calls since Open (records_written / syncs: batch)
  // What Open found.
  struct Recovery {
    uint64_t snapshot_number = 0;  // 0: none
    uint64_t snapshot_entries = 0;
    uint64_t logs_replayed = 0;
    uint64_t records_replayed = 0;
    uint64_t records_expired = 0;  // skipped: already past their window
    uint64_t torn_tail_bytes = 0;  // truncated from the last log
    uint64_t corrupt_records = 0;  // skipped (only with skip_corrupt_records)
    double seconds = 0;
  } recovery;
};

class RevocationStore : public RevocationCheck {
 public:
  // The exp that RevokeJti takes for a token without exp (such a revocation never ages).
  static constexpr int64_t kNoExp = std::numeric_limits<int64_t>::max();

  // Opens (or creates) the state in options.dir and recovers it. On failure returns a non-ok
  // status (kInternalError for I/O errors, a corrupt state, or a directory locked by another
  // store) and, when `error` is not null, a one-line human-readable reason.
  static Result<std::unique_ptr<RevocationStore>> Open(const RevocationOptions& options,
                                                       std::string* error = nullptr);

  ~RevocationStore() override = default;

  // RevocationCheck (see "Thread safety" above).
  [[nodiscard]] bool IsRevoked(const Claims& claims) const noexcept override = 0;
  // revoked[i] = IsRevoked(claims[i]) for i < n, hashing and prefetching a group of tokens
  // before probing (cheaper per token than single calls when the filters are larger than the
  // cache).
  void IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept override = 0;

  // Each of these returns kOk once the revocation is durable (fdatasync'ed, unless
  // options.sync is off) and in effect for every later IsRevoked. Revocations are idempotent;
  // a watermark only ever rises. On an I/O error the store stops accepting writes and returns
  // kInternalError from then on (last_error() says why); the revocation may be in effect in
  // memory without being durable. kJtiInvalid / kSubInvalid / kIssInvalid: empty id.
  // A jti revocation whose window has already passed (by the store's clock) is a no-op.
  [[nodiscard]] virtual Status RevokeJti(std::string_view jti, int64_t exp) = 0;
  [[nodiscard]] virtual Status RevokeSubject(std::string_view sub, int64_t issued_at_or_before,
                                             std::string_view iss = {}) = 0;
  [[nodiscard]] virtual Status RevokeIssuer(std::string_view iss, int64_t issued_at_or_before) = 0;
  [[nodiscard]] virtual Status RevokeAll(int64_t issued_at_or_before) = 0;
  // All of `batch` with one append and one fdatasync; validated before anything is written.
  [[nodiscard]] virtual Status Revoke(std::span<const Revocation> batch) = 0;

  // Called once with the outcome of a RevokeAsync: kOk once the batch is durable, or
  // kInternalError (see last_error()).
  using RevokeDone = std::function<void(Status)>;
  // Revoke(batch) without waiting: for callers that must not block (the daemon's event loop)
  // and for many revocations in flight at once. Validates, hashes and applies `batch` (in
  // effect for every IsRevoked that starts after this returns, as with Revoke) and queues its
  // records; the store's commit thread (started on the first call) writes everything queued
  // with one write(2) and one fdatasync(2), then calls `done(kOk)` for every batch that
  // fdatasync covered, in submission order. So N requests in flight share an fdatasync
  // without N blocked threads; measured rates: bench/revocation_bench.cc
  // (BM_DurableRevokeAsync).
  // Returns kOk when the batch was accepted: `done` is then called exactly once, on the commit
  // thread, never before the batch is durable (unless options.sync is off) and never from
  // inside RevokeAsync. Returns another status without calling `done` when the batch is
  // rejected as Revoke would (kJtiInvalid, kSubInvalid, kIssInvalid; kInternalError when the
  // store is read-only or has failed). `done` must not throw nor block for long (later
  // batches wait for it); it may call RevokeAsync. An empty `done` is allowed. The store's
  // destructor waits for every accepted batch to be written and its `done` called. `batch`
  // need not outlive the call.
  [[nodiscard]] virtual Status RevokeAsync(std::span<const Revocation> batch, RevokeDone done) = 0;

  // Drops the generations whose window ended by `now`, moves long-lived revocations whose
  // exp came into the window into their generation, and (with watermark_retention_s) drops
  // old subject and issuer watermarks. Frees their memory before returning. Returns the
  // number of jti revocations dropped. Memory only: the log still holds them until Compact.
  virtual size_t DropExpired(int64_t now) = 0;

  // Writes a snapshot of the live state, starts a new log and deletes the files the snapshot
  // covers; also refits every filter and table to its content. Blocks writers (not readers)
  // for its duration.
  [[nodiscard]] virtual Status Compact() = 0;

  virtual RevocationStats Stats() const = 0;
  // The reason of the last failure of a write, or empty.
  virtual std::string last_error() const = 0;
};

}  // namespace jwtgate

#endif  // JWTGATE_REVOCATION_H_
