#include "strategies.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "jose/base64url.h"

namespace jwtgate::bench {
namespace {

std::shared_ptr<const Verifier> MakeVerifier(const TokenPool& pool,
                                             const RevocationCheck* revocation) {
  VerifierOptions options;
  options.policy.issuers = {std::string(kIssuer)};
  options.policy.audiences = {std::string(kAudience)};
  options.policy.leeway_s = kLeewayS;
  return std::make_shared<const Verifier>(pool.keys, std::move(options), revocation);
}

// Keeps a value from being optimised away.
template <typename T>
inline void Sink(const T& value) noexcept {
  asm volatile("" : : "r,m"(value) : "memory");
}

class NoCheckWorker final : public Worker {
 public:
  explicit NoCheckWorker(const TokenPool& pool) : pool_(pool) {}
  size_t Handle(const uint64_t* keys, size_t n) noexcept override {
    for (size_t i = 0; i < n; ++i) {
      const std::string& token = pool_.tokens[keys[i] % pool_.tokens.size()];
      Sink(token.size());
    }
    return n;
  }

 private:
  const TokenPool& pool_;
};

class JwtWorker final : public Worker {
 public:
  JwtWorker(const TokenPool& pool, std::shared_ptr<const Verifier> verifier, int64_t now)
      : pool_(pool), verifier_(std::move(verifier)), now_(now) {}
  size_t Handle(const uint64_t* keys, size_t n) noexcept override {
    size_t ok = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string& token = pool_.tokens[keys[i] % pool_.tokens.size()];
      Claims claims;
      const Status s = verifier_->Verify(token, now_, ctx_, &claims);
      if (s == Status::kOk) {
        ++ok;
      } else {
        last_status_ = s;
      }
    }
    return ok;
  }
  std::string last_error() const override {
    return last_status_ == Status::kOk ? "" : "verify: " + std::string(ToString(last_status_));
  }

 private:
  const TokenPool& pool_;
  std::shared_ptr<const Verifier> verifier_;
  int64_t now_;
  VerifyContext ctx_;
  Status last_status_ = Status::kOk;
};

class JwtDenylistWorker final : public Worker {
 public:
  JwtDenylistWorker(const TokenPool& pool, std::shared_ptr<const Verifier> verifier, int64_t now,
                    std::unique_ptr<store::RedisStore> redis, size_t batch)
      : pool_(pool),
        verifier_(std::move(verifier)),
        now_(now),
        redis_(std::move(redis)),
        jtis_(batch),
        views_(batch),
        statuses_(batch) {}

  size_t Handle(const uint64_t* keys, size_t n) noexcept override {
    // Verify every token of the batch first (local work), then ask Redis about all the jtis
    // that passed: one round trip for the batch when pipelined.
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string& token = pool_.tokens[keys[i] % pool_.tokens.size()];
      Claims claims;
      const Status s = verifier_->Verify(token, now_, ctx_, &claims);
      if (s != Status::kOk) {
        last_error_ = "verify: " + std::string(ToString(s));
        continue;
      }
      jtis_[m].assign(claims.jti);  // the view dies with the next Verify
      ++m;
    }
    for (size_t i = 0; i < m; ++i) views_[i] = jtis_[i];
    if (m == 1) {
      statuses_[0] = redis_->Exists(views_[0]);
    } else if (m > 1) {
      redis_->ExistsBatch(std::span(views_.data(), m), std::span(statuses_.data(), m));
    }
    size_t ok = 0;
    for (size_t i = 0; i < m; ++i) {
      if (statuses_[i] == store::StoreStatus::kNotFound) {
        ++ok;  // not on the denylist
      } else if (statuses_[i] != store::StoreStatus::kOk) {
        last_error_ = "redis: " + std::string(ToString(statuses_[i])) + ": " + redis_->last_error();
      }
    }
    return ok;
  }
  std::vector<int> server_pids() const override { return {redis_->server_pid()}; }
  std::string last_error() const override { return last_error_; }

 private:
  const TokenPool& pool_;
  std::shared_ptr<const Verifier> verifier_;
  int64_t now_;
  std::unique_ptr<store::RedisStore> redis_;
  VerifyContext ctx_;
  std::vector<std::string> jtis_;
  std::vector<std::string_view> views_;
  std::vector<store::StoreStatus> statuses_;
  std::string last_error_;
};

class SessionWorker final : public Worker {
 public:
  SessionWorker(const SessionSet& sessions, std::unique_ptr<store::SessionStore> store,
                size_t batch)
      : sessions_(sessions),
        store_(std::move(store)),
        ids_(batch),
        views_(batch),
        values_(batch),
        statuses_(batch) {}

  size_t Handle(const uint64_t* keys, size_t n) noexcept override {
    // The request carries the cookie; the server decodes it to the binary id it looks up.
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string_view cookie = sessions_.cookie(keys[i] % sessions_.size());
      size_t len = 0;
      if (!jose::Base64UrlDecode(cookie, ids_[m].data(), &len) || len != SessionSet::kIdBytes) {
        last_error_ = "cookie: not base64url";
        continue;
      }
      views_[m] = std::string_view(reinterpret_cast<const char*>(ids_[m].data()), len);
      ++m;
    }
    if (m == 1) {
      statuses_[0] = store_->Get(views_[0], &values_[0]);
    } else if (m > 1) {
      store_->GetBatch(std::span(views_.data(), m), std::span(values_.data(), m),
                       std::span(statuses_.data(), m));
    }
    size_t ok = 0;
    for (size_t i = 0; i < m; ++i) {
      if (statuses_[i] == store::StoreStatus::kOk && !values_[i].empty()) {
        ++ok;
      } else {
        last_error_ = std::string(store_->backend()) + ": " + std::string(ToString(statuses_[i])) +
                      ": " + store_->last_error();
      }
    }
    return ok;
  }
  std::vector<int> server_pids() const override {
    const int pid = store_->server_pid();
    return pid > 0 ? std::vector<int>{pid} : std::vector<int>{};
  }
  std::string last_error() const override { return last_error_; }

 private:
  const SessionSet& sessions_;
  std::unique_ptr<store::SessionStore> store_;
  std::vector<std::array<uint8_t, SessionSet::kIdBytes>> ids_;
  std::vector<std::string_view> views_;
  std::vector<std::string> values_;
  std::vector<store::StoreStatus> statuses_;
  std::string last_error_;
};

// S7: the verified-token cache in front of the verifier. batch 1: each request looked up
// alone (Find). batch > 1: the requests of one batch (an I/O loop iteration's completions, a
// pipeline batch) looked up together with FindBatch, which overlaps their memory misses.
// Either way a miss is verified fully and inserted.
class CachedJwtWorker final : public Worker {
 public:
  CachedJwtWorker(const TokenPool& pool, std::shared_ptr<const Verifier> verifier,
                  std::shared_ptr<VerifiedTokenCache> cache, int64_t now, size_t batch)
      : pool_(pool),
        verifier_(std::move(verifier)),
        cache_(std::move(cache)),
        now_(now),
        tokens_(batch),
        hashes_(batch),
        lookups_(batch),
        statuses_(batch),
        entries_(batch) {}

  size_t Handle(const uint64_t* keys, size_t n) noexcept override {
    n = std::min(n, tokens_.size());
    if (tokens_.size() == 1) {
      const std::string& token = pool_.tokens[keys[0] % pool_.tokens.size()];
      const uint64_t hash = cache_->Hash(token);
      Status s = Status::kInternalError;
      const VerifiedTokenCache::Lookup l = cache_->Find(token, hash, now_, *verifier_, &s, nullptr);
      return Settle(token, hash, l, s) ? 1 : 0;
    }
    // The batch's token bytes are requested before they are hashed: a server reads them from
    // its receive buffers, where the kernel has just written them, not from a pool larger
    // than the CPU caches.
    for (size_t i = 0; i < n; ++i) {
      tokens_[i] = pool_.tokens[keys[i] % pool_.tokens.size()];
      for (size_t at = 0; at < tokens_[i].size(); at += 64) {
        __builtin_prefetch(tokens_[i].data() + at);
      }
    }
    for (size_t i = 0; i < n; ++i) hashes_[i] = cache_->Hash(tokens_[i]);
    {
      const VerifiedTokenCache::ReadGuard guard;
      cache_->FindBatch(tokens_.data(), hashes_.data(), n, now_, *verifier_, lookups_.data(),
                        statuses_.data(), entries_.data(), guard);
    }
    size_t ok = 0;
    for (size_t i = 0; i < n; ++i) ok += Settle(tokens_[i], hashes_[i], lookups_[i], statuses_[i]);
    return ok;
  }
  std::string last_error() const override {
    return last_status_ == Status::kOk ? "" : "verify: " + std::string(ToString(last_status_));
  }

 private:
  // A lookup's outcome: a miss is verified and inserted. True when the request is allowed.
  bool Settle(std::string_view token, uint64_t hash, VerifiedTokenCache::Lookup lookup,
              Status s) noexcept {
    if (lookup == VerifiedTokenCache::Lookup::kMiss) {
      Claims claims;
      s = verifier_->Verify(token, now_, ctx_, &claims);
      if (s == Status::kOk) cache_->Insert(VerifiedToken::From(token, hash, claims));
    }
    if (s != Status::kOk) last_status_ = s;
    return s == Status::kOk;
  }

  const TokenPool& pool_;
  std::shared_ptr<const Verifier> verifier_;
  std::shared_ptr<VerifiedTokenCache> cache_;
  int64_t now_;
  VerifyContext ctx_;
  // Batch scratch (unused with batch 1).
  std::vector<std::string_view> tokens_;
  std::vector<uint64_t> hashes_;
  std::vector<VerifiedTokenCache::Lookup> lookups_;
  std::vector<Status> statuses_;
  std::vector<const VerifiedToken*> entries_;
  Status last_status_ = Status::kOk;
};

std::unique_ptr<store::RedisStore> ConnectRedis(const store::RedisOptions& base,
                                                const std::string& prefix) {
  store::RedisOptions options = base;
  options.key_prefix = prefix;
  std::unique_ptr<store::RedisStore> out;
  std::string error;
  if (store::RedisStore::Connect(options, &out, &error) != store::StoreStatus::kOk) {
    throw std::runtime_error(error);
  }
  return out;
}

// What the row builders read: the environment, and the S2/S3/S7 algorithm's name and pool.
struct RowContext {
  const Environment& env;
  std::string jwt_alg;
  const TokenPool* jwt_pool;  // null when its pool could not be made
  std::string depth;          // env.pipeline_depth as text
  int64_t now;
};

// S0: no check, the harness alone.
RowSpec NoCheckRow(const RowContext& x) {
  const TokenPool* jwt_pool = x.jwt_pool;
  RowSpec r{.key = "S0", .id = "S0", .name = "no check", .variant = "harness only"};
  r.description = "pick a token from the pool and touch it; the harness cost every row pays";
  const TokenPool* pool = jwt_pool;
  if (pool == nullptr) r.unavailable = "no token pool";
  r.make_worker = [pool](unsigned) { return std::make_unique<NoCheckWorker>(*pool); };
  return r;
}

// S1 for one algorithm: Verifier::Verify without revocation.
RowSpec StatelessRow(const RowContext& x, Alg alg) {
  const Environment& env = x.env;
  const int64_t now = x.now;
  const std::string name(AlgName(alg));
  RowSpec r{.key = "S1." + name, .id = "S1", .name = "stateless JWT", .variant = name, .alg = name};
  r.description = "Verifier::Verify: parse, key by (kid, alg), " + name +
                  " signature, claims policy (exp, iat, iss, aud); no revocation";
  if (env.pools.count(alg) == 0) {
    r.unavailable = "no " + name + " token pool";
  } else {
    const TokenPool* pool = &env.pools.at(alg);
    auto verifier = MakeVerifier(*pool, nullptr);
    r.make_worker = [pool, verifier, now](unsigned) {
      return std::make_unique<JwtWorker>(*pool, verifier, now);
    };
  }
  return r;
}

// S2: S1 with the in-memory revocation store.
RowSpec RevocationRow(const RowContext& x) {
  const Environment& env = x.env;
  const std::string& jwt_alg = x.jwt_alg;
  const TokenPool* jwt_pool = x.jwt_pool;
  const int64_t now = x.now;
  RowSpec r{.key = "S2." + jwt_alg,
            .id = "S2",
            .name = "JWT + in-memory revocation",
            .variant = jwt_alg,
            .alg = jwt_alg};
  r.description =
      "S1 with the RevocationStore attached: jti probe of the Bloom filter line of the "
      "token's exp generation (exact confirm on a maybe) and the subject/issuer/global "
      "watermark check";
  if (jwt_pool == nullptr || env.revocation == nullptr) {
    r.unavailable = "no revocation store";
  } else {
    auto verifier = MakeVerifier(*jwt_pool, env.revocation);
    r.make_worker = [jwt_pool, verifier, now](unsigned) {
      return std::make_unique<JwtWorker>(*jwt_pool, verifier, now);
    };
  }
  return r;
}

// S3: S1, then a Redis denylist lookup (sync or pipelined).
RowSpec RedisDenylistRow(const RowContext& x, bool pipelined) {
  const Environment& env = x.env;
  const std::string& jwt_alg = x.jwt_alg;
  const TokenPool* jwt_pool = x.jwt_pool;
  const std::string& depth = x.depth;
  const int64_t now = x.now;
  RowSpec r{.key = std::string("S3.redis.") + (pipelined ? "pipelined" : "sync"),
            .id = "S3",
            .name = "JWT + Redis denylist",
            .variant = pipelined ? "pipelined x" + depth : "sync",
            .alg = jwt_alg,
            .backend = "redis",
            .batch = pipelined ? env.pipeline_depth : 1};
  r.description = pipelined ? "verify the batch's tokens, then one pipelined round trip of "
                              "EXISTS deny:<jti> for the batch"
                            : "verify, then EXISTS deny:<jti> (one round trip per request)";
  if (!env.redis) {
    r.unavailable = env.redis_unavailable;
  } else if (jwt_pool == nullptr) {
    r.unavailable = "no token pool";
  } else {
    auto verifier = MakeVerifier(*jwt_pool, nullptr);
    const store::RedisOptions redis = *env.redis;
    const size_t batch = r.batch;
    r.make_worker = [jwt_pool, verifier, now, redis, batch](unsigned) {
      return std::make_unique<JwtDenylistWorker>(*jwt_pool, verifier, now,
                                                 ConnectRedis(redis, "deny:"), batch);
    };
  }
  return r;
}

// S4: an opaque session id looked up in Redis (sync or pipelined).
RowSpec RedisSessionRow(const RowContext& x, bool pipelined) {
  const Environment& env = x.env;
  const std::string& depth = x.depth;
  RowSpec r{.key = std::string("S4.redis.") + (pipelined ? "pipelined" : "sync"),
            .id = "S4",
            .name = "session id + Redis GET",
            .variant = pipelined ? "pipelined x" + depth : "sync",
            .backend = "redis",
            .batch = pipelined ? env.pipeline_depth : 1};
  r.description = pipelined ? "decode the cookie, one pipelined round trip of GET "
                              "sess:<id> for the batch"
                            : "decode the cookie, GET sess:<id> (one round trip per request)";
  if (!env.redis) {
    r.unavailable = env.redis_unavailable;
  } else if (env.sessions == nullptr) {
    r.unavailable = "no sessions";
  } else {
    const SessionSet* sessions = env.sessions;
    const store::RedisOptions redis = *env.redis;
    const size_t batch = r.batch;
    r.make_worker = [sessions, redis, batch](unsigned) {
      return std::make_unique<SessionWorker>(*sessions, ConnectRedis(redis, "sess:"), batch);
    };
  }
  return r;
}

// S5: an opaque session id looked up in PostgreSQL (sync or pipelined).
RowSpec PostgresSessionRow(const RowContext& x, bool pipelined) {
  const Environment& env = x.env;
  const std::string& depth = x.depth;
  RowSpec r{.key = std::string("S5.postgresql.") + (pipelined ? "pipelined" : "sync"),
            .id = "S5",
            .name = "session id + PostgreSQL",
            .variant = pipelined ? "pipelined x" + depth : "sync",
            .backend = "postgresql",
            .batch = pipelined ? env.pipeline_depth : 1};
  r.description = pipelined
                      ? "decode the cookie, the batch's prepared SELECTs in libpq pipeline "
                        "mode (one round trip and one Sync per batch), Unix socket"
                      : "decode the cookie, prepared SELECT value FROM sessions WHERE id = $1 "
                        "(bytea primary key), Unix socket";
  if (env.warm_connections) r.description += "; each connection warmed first";
  if (!env.postgres) {
    r.unavailable = env.postgres_unavailable;
  } else if (env.sessions == nullptr) {
    r.unavailable = "no sessions";
  } else {
    const SessionSet* sessions = env.sessions;
    const store::PostgresOptions pg = *env.postgres;
    const size_t batch = r.batch;
    const bool warm = env.warm_connections;
    r.make_worker = [sessions, pg, batch, warm](unsigned) {
      std::unique_ptr<store::PostgresStore> s;
      std::string error;
      if (store::PostgresStore::Connect(pg, &s, &error) != store::StoreStatus::kOk) {
        throw std::runtime_error(error);
      }
      // A long-lived pooled connection's state: this backend has mapped the table's and
      // the index's shared buffers (see PostgresStore::WarmConnection).
      if (warm && s->WarmConnection() != store::StoreStatus::kOk) {
        throw std::runtime_error(s->last_error());
      }
      return std::make_unique<SessionWorker>(*sessions, std::move(s), batch);
    };
  }
  return r;
}

// S6: an opaque session id looked up in embedded SQLite.
RowSpec SqliteSessionRow(const RowContext& x) {
  const Environment& env = x.env;
  RowSpec r{.key = "S6.sqlite",
            .id = "S6",
            .name = "session id + SQLite",
            .variant = "embedded, WAL",
            .backend = "sqlite"};
  r.description =
      "decode the cookie, prepared SELECT on a WITHOUT ROWID table (BLOB primary key), "
      "one connection per thread, memory-mapped I/O (each connection reads the table once "
      "before measuring)";
  if (!env.sqlite) {
    r.unavailable = env.sqlite_unavailable;
  } else if (env.sessions == nullptr) {
    r.unavailable = "no sessions";
  } else {
    const SessionSet* sessions = env.sessions;
    const store::SqliteOptions options = *env.sqlite;
    r.make_worker = [sessions, options](unsigned) {
      std::unique_ptr<store::SqliteStore> s;
      std::string error;
      if (store::SqliteStore::Open(options, &s, &error) != store::StoreStatus::kOk) {
        throw std::runtime_error(error);
      }
      // Populate this connection's memory map (the file is in the OS page cache after the
      // load): the row measures warm lookups, like the other stores.
      if (s->WarmConnection() != store::StoreStatus::kOk) {
        throw std::runtime_error(s->last_error());
      }
      return std::make_unique<SessionWorker>(*sessions, std::move(s), 1);
    };
  }
  return r;
}

// S7: the verified-token cache in front of S2. `batched`: the requests of a batch looked up
// together (FindBatch), as a caller holding several requests does; an in-process row only
// (jwtgated looks each request up alone).
RowSpec CachedRow(const RowContext& x, bool batched) {
  const Environment& env = x.env;
  const std::string& jwt_alg = x.jwt_alg;
  const TokenPool* jwt_pool = x.jwt_pool;
  const int64_t now = x.now;
  constexpr size_t kBatch = VerifiedTokenCache::kBatch;
  RowSpec r{.key = "S7." + jwt_alg + (batched ? ".batched" : ""),
            .id = "S7",
            .name = "JWT + verified-token cache + in-memory revocation",
            .variant = batched ? jwt_alg + ", batches of " + std::to_string(kBatch) : jwt_alg,
            .alg = jwt_alg};
  r.description =
      batched ? "hash each token of a batch of " + std::to_string(kBatch) +
                    ", VerifiedTokenCache::FindBatch over the batch (the misses of its lookups "
                    "overlap; the hits are re-checked for exp and revocation together); a miss "
                    "verifies fully (with revocation) and inserts"
              : "hash the whole token, VerifiedTokenCache::Find (a hit re-checks exp and "
                "revocation); a miss verifies fully (with revocation) and inserts";
  r.in_process_only = batched;
  if (batched) r.batch = kBatch;
  if (jwt_pool == nullptr || env.revocation == nullptr) {
    r.unavailable = "no revocation store";
  } else {
    auto verifier = MakeVerifier(*jwt_pool, env.revocation);
    CacheOptions options;
    // Room for every token of the pool with margin (8-way sets): the steady state of a
    // cache sized for the active tokens.
    options.capacity = env.cache_capacity != 0 ? env.cache_capacity : 4 * jwt_pool->tokens.size();
    auto cache = std::make_shared<VerifiedTokenCache>(options);
    r.make_worker = [jwt_pool, verifier, cache, now, batch = r.batch](unsigned) {
      return std::make_unique<CachedJwtWorker>(*jwt_pool, verifier, cache, now, batch);
    };
    r.counters = [cache] {
      const VerifiedTokenCache::Stats s = cache->stats();
      return std::map<std::string, double>{{"cache_hits", static_cast<double>(s.hits)},
                                           {"cache_misses", static_cast<double>(s.misses)},
                                           {"cache_evictions", static_cast<double>(s.evictions)}};
    };
    r.stats = [cache] {
      const VerifiedTokenCache::Stats s = cache->stats();
      return std::map<std::string, double>{{"cache_entries", static_cast<double>(s.entries)},
                                           {"cache_capacity", static_cast<double>(s.capacity)}};
    };
  }
  return r;
}

}  // namespace

std::vector<RowSpec> MakeRows(Environment& env, const std::vector<Alg>& s1_algs) {
  const RowContext x{env, std::string(AlgName(env.jwt_alg)),
                     env.pools.count(env.jwt_alg) != 0 ? &env.pools.at(env.jwt_alg) : nullptr,
                     std::to_string(env.pipeline_depth), env.now};
  std::vector<RowSpec> rows;
  rows.push_back(NoCheckRow(x));
  for (Alg alg : s1_algs) rows.push_back(StatelessRow(x, alg));
  rows.push_back(RevocationRow(x));
  for (bool pipelined : {false, true}) rows.push_back(RedisDenylistRow(x, pipelined));
  for (bool pipelined : {false, true}) rows.push_back(RedisSessionRow(x, pipelined));
  for (bool pipelined : {false, true}) rows.push_back(PostgresSessionRow(x, pipelined));
  rows.push_back(SqliteSessionRow(x));
  for (bool batched : {false, true}) rows.push_back(CachedRow(x, batched));
  return rows;
}

bool RowSelected(const std::vector<std::string>& prefixes, const std::string& key) {
  if (prefixes.empty()) return true;
  for (const std::string& p : prefixes) {
    if (key.rfind(p, 0) == 0) return true;
  }
  return false;
}

bool FamilySelected(const std::vector<std::string>& prefixes, const std::string& id_or_key) {
  if (prefixes.empty()) return true;
  for (const std::string& p : prefixes) {
    if (id_or_key.rfind(p, 0) == 0 || p.rfind(id_or_key, 0) == 0) return true;
  }
  return false;
}

}  // namespace jwtgate::bench
