#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "base/cache_line.h"
#include "base/epoch.h"
#include "base/thread_annotations.h"
#include "jwtgate/cache.h"
#include "jwtgate/verifier.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace jwtgate {

std::shared_ptr<const VerifiedToken> VerifiedToken::From(std::string_view token, uint64_t hash,
                                                         const Claims& c,
                                                         std::vector<ClaimValue> extra) {
  auto t = std::make_shared<VerifiedToken>();
  t->token = std::string(token);
  t->hash = hash;
  t->alg = c.alg;
  t->iss = std::string(c.iss);
  t->sub = std::string(c.sub);
  t->jti = std::string(c.jti);
  t->kid = std::string(c.kid);
  t->has_exp = c.has_exp;
  t->exp = c.exp;
  t->has_iat = c.has_iat;
  t->iat = c.iat;
  t->extra = std::move(extra);
  return t;
}

Claims VerifiedToken::AsClaims() const noexcept {
  Claims c;
  c.alg = alg;
  c.iss = iss;
  c.sub = sub;
  c.jti = jti;
  c.kid = kid;
  c.has_kid = !kid.empty();
  c.has_exp = has_exp;
  c.exp = exp;
  c.has_iat = has_iat;
  c.iat = iat;
  return c;
}

namespace {

constexpr size_t kWays = 8;
// Hit/miss counter stripes: a thread counts in its own stripe (threads beyond kStripes share).
constexpr size_t kStripes = 64;
// Unpublished nodes are freed in batches of this many, one epoch synchronisation per batch.
constexpr size_t kReclaimBatch = 128;

unsigned ThreadStripe() noexcept {
  static std::atomic<unsigned> next{0};
  // Trivially initialised thread-local: no TLS init wrapper on the hit path.
  static thread_local unsigned stripe = ~0u;
  if (stripe == ~0u) [[unlikely]] {
    stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;  // any spread will do
  }
  return stripe;
}

}  // namespace

// An immutable cache entry in one allocation: the node, then the token's bytes and its iss,
// sub and jti. A probe reads the node and compares the token right behind it (no pointer to
// chase), and the re-check reads claims whose views point into the same block.
struct VerifiedTokenCache::Node {
  static Node* Make(std::shared_ptr<const VerifiedToken> e) noexcept {
    const size_t extra = e->token.size() + e->iss.size() + e->sub.size() + e->jti.size();
    void* block = ::operator new(sizeof(Node) + extra, std::nothrow);
    if (block == nullptr) return nullptr;
    return new (block) Node(std::move(e));
  }
  static void Free(Node* n) noexcept {
    n->~Node();
    ::operator delete(n);
  }

  const uint64_t hash;
  std::string_view token;
  Claims claims;  // what Recheck needs, built once at insert instead of on every hit
  const std::shared_ptr<const VerifiedToken> entry;

 private:
  explicit Node(std::shared_ptr<const VerifiedToken> e) noexcept
      : hash(e->hash), claims(e->AsClaims()), entry(std::move(e)) {
    char* o = reinterpret_cast<char*>(this + 1);
    auto copy = [&o](const std::string& s) {
      if (!s.empty()) std::memcpy(o, s.data(), s.size());
      const std::string_view v(o, s.size());
      o += s.size();
      return v;
    };
    token = copy(entry->token);
    claims.iss = copy(entry->iss);
    claims.sub = copy(entry->sub);
    claims.jti = copy(entry->jti);
  }
  ~Node() = default;
};

// Two cache lines: the probe reads the first (tags, CLOCK bits) and, on a tag match, the
// node pointer in the second.
struct alignas(2 * base::kCacheLine) VerifiedTokenCache::Set {
  // A way's tag (Tag(hash), 0: empty) is a hint for the probe: the node's own hash and token
  // decide. node is the published entry. Readers load both lock-free; writers store them
  // under the shard's `mu`.
  std::array<std::atomic<uint32_t>, kWays> tag{};
  std::atomic<uint8_t> ref{0};  // CLOCK reference bits, one per way (readers set, writers clear)
  // CLOCK hand within the set, under the shard's `mu` (which an annotation here cannot
  // name: the Set does not know its shard).
  uint8_t hand = 0;
  alignas(base::kCacheLine) std::array<std::atomic<Node*>, kWays> node{};
};

struct alignas(base::kCacheLine) VerifiedTokenCache::Shard {
  static uint32_t Tag(uint64_t hash) noexcept { return static_cast<uint32_t>(hash >> 32) | 1u; }
  base::Mutex mu;
  std::unique_ptr<Set[]> sets;  // the array itself never changes after construction
  size_t entries JWTGATE_GUARDED_BY(mu) = 0;
  // Written only by writers (under mu); per shard so that writers on different shards never
  // share a cache line.
  std::atomic<uint64_t> inserts{0}, evictions{0};
};

struct alignas(base::kCacheLine) VerifiedTokenCache::Counters {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
};

struct VerifiedTokenCache::Retired {
  base::Mutex mu;
  // Unpublished, waiting for readers to leave.
  std::vector<Node*> nodes JWTGATE_GUARDED_BY(mu);
};

VerifiedTokenCache::ReadGuard::ReadGuard() noexcept {
  static_assert(sizeof(base::EpochDomain::Guard) <= sizeof(storage_) &&
                alignof(base::EpochDomain::Guard) <= 8);
  new (storage_) base::EpochDomain::Guard(base::EpochDomain::Global());
}

VerifiedTokenCache::ReadGuard::~ReadGuard() {
  std::launder(reinterpret_cast<base::EpochDomain::Guard*>(storage_))->~Guard();
}

VerifiedTokenCache::VerifiedTokenCache(CacheOptions options)
    : counters_(new Counters[kStripes]), retired_(std::make_unique<Retired>()) {
  size_t shards = 1;
  while (shards < options.shards) shards <<= 1;
  shard_mask_ = shards - 1;
  const size_t per_shard = (options.capacity + shards - 1) / shards;
  sets_per_shard_ = (per_shard + kWays - 1) / kWays;
  if (sets_per_shard_ == 0) sets_per_shard_ = 1;
  shards_.reset(new Shard[shards]);
  for (size_t i = 0; i < shards; ++i) shards_[i].sets.reset(new Set[sets_per_shard_]);
  seed_ = options.seed;
  if (seed_ == 0) {
    if (sodium_init() < 0) std::abort();
    randombytes_buf(&seed_, sizeof seed_);
  }
  static_assert(sizeof secret_ == XXH3_SECRET_DEFAULT_SIZE);
  XXH3_generateSecret_fromSeed(secret_, seed_);
}

VerifiedTokenCache::~VerifiedTokenCache() {
  // No readers remain (the cache is being destroyed): free everything directly.
  for (size_t i = 0; i <= shard_mask_; ++i) {
    for (size_t s = 0; s < sets_per_shard_; ++s) {
      for (auto& n : shards_[i].sets[s].node) {
        if (Node* p = n.load(std::memory_order_relaxed)) Node::Free(p);
      }
    }
  }
  for (Node* n : retired_->nodes) Node::Free(n);
}

uint64_t VerifiedTokenCache::Hash(std::string_view token) const noexcept {
  // Equal to XXH3_64bits_withSeed(token, seed_) (xxHash's contract for a secret generated
  // from the same seed), without deriving the secret per call.
  return XXH3_64bits_withSecretandSeed(token.data(), token.size(), secret_, sizeof secret_, seed_);
}

VerifiedTokenCache::Shard& VerifiedTokenCache::ShardFor(uint64_t hash) const noexcept {
  return shards_[hash & shard_mask_];
}

// REQUIRES: inside an epoch guard. Returns the node on a hit (with *status set), else null.
const VerifiedTokenCache::Node* VerifiedTokenCache::Probe(std::string_view token, uint64_t hash,
                                                          int64_t now, const Verifier& verifier,
                                                          Status* status) noexcept {
  Set& set = SetFor(hash);
  Counters& counters = counters_[ThreadStripe()];
  const uint32_t tag = Shard::Tag(hash);
  for (size_t w = 0; w < kWays; ++w) {
    // relaxed: the tag only filters; the node is loaded (acquire) and checked in full.
    if (set.tag[w].load(std::memory_order_relaxed) != tag) continue;
    // acquire: pairs with the writer's release store, so the node's fields are visible.
    const Node* n = set.node[w].load(std::memory_order_acquire);
    if (n == nullptr || n->hash != hash || n->token != token) continue;
    const uint8_t bit = static_cast<uint8_t>(1u << w);
    // relaxed: CLOCK is a heuristic. Written only when clear, so a hot entry's set line stays
    // shared between the cores that hit it.
    if ((set.ref.load(std::memory_order_relaxed) & bit) == 0) {
      set.ref.fetch_or(bit, std::memory_order_relaxed);
    }
    // relaxed: a statistic, on this thread's own stripe (uncontended).
    counters.hits.fetch_add(1, std::memory_order_relaxed);
    *status = verifier.Recheck(n->claims, now);
    return n;
  }
  counters.misses.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

VerifiedTokenCache::Lookup VerifiedTokenCache::Find(
    std::string_view token, uint64_t hash, int64_t now, const Verifier& verifier, Status* status,
    std::shared_ptr<const VerifiedToken>* entry) noexcept {
  const Node* n;
  bool evict = false;
  {
    base::EpochDomain::Guard guard(base::EpochDomain::Global());
    n = Probe(token, hash, now, verifier, status);
    if (n == nullptr) return Lookup::kMiss;
    if (*status == Status::kOk) {
      if (entry != nullptr) *entry = n->entry;
    } else {
      evict = true;
    }
  }
  // Outside the guard: Evict compares the pointer only, never dereferences it (should the
  // address have been reused meanwhile, another entry is forgotten, which is always safe).
  if (evict) Evict(n, hash);
  return Lookup::kHit;
}

VerifiedTokenCache::Lookup VerifiedTokenCache::Find(std::string_view token, uint64_t hash,
                                                    int64_t now, const Verifier& verifier,
                                                    Status* status, const VerifiedToken** entry,
                                                    const ReadGuard& /*guard*/) noexcept {
  const Node* n = Probe(token, hash, now, verifier, status);
  if (n == nullptr) return Lookup::kMiss;
  if (*status == Status::kOk) {
    *entry = n->entry.get();
  } else {
    Evict(n, hash);
  }
  return Lookup::kHit;
}

void VerifiedTokenCache::FindBatch(const std::string_view* tokens, const uint64_t* hashes, size_t n,
                                   int64_t now, const Verifier& verifier, Lookup* lookups,
                                   Status* statuses, const VerifiedToken** entries,
                                   const ReadGuard& /*guard*/,
                                   std::shared_ptr<const VerifiedToken>* shared) noexcept {
  PrefetchSets(hashes, std::min(kBatch, n));
  for (size_t begin = 0; begin < n; begin += kBatch) {
    const size_t m = std::min(kBatch, n - begin);
    const size_t next = begin + m;
    FindChunk(tokens + begin, hashes + begin, m, now, verifier, lookups + begin, statuses + begin,
              entries + begin, shared != nullptr ? shared + begin : nullptr, hashes + next,
              std::min(kBatch, n - next));
  }
}

// The shard from the hash's low bits, the set within it from the bits above.
VerifiedTokenCache::Set& VerifiedTokenCache::SetFor(uint64_t hash) const noexcept {
  return ShardFor(hash).sets[(hash >> 16) % sets_per_shard_];
}

void VerifiedTokenCache::PrefetchSets(const uint64_t* hashes, size_t n) const noexcept {
  for (size_t i = 0; i < n; ++i) {
    const Set& set = SetFor(hashes[i]);
    __builtin_prefetch(&set.tag, 0, 3);
    __builtin_prefetch(&set.node, 0, 3);
  }
}

// REQUIRES: inside an epoch guard; n <= kBatch. The passes of FindBatch over one chunk whose
// sets were requested; the next chunk's sets (`next_n` hashes at `next_hashes`) are requested
// between the chunk's second and third pass, so that their misses overlap this chunk's work.
void VerifiedTokenCache::FindChunk(const std::string_view* tokens, const uint64_t* hashes, size_t n,
                                   int64_t now, const Verifier& verifier, Lookup* lookups,
                                   Status* statuses, const VerifiedToken** entries,
                                   std::shared_ptr<const VerifiedToken>* shared,
                                   const uint64_t* next_hashes, size_t next_n) noexcept {
  Set* sets[kBatch];
  const Node* nodes[kBatch];
  uint8_t ways[kBatch];
  for (size_t i = 0; i < n; ++i) sets[i] = &SetFor(hashes[i]);
  // 2. (1. was PrefetchSets.) The first way whose tag matches: request its node and the token
  // bytes behind it.
  for (size_t i = 0; i < n; ++i) {
    nodes[i] = nullptr;
    const uint32_t tag = Shard::Tag(hashes[i]);
    for (size_t w = 0; w < kWays; ++w) {
      // relaxed: the tag only filters; the node is loaded (acquire) and checked in full.
      if (sets[i]->tag[w].load(std::memory_order_relaxed) != tag) continue;
      // acquire: pairs with the writer's release store, so the node's fields are visible.
      nodes[i] = sets[i]->node[w].load(std::memory_order_acquire);
      ways[i] = static_cast<uint8_t>(w);
      break;
    }
    if (nodes[i] == nullptr) continue;
    const char* block = reinterpret_cast<const char*>(nodes[i]);
    const size_t bytes = sizeof(Node) + tokens[i].size();
    for (size_t off = 0; off < bytes; off += base::kCacheLine)
      __builtin_prefetch(block + off, 0, 3);
  }
  PrefetchSets(next_hashes, next_n);
  // 3. Compare. A token whose first tagged way holds another token (a tag collision, a writer
  // meanwhile) or none takes the one-token probe, which scans every way. The hits' claims are
  // copied side by side for one batched re-check.
  static_assert(std::is_trivially_copyable_v<Claims> && std::is_trivially_destructible_v<Claims>);
  alignas(Claims) unsigned char claims_storage[kBatch * sizeof(Claims)];
  Claims* claims = reinterpret_cast<Claims*>(claims_storage);
  uint8_t hit_of[kBatch];
  size_t hits = 0;
  for (size_t i = 0; i < n; ++i) {
    entries[i] = nullptr;
    if (shared != nullptr) shared[i].reset();
    const Node* node = nodes[i];
    if (node != nullptr && node->hash == hashes[i] && node->token == tokens[i]) {
      const uint8_t bit = static_cast<uint8_t>(1u << ways[i]);
      // relaxed: CLOCK is a heuristic, written only when clear (as in Probe).
      if ((sets[i]->ref.load(std::memory_order_relaxed) & bit) == 0) {
        sets[i]->ref.fetch_or(bit, std::memory_order_relaxed);
      }
      new (&claims[hits]) Claims(node->claims);
      hit_of[hits++] = static_cast<uint8_t>(i);
      lookups[i] = Lookup::kHit;
      continue;
    }
    nodes[i] = Probe(tokens[i], hashes[i], now, verifier, &statuses[i]);
    lookups[i] = nodes[i] != nullptr ? Lookup::kHit : Lookup::kMiss;
    if (nodes[i] == nullptr) continue;
    if (statuses[i] == Status::kOk) {
      entries[i] = nodes[i]->entry.get();
      if (shared != nullptr) shared[i] = nodes[i]->entry;
    } else {
      Evict(nodes[i], hashes[i]);
    }
  }
  if (hits == 0) return;
  // relaxed: a statistic, on this thread's own stripe (uncontended).
  counters_[ThreadStripe()].hits.fetch_add(hits, std::memory_order_relaxed);
  Status rechecked[kBatch];
  verifier.RecheckBatch(claims, hits, now, rechecked);
  for (size_t k = 0; k < hits; ++k) {
    const size_t i = hit_of[k];
    statuses[i] = rechecked[k];
    if (rechecked[k] == Status::kOk) {
      entries[i] = nodes[i]->entry.get();
      if (shared != nullptr) shared[i] = nodes[i]->entry;
    } else {
      Evict(nodes[i], hashes[i]);
    }
  }
}

// Unpublishes `node` if it is still in its set (another thread may have replaced it).
void VerifiedTokenCache::Evict(const Node* node, uint64_t hash) noexcept {
  Shard& sh = ShardFor(hash);
  Set& set = SetFor(hash);
  Node* victim = nullptr;
  {
    base::MutexLock lock(&sh.mu);
    for (size_t w = 0; w < kWays; ++w) {
      if (set.node[w].load(std::memory_order_relaxed) == node) {
        victim = set.node[w].load(std::memory_order_relaxed);
        set.node[w].store(nullptr, std::memory_order_release);
        set.tag[w].store(0, std::memory_order_relaxed);
        --sh.entries;
        sh.evictions.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
  }
  if (victim != nullptr) Retire(victim);
}

void VerifiedTokenCache::Retire(Node* node) noexcept {
  bool due;
  {
    base::MutexLock lock(&retired_->mu);
    retired_->nodes.push_back(node);  // the vector's capacity is kept across batches
    due = retired_->nodes.size() >= kReclaimBatch;
  }
  if (due) Reclaim(/*force=*/false);
}

// Frees retired nodes once no reader can still hold them. Skipped inside any read guard of the
// epoch domain on this thread, this cache's ReadGuard or another's (a VerifierCell::Reader
// around a verification that inserts its result): Synchronize would wait for this thread
// itself. The next writer outside one does it.
void VerifiedTokenCache::Reclaim(bool force) noexcept {
  if (base::EpochDomain::InGuard()) return;
  std::vector<Node*> batch;
  {
    base::MutexLock lock(&retired_->mu);
    if (retired_->nodes.empty() || (!force && retired_->nodes.size() < kReclaimBatch)) return;
    batch.swap(retired_->nodes);
    retired_->nodes.reserve(kReclaimBatch);
  }
  // Every reader that loaded one of these nodes did so inside a guard that began before they
  // were unpublished; Synchronize waits for those guards to end.
  base::EpochDomain::Global().Synchronize();
  for (Node* n : batch) Node::Free(n);
}

void VerifiedTokenCache::Insert(std::shared_ptr<const VerifiedToken> e) noexcept {
  const uint64_t hash = e->hash;
  Node* fresh = Node::Make(std::move(e));
  if (fresh == nullptr) return;  // a cache may forget; the token is verified again next time
  Shard& sh = ShardFor(hash);
  Set& set = SetFor(hash);
  Node* victim = nullptr;
  {
    base::MutexLock lock(&sh.mu);
    size_t target = kWays;
    for (size_t w = 0; w < kWays; ++w) {
      const Node* n = set.node[w].load(std::memory_order_relaxed);
      if (n != nullptr && n->hash == hash && n->token == fresh->token) {
        target = w;  // replace the equal token
        break;
      }
    }
    if (target == kWays) {
      for (size_t w = 0; w < kWays; ++w) {
        if (set.node[w].load(std::memory_order_relaxed) == nullptr) {
          target = w;
          break;
        }
      }
    }
    if (target == kWays) {
      // CLOCK: skip (and clear) recently used ways, evict the first one not used since.
      for (size_t step = 0; step < 2 * kWays; ++step) {
        const size_t w = set.hand;
        set.hand = static_cast<uint8_t>((set.hand + 1) % kWays);
        const uint8_t bit = static_cast<uint8_t>(1u << w);
        if (set.ref.load(std::memory_order_relaxed) & bit) {
          set.ref.fetch_and(static_cast<uint8_t>(~bit), std::memory_order_relaxed);
        } else {
          target = w;
          break;
        }
      }
      if (target == kWays) target = set.hand;  // every way was hit again meanwhile
      sh.evictions.fetch_add(1, std::memory_order_relaxed);
    } else if (set.node[target].load(std::memory_order_relaxed) == nullptr) {
      ++sh.entries;
    }
    victim = set.node[target].load(std::memory_order_relaxed);
    // release: the node's fields happen-before any reader that acquires the pointer.
    set.node[target].store(fresh, std::memory_order_release);
    set.tag[target].store(Shard::Tag(hash), std::memory_order_relaxed);
    set.ref.fetch_and(static_cast<uint8_t>(~(1u << target)), std::memory_order_relaxed);
  }
  sh.inserts.fetch_add(1, std::memory_order_relaxed);
  if (victim != nullptr) Retire(victim);
}

void VerifiedTokenCache::Clear() noexcept {
  std::vector<Node*> victims;
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& sh = shards_[i];
    base::MutexLock lock(&sh.mu);
    for (size_t s = 0; s < sets_per_shard_; ++s) {
      Set& set = sh.sets[s];
      for (size_t w = 0; w < kWays; ++w) {
        Node* n = set.node[w].load(std::memory_order_relaxed);
        if (n == nullptr) continue;
        set.node[w].store(nullptr, std::memory_order_release);
        set.tag[w].store(0, std::memory_order_relaxed);
        victims.push_back(n);
      }
      set.ref.store(0, std::memory_order_relaxed);
      set.hand = 0;
    }
    sh.entries = 0;
  }
  {
    base::MutexLock lock(&retired_->mu);
    retired_->nodes.insert(retired_->nodes.end(), victims.begin(), victims.end());
  }
  Reclaim(/*force=*/true);
}

VerifiedTokenCache::Stats VerifiedTokenCache::stats() const noexcept {
  Stats s;
  s.capacity = (shard_mask_ + 1) * sets_per_shard_ * kWays;
  for (size_t i = 0; i < kStripes; ++i) {
    s.hits += counters_[i].hits.load(std::memory_order_relaxed);
    s.misses += counters_[i].misses.load(std::memory_order_relaxed);
  }
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& sh = shards_[i];
    s.inserts += sh.inserts.load(std::memory_order_relaxed);
    s.evictions += sh.evictions.load(std::memory_order_relaxed);
    base::MutexLock lock(&sh.mu);
    s.entries += sh.entries;
  }
  return s;
}

}  // namespace jwtgate
