#include <sodium.h>

#include <array>
#include <cstring>
#include <mutex>

#include "jwtgate/cache.h"
#include "jwtgate/verifier.h"
#include "pipeline/mpmc_ring.h"  // kCacheLine
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace jwtgate {

std::shared_ptr<const VerifiedToken> VerifiedToken::From(std::string_view token, uint64_t hash,
                                                         const Claims& c,
                                                         std::vector<std::string> extra) {
  auto t = std::make_shared<VerifiedToken>();
  t->token = std::string(token);
  t->hash = hash;
  t->alg = c.alg;
  t->iss = std::string(c.iss);
  t->sub = std::string(c.sub);
  t->jti = std::string(c.jti);
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
  c.has_exp = has_exp;
  c.exp = exp;
  c.has_iat = has_iat;
  c.iat = iat;
  return c;
}

namespace {
constexpr size_t kWays = 8;
}  // namespace

struct alignas(pipeline::kCacheLine) VerifiedTokenCache::Shard {
  struct Set {
    std::array<uint64_t, kWays> hash{};
    std::array<std::shared_ptr<const VerifiedToken>, kWays> entry;
    uint8_t ref = 0;   // CLOCK reference bits, one per way
    uint8_t hand = 0;  // CLOCK hand within the set
  };
  std::mutex mu;
  std::unique_ptr<Set[]> sets;  // GUARDED_BY(mu)
  size_t entries = 0;           // GUARDED_BY(mu)
  // Counters are per shard so that hits on different shards never share a cache line.
  std::atomic<uint64_t> hits{0}, misses{0}, inserts{0}, evictions{0};
};

VerifiedTokenCache::VerifiedTokenCache(CacheOptions options) {
  size_t shards = 1;
  while (shards < options.shards) shards <<= 1;
  shard_mask_ = shards - 1;
  const size_t per_shard = (options.capacity + shards - 1) / shards;
  sets_per_shard_ = (per_shard + kWays - 1) / kWays;
  if (sets_per_shard_ == 0) sets_per_shard_ = 1;
  shards_.reset(new Shard[shards]);
  for (size_t i = 0; i < shards; ++i) shards_[i].sets.reset(new Shard::Set[sets_per_shard_]);
  seed_ = options.seed;
  if (seed_ == 0) {
    if (sodium_init() < 0) std::abort();
    randombytes_buf(&seed_, sizeof seed_);
  }
}

VerifiedTokenCache::~VerifiedTokenCache() = default;

uint64_t VerifiedTokenCache::Hash(std::string_view token) const noexcept {
  return XXH3_64bits_withSeed(token.data(), token.size(), seed_);
}

VerifiedTokenCache::Shard& VerifiedTokenCache::ShardFor(uint64_t hash) const noexcept {
  return shards_[hash & shard_mask_];
}

VerifiedTokenCache::Lookup VerifiedTokenCache::Find(std::string_view token, uint64_t hash,
                                                    int64_t now, const Verifier& verifier,
                                                    Status* status,
                                                    std::shared_ptr<const VerifiedToken>* entry) noexcept {
  Shard& sh = ShardFor(hash);
  const size_t set_index = (hash >> 16) % sets_per_shard_;
  std::shared_ptr<const VerifiedToken> found;
  size_t way = kWays;
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    Shard::Set& set = sh.sets[set_index];
    for (size_t w = 0; w < kWays; ++w) {
      if (set.hash[w] == hash && set.entry[w] && set.entry[w]->token == token) {
        set.ref = static_cast<uint8_t>(set.ref | (1u << w));
        found = set.entry[w];
        way = w;
        break;
      }
    }
  }
  if (!found) {
    sh.misses.fetch_add(1, std::memory_order_relaxed);  // a statistic: no ordering needed
    return Lookup::kMiss;
  }
  sh.hits.fetch_add(1, std::memory_order_relaxed);
  *status = verifier.Recheck(found->AsClaims(), now);
  if (*status != Status::kOk) {
    std::lock_guard<std::mutex> lock(sh.mu);
    Shard::Set& set = sh.sets[set_index];
    if (set.entry[way] == found) {
      set.entry[way].reset();
      set.hash[way] = 0;
      --sh.entries;
      sh.evictions.fetch_add(1, std::memory_order_relaxed);
    }
    return Lookup::kHit;
  }
  *entry = std::move(found);
  return Lookup::kHit;
}

void VerifiedTokenCache::Insert(std::shared_ptr<const VerifiedToken> e) noexcept {
  const uint64_t hash = e->hash;
  Shard& sh = ShardFor(hash);
  const size_t set_index = (hash >> 16) % sets_per_shard_;
  std::shared_ptr<const VerifiedToken> victim;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    Shard::Set& set = sh.sets[set_index];
    size_t target = kWays;
    for (size_t w = 0; w < kWays; ++w) {
      if (set.entry[w] && set.hash[w] == hash && set.entry[w]->token == e->token) {
        target = w;  // replace the equal token
        break;
      }
    }
    if (target == kWays) {
      for (size_t w = 0; w < kWays; ++w) {
        if (!set.entry[w]) {
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
        if (set.ref & (1u << w)) {
          set.ref = static_cast<uint8_t>(set.ref & ~(1u << w));
        } else {
          target = w;
          break;
        }
      }
      sh.evictions.fetch_add(1, std::memory_order_relaxed);
    } else if (!set.entry[target]) {
      ++sh.entries;
    }
    victim = std::move(set.entry[target]);
    set.entry[target] = std::move(e);
    set.hash[target] = hash;
    set.ref = static_cast<uint8_t>(set.ref & ~(1u << target));
  }
  sh.inserts.fetch_add(1, std::memory_order_relaxed);
}

void VerifiedTokenCache::Clear() noexcept {
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& sh = shards_[i];
    std::unique_ptr<Shard::Set[]> fresh(new (std::nothrow) Shard::Set[sets_per_shard_]);
    std::lock_guard<std::mutex> lock(sh.mu);
    if (fresh) {
      sh.sets.swap(fresh);
    } else {
      for (size_t s = 0; s < sets_per_shard_; ++s) sh.sets[s] = Shard::Set{};
    }
    sh.entries = 0;
  }
}

VerifiedTokenCache::Stats VerifiedTokenCache::stats() const noexcept {
  Stats s;
  s.capacity = (shard_mask_ + 1) * sets_per_shard_ * kWays;
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& sh = shards_[i];
    s.hits += sh.hits.load(std::memory_order_relaxed);
    s.misses += sh.misses.load(std::memory_order_relaxed);
    s.inserts += sh.inserts.load(std::memory_order_relaxed);
    s.evictions += sh.evictions.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(sh.mu);
    s.entries += sh.entries;
  }
  return s;
}

}  // namespace jwtgate
