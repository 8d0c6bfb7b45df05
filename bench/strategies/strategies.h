// The rows of the strategies benchmark: what one request costs under each way of deciding
// "may this request pass?". Each row is a named Strategy whose Workers do, per request:
//
//   S0  no check        pick the request's token from the pool; nothing else. The cost of the
//                       harness itself (request generation, clocks, histogram), which every
//                       other row also pays.
//   S1  stateless JWT   Verifier::Verify (parse, key by (kid, alg), signature, claims policy),
//                       one row per algorithm. No revocation: a token cannot be taken back.
//   S2  JWT + in-memory revocation
//                       S1 with a RevocationStore attached: 10 M revoked jtis (Bloom filter
//                       line per probe, exact confirm on a maybe) and subject watermarks.
//   S3  JWT + Redis denylist
//                       S1, then EXISTS deny:<jti> on Redis (the common "double-check in
//                       Redis" design); sync (one round trip per request) and pipelined (the
//                       batch's tokens verified, then one EXISTS round trip for the batch).
//   S4  session id + Redis GET
//                       base64url-decode the 43-byte cookie to the 32-byte id, GET sess:<id>;
//                       sync and pipelined.
//   S5  session id + PostgreSQL
//                       decode, then the prepared SELECT value FROM sessions WHERE id = $1 over
//                       a Unix socket; sync and pipelined (libpq pipeline mode).
//   S6  session id + SQLite
//                       decode, then the prepared SELECT on an embedded WAL database.
//   S7  JWT + verified-token cache + in-memory revocation
//                       hash the token, find it in the VerifiedTokenCache (a hit re-checks exp
//                       and revocation); a miss verifies fully and inserts. Steady state: every
//                       token of the pool is cached after the warm-up (the cache is sized for it).
//
// Every worker owns its own VerifyContext and its own connection; requests pick a token or a
// session uniformly at random from the pool.
#ifndef JWTGATE_BENCH_STRATEGIES_STRATEGIES_H_
#define JWTGATE_BENCH_STRATEGIES_STRATEGIES_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driver.h"
#include "fixtures.h"
#include "jwtgate/cache.h"
#include "jwtgate/verifier.h"
#include "store/postgres_store.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"

namespace jwtgate::bench {

// What the rows run against. Pointers may be null where a fixture is absent (then the rows
// that need it are skipped with `*_unavailable` as the reason).
struct Environment {
  int64_t now = 0;
  std::map<Alg, TokenPool> pools;  // S1 per algorithm; pools.at(jwt_alg) for S2/S3/S7
  Alg jwt_alg = Alg::kHS256;       // algorithm of S2, S3, S7
  const SessionSet* sessions = nullptr;
  RevocationStore* revocation = nullptr;
  std::optional<store::RedisOptions> redis;  // keyspaces set per row
  std::string redis_unavailable;
  std::optional<store::PostgresOptions> postgres;
  std::string postgres_unavailable;
  std::optional<store::SqliteOptions> sqlite;
  std::string sqlite_unavailable;
  size_t pipeline_depth = 16;
  // S5: warm each PostgreSQL connection before measuring (PostgresStore::WarmConnection).
  bool warm_connections = true;
  size_t cache_capacity = 0;  // S7; 0: four times the pool
};

struct RowSpec {
  std::string key;          // unique, e.g. "S4.redis.pipelined"
  std::string id;           // "S4"
  std::string name;         // "opaque session id + Redis GET"
  std::string variant;      // "sync", "pipelined x16", "HS256"
  std::string alg;          // JWT algorithm, empty for session rows
  std::string backend;      // "", "redis", "postgresql", "sqlite"
  std::string description;  // what one request does
  size_t batch = 1;
  // A variant only the in-process mode runs (the e2e mode leaves it out: jwtgated has no
  // equivalent).
  bool in_process_only = false;
  std::string unavailable;  // non-empty: cannot run here, and why
  // Builds the worker of thread `t`; throws std::runtime_error with the reason.
  std::function<std::unique_ptr<Worker>(unsigned t)> make_worker;
  // Extra facts reported with the row (cache size ...), read after the row ran.
  std::function<std::map<std::string, double>()> stats;
  // Monotonic counters (cache hits ...), read around the closed-loop run and reported as the
  // difference over it.
  std::function<std::map<std::string, double>()> counters;
};

// Every row, in report order. `s1_algs` are the S1 algorithms.
std::vector<RowSpec> MakeRows(Environment& env, const std::vector<Alg>& s1_algs);

// Row selection by --rows. `prefixes` empty selects every row; otherwise a row is selected when
// its key starts with one of them ("S1" selects every S1 row, "S1.ES256" one of them).
bool RowSelected(const std::vector<std::string>& prefixes, const std::string& key);
// Whether some selected row may belong to `id_or_key` (a family such as "S4", or a key): also
// true when a prefix is longer ("S4.redis.sync" selects "S4"). Decides which fixtures to build.
bool FamilySelected(const std::vector<std::string>& prefixes, const std::string& id_or_key);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_STRATEGIES_H_
