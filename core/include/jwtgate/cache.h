// VerifiedTokenCache: remembers tokens that passed full verification, so that a token seen
// again costs a hash, a lookup and a re-check instead of a signature verification.
//
// Safety rules (security catalogue E5, B3):
//  - Keyed by a seeded 64-bit hash of the WHOLE token, with equality on the whole token: never
//    the signature alone (ECDSA signatures are malleable: (r, n-s) is a second valid signature
//    of the same claims, so the signature is no identity).
//  - A hit still re-checks exp (with the verifier's leeway) and revocation, through
//    Verifier::Recheck, with the verifier the caller passes: an entry never outlives exp, and
//    a revocation after caching takes effect on the next hit.
//  - Clear() on key reload: entries verified under old keys are dropped.
//  - Bounded memory: `capacity` entries in set-associative shards (8 ways per set) with CLOCK
//    replacement.
//
// Concurrency. Readers take no lock and write no shared cache line on a hit: an entry is an
// immutable node published with a release store and read under an epoch guard (two
// thread-local stores); a set's CLOCK bit is written only when it is not already set, and
// hit/miss counters are striped per thread. Replaced and evicted nodes are reclaimed after an
// epoch synchronisation, in batches, by writers. Writers (Insert, Clear, evicting a node that
// failed its re-check) serialise per shard on a mutex. Everything is thread-safe.
#ifndef JWTGATE_CACHE_H_
#define JWTGATE_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jwtgate/claims.h"
#include "jwtgate/status.h"

namespace jwtgate {

class Verifier;

// An owned copy of what a verified token carries that the cache, the policy re-check and the
// daemon's identity headers need. Immutable once built; shared between threads.
struct VerifiedToken {
  std::string token;  // the whole token: equality for the cache
  uint64_t hash = 0;  // VerifiedTokenCache::Hash(token) when built for the cache
  Alg alg = Alg::kHS256;
  std::string iss, sub, jti;
  std::string kid;  // header kid; empty when absent
  bool has_exp = false, has_iat = false;
  int64_t exp = 0, iat = 0;
  // Claims captured at verification (VerifyContext::Capture), in the order the caller asked
  // for: the daemon's claim headers and route requirements read them on every later hit.
  std::vector<ClaimValue> extra;

  // Builds from verified claims (copies every view).
  static std::shared_ptr<const VerifiedToken> From(std::string_view token, uint64_t hash,
                                                   const Claims& claims,
                                                   std::vector<ClaimValue> extra = {});
  // A Claims view of this entry, for Verifier::Recheck and revocation checks.
  Claims AsClaims() const noexcept;
};

struct CacheOptions {
  size_t capacity = 1 << 16;  // entries in total (rounded up to whole sets)
  size_t shards = 64;         // power of two
  uint64_t seed = 0;          // 0: a random seed per process
};

class VerifiedTokenCache {
 public:
  explicit VerifiedTokenCache(CacheOptions options = {});
  ~VerifiedTokenCache();
  VerifiedTokenCache(const VerifiedTokenCache&) = delete;
  VerifiedTokenCache& operator=(const VerifiedTokenCache&) = delete;

  // Seeded hash of the whole token (XXH3-64 with this cache's secret seed).
  uint64_t Hash(std::string_view token) const noexcept;

  enum class Lookup : uint8_t { kMiss, kHit };

  // A read-side critical section for the pointer form of Find. Cheap (a few thread-local
  // accesses, no atomic read-modify-write); nestable; not movable.
  // REQUIRES: the thread does not call Insert or Clear while it holds one (reclamation would
  // wait for the thread itself; it is deferred instead, and memory is held longer).
  class ReadGuard {
   public:
    ReadGuard() noexcept;
    ~ReadGuard();
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

   private:
    alignas(8) unsigned char storage_[16];
  };

  // Looks `token` up. On kHit, `*status` is the re-check's verdict (kOk, kExpired, kRevoked)
  // and, when kOk and `entry` is not null, `*entry` shares the cached token (one reference
  // count increment; pass null when only the verdict is needed). Entries that fail the
  // re-check are evicted.
  Lookup Find(std::string_view token, uint64_t hash, int64_t now, const Verifier& verifier,
              Status* status, std::shared_ptr<const VerifiedToken>* entry) noexcept;

  // The same without reference counting: on kHit with kOk, `*entry` points at the cached
  // token, valid until `guard` ends.
  Lookup Find(std::string_view token, uint64_t hash, int64_t now, const Verifier& verifier,
              Status* status, const VerifiedToken** entry, const ReadGuard& guard) noexcept;

  // Looks up n tokens at once, overlapping their memory misses, for a caller that holds
  // several requests (a batch of the pipeline, an I/O loop's completions). Three passes: the
  // sets of every token are requested, then the entries (and token bytes) their tags point at,
  // then each is compared and the hits are re-checked together (Verifier::RecheckBatch: one
  // revocation batch). lookups[i], statuses[i] and entries[i] are what the pointer form of
  // Find gives for tokens[i] with hashes[i] (null unless kHit with kOk); entries valid until
  // `guard` ends. `shared`, when not null, receives a shared reference to each kOk entry as
  // well (for an answer that outlives the guard; null elsewhere). Entries that fail the
  // re-check are evicted. Any n; work proceeds in chunks of kBatch.
  //
  // Measured (bench/pipeline_bench.cc, BM_CacheHitWorkingSet, 2-core VM, ns per hit with the
  // hash and the re-check; results/2026-12-07-vm/cache_batch): with 1 Mi distinct tokens, 193
  // in batches against 944 one at a time (172 against 788 with huge pages); with 1 Ki, 52
  // against 89.
  static constexpr size_t kBatch = 32;
  void FindBatch(const std::string_view* tokens, const uint64_t* hashes, size_t n, int64_t now,
                 const Verifier& verifier, Lookup* lookups, Status* statuses,
                 const VerifiedToken** entries, const ReadGuard& guard,
                 std::shared_ptr<const VerifiedToken>* shared = nullptr) noexcept;

  // Inserts a verified token (its `hash` must be Hash(token)). Replaces an equal token.
  void Insert(std::shared_ptr<const VerifiedToken> entry) noexcept;

  // Drops every entry (key reload, policy change).
  void Clear() noexcept;

  // Counters since construction (Clear does not reset them), summed over the shards with
  // relaxed loads: each is exact, the set of them is not one instant.
  struct Stats {
    uint64_t hits = 0;       // lookups that found the token (then rechecked exp/nbf/revocation)
    uint64_t misses = 0;     // lookups that did not
    uint64_t inserts = 0;    // entries written, replacing any older entry for the same token
    uint64_t evictions = 0;  // entries displaced by CLOCK or dropped by Evict
    size_t entries = 0;      // live entries now
    size_t capacity = 0;     // entries the cache holds at most (options.capacity, rounded up)
  };
  Stats stats() const noexcept;

 private:
  struct Node;
  struct Set;
  struct Shard;
  struct Counters;
  struct Retired;
  Shard& ShardFor(uint64_t hash) const noexcept;
  const Node* Probe(std::string_view token, uint64_t hash, int64_t now, const Verifier& verifier,
                    Status* status) noexcept;
  Set& SetFor(uint64_t hash) const noexcept;
  void PrefetchSets(const uint64_t* hashes, size_t n) const noexcept;
  void FindChunk(const std::string_view* tokens, const uint64_t* hashes, size_t n, int64_t now,
                 const Verifier& verifier, Lookup* lookups, Status* statuses,
                 const VerifiedToken** entries, std::shared_ptr<const VerifiedToken>* shared,
                 const uint64_t* next_hashes, size_t next_n) noexcept;
  void Evict(const Node* node, uint64_t hash) noexcept;
  void Retire(Node* node) noexcept;
  void Reclaim(bool force) noexcept;
  uint64_t seed_;
  // XXH3's 192-byte secret derived from seed_ once (the seeded form derives it on every call
  // for tokens over 240 bytes).
  alignas(64) unsigned char secret_[192];
  size_t shard_mask_;
  size_t sets_per_shard_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<Counters[]> counters_;
  std::unique_ptr<Retired> retired_;
};

}  // namespace jwtgate

#endif  // JWTGATE_CACHE_H_
