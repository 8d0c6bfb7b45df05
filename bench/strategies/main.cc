// jwtgate-bench: the flag-driven macro benchmarks. Subcommand `strategies`: what trusting a JWT
// costs against a per-request session lookup, every strategy on the same machine in one run
// (the rows are described in strategies.h, the load disciplines in driver.h, the data in
// fixtures.h). scripts/bench-strategies starts private Redis and PostgreSQL servers, runs this,
// adds the servers' own tools' figures (redis-benchmark, pgbench) and writes strategies.json.
// With --mode e2e it measures the rows jwtgated serves through the daemon over HTTP instead
// (e2e.h); scripts/bench-strategies runs that too and puts it under "e2e" in strategies.json.
//
// Output: one JSON document (schema "jwtgate.strategies/1"), described by its own "units" and
// "method" members, so that a reader (scripts/strategies_summary.py, the capacity report) needs
// nothing else.

#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "driver.h"
#include "e2e.h"
#include "fixtures.h"
#include "jose/base64url.h"
#include "proc_stats.h"
#include "progress.h"
#include "store/client_versions.h"
#include "store/postgres_store.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"
#include "strategies.h"

namespace jwtgate::bench {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

struct Config {
  std::string mode = "in-process";
  unsigned threads = 0;
  double duration_s = 3.0;
  double open_duration_s = 2.0;
  double warmup_s = 0.5;
  std::vector<double> rate_fractions = {0.25, 0.5, 0.75};
  std::vector<std::string> rows;  // key prefixes; empty: all
  std::vector<std::string> algs = {"HS256", "RS256", "PS256", "ES256", "EdDSA"};
  std::string jwt_alg = "HS256";
  size_t tokens = 10000;
  size_t rsa_tokens = 2000;
  size_t sessions = 1000000;
  size_t denylist = 1000000;
  size_t revoked = 10000000;
  size_t watermarks = 1000;
  size_t pipeline = 16;
  std::string redis;     // host:port or unix:/path; empty: Redis rows skipped
  std::string postgres;  // libpq conninfo; empty: PostgreSQL rows skipped
  std::string sqlite;    // database path; empty: <workdir>/sessions.db
  std::string workdir;   // empty: a new temporary directory, removed at exit
  bool keep_workdir = false;
  bool load = true;
  bool xc_keys = true;
  uint64_t seed = 1;
  std::string out = "-";
  bool quick = false;
  bool closed_only = false;
  bool warm_connections = true;
  bool quiet = false;
  bool list_rows = false;
  std::set<std::string> given;  // flags given on the command line
  // e2e: programs (empty: next to this binary in the build tree) and load settings.
  std::string jwtgated;
  std::string loadgen;
  std::string nginx = "/usr/sbin/nginx";
  unsigned connections = 64;
  unsigned client_threads = 1;
  unsigned daemon_workers = 0;
  unsigned io_threads = 1;
  std::string inline_verify = "hmac";
  size_t cache_entries = 65536;
};

// The build tree's root, from this binary's path (BUILD/bench/strategies/jwtgate-bench).
std::string BuildRoot() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return self.parent_path().parent_path().parent_path().string();
}

std::vector<double> LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return {a, b, c};
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

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

bool Selected(const Config& c, const std::string& id_or_key) {
  if (c.rows.empty()) return true;
  for (const std::string& p : c.rows) {
    if (id_or_key.rfind(p, 0) == 0 || p.rfind(id_or_key, 0) == 0) return true;
  }
  return false;
}

bool RowSelected(const Config& c, const std::string& key) {
  if (c.rows.empty()) return true;
  for (const std::string& p : c.rows) {
    if (key.rfind(p, 0) == 0) return true;
  }
  return false;
}

Json Percentiles(const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return Round(static_cast<double>(ns) / 1000.0, 3); };
  return Json{{"p50", us(h.ValueAtPercentile(50))},
              {"p90", us(h.ValueAtPercentile(90))},
              {"p99", us(h.ValueAtPercentile(99))},
              {"p999", us(h.ValueAtPercentile(99.9))},
              {"max", us(h.max())},
              {"mean", Round(h.mean() / 1000.0, 3)},
              {"samples", h.count()}};
}

Json CpuJson(const LoadResult& r) {
  Json per_million = Json::object();
  Json utilisation = Json::object();
  double total = 0;
  for (const auto& [name, seconds] : r.cpu_s) {
    total += seconds;
    per_million[name] =
        r.requests > 0 ? Round(seconds / static_cast<double>(r.requests) * 1e6, 3) : 0.0;
    utilisation[name] = r.window_s > 0 ? Round(seconds / r.window_s, 3) : 0.0;
  }
  per_million["total"] =
      r.requests > 0 ? Round(total / static_cast<double>(r.requests) * 1e6, 3) : 0.0;
  utilisation["total"] = r.window_s > 0 ? Round(total / r.window_s, 3) : 0.0;
  return Json{{"cpu_s_per_million", per_million}, {"cpu_cores_busy", utilisation}};
}

Json LoadJson(const LoadResult& r) {
  Json j;
  if (r.open_loop) {
    j["offered_rps"] = Round(r.offered_rps, 1);
  }
  j["window_s"] = Round(r.window_s, 3);
  j["requests"] = r.requests;
  j["errors"] = r.errors;
  if (r.open_loop) j["unsent"] = r.unsent;
  j[r.open_loop ? "achieved_rps" : "throughput_rps"] = Round(r.achieved_rps, 1);
  if (r.open_loop) {
    j["saturated"] = r.unsent > 0 || r.achieved_rps < 0.95 * r.offered_rps;
  }
  j[r.open_loop ? "latency_us" : "service_time_us"] = Percentiles(r.histogram);
  const Json cpu = CpuJson(r);
  j["cpu_s_per_million"] = cpu["cpu_s_per_million"];
  j["cpu_cores_busy"] = cpu["cpu_cores_busy"];
  return j;
}

// ---------------------------------------------------------------------------------------------

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

void RevocationProgress(size_t done, size_t total) {
  static size_t last = 0;
  if (done == total || done >= last + (size_t{2} << 20) || done < last) {
    last = done;
    Progress("  revocations: %zu / %zu\n", done, total);
  }
}

// Loads everything Redis needs; returns a JSON description or throws.
Json LoadRedis(const Config& c, const store::RedisOptions& base, const SessionSet* sessions,
               std::mt19937_64& rng) {
  Json j;
  store::RedisOptions options = base;
  std::unique_ptr<store::RedisStore> r;
  std::string error;
  options.key_prefix = "";
  if (store::RedisStore::Connect(options, &r, &error) != store::StoreStatus::kOk) {
    throw std::runtime_error(error);
  }
  std::string info;
  const std::array<std::string_view, 2> info_server = {"INFO", "server"};
  if (r->Command(info_server, &info) != store::StoreStatus::kOk) {
    throw std::runtime_error("INFO: " + r->last_error());
  }
  j["version"] = InfoField(info, "redis_version");
  j["pid"] = r->server_pid();
  j["io_threads"] = InfoField(info, "io_threads_active");
  auto used_memory = [&]() -> double {
    std::string mem;
    const std::array<std::string_view, 2> argv = {"INFO", "memory"};
    if (r->Command(argv, &mem) != store::StoreStatus::kOk) return 0;
    return std::atof(InfoField(mem, "used_memory").c_str());
  };
  j["used_memory_before_bytes"] = used_memory();
  if (!c.load) return j;

  Json loads = Json::object();
  auto set_many = [&](const char* what, const std::string& prefix,
                      std::span<const store::SessionRecord> records, int64_t ttl) {
    store::RedisOptions o = base;
    o.key_prefix = prefix;
    std::unique_ptr<store::RedisStore> loader;
    std::string err;
    if (store::RedisStore::Connect(o, &loader, &err) != store::StoreStatus::kOk) {
      throw std::runtime_error(err);
    }
    const double mem0 = used_memory();
    const auto t0 = Clock::now();
    Progress("  redis: %s %zu %s keys ...", ttl > 0 ? "SET EX (pipelined)" : "MSET", records.size(),
             what);
    if (loader->SetMany(records, ttl, 1000) != store::StoreStatus::kOk) {
      throw std::runtime_error(std::string("SET ") + what + ": " + loader->last_error());
    }
    const double seconds = SecondsSince(t0);
    Progress(" %.1f s\n", seconds);
    const double mem1 = used_memory();
    loads[what] = Json{
        {"keys", records.size()},
        {"key_prefix", prefix},
        {"ttl_s", ttl},
        {"seconds", Round(seconds, 3)},
        {"used_memory_bytes", mem1 - mem0},
        {"bytes_per_key",
         Round((mem1 - mem0) / std::max<double>(1.0, static_cast<double>(records.size())), 1)}};
  };
  std::string values;
  if (sessions != nullptr) {
    auto records = sessions->Records(&values);
    set_many("sessions", "sess:", records, 0);
    if (c.xc_keys) {
      // redis-benchmark can only address keys of the form <prefix><12-digit number>: the same
      // values again under such names, for its GET cross-check.
      std::string names(sessions->size() * 12, '0');
      for (size_t i = 0; i < sessions->size(); ++i) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "%012zu", i % 1000000000000);
        std::copy(buf, buf + 12, names.begin() + static_cast<std::ptrdiff_t>(i * 12));
        records[i].id = std::string_view(names).substr(i * 12, 12);
      }
      set_many("redis_benchmark_aliases", "xc:", records, 0);
    }
  }
  if (c.denylist > 0) {
    std::string jtis(c.denylist * 22, '\0');
    std::vector<store::SessionRecord> records(c.denylist);
    std::string jti;
    for (size_t i = 0; i < c.denylist; ++i) {
      uint8_t raw[16];
      for (size_t b = 0; b < 16; b += 8) {
        const uint64_t v = rng();
        for (size_t k = 0; k < 8; ++k) raw[b + k] = static_cast<uint8_t>(v >> (8 * k));
      }
      jose::Base64UrlEncode(raw, sizeof raw, &jti);
      std::copy(jti.begin(), jti.end(), jtis.begin() + static_cast<std::ptrdiff_t>(i * 22));
      records[i] = {std::string_view(jtis).substr(i * 22, 22), "1"};
    }
    set_many("denylist", "deny:", records, 2 * kTokenLifetimeS);
  }
  j["loads"] = loads;
  j["used_memory_after_bytes"] = used_memory();
  return j;
}

// ---------------------------------------------------------------------------------------------

// The state a strategy keeps, and what it costs in memory, from the set-up figures: what a
// capacity plan multiplies by the number of sessions or revocations.
Json StateJson(const RowSpec& row, const Json& doc) {
  auto at = [&](std::initializer_list<const char*> path) -> const Json* {
    const Json* j = &doc;
    for (const char* k : path) {
      if (!j->is_object() || !j->contains(k)) return nullptr;
      j = &(*j)[k];
    }
    return j;
  };
  auto state = [](const char* what, double bytes, double items) {
    return Json{{"what", what},
                {"bytes", bytes},
                {"items", items},
                {"bytes_per_item", items > 0 ? Round(bytes / items, 1) : 0.0}};
  };
  if (row.id == "S0" || row.id == "S1") return state("none (public keys only)", 0, 0);
  if (row.id == "S2" || row.id == "S7") {
    const Json* r = at({"setup", "revocation"});
    if (r == nullptr) return nullptr;
    const double bytes = (*r)["filter_bytes"].get<double>() + (*r)["exact_bytes"].get<double>() +
                         (*r)["watermark_bytes"].get<double>();
    return state(row.id == "S2" ? "in-process revocation store: filters, exact tables, "
                                  "watermarks (per revoked jti)"
                                : "revocation store as S2, plus the verified-token cache",
                 bytes, (*r)["revoked_jtis"].get<double>());
  }
  if (row.id == "S3" || row.id == "S4") {
    const Json* l = at({"backends", "redis", "loads", row.id == "S3" ? "denylist" : "sessions"});
    if (l == nullptr) return nullptr;
    return state(row.id == "S3"
                     ? "Redis used_memory growth while loading the denylist (per revoked jti)"
                     : "Redis used_memory growth while loading the sessions (per session)",
                 (*l)["used_memory_bytes"].get<double>(), (*l)["keys"].get<double>());
  }
  if (row.id == "S5") {
    const Json* p = at({"backends", "postgresql", "prewarm", "pages"});
    const Json* n = at({"setup", "sessions", "count"});
    if (p == nullptr || n == nullptr) return nullptr;
    return state("PostgreSQL table + primary key (prewarmed 8 KiB blocks; per session)",
                 p->get<double>() * 8192, n->get<double>());
  }
  if (row.id == "S6") {
    const Json* f = at({"backends", "sqlite", "file_bytes"});
    const Json* n = at({"setup", "sessions", "count"});
    if (f == nullptr || n == nullptr) return nullptr;
    return state("SQLite database file (per session)", f->get<double>(), n->get<double>());
  }
  return nullptr;
}

Json MethodJson(const Config& c) {
  return Json{
      {"mode", c.mode},
      {"in_process",
       "library calls from N threads of this process, one VerifyContext and one database "
       "connection per thread; requests pick a token or a session uniformly at random"},
      {"closed_loop",
       "each thread sends its next request as soon as the previous one is answered, for "
       "duration_s after warmup_s; throughput_rps = answered requests / window. "
       "service_time_us is the duration of the call that answered (the batch round trip for "
       "pipelined rows), not a latency under load"},
      {"open_loop",
       "fixed offered rate = fraction x the row's closed-loop throughput, evenly spaced "
       "intended send times per thread; latency_us is measured from the INTENDED send time "
       "(no coordinated omission; wrk2's method); pipelined rows send every due request, up to "
       "the batch size, in one round trip; saturated = unsent requests or achieved < 95% of "
       "offered"},
      {"cpu",
       "utime+stime deltas from /proc/<pid>/stat over the measured window, per process group: "
       "bench (this process: client work, verification, harness), redis-server, postgres "
       "backends (this run's connections), postgres other (the rest of the server: "
       "checkpointer, WAL writer, ...); cpu_s_per_million = CPU seconds per million requests = "
       "CPU microseconds per request; resolution 1/CLK_TCK s"},
      {"memory",
       "VmRSS and Pss (smaps_rollup; shared pages divided among sharers) per process group "
       "after the row's closed-loop run; the benchmark process holds every row's data at once, "
       "so its figure is not one strategy's"},
      {"state",
       "the memory of the state a strategy keeps (revocation store, Redis keys, table, file), "
       "from the set-up, with bytes per item: what a capacity plan scales"},
      {"histogram",
       Json{{"kind", "log-linear (HDR-style)"},
            {"sub_bucket_bits", LatencyHistogram::kDefaultSubBucketBits},
            {"relative_precision", LatencyHistogram().relative_precision()},
            {"percentile_value", "highest value equivalent to the bucket of the rank"}}},
  };
}

int WriteDocument(const Json& doc, const std::string& out, Clock::time_point run_start) {
  const std::string text = doc.dump(2) + "\n";
  if (out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const std::string tmp = out + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "jwtgate-bench strategies: cannot write %s\n", tmp.c_str());
    return 1;
  }
  std::filesystem::rename(tmp, out);
  Progress("wrote %s (%.0f s)\n", out.c_str(), SecondsSince(run_start));
  return 0;
}

std::string DateUtc() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

int RunE2eMode(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg,
               const std::string& command_line) {
  const auto run_start = Clock::now();
  const std::string root = BuildRoot();
  E2eOptions o;
  o.jwtgated = c.jwtgated.empty() ? root + "/core/daemon/jwtgated" : c.jwtgated;
  o.loadgen = c.loadgen.empty() ? root + "/bench/loadgen/loadgen" : c.loadgen;
  o.nginx = c.nginx;
  o.workdir = c.workdir;
  o.connections = c.connections;
  o.client_threads = c.client_threads;
  o.daemon_workers = c.daemon_workers;
  o.io_threads = c.io_threads;
  o.inline_verify = c.inline_verify;
  o.cache_entries = c.cache_entries;
  o.duration_s = c.duration_s;
  o.open_duration_s = c.open_duration_s;
  o.warmup_s = c.warmup_s;
  o.rate_fractions = c.rate_fractions;
  o.rows = c.rows;
  o.algs = s1_algs;
  o.jwt_alg = jwt_alg;
  o.tokens = c.tokens;
  o.rsa_tokens = c.rsa_tokens;
  o.revoked = c.revoked;
  o.watermarks = c.watermarks;
  o.threads = c.threads;
  o.seed = c.seed;
  o.closed_only = c.closed_only;
  o.quiet = c.quiet;
  Progress("jwtgate-bench strategies --mode e2e: %u connections, %.1f s closed + %zu x %.1f s "
           "open per row, %zu revoked\n",
           o.connections, o.duration_s, c.closed_only ? size_t{0} : o.rate_fractions.size(),
           o.open_duration_s, o.revoked);
  Json body = RunE2e(o);
  Json doc;
  doc["schema"] = body["schema"];
  doc["title"] = body["title"];
  doc["command"] = command_line;
  doc["date_utc"] = DateUtc();
  doc["host"] = Hostname();
  doc["units"] = Json{{"throughput", "requests per second"},
                      {"latency", "microseconds"},
                      {"cpu", "CPU seconds per million requests (= CPU microseconds per request)"},
                      {"memory", "KiB"},
                      {"time", "seconds"}};
  doc["versions"] = Json{{"openssl", OpenSSL_version(OPENSSL_VERSION)}};
  for (const auto& [k, v] : body.items()) {
    if (!doc.contains(k)) doc[k] = v;
  }
  doc["config"]["quick"] = c.quick;
  return WriteDocument(doc, c.out, run_start);
}

int RunStrategies(Config c, const std::string& command_line) {
  g_quiet = c.quiet;
  const bool e2e = c.mode == "e2e";
  if (e2e) {
    // Over HTTP every open-loop rate gets 5 s (tens of thousands of samples for the p99.9 of
    // the slow algorithms); a smoke run keeps seconds per row. HTTP connections want a little
    // more warm-up than library calls. Flags given explicitly keep their values.
    auto e2e_default = [&](const char* flag, double* field, double value) {
      if (c.given.count(flag) == 0) *field = value;
    };
    e2e_default("--duration", &c.duration_s, c.quick ? 1.0 : 5.0);
    e2e_default("--open-duration", &c.open_duration_s, c.quick ? 0.5 : 5.0);
    if (c.quick) e2e_default("--warmup", &c.warmup_s, 0.25);
  }
  if (c.quick) {
    // Smaller defaults; flags given explicitly keep their values.
    auto quick = [&](const char* flag, auto* field, auto value) {
      if (c.given.count(flag) == 0) *field = value;
    };
    if (!e2e) {
      quick("--duration", &c.duration_s, 0.5);
      quick("--open-duration", &c.open_duration_s, 0.3);
      quick("--warmup", &c.warmup_s, 0.1);
    }
    quick("--tokens", &c.tokens, size_t{500});
    quick("--rsa-tokens", &c.rsa_tokens, size_t{200});
    quick("--sessions", &c.sessions, size_t{20000});
    quick("--denylist", &c.denylist, size_t{20000});
    quick("--revoked", &c.revoked, size_t{200000});
    quick("--watermarks", &c.watermarks, size_t{100});
  }
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());

  std::vector<Alg> s1_algs;
  for (const std::string& name : c.algs) {
    Alg a;
    if (!AlgFromName(name, &a)) {
      std::fprintf(stderr, "jwtgate-bench strategies: unknown algorithm '%s'\n", name.c_str());
      return 2;
    }
    s1_algs.push_back(a);
  }
  Alg jwt_alg;
  if (!AlgFromName(c.jwt_alg, &jwt_alg)) {
    std::fprintf(stderr, "jwtgate-bench strategies: unknown --jwt-alg '%s'\n", c.jwt_alg.c_str());
    return 2;
  }

  if (c.list_rows) {
    Environment env;
    env.jwt_alg = jwt_alg;
    env.pipeline_depth = c.pipeline;
    for (const RowSpec& r : MakeRows(env, s1_algs)) {
      std::printf("%-24s %-3s %-50s %s\n", r.key.c_str(), r.id.c_str(), r.name.c_str(),
                  r.description.c_str());
    }
    return 0;
  }

  // Work directory: revocation state, SQLite database.
  bool own_workdir = false;
  if (c.workdir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "jwtgate-strategies.XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    c.workdir = tmpl;
    own_workdir = !c.keep_workdir;
  } else {
    std::filesystem::create_directories(c.workdir);
  }
  struct Cleanup {
    std::string dir;
    bool active;
    ~Cleanup() {
      if (active) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  } cleanup{c.workdir, own_workdir};
  // Ctrl-C or a TERM must not leave the temporary directory (a 10 M revocation log is about
  // 300 MB) behind: the signals are blocked in every thread and taken by one that removes it.
  if (own_workdir || e2e) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set, dir = c.workdir, own_workdir] {
      int sig = 0;
      sigwait(&set, &sig);
      StopE2eChildren();  // the e2e servers and load generators
      if (own_workdir) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        std::fprintf(stderr, "jwtgate-bench strategies: signal %d, removed %s\n", sig,
                     dir.c_str());
      }
      _exit(128 + sig);
    }).detach();
  }
  if (e2e) return RunE2eMode(c, s1_algs, jwt_alg, command_line);

  const auto run_start = Clock::now();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::mt19937_64 rng(c.seed);
  Json doc;
  doc["schema"] = "jwtgate.strategies/1";
  doc["title"] =
      "What trusting a JWT costs against a per-request session lookup, same machine, one run";
  doc["command"] = command_line;
  doc["date_utc"] = DateUtc();
  doc["host"] = Hostname();
  doc["loadavg_at_start"] = LoadAverage();
  doc["units"] = Json{{"throughput", "requests per second (all threads)"},
                      {"latency", "microseconds"},
                      {"cpu", "CPU seconds per million requests (= CPU microseconds per request)"},
                      {"memory", "KiB"},
                      {"time", "seconds"}};
  doc["method"] = MethodJson(c);
  doc["config"] = Json{{"threads", c.threads},
                       {"duration_s", c.duration_s},
                       {"open_duration_s", c.open_duration_s},
                       {"warmup_s", c.warmup_s},
                       {"rate_fractions", c.rate_fractions},
                       {"tokens_per_alg", c.tokens},
                       {"tokens_per_rsa_alg", c.rsa_tokens},
                       {"sessions", c.sessions},
                       {"redis_denylist", c.denylist},
                       {"revoked", c.revoked},
                       {"watermarks", c.watermarks},
                       {"pipeline_depth", c.pipeline},
                       {"jwt_alg", c.jwt_alg},
                       {"seed", c.seed},
                       {"quick", c.quick},
                       {"closed_only", c.closed_only},
                       {"warm_connections", c.warm_connections}};
  doc["versions"] = Json{{"openssl", OpenSSL_version(OPENSSL_VERSION)},
                         {"hiredis", store::HiredisVersion()},
                         {"libpq", store::LibpqVersion()},
                         {"sqlite", store::SqliteVersion()}};

  Progress("jwtgate-bench strategies: %u threads, %.1f s closed + %zu x %.1f s open per row%s\n",
           c.threads, c.duration_s, c.rate_fractions.size(), c.open_duration_s,
           c.quick ? " (quick)" : "");

  // Tokens.
  Environment env;
  env.now = now;
  env.jwt_alg = jwt_alg;
  env.pipeline_depth = std::max<size_t>(1, c.pipeline);
  env.warm_connections = c.warm_connections;
  Json setup;
  Json token_json = Json::object();
  std::vector<Alg> pool_algs;
  for (Alg a : s1_algs) {
    if (Selected(c, "S1." + std::string(AlgName(a)))) pool_algs.push_back(a);
  }
  if (std::find(pool_algs.begin(), pool_algs.end(), jwt_alg) == pool_algs.end()) {
    pool_algs.push_back(jwt_alg);
  }
  for (Alg a : pool_algs) {
    // RSA signing costs milliseconds per token; verification does not depend on the number of
    // distinct tokens once they exceed the caches, so RSA pools may be smaller (--rsa-tokens).
    const bool rsa = FamilyOf(a) == AlgFamily::kRsaPkcs1 || FamilyOf(a) == AlgFamily::kRsaPss;
    const size_t count = rsa && a != jwt_alg ? c.rsa_tokens : c.tokens;
    Progress("  tokens: %zu x %s ...", count, std::string(AlgName(a)).c_str());
    try {
      TokenPool pool = MakeTokenPool(a, count, now, c.threads, c.seed);
      Progress(" %.1f s\n", pool.sign_seconds);
      token_json[std::string(AlgName(a))] =
          Json{{"count", pool.tokens.size()},
               {"sign_seconds", Round(pool.sign_seconds, 3)},
               {"mean_token_bytes", Round(pool.mean_token_bytes, 1)},
               {"example_header", Json::parse(pool.example_header, nullptr, false)},
               {"example_payload", Json::parse(pool.example_payload, nullptr, false)}};
      env.pools.emplace(a, std::move(pool));
    } catch (const std::exception& e) {
      // The rows of this algorithm are skipped ("no token pool"); the others run.
      Progress(" FAILED: %s\n", e.what());
      token_json[std::string(AlgName(a))] = Json{{"error", e.what()}};
    }
  }
  setup["tokens"] = token_json;

  // Sessions.
  const bool need_sessions = Selected(c, "S4") || Selected(c, "S5") || Selected(c, "S6");
  std::unique_ptr<SessionSet> sessions;
  if (need_sessions && c.sessions > 0) {
    Progress("  sessions: %zu ids ...", c.sessions);
    sessions = std::make_unique<SessionSet>(c.sessions, now);
    Progress(" %.1f s\n", sessions->build_seconds);
    env.sessions = sessions.get();
    setup["sessions"] = Json{{"count", c.sessions},
                             {"id_bytes", SessionSet::kIdBytes},
                             {"id", "SHA-256(\"jwtgate-session:\" || n), n = 0..count-1"},
                             {"cookie", "base64url(id), 43 characters"},
                             {"example_value", Json::parse(sessions->Value(0))},
                             {"value_bytes", sessions->Value(0).size()},
                             {"build_seconds", Round(sessions->build_seconds, 3)}};
  }

  // Backends.
  Json backends = Json::object();
  if (Selected(c, "S3") || Selected(c, "S4")) {
    Json b;
    if (c.redis.empty()) {
      env.redis_unavailable = "no Redis server given (--redis)";
      b = Json{{"available", false}, {"reason", env.redis_unavailable}};
    } else {
      const RedisAddress addr = ParseRedis(c.redis);
      try {
        b = LoadRedis(c, addr.options, Selected(c, "S4") ? env.sessions : nullptr, rng);
        b["available"] = true;
        b["address"] = addr.text;
        env.redis = addr.options;
      } catch (const std::exception& e) {
        env.redis_unavailable = std::string("redis: ") + e.what();
        Progress("\n  %s\n", env.redis_unavailable.c_str());
        b = Json{{"available", false}, {"address", addr.text}, {"reason", e.what()}};
      }
    }
    backends["redis"] = b;
  }
  std::string values;
  if (Selected(c, "S5") && env.sessions != nullptr) {
    Json b;
    if (c.postgres.empty()) {
      env.postgres_unavailable = "no PostgreSQL server given (--postgres)";
      b = Json{{"available", false}, {"reason", env.postgres_unavailable}};
    } else {
      store::PostgresOptions options{.conninfo = c.postgres};
      std::string error;
      store::StoreStatus s = store::StoreStatus::kOk;
      if (c.load) {
        auto records = env.sessions->Records(&values);
        Progress("  postgresql: COPY %zu sessions, primary key, VACUUM ANALYZE ...",
                 records.size());
        const auto t0 = Clock::now();
        s = store::PostgresStore::CreateAndLoad(options, records, &error);
        const double seconds = SecondsSince(t0);
        Progress(" %.1f s\n", seconds);
        b["load"] = Json{{"rows", records.size()}, {"seconds", Round(seconds, 3)}};
      }
      std::unique_ptr<store::PostgresStore> probe;
      if (s == store::StoreStatus::kOk) s = store::PostgresStore::Connect(options, &probe, &error);
      if (s == store::StoreStatus::kOk) {
        // Warm server: table and index in shared buffers, as in a server that has been
        // answering lookups for a while. Without pg_prewarm the rows still run (cold).
        int64_t pages = 0;
        std::string prewarm_error;
        const auto t0 = Clock::now();
        const bool warm = store::PostgresStore::Prewarm(options, &pages, &prewarm_error) ==
                          store::StoreStatus::kOk;
        b["prewarm"] = warm ? Json{{"pages", pages}, {"seconds", Round(SecondsSince(t0), 3)}}
                            : Json{{"error", prewarm_error}};
        if (!warm) Progress("  postgresql: not prewarmed: %s\n", prewarm_error.c_str());
        env.postgres = options;
        b["available"] = true;
        b["conninfo"] = c.postgres;
        b["version"] = probe->server_version();
        b["postmaster_pid"] = ParentPid(probe->server_pid());
      } else {
        env.postgres_unavailable = error;
        Progress("  %s\n", error.c_str());
        b["available"] = false;
        b["reason"] = error;
      }
    }
    backends["postgresql"] = b;
  }
  if (Selected(c, "S6") && env.sessions != nullptr) {
    store::SqliteOptions options;
    options.path = c.sqlite.empty() ? c.workdir + "/sessions.db" : c.sqlite;
    Json b{{"library_version", sqlite3_libversion()},
           {"path", options.path},
           {"mmap_bytes", options.mmap_bytes},
           {"cache_kib", options.cache_kib}};
    std::string error;
    store::StoreStatus s = store::StoreStatus::kOk;
    if (c.load) {
      auto records = env.sessions->Records(&values);
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
      env.sqlite = options;
      b["available"] = true;
      std::error_code ec;
      b["file_bytes"] = std::filesystem::file_size(options.path, ec);
    } else {
      env.sqlite_unavailable = error;
      b["available"] = false;
      b["reason"] = error;
    }
    backends["sqlite"] = b;
  }
  values.clear();
  values.shrink_to_fit();
  doc["backends"] = backends;

  // Revocations.
  RevocationFixture revocation;
  std::string revocation_error;
  if (Selected(c, "S2") || Selected(c, "S7")) {
    Progress("  revocations: %zu jtis + %zu subject watermarks (sync off) ...\n", c.revoked,
             c.watermarks);
    try {
      revocation =
          MakeRevocationStore(c.workdir + "/revocations", c.revoked, c.watermarks,
                              env.pools.at(jwt_alg), now, c.seed, c.threads, &RevocationProgress);
    } catch (const std::exception& e) {
      revocation_error = e.what();
      Progress("  revocations: FAILED: %s\n", e.what());
      setup["revocation"] = Json{{"error", revocation_error}};
    }
  }
  if (revocation.store != nullptr) {
    Progress("  revocations: %.1f s (%.2f M/s)\n", revocation.insert_seconds,
             static_cast<double>(revocation.revoked) / revocation.insert_seconds / 1e6);
    env.revocation = revocation.store.get();
    const RevocationStats st = revocation.store->Stats();
    setup["revocation"] = Json{
        {"revoked_jtis", revocation.revoked},
        {"subject_watermarks", revocation.watermarks},
        {"insert_seconds", Round(revocation.insert_seconds, 3)},
        {"insert_cpu_seconds", Round(revocation.insert_cpu_seconds, 3)},
        {"insert_threads", c.threads},
        {"inserts_per_second",
         Round(static_cast<double>(revocation.revoked) / std::max(1e-9, revocation.insert_seconds),
               0)},
        {"watermark_seconds", Round(revocation.watermark_seconds, 3)},
        {"sync", false},
        {"generations", st.generations},
        {"filter_bytes", st.filter_bytes},
        {"exact_bytes", st.exact_bytes},
        {"watermark_bytes", st.watermark_bytes},
        {"filter_bits_per_key", Round(st.filter_bits_per_key, 2)},
        {"expected_fpr", st.expected_fpr},
        {"log_bytes", st.log_bytes}};
  }
  setup["seconds"] = Round(SecondsSince(run_start), 3);
  doc["setup"] = setup;

  // Rows.
  std::vector<RowSpec> all_rows = MakeRows(env, s1_algs);
  for (RowSpec& r : all_rows) {
    if ((r.id == "S2" || r.id == "S7") && !revocation_error.empty()) {
      r.unavailable = "revocation store set-up failed: " + revocation_error;
    }
  }
  std::vector<RowSpec*> rows;
  for (RowSpec& r : all_rows) {
    if (RowSelected(c, r.key)) rows.push_back(&r);
  }
  const int self = static_cast<int>(getpid());
  Json rows_json = Json::array();
  size_t index = 0;
  for (RowSpec* row : rows) {
    ++index;
    Json j;
    j["key"] = row->key;
    j["id"] = row->id;
    j["name"] = row->name;
    j["variant"] = row->variant;
    j["alg"] = row->alg.empty() ? Json(nullptr) : Json(row->alg);
    j["backend"] = row->backend.empty() ? Json(nullptr) : Json(row->backend);
    j["batch"] = row->batch;
    j["description"] = row->description;
    j["state"] = StateJson(*row, doc);
    Progress("[%2zu/%zu] %-22s ", index, rows.size(), row->key.c_str());
    if (!row->unavailable.empty()) {
      j["status"] = "skipped";
      j["reason"] = row->unavailable;
      Progress("skipped: %s\n", row->unavailable.c_str());
      rows_json.push_back(j);
      continue;
    }
    j["loadavg_1m_at_start"] = LoadAverage()[0];
    std::vector<std::unique_ptr<Worker>> workers;
    try {
      for (unsigned t = 0; t < c.threads; ++t) workers.push_back(row->make_worker(t));
    } catch (const std::exception& e) {
      j["status"] = "failed";
      j["reason"] = e.what();
      Progress("failed: %s\n", e.what());
      rows_json.push_back(j);
      continue;
    }
    // Process groups for CPU accounting.
    std::vector<ProcessGroup> groups = {{"bench", {self}, 0, {}}};
    if (row->backend == "redis") {
      groups.push_back({"redis-server", {workers[0]->server_pids().at(0)}, 0, {}});
    } else if (row->backend == "postgresql") {
      std::vector<int> backends_pids;
      for (auto& w : workers) {
        for (int pid : w->server_pids()) backends_pids.push_back(pid);
      }
      const int postmaster = backends_pids.empty() ? 0 : ParentPid(backends_pids[0]);
      groups.push_back({"postgres backends", backends_pids, 0, {}});
      groups.push_back({"postgres other", {postmaster}, postmaster, backends_pids});
    }
    Json procs = Json::object();
    for (const ProcessGroup& g : groups) procs[g.name] = g.pids;
    j["processes"] = procs;

    DriverOptions dopt;
    dopt.warmup_s = c.warmup_s;
    dopt.duration_s = c.duration_s;
    dopt.seed = c.seed + index;
    Progress("closed %.1fs ", c.duration_s);
    std::map<std::string, double> counters0;
    if (row->counters) dopt.on_measure_start = [&] { counters0 = row->counters(); };
    const LoadResult closed = RunClosedLoop(workers, row->batch, dopt, groups);
    std::map<std::string, double> counters1;
    if (row->counters) counters1 = row->counters();
    j["closed_loop"] = LoadJson(closed);
    {
      Json mem = Json::object();
      for (const auto& [name, m] : SampleMemory(groups)) {
        mem[name] = Json{{"rss_kib", m.rss_kib}, {"pss_kib", m.pss_kib}};
      }
      j["memory"] = mem;
    }
    const double cpu_total =
        closed.requests > 0 ? j["closed_loop"]["cpu_s_per_million"]["total"].get<double>() : 0.0;
    Progress("%10.0f req/s  %7.2f us CPU/req", closed.achieved_rps, cpu_total);
    Json open = Json::array();
    if (closed.achieved_rps > 0 && !c.closed_only) {
      for (double f : c.rate_fractions) {
        DriverOptions o = dopt;
        o.on_measure_start = nullptr;
        o.duration_s = c.open_duration_s;
        o.warmup_s = std::min(c.warmup_s, 0.2);
        const LoadResult r = RunOpenLoop(workers, row->batch, f * closed.achieved_rps, o, groups);
        Json oj = LoadJson(r);
        oj["fraction_of_max"] = f;
        open.push_back(oj);
        Progress(" | %2.0f%%: p50 %.1f p99 %.1f us", f * 100,
                 static_cast<double>(r.histogram.ValueAtPercentile(50)) / 1e3,
                 static_cast<double>(r.histogram.ValueAtPercentile(99)) / 1e3);
      }
    }
    Progress("\n");
    j["open_loop"] = open;
    uint64_t errors = closed.errors;
    for (const Json& o : open) errors += o["errors"].get<uint64_t>();
    std::string last_error;
    for (auto& w : workers) {
      if (!w->last_error().empty()) last_error = w->last_error();
    }
    if (row->stats || row->counters) {
      Json extra = Json::object();
      if (row->stats) {
        for (const auto& [k, v] : row->stats()) extra[k] = v;
      }
      // Counters over the closed-loop measured window (the warm-up fills the cache).
      for (const auto& [k, v] : counters1) extra[k + "_closed_loop"] = v - counters0[k];
      if (counters1.count("cache_hits") != 0) {
        const double hits = counters1["cache_hits"] - counters0["cache_hits"];
        const double misses = counters1["cache_misses"] - counters0["cache_misses"];
        extra["cache_hit_ratio_closed_loop"] =
            hits + misses > 0 ? Round(hits / (hits + misses), 5) : 0.0;
      }
      j["stats"] = extra;
    }
    j["status"] = errors == 0 && closed.requests > 0 ? "ok" : "errors";
    if (!last_error.empty()) j["last_error"] = last_error;
    rows_json.push_back(j);
  }
  doc["strategies"] = rows_json;
  doc["loadavg_at_end"] = LoadAverage();
  doc["run_seconds"] = Round(SecondsSince(run_start), 1);

  return WriteDocument(doc, c.out, run_start);
}

}  // namespace

int Main(int argc, char** argv) {
  // A server that goes away must surface as kIoError, not kill the benchmark (hiredis writes
  // with write(2); see store/redis_store.h).
  signal(SIGPIPE, SIG_IGN);
  Config c;
  CLI::App app{
      "jwtgate-bench: flag-driven macro benchmarks of jwtgate (the micro suites are the "
      "*_bench Google Benchmark binaries)."};
  app.require_subcommand(1);

  CLI::App* s = app.add_subcommand(
      "strategies",
      "What trusting a JWT costs against a per-request session lookup, every strategy on the "
      "same machine in one run:\n"
      "  S0 no check | S1 stateless JWT per algorithm | S2 JWT + in-memory revocation (10 M "
      "revoked)\n"
      "  S3 JWT + Redis denylist | S4 session id + Redis GET | S5 session id + PostgreSQL\n"
      "  S6 session id + SQLite | S7 JWT + verified-token cache + in-memory revocation\n"
      "Each row: closed-loop maximum throughput, then open-loop latency (p50/p99/p999 from the "
      "intended send time) at fractions of that maximum, CPU seconds per million requests of "
      "every process involved, and memory. Redis and PostgreSQL rows run only against the "
      "servers given (scripts/bench-strategies starts private ones); SQLite is embedded.\n"
      "Example: jwtgate-bench strategies --redis 127.0.0.1:6390 --postgres "
      "'host=/tmp/pg port=5432 dbname=postgres user=postgres' --out strategies.json\n"
      "\n"
      "--mode e2e: the rows jwtgated serves, end to end over HTTP on 127.0.0.1. Each row starts "
      "its own server: S0 nginx `return 200` (the HTTP floor), S1 jwtgated per algorithm with "
      "the cache off, S2 jwtgated recovering --revoked revocations from disk (cache off), S7 as "
      "S2 with the cache on; S3-S6 have no jwtgated backend and are reported with "
      "\"measured\": false. bench/loadgen drives each row: closed loop (maximum), then open loop "
      "at --rates of it (p50/p99/p999 from the intended send time); CPU per million requests "
      "of the client and of the server, and the server's RSS. It needs the jwtgated and "
      "loadgen targets built (found next to this binary; --jwtgated, --loadgen) and nginx for "
      "S0. scripts/bench-strategies runs it after the in-process rows and merges it into "
      "strategies.json under \"e2e\". Defaults in this mode: --duration 5, --open-duration 5 "
      "(--quick: 1 and 0.5); a full run takes about 4 minutes on 2 cores, --quick under a "
      "minute.\n"
      "Example: jwtgate-bench strategies --mode e2e --quick --out e2e.json");
  s->add_option("--mode", c.mode,
                "in-process: library calls from N threads; e2e: through jwtgated (nginx for S0) "
                "over HTTP on loopback, driven by bench/loadgen")
      ->check(CLI::IsMember({"in-process", "e2e"}))
      ->capture_default_str();
  s->add_option("-t,--threads", c.threads, "worker threads, one DB connection each (0: cores)")
      ->capture_default_str();
  s->add_option("-d,--duration", c.duration_s, "closed-loop seconds per row")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s->add_option("--open-duration", c.open_duration_s, "open-loop seconds per offered rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s->add_option("--warmup", c.warmup_s, "seconds of warm-up before each measurement")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  s->add_option("--rates", c.rate_fractions,
                "open-loop offered rates as fractions of the row's closed-loop maximum")
      ->delimiter(',')
      ->capture_default_str();
  s->add_option("--rows", c.rows,
                "rows to run, by key prefix (S1, S1.ES256, S4.redis.sync ...); default: all "
                "(see --list-rows)")
      ->delimiter(',');
  s->add_flag("--list-rows", c.list_rows, "print the rows and exit");
  s->add_flag("--closed-only", c.closed_only, "closed-loop throughput only, no open-loop runs");
  s->add_flag("!--no-warm-connections", c.warm_connections,
              "measure PostgreSQL with fresh backends (by default each connection first reads "
              "the table and index once, as a long-lived pooled connection has)");
  s->add_option("--algs", c.algs, "S1 algorithms")->delimiter(',')->capture_default_str();
  s->add_option("--jwt-alg", c.jwt_alg, "algorithm of the S2, S3 and S7 tokens")
      ->capture_default_str();
  s->add_option("--tokens", c.tokens, "distinct tokens per algorithm")->capture_default_str();
  s->add_option("--rsa-tokens", c.rsa_tokens,
                "distinct tokens per RSA algorithm (RS*, PS*; signing is slow) unless it is "
                "--jwt-alg")
      ->capture_default_str();
  s->add_option("--sessions", c.sessions, "sessions loaded into each store")->capture_default_str();
  s->add_option("--denylist", c.denylist, "revoked jtis in the Redis denylist (S3)")
      ->capture_default_str();
  s->add_option("--revoked", c.revoked, "revoked jtis in the in-memory store (S2, S7)")
      ->capture_default_str();
  s->add_option("--watermarks", c.watermarks, "subject watermarks (S2, S7)")->capture_default_str();
  s->add_option("--pipeline", c.pipeline, "requests per round trip in the pipelined rows")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  s->add_option("--redis", c.redis, "Redis server: HOST:PORT or unix:PATH (none: rows skipped)");
  s->add_option("--postgres", c.postgres,
                "PostgreSQL libpq connection string (none: rows skipped)");
  s->add_option("--sqlite", c.sqlite, "SQLite database path (default: WORKDIR/sessions.db)");
  s->add_option("--workdir", c.workdir,
                "directory for the revocation state and the SQLite database (default: a new "
                "temporary directory, removed at exit)");
  s->add_flag("--keep-workdir", c.keep_workdir, "keep the temporary work directory");
  s->add_flag("!--no-load", c.load, "do not load data (the stores already hold this seed's data)");
  s->add_flag("!--no-xc-keys", c.xc_keys,
              "do not load the xc:<12 digits> copies of the sessions that redis-benchmark GETs");
  s->add_option("--seed", c.seed, "seed of every random choice")->capture_default_str();
  s->add_option("-o,--out", c.out, "JSON output file ('-': stdout)")->capture_default_str();
  s->add_flag("--quick", c.quick,
              "smoke run: 0.5 s rows (e2e: 1 s closed, 0.5 s open), 500 tokens (200 RSA), 20 k "
              "sessions, 200 k revocations");
  s->add_flag("-q,--quiet", c.quiet, "no progress on stderr");
  s->add_option("--jwtgated", c.jwtgated,
                "e2e: jwtgated binary (default: BUILD/core/daemon/jwtgated beside this binary)");
  s->add_option("--loadgen", c.loadgen,
                "e2e: load generator (default: BUILD/bench/loadgen/loadgen beside this binary)");
  s->add_option("--nginx", c.nginx, "e2e: nginx binary for the S0 row")->capture_default_str();
  s->add_option("--connections", c.connections, "e2e: keep-alive HTTP connections")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  s->add_option("--client-threads", c.client_threads, "e2e: load generator threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  s->add_option("--daemon-workers", c.daemon_workers,
                "e2e: jwtgated pipeline.workers (0: one per core)")
      ->capture_default_str();
  s->add_option("--io-threads", c.io_threads, "e2e: jwtgated io_threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  s->add_option("--inline", c.inline_verify,
                "e2e: jwtgated pipeline.inline (where cache misses are verified)")
      ->check(CLI::IsMember({"none", "hmac", "all"}))
      ->capture_default_str();
  s->add_option("--cache-entries", c.cache_entries, "e2e: jwtgated cache entries in the S7 row")
      ->check(CLI::Range(size_t{1}, size_t{1} << 28))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  for (const CLI::Option* o : s->get_options()) {
    if (o->count() > 0) c.given.insert(o->get_name());
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) command_line += ' ';
    command_line += argv[i];
  }
  try {
    return RunStrategies(c, command_line);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jwtgate-bench strategies: %s\n", e.what());
    return 1;
  }
}

}  // namespace jwtgate::bench

int main(int argc, char** argv) {
  try {
    return jwtgate::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jwtgate-bench: %s\n", e.what());
    return 1;
  }
}
