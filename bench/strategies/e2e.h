// The end-to-end mode of `jwtgate-bench strategies`: the strategies that jwtgated serves,
// measured through the daemon over HTTP on loopback, driven by bench/loadgen.
//
// For each row a fresh server is started (and stopped after the row):
//   S0        nginx answering `return 200` to the same requests: the HTTP floor (no check)
//   S1.<alg>  jwtgated, one issuer with the row's key, verified-token cache off: every request
//             is verified
//   S2.<alg>  as S1 (the --jwt-alg pool) with the revocation state of --revoked jtis and
//             --watermarks subject watermarks, cache off
//   S7.<alg>  as S2 with the verified-token cache on
// S3-S6 (Redis, PostgreSQL, SQLite session lookups) have no jwtgated backend: their rows are
// emitted with "measured": false and the reason.
//
// Per row: a closed-loop run (loadgen --closed: every connection sends its next request as
// soon as the previous one is answered) gives the maximum throughput; open-loop runs at
// fractions of that maximum give latency percentiles from the intended send time (HDR-style
// histogram). loadgen samples utime+stime of itself ("client") and of the server ("daemon" or
// "nginx", master and workers) over exactly its measured window, and their VmRSS at its end.
//
// The tokens are the in-process mode's (fixtures.h): same claims, same key types; the
// revocation state is built with MakeRevocationStore in the work directory, closed, and
// recovered by jwtgated at start-up (its recovery time is reported).
//
// Child processes (child_process.h) are started with PR_SET_PDEATHSIG (they die with this
// process) and are stopped on every exit path; StopAllChildren() is for a signal handler thread.
// The servers are in e2e_servers.h, the load generator runs in e2e_load.h.
#ifndef JWTGATE_BENCH_STRATEGIES_E2E_H_
#define JWTGATE_BENCH_STRATEGIES_E2E_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "jwtgate/alg.h"

namespace jwtgate::bench {

struct E2eOptions {
  std::string jwtgated;  // daemon binary
  std::string loadgen;   // bench/loadgen binary
  std::string nginx;     // nginx binary for S0; empty or missing: S0 is not measured
  std::string workdir;   // exists; configs, keys, tokens, logs and the revocation state go here
  unsigned connections = 64;
  unsigned client_threads = 1;
  unsigned daemon_workers = 0;  // pipeline.workers (0: one per core)
  unsigned io_threads = 1;
  std::string inline_verify = "hmac";
  size_t cache_entries = 65536;  // S7
  // The CPUs the servers (jwtgated, nginx) and the load generator are pinned to; empty: not
  // pinned. Pinned servers get one pipeline worker / nginx worker per server CPU.
  std::vector<int> server_cpus;
  std::vector<int> client_cpus;
  // Passes over the rows (e2e_passes.h); a row's figures are its medians over them.
  unsigned repetitions = 1;
  double duration_s = 3.0;
  double open_duration_s = 2.0;
  double warmup_s = 0.5;
  std::vector<double> rate_fractions = {0.25, 0.5, 0.75};
  std::vector<std::string> rows;  // key prefixes; empty: all
  std::vector<Alg> algs;
  Alg jwt_alg = Alg::kHS256;
  size_t tokens = 10000;
  size_t rsa_tokens = 2000;
  size_t revoked = 10000000;
  size_t watermarks = 1000;
  unsigned threads = 1;  // set-up threads (signing, revocation inserts)
  uint64_t seed = 1;
  bool closed_only = false;
  bool quiet = false;
  double start_timeout_s = 300;  // a server must listen within this (10 M revocations recover)
};

// Runs every selected row; returns the e2e document (schema "jwtgate.strategies.e2e/1").
// Throws std::runtime_error on set-up failures; a row that fails is reported as failed.
nlohmann::ordered_json RunE2e(const E2eOptions& options);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_E2E_H_
