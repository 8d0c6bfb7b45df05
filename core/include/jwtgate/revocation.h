// RevocationStore: taking a JWT back before it expires, without a database round trip.
//
// The Verifier asks it, for every token whose signature and claims passed, "is this token
// revoked?" (RevocationCheck). The answer comes from memory in nanoseconds, and every
// revocation the store has acknowledged survives kill -9 and power loss.
//
// What a token is revoked by:
//   - its jti within one issuer (RevokeJti(jti, iss, keep_until)): the pair (iss, jti) is the
//     key, as RFC 7519 makes a jti unique per issuer; an empty iss revokes the jti under every
//     issuer. The token's exp is not part of the key: an operator revoking a stolen token
//     rarely knows it. `keep_until` only says how long the entry must be kept: the token's exp
//     when it is known, else the latest exp a token that is valid now can have (now + the
//     longest lifetime the policy accepts + its leeway), or kNoExp for ever;
//   - a watermark: "tokens issued at or before T are invalid", for one subject (logout
//     everywhere, role change; all issuers or one), for one issuer, or for every token.
// A token is revoked when
//   (a) it has a jti, and (its iss, jti) or (any issuer, jti) was revoked, or
//   (b) it has iat, and iat <= the effective watermark, the maximum of every watermark that
//       applies to it: global, issuer(iss), subject(sub), subject(iss, sub), or
//   (c) it has no iat and any watermark applies to it (fail closed: its age is unknown).
// States written before jti revocations were keyed by issuer hold (jti, exp) entries; they
// are loaded as such, keep matching a token with that jti and exp under every issuer until
// that exp has passed, and are never written again (see "Formats" in core/revoke/log_format.h).
//
// How the check stays fast. The jti revocations live in one cache-line blocked Bloom filter
// (one 64-byte line per key, about 16 bits per key for a 0.1 % false-positive rate) in front
// of an exact table of 128-bit keyed fingerprints, each with its keep-until time. A check
// hashes (iss, jti), probes one filter line, and only on a "maybe" confirms against the exact
// table, so a false positive never rejects a valid token and a revoked token is always found.
// Any-issuer and pre-issuer entries have filters of their own, probed only when they hold
// something. Entries are grouped by keep-until into windows of 2^generation_shift seconds;
// once a window (plus leeway) has passed, DropExpired rebuilds the table and the filter
// without it, so memory follows the revocations that still matter. Readers take no lock and
// perform no atomic read-modify-write.
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
// now < (the end of the window of its keep_until) + leeway_s.
// REQUIRES: leeway_s >= the Verifier's leeway, and the `now` given to Open and DropExpired is
// not ahead of the `now` the Verifier checks exp with; otherwise a revocation could be dropped
// while its token is still accepted.
//
// Thread safety. Every method may be called from any thread concurrently. IsRevoked and
// IsRevokedBatch never block, never fail, take no lock and perform no atomic
// read-modify-write; they allocate nothing beyond a thread's one-time registration with the
// reclamation scheme on its first call (base/epoch.h). Writers (Revoke*, DropExpired,
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
#include "jwtgate/file_env.h"
#include "jwtgate/result.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate {

struct RevocationOptions {
  // The state directory. Created (with parents' existence required) when missing and
  // create_if_missing is set.
  std::string dir;
  // The file system the state lives in; null: DefaultFileEnv(). Tests and fuzz targets pass
  // a NewMemoryFileEnv(). REQUIRES: outlives the store.
  FileEnv* env = nullptr;
  bool create_if_missing = true;
  // Open without the writer lock and without modifying anything: for tools that only check
  // tokens (jwtgate verify --state) while a daemon owns the directory. Revoke*, Compact fail
  // with kInternalError. A torn tail is ignored, not truncated.
  bool read_only = false;
  // Seconds since the epoch. Recovery skips revocations that have expired by then, and the
  // windows before it are dropped. 0: read the system clock.
  int64_t now = 0;
  // Seconds a jti revocation is kept after its keep_until. REQUIRES: >= the Verifier's
  // leeway (ClaimsPolicy::leeway_s).
  int64_t leeway_s = 60;
  // Filter sizing: the false-positive rate each filter is sized for (bits per key follow from
  // the block-load model in revoke/bloom_filter.h: 15.7 for 0.1 %). bits_per_key > 0
  // overrides it.
  double target_fpr = 0.001;
  double bits_per_key = 0;
  // Width of the keep-until windows in which jti revocations are dropped together,
  // 2^generation_shift seconds (default 4096 s, about 68 minutes): an entry outlives its
  // keep_until by at most this much plus leeway_s. Used when the state is created; an
  // existing state keeps its own.
  uint32_t generation_shift = 12;
  // Initial capacity of the jti table; it grows by 1.5x as needed and is fitted to its
  // content by recovery and Compact.
  size_t initial_capacity = 1024;
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
  std::string_view id;  // jti, subject or issuer; empty for kAll
  // kJti, kSubject: restrict to this issuer; empty: every issuer.
  std::string_view iss;
  // kJti: keep the entry until this time (seconds since the epoch; RevocationStore::kNoExp:
  // for ever). Others: the watermark; tokens issued at or before it are revoked.
  int64_t value = 0;

  static Revocation Jti(std::string_view jti, std::string_view iss, int64_t keep_until) {
    return {Kind::kJti, jti, iss, keep_until};
  }
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
  uint64_t jti_revocations = 0;         // every jti entry, of all three kinds
  uint64_t any_issuer_revocations = 0;  // of which revoked under every issuer
  uint64_t legacy_revocations = 0;      // of which (jti, exp) entries of an older state
  uint64_t long_lived_revocations = 0;  // of which kept for ever (keep_until kNoExp)
  uint64_t generations = 0;             // keep-until windows holding jti entries
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
  double expected_fpr = 0;         // model FPR at the current load, weighted by entries
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
  // The keep_until of a revocation kept for ever (it never ages).
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
  // A jti revocation whose keep_until window has already passed (by the store's clock) is a
  // no-op: a token with that exp is rejected as expired anyway. Revoking a jti again keeps
  // the later keep_until.
  [[nodiscard]] virtual Status RevokeJti(std::string_view jti, std::string_view iss,
                                         int64_t keep_until) = 0;
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

  // Drops the jti revocations whose keep-until window (plus leeway_s) ended by `now`, and
  // (with watermark_retention_s) old subject and issuer watermarks. Rebuilds the tables and
  // filters without them (O(entries), writers wait meanwhile, readers never) and frees their
  // memory before returning; does nothing while no window has ended. Returns the number of
  // jti revocations dropped. Memory only: the log still holds them until Compact.
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
