#include "backends.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../common/proc_stats.h"
#include "fixtures.h"
#include "jose/base64url.h"
#include "progress.h"
#include "store/postgres_store.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string InfoField(const std::string& info, const std::string& name) {
  const std::string key = name + ":";
  size_t at = 0;
  while ((at = info.find(key, at)) != std::string::npos) {
    if (at == 0 || info[at - 1] == '\n') {
      const size_t end = info.find_first_of("\r\n", at);
      return info.substr(at + key.size(), end == std::string::npos ? end : end - at - key.size());
    }
    at += key.size();
  }
  return {};
}

struct RedisAddress {
  store::RedisOptions options;
  std::string text;
};

RedisAddress ParseRedis(const std::string& spec) {
  RedisAddress a;
  a.text = spec;
  if (spec.rfind("unix:", 0) == 0) {
    a.options.unix_socket = spec.substr(5);
  } else {
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos) {
      a.options.host = spec;
    } else {
      a.options.host = spec.substr(0, colon);
      a.options.port = std::stoi(spec.substr(colon + 1));
    }
  }
  return a;
}

// Loads the Redis keyspaces of rows S3 and S4, each through a connection of its own, and
// measures what each costs the server in memory (INFO memory used_memory before and after).
class RedisLoader {
 public:
  // Connects for INFO. Throws std::runtime_error.
  explicit RedisLoader(const store::RedisOptions& base) : base_(base) {
    store::RedisOptions options = base;
    options.key_prefix = "";
    std::string error;
    if (store::RedisStore::Connect(options, &info_, &error) != store::StoreStatus::kOk) {
      throw std::runtime_error(error);
    }
  }

  // version, pid and io_threads of the server. Throws std::runtime_error.
  Json Describe() {
    std::string info;
    const std::array<std::string_view, 2> info_server = {"INFO", "server"};
    if (info_->Command(info_server, &info) != store::StoreStatus::kOk) {
      throw std::runtime_error("INFO: " + info_->last_error());
    }
    return Json{{"version", InfoField(info, "redis_version")},
                {"pid", info_->server_pid()},
                {"io_threads", InfoField(info, "io_threads_active")}};
  }

  double UsedMemory() {
    std::string mem;
    const std::array<std::string_view, 2> argv = {"INFO", "memory"};
    if (info_->Command(argv, &mem) != store::StoreStatus::kOk) return 0;
    return std::atof(InfoField(mem, "used_memory").c_str());
  }

  // SETs `records` under `prefix` (expiring after `ttl` s when ttl > 0) and describes the load
  // in loads()[what]. Throws std::runtime_error.
  void SetMany(const char* what, const std::string& prefix,
               std::span<const store::SessionRecord> records, int64_t ttl) {
    store::RedisOptions o = base_;
    o.key_prefix = prefix;
    std::unique_ptr<store::RedisStore> loader;
    std::string err;
    if (store::RedisStore::Connect(o, &loader, &err) != store::StoreStatus::kOk) {
      throw std::runtime_error(err);
    }
    const double mem0 = UsedMemory();
    const auto t0 = Clock::now();
    Progress("  redis: %s %zu %s keys ...", ttl > 0 ? "SET EX (pipelined)" : "MSET", records.size(),
             what);
    if (loader->SetMany(records, ttl, 1000) != store::StoreStatus::kOk) {
      throw std::runtime_error(std::string("SET ") + what + ": " + loader->last_error());
    }
    const double seconds = SecondsSince(t0);
    Progress(" %.1f s\n", seconds);
    const double mem1 = UsedMemory();
    loads_[what] = Json{
        {"keys", records.size()},
        {"key_prefix", prefix},
        {"ttl_s", ttl},
        {"seconds", Round(seconds, 3)},
        {"used_memory_bytes", mem1 - mem0},
        {"bytes_per_key",
         Round((mem1 - mem0) / std::max<double>(1.0, static_cast<double>(records.size())), 1)}};
  }

  const Json& loads() const { return loads_; }

 private:
  store::RedisOptions base_;
  std::unique_ptr<store::RedisStore> info_;
  Json loads_ = Json::object();
};

// redis-benchmark can only address keys of the form <prefix><12-digit number>: renames the
// session records to such names (kept in *names), for its GET cross-check.
void RenameForRedisBenchmark(std::vector<store::SessionRecord>* records, std::string* names) {
  names->assign(records->size() * 12, '0');
  for (size_t i = 0; i < records->size(); ++i) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%012zu", i % 1000000000000);
    std::copy(buf, buf + 12, names->begin() + static_cast<std::ptrdiff_t>(i * 12));
    (*records)[i].id = std::string_view(*names).substr(i * 12, 12);
  }
}

// `count` random 22-character jtis (the base64url of 16 random bytes, kept in *jtis) for the
// S3 denylist.
std::vector<store::SessionRecord> DenylistRecords(size_t count, std::mt19937_64& rng,
                                                  std::string* jtis) {
  jtis->assign(count * 22, '\0');
  std::vector<store::SessionRecord> records(count);
  std::string jti;
  for (size_t i = 0; i < count; ++i) {
    uint8_t raw[16];
    for (size_t b = 0; b < 16; b += 8) {
      const uint64_t v = rng();
      for (size_t k = 0; k < 8; ++k) raw[b + k] = static_cast<uint8_t>(v >> (8 * k));
    }
    jose::Base64UrlEncode(raw, sizeof raw, &jti);
    std::copy(jti.begin(), jti.end(), jtis->begin() + static_cast<std::ptrdiff_t>(i * 22));
    records[i] = {std::string_view(*jtis).substr(i * 22, 22), "1"};
  }
  return records;
}

// Loads everything Redis needs; returns a JSON description or throws.
Json LoadRedis(const Config& c, const store::RedisOptions& base, const SessionSet* sessions,
               std::mt19937_64& rng) {
  RedisLoader redis(base);
  Json j = redis.Describe();
  j["used_memory_before_bytes"] = redis.UsedMemory();
  if (!c.load) return j;
  std::string values;
  std::string names;
  if (sessions != nullptr) {
    auto records = sessions->Records(&values);
    redis.SetMany("sessions", "sess:", records, 0);
    if (c.xc_keys) {
      RenameForRedisBenchmark(&records, &names);
      redis.SetMany("redis_benchmark_aliases", "xc:", records, 0);
    }
  }
  if (c.denylist > 0) {
    std::string jtis;
    const std::vector<store::SessionRecord> records = DenylistRecords(c.denylist, rng, &jtis);
    redis.SetMany("denylist", "deny:", records, 2 * kTokenLifetimeS);
  }
  j["loads"] = redis.loads();
  j["used_memory_after_bytes"] = redis.UsedMemory();
  return j;
}

// backends["redis"]: the S3 denylist and, when S4 runs, the sessions.
Json SetUpRedis(const Config& c, Environment* env, std::mt19937_64& rng) {
  if (c.redis.empty()) {
    env->redis_unavailable = "no Redis server given (--redis)";
    return Json{{"available", false}, {"reason", env->redis_unavailable}};
  }
  const RedisAddress addr = ParseRedis(c.redis);
  try {
    Json b =
        LoadRedis(c, addr.options, FamilySelected(c.rows, "S4") ? env->sessions : nullptr, rng);
    b["available"] = true;
    b["address"] = addr.text;
    env->redis = addr.options;
    return b;
  } catch (const std::exception& e) {
    env->redis_unavailable = std::string("redis: ") + e.what();
    Progress("\n  %s\n", env->redis_unavailable.c_str());
    return Json{{"available", false}, {"address", addr.text}, {"reason", e.what()}};
  }
}

// Loads the sessions (unless --no-load) and prewarms the table: the part of backends
// ["postgresql"] that needs the server.
void LoadPostgres(const Config& c, Environment* env, Json* b) {
  store::PostgresOptions options{.conninfo = c.postgres};
  std::string error;
  store::StoreStatus s = store::StoreStatus::kOk;
  if (c.load) {
    std::string values;
    auto records = env->sessions->Records(&values);
    Progress("  postgresql: COPY %zu sessions, primary key, VACUUM ANALYZE ...", records.size());
    const auto t0 = Clock::now();
    s = store::PostgresStore::CreateAndLoad(options, records, &error);
    const double seconds = SecondsSince(t0);
    Progress(" %.1f s\n", seconds);
    (*b)["load"] = Json{{"rows", records.size()}, {"seconds", Round(seconds, 3)}};
  }
  std::unique_ptr<store::PostgresStore> probe;
  if (s == store::StoreStatus::kOk) s = store::PostgresStore::Connect(options, &probe, &error);
  if (s != store::StoreStatus::kOk) {
    env->postgres_unavailable = error;
    Progress("  %s\n", error.c_str());
    (*b)["available"] = false;
    (*b)["reason"] = error;
    return;
  }
  // Warm server: table and index in shared buffers, as in a server that has been answering
  // lookups for a while. Without pg_prewarm the rows still run (cold).
  int64_t pages = 0;
  std::string prewarm_error;
  const auto t0 = Clock::now();
  const bool warm =
      store::PostgresStore::Prewarm(options, &pages, &prewarm_error) == store::StoreStatus::kOk;
  (*b)["prewarm"] = warm ? Json{{"pages", pages}, {"seconds", Round(SecondsSince(t0), 3)}}
                         : Json{{"error", prewarm_error}};
  if (!warm) Progress("  postgresql: not prewarmed: %s\n", prewarm_error.c_str());
  env->postgres = options;
  (*b)["available"] = true;
  (*b)["conninfo"] = c.postgres;
  (*b)["version"] = probe->server_version();
  (*b)["postmaster_pid"] = ParentPid(probe->server_pid());
}

// backends["postgresql"]: the S5 sessions.
Json SetUpPostgres(const Config& c, Environment* env) {
  Json b;
  if (c.postgres.empty()) {
    env->postgres_unavailable = "no PostgreSQL server given (--postgres)";
    b = Json{{"available", false}, {"reason", env->postgres_unavailable}};
  } else {
    LoadPostgres(c, env, &b);
  }
  return b;
}

// backends["sqlite"]: the S6 sessions, in WORKDIR/sessions.db unless --sqlite.
Json SetUpSqlite(const Config& c, Environment* env) {
  store::SqliteOptions options;
  options.path = c.sqlite.empty() ? c.workdir + "/sessions.db" : c.sqlite;
  Json b{{"library_version", sqlite3_libversion()},
         {"path", options.path},
         {"mmap_bytes", options.mmap_bytes},
         {"cache_kib", options.cache_kib}};
  std::string error;
  store::StoreStatus s = store::StoreStatus::kOk;
  if (c.load) {
    std::string values;
    auto records = env->sessions->Records(&values);
    Progress("  sqlite: INSERT %zu sessions in one transaction ...", records.size());
    const auto t0 = Clock::now();
    s = store::SqliteStore::CreateAndLoad(options, records, &error);
    const double seconds = SecondsSince(t0);
    Progress(" %.1f s\n", seconds);
    b["load"] = Json{{"rows", records.size()}, {"seconds", Round(seconds, 3)}};
  }
  std::unique_ptr<store::SqliteStore> probe;
  if (s == store::StoreStatus::kOk) s = store::SqliteStore::Open(options, &probe, &error);
  if (s == store::StoreStatus::kOk) {
    env->sqlite = options;
    b["available"] = true;
    std::error_code ec;
    b["file_bytes"] = std::filesystem::file_size(options.path, ec);
  } else {
    env->sqlite_unavailable = error;
    b["available"] = false;
    b["reason"] = error;
  }
  return b;
}

}  // namespace

Json SetUpBackends(const Config& c, Environment* env, std::mt19937_64& rng) {
  Json backends = Json::object();
  if (FamilySelected(c.rows, "S3") || FamilySelected(c.rows, "S4")) {
    backends["redis"] = SetUpRedis(c, env, rng);
  }
  if (FamilySelected(c.rows, "S5") && env->sessions != nullptr) {
    backends["postgresql"] = SetUpPostgres(c, env);
  }
  if (FamilySelected(c.rows, "S6") && env->sessions != nullptr) {
    backends["sqlite"] = SetUpSqlite(c, env);
  }
  return backends;
}

}  // namespace jwtgate::bench
