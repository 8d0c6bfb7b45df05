// The command line of `jwtgate-bench strategies` (main.cc) as both modes read it: the
// in-process rows (in_process.h) and the end-to-end rows (e2e.h, through E2eOptions).
#ifndef JWTGATE_BENCH_STRATEGIES_CONFIG_H_
#define JWTGATE_BENCH_STRATEGIES_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace jwtgate::bench {

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
  // CPUs of the server and of the load generator: "auto" (this process's CPUs split in two
  // halves, the server's first, when there are at least 2), "none" (not pinned), or a list.
  std::string server_cpus = "auto";
  std::string client_cpus = "auto";
  unsigned repetitions = 1;  // passes over the rows (ApplyModeDefaults: 5, --quick 1)
};

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_CONFIG_H_
