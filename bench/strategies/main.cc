// jwtgate-bench: the flag-driven macro benchmarks. Subcommand `strategies`: what trusting a JWT
// costs against a per-request session lookup, every strategy on the same machine in one run
// (the rows are described in strategies.h, the load disciplines in driver.h, the data in
// fixtures.h and backends.h). scripts/bench-strategies starts private Redis and PostgreSQL
// servers, runs this, adds the servers' own tools' figures (redis-benchmark, pgbench) and
// writes strategies.json. The in-process mode is in_process.h; with --mode e2e it measures the
// rows jwtgated serves through the daemon over HTTP instead (e2e.h); scripts/bench-strategies
// runs that too and puts it under "e2e" in strategies.json.
//
// Output: one JSON document (schema "jwtgate.strategies/1"), described by its own "units" and
// "method" members, so that a reader (scripts/jwtgate_results.py, the capacity report) needs
// nothing else.
//
// This file is the command line: the flags (config.h), the defaults of --quick and of the e2e
// mode, the work directory and the signals that must not leave it or a server behind.

#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

// GCC 12 sees a potential null dereference in libstdc++ where CLI11's detail::split grows a
// vector<string> (-Wnull-dereference; a false positive, the string is moved into storage the
// vector has just allocated). It shows or not with the inlining choices of the translation unit.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "config.h"
#include "document.h"
#include "e2e.h"
#include "in_process.h"
#include "progress.h"
#include "strategies.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The build tree's root, from this binary's path (BUILD/bench/strategies/jwtgate-bench).
std::string BuildRoot() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return self.parent_path().parent_path().parent_path().string();
}

// --server-cpus and --client-cpus (checked when parsed) as CPU lists.
void ResolveCpus(const Config& c, E2eOptions* o) {
  std::string error;
  if (c.server_cpus == "auto" || c.client_cpus == "auto") {
    const std::vector<int> all = AllowedCpus();
    if (all.size() >= 2) {
      const auto half = all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2);
      o->server_cpus.assign(all.begin(), half);
      o->client_cpus.assign(half, all.end());
    }
  }
  if (c.server_cpus == "none") o->server_cpus.clear();
  if (c.client_cpus == "none") o->client_cpus.clear();
  if (c.server_cpus != "auto" && c.server_cpus != "none") {
    ParseCpuList(c.server_cpus, &o->server_cpus, &error);
  }
  if (c.client_cpus != "auto" && c.client_cpus != "none") {
    ParseCpuList(c.client_cpus, &o->client_cpus, &error);
  }
  for (int cpu : o->server_cpus) {
    if (std::find(o->client_cpus.begin(), o->client_cpus.end(), cpu) != o->client_cpus.end()) {
      throw std::invalid_argument("--server-cpus and --client-cpus share CPU " +
                                  std::to_string(cpu) + ": the client would load the server's CPU");
    }
  }
}

// A CLI11 check for --server-cpus / --client-cpus.
std::string CheckCpus(const std::string& text) {
  if (text == "auto" || text == "none") return {};
  std::vector<int> cpus;
  std::string error;
  return ParseCpuList(text, &cpus, &error) ? std::string() : error;
}

// The e2e mode's options from the command line; programs default to the build tree's.
E2eOptions E2eOptionsFrom(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg) {
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
  ResolveCpus(c, &o);
  o.repetitions = c.repetitions;
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
  return o;
}

int RunE2eMode(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg,
               const std::string& command_line) {
  const auto run_start = Clock::now();
  const E2eOptions o = E2eOptionsFrom(c, s1_algs, jwt_alg);
  Progress(
      "jwtgate-bench strategies --mode e2e: %u connections, %.1f s closed + %zu x %.1f s "
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
  doc["units"] = UnitsJson("requests per second");
  doc["versions"] = Json{{"openssl", OpenSSL_version(OPENSSL_VERSION)}};
  for (const auto& [k, v] : body.items()) {
    if (!doc.contains(k)) doc[k] = v;
  }
  doc["config"]["quick"] = c.quick;
  return WriteDocument(doc, c.out, run_start);
}

// --quick and the e2e mode change the defaults of the flags not given.
void ApplyModeDefaults(Config* cfg) {
  Config& c = *cfg;
  const bool e2e = c.mode == "e2e";
  // Flags given explicitly keep their values.
  auto by_default = [&](const char* flag, auto* field, auto value) {
    if (c.given.count(flag) == 0) *field = value;
  };
  // Every row five times, in passes whose order rotates (a smoke run: once).
  by_default("--repetitions", &c.repetitions, c.quick ? 1u : 5u);
  if (e2e) {
    // Over HTTP every open-loop rate gets 5 s (tens of thousands of samples for the p99.9 of
    // the slow algorithms); a smoke run keeps seconds per row. HTTP connections want a little
    // more warm-up than library calls.
    by_default("--duration", &c.duration_s, c.quick ? 1.0 : 5.0);
    by_default("--open-duration", &c.open_duration_s, c.quick ? 0.5 : 5.0);
    if (c.quick) by_default("--warmup", &c.warmup_s, 0.25);
  } else if (!c.quick) {
    // In process, five passes of 2 s closed and 1.5 s per open-loop rate: 17.5 s of every row
    // measured in all, at different times, against one 3 s + 3 x 2 s window.
    by_default("--duration", &c.duration_s, 2.0);
    by_default("--open-duration", &c.open_duration_s, 1.5);
  }
  if (c.quick) {
    // Smaller defaults.
    auto& quick = by_default;
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
}

// --algs and --jwt-alg; false (after a message) for an unknown name.
bool ParseAlgs(const Config& c, std::vector<Alg>* s1_algs, Alg* jwt_alg) {
  for (const std::string& name : c.algs) {
    Alg a;
    if (!AlgFromName(name, &a)) {
      std::fprintf(stderr, "jwtgate-bench strategies: unknown algorithm '%s'\n", name.c_str());
      return false;
    }
    s1_algs->push_back(a);
  }
  if (!AlgFromName(c.jwt_alg, jwt_alg)) {
    std::fprintf(stderr, "jwtgate-bench strategies: unknown --jwt-alg '%s'\n", c.jwt_alg.c_str());
    return false;
  }
  return true;
}

// --list-rows.
void ListRows(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg) {
  Environment env;
  env.jwt_alg = jwt_alg;
  env.pipeline_depth = c.pipeline;
  for (const RowSpec& r : MakeRows(env, s1_algs)) {
    std::printf("%-24s %-3s %-50s %s\n", r.key.c_str(), r.id.c_str(), r.name.c_str(),
                r.description.c_str());
  }
}

// The work directory (revocation state, SQLite database, the e2e rows' files): --workdir, or a
// new temporary directory removed when the run ends (unless --keep-workdir).
class WorkDir {
 public:
  WorkDir() = default;
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    if (own_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }

  // Sets c->workdir; false (after a message) when no temporary directory can be made.
  bool Prepare(Config* c) {
    if (c->workdir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "jwtgate-strategies.XXXXXX");
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        return false;
      }
      c->workdir = tmpl;
      own_ = !c->keep_workdir;
    } else {
      std::filesystem::create_directories(c->workdir);
    }
    path_ = c->workdir;
    return true;
  }

  const std::string& path() const { return path_; }
  // Whether the directory is removed at the end.
  bool own() const { return own_; }

 private:
  std::string path_;
  bool own_ = false;
};

// Ctrl-C or a TERM must not leave the temporary directory (a 10 M revocation log is about
// 300 MB) or a server behind: the signals are blocked in every thread and taken by one that
// stops the children, removes the directory and exits.
void TakeSignals(const WorkDir& workdir) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, dir = workdir.path(), own_workdir = workdir.own()] {
    int sig = 0;
    sigwait(&set, &sig);
    StopAllChildren();  // the e2e servers and load generators
    if (own_workdir) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::fprintf(stderr, "jwtgate-bench strategies: signal %d, removed %s\n", sig, dir.c_str());
    }
    _exit(128 + sig);
  }).detach();
}

int RunStrategies(Config c, const std::string& command_line) {
  g_quiet = c.quiet;
  ApplyModeDefaults(&c);
  std::vector<Alg> s1_algs;
  Alg jwt_alg;
  if (!ParseAlgs(c, &s1_algs, &jwt_alg)) return 2;
  if (c.list_rows) {
    ListRows(c, s1_algs, jwt_alg);
    return 0;
  }
  WorkDir workdir;
  if (!workdir.Prepare(&c)) return 1;
  const bool e2e = c.mode == "e2e";
  if (workdir.own() || e2e) TakeSignals(workdir);
  if (e2e) return RunE2eMode(c, s1_algs, jwt_alg, command_line);
  return RunInProcess(c, s1_algs, jwt_alg, command_line);
}

// The subcommand's description (its --help).
constexpr const char* kStrategiesHelp =
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
    "Example: jwtgate-bench strategies --mode e2e --quick --out e2e.json";

// What runs and how: mode, threads, durations, offered rates, rows.
void AddRunFlags(CLI::App* s, Config* c) {
  s->add_option("--mode", c->mode,
                "in-process: library calls from N threads; e2e: through jwtgated (nginx for S0) "
                "over HTTP on loopback, driven by bench/loadgen")
      ->check(CLI::IsMember({"in-process", "e2e"}))
      ->capture_default_str();
  s->add_option("-t,--threads", c->threads, "worker threads, one DB connection each (0: cores)")
      ->capture_default_str();
  s->add_option("-d,--duration", c->duration_s,
                "closed-loop seconds per row and pass (default 2 in process, 5 e2e; --quick 0.5 "
                "and 1)")
      ->check(CLI::PositiveNumber);
  s->add_option("--open-duration", c->open_duration_s,
                "open-loop seconds per offered rate and pass (default 1.5 in process, 5 e2e; "
                "--quick 0.3 and 0.5)")
      ->check(CLI::PositiveNumber);
  s->add_option("--warmup", c->warmup_s, "seconds of warm-up before each measurement")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  s->add_option("--rates", c->rate_fractions,
                "open-loop offered rates as fractions of the row's closed-loop maximum")
      ->delimiter(',')
      ->capture_default_str();
  s->add_option("--rows", c->rows,
                "rows to run, by key prefix (S1, S1.ES256, S4.redis.sync ...); default: all "
                "(see --list-rows)")
      ->delimiter(',');
  s->add_flag("--list-rows", c->list_rows, "print the rows and exit");
  s->add_flag("--closed-only", c->closed_only, "closed-loop throughput only, no open-loop runs");
  s->add_flag("!--no-warm-connections", c->warm_connections,
              "measure PostgreSQL with fresh backends (by default each connection first reads "
              "the table and index once, as a long-lived pooled connection has)");
}

// The data: token pools, sessions, revocations, pipelining depth.
void AddDataFlags(CLI::App* s, Config* c) {
  s->add_option("--algs", c->algs, "S1 algorithms")->delimiter(',')->capture_default_str();
  s->add_option("--jwt-alg", c->jwt_alg, "algorithm of the S2, S3 and S7 tokens")
      ->capture_default_str();
  s->add_option("--tokens", c->tokens, "distinct tokens per algorithm")->capture_default_str();
  s->add_option("--rsa-tokens", c->rsa_tokens,
                "distinct tokens per RSA algorithm (RS*, PS*; signing is slow) unless it is "
                "--jwt-alg")
      ->capture_default_str();
  s->add_option("--sessions", c->sessions, "sessions loaded into each store")
      ->capture_default_str();
  s->add_option("--denylist", c->denylist, "revoked jtis in the Redis denylist (S3)")
      ->capture_default_str();
  s->add_option("--revoked", c->revoked, "revoked jtis in the in-memory store (S2, S7)")
      ->capture_default_str();
  s->add_option("--watermarks", c->watermarks, "subject watermarks (S2, S7)")
      ->capture_default_str();
  s->add_option("--pipeline", c->pipeline, "requests per round trip in the pipelined rows")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
}

// The stores of rows S3-S6 and the work directory.
void AddStoreFlags(CLI::App* s, Config* c) {
  s->add_option("--redis", c->redis, "Redis server: HOST:PORT or unix:PATH (none: rows skipped)");
  s->add_option("--postgres", c->postgres,
                "PostgreSQL libpq connection string (none: rows skipped)");
  s->add_option("--sqlite", c->sqlite, "SQLite database path (default: WORKDIR/sessions.db)");
  s->add_option("--workdir", c->workdir,
                "directory for the revocation state and the SQLite database (default: a new "
                "temporary directory, removed at exit)");
  s->add_flag("--keep-workdir", c->keep_workdir, "keep the temporary work directory");
  s->add_flag("!--no-load", c->load, "do not load data (the stores already hold this seed's data)");
  s->add_flag("!--no-xc-keys", c->xc_keys,
              "do not load the xc:<12 digits> copies of the sessions that redis-benchmark GETs");
}

// Seed, output, --quick, --quiet.
void AddOutputFlags(CLI::App* s, Config* c) {
  s->add_option("--seed", c->seed, "seed of every random choice")->capture_default_str();
  s->add_option("-o,--out", c->out, "JSON output file ('-': stdout)")->capture_default_str();
  s->add_flag("--quick", c->quick,
              "smoke run: 0.5 s rows (e2e: 1 s closed, 0.5 s open), 500 tokens (200 RSA), 20 k "
              "sessions, 200 k revocations");
  s->add_flag("-q,--quiet", c->quiet, "no progress on stderr");
}

// The e2e mode: programs and load settings.
void AddE2eFlags(CLI::App* s, Config* c) {
  s->add_option("--jwtgated", c->jwtgated,
                "e2e: jwtgated binary (default: BUILD/core/daemon/jwtgated beside this binary)");
  s->add_option("--loadgen", c->loadgen,
                "e2e: load generator (default: BUILD/bench/loadgen/loadgen beside this binary)");
  s->add_option("--nginx", c->nginx, "e2e: nginx binary for the S0 row")->capture_default_str();
  s->add_option("--connections", c->connections, "e2e: keep-alive HTTP connections")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  s->add_option("--client-threads", c->client_threads, "e2e: load generator threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  s->add_option("--daemon-workers", c->daemon_workers,
                "e2e: jwtgated pipeline.workers (0: one per core)")
      ->capture_default_str();
  s->add_option("--io-threads", c->io_threads, "e2e: jwtgated io_threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  s->add_option("--inline", c->inline_verify,
                "e2e: jwtgated pipeline.inline (where cache misses are verified)")
      ->check(CLI::IsMember({"none", "hmac", "all"}))
      ->capture_default_str();
  s->add_option("--cache-entries", c->cache_entries, "e2e: jwtgated cache entries in the S7 row")
      ->check(CLI::Range(size_t{1}, size_t{1} << 28))
      ->capture_default_str();
  s->add_option("--repetitions", c->repetitions,
                 "passes over the rows, each in an order rotated by one row; a row's figures "
                 "are its medians over the passes, with 95 % intervals (default 5, --quick 1)")
      ->check(CLI::Range(1, 50));
  s->add_option("--server-cpus", c->server_cpus,
                "e2e: CPUs of jwtgated and nginx (\"auto\": the first half of this process's "
                "CPUs when it has 2 or more; \"none\": not pinned; or a list such as 0-3)")
      ->check(CLI::Validator(CheckCpus, "CPUS"))
      ->capture_default_str();
  s->add_option("--client-cpus", c->client_cpus,
                "e2e: CPUs of the load generator (\"auto\": the second half; \"none\"; or a "
                "list), disjoint from the server's")
      ->check(CLI::Validator(CheckCpus, "CPUS"))
      ->capture_default_str();
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
  CLI::App* s = app.add_subcommand("strategies", kStrategiesHelp);
  AddRunFlags(s, &c);
  AddDataFlags(s, &c);
  AddStoreFlags(s, &c);
  AddOutputFlags(s, &c);
  AddE2eFlags(s, &c);

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
