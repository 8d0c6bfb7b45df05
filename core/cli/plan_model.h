// The capacity model behind `jwtgate plan` and scripts/report (which takes every model figure
// from `jwtgate plan --json`): pure functions from a strategies benchmark document (schema
// "jwtgate.strategies/1", bench/strategies/in_process.cc and e2e.cc) and a load request to
// cores, servers, memory and expected p99. Every figure comes from the document; the only
// inputs that are not measurements are the request and the two policy knobs (utilisation
// target, headroom), which are flags with documented defaults.
//
// Two sources of rows. A document from scripts/bench has end-to-end rows (`e2e.strategies`):
// jwtgated on loopback answering the proxy contract, its own CPU and resident set read from
// /proc apart from the load generator's. When every row a JWT strategy draws on has one, the
// JWT strategies are planned from the server ("served" rows): what a jwtgated node pays, the
// HTTP path included, and what it holds in memory. Otherwise (an in-process-only document)
// they are planned from the in-process rows, and the plan says so under OUTSIDE WHAT WAS
// MEASURED. The session-lookup rows are in-process only.
//
// The model (also written out in every report.md, with a worked example):
//   cpu_us       CPU microseconds per request of the strategy = closed-loop cpu_s_per_million
//                of the application process: "daemon" (jwtgated) on a served row, "bench" on an
//                in-process row; the load generator and the database processes are counted
//                apart. Algorithm mix: sum of w_a * cpu_us(S1.<a>); S2 and S3 add their
//                measured overhead over S1 with the run's JWT algorithm; S7 is
//                hit * cpu_hit + (1 - hit) * cpu_miss, with cpu_miss = the S2 cost and cpu_hit
//                solved from the S7 row and its measured hit ratio. A session-lookup row with
//                served JWT rows adds the HTTP path, http_path_us = cpu_us(served S1.J) -
//                cpu_us(in-process S1.J) (J = the run's JWT algorithm): an application server
//                answers over HTTP too.
//   C            per-core rate at 100 % busy = 1e6 / cpu_us.
//   u_lat        the highest open-loop load (fraction of the closed-loop maximum) at which every
//                row the strategy draws on met the p99 objective (not saturated, no errors).
//   u            min(utilisation target, u_lat): never beyond what was measured.
//   cores        ceil(rps * (1 + headroom) / (C * u)).
//   servers      ceil(cores / cores_per_server) + 1 (N+1); cores_per_server defaults to the
//                measured machine's cores.
//   expected p99 the p99 measured at the lowest open-loop load >= rps / (cores * C), the
//                worst over the rows drawn on.
//   in flight    Little's law: rps * mean latency at that load; a database pool needs
//                rps * (1 + headroom) * service_time_mean / batch connections.
//   memory       served: the stateless server's resident set (max over the mix's S1 rows),
//                plus revoked * bytes_per_id for the strategies that hold the revocation set,
//                with bytes_per_id = (rss(S2.J) - rss(S1.J)) / the revoked ids the server
//                held; S7 adds its measured cache, rss(S7.J) - rss(S2.J). A session-lookup
//                server is the stateless server. In-process: the row's measured resident set
//                (the whole benchmark process), plus (revoked - measured revoked) *
//                (filter_bytes + exact_bytes) / revoked_jtis for the rows that hold the set.
//   revoked      --revoked, else revocations_per_s * token_lifetime_s when a revocation rate
//                is given (an id is held until its token expires), else the measured count.
//
// Fleet (with a fleet document, "jwtgate.fleet/1" from bench/fleet/fleet_bench.py, and a
// revocation rate R):
//   nodes        --nodes N, else the headline strategy's servers (N+1).
//   capacity     (N - 1) * cores_per_server * C * u / (1 + headroom): what the fleet carries at
//                the objective with one node down.
//   Redis CPU    R * N * redis_us, redis_us = the measured redis-server CPU per revocation per
//                node of the measured fleet (all of it charged to the per-node reads, which
//                over-counts the one append per revocation for a fleet larger than measured);
//                Redis runs one command thread, so more than the utilisation target of one
//                core is flagged.
//   Redis memory the snapshot, revoked * snapshot bytes per revocation, plus the stream since
//                it, snapshot_every * stream bytes per entry; while a snapshot is replaced
//                the old one is still held: the peak adds one snapshot.
//   catch-up     a node that was down longer than the stream reaches back reloads the set:
//                revoked / the measured catch-up rate.
//   propagation  the measured p99, at the measured fleet size and revocation rate.
#ifndef JWTGATE_CLI_PLAN_MODEL_H_
#define JWTGATE_CLI_PLAN_MODEL_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jwtgate::cli::plan {

// One open-loop load of a row (strategies.json's open_loop[i]). Latencies count from each
// request's scheduled send time, so queueing behind a slow request is included.
struct OpenLoopPoint {
  double fraction = 0;      // offered / closed-loop throughput
  double offered_rps = 0;   // the arrival rate asked for
  double achieved_rps = 0;  // answers per second received
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
  bool saturated = false;  // the load was not kept up with (unsent requests, < 95 % achieved)
  double errors = 0;       // failed requests; a point with any is not planned on
};

struct Row {
  std::string key;  // "S1.HS256", "S4.redis.pipelined", ...
  // The process group the application figures are read from: "bench" on an in-process row,
  // "daemon" (jwtgated) on a served row.
  std::string app_group = "bench";
  std::string id;  // "S1"
  std::string name;
  std::string alg;      // empty for session-id rows
  std::string backend;  // empty, "redis", "postgresql", "sqlite"
  double batch = 1;
  std::string status;
  double closed_rps = 0;
  double service_mean_us = 0;
  std::map<std::string, double> cpu_us;   // per process group, and "total"
  std::map<std::string, double> rss_kib;  // per process group
  std::vector<OpenLoopPoint> open_loop;   // sorted by fraction
  double cache_hit_ratio = -1;            // S7: measured hit ratio of the closed-loop run

  // The app_group's figures; an in-process row without a "bench" group falls back to "total".
  double AppCpuUs() const;
  double ServerCpuUs() const;  // in-process: total - app (the database processes)
  double AppRssKib() const;
  double ServerRssKib() const;  // in-process: every group but the application's
};

struct Revocation {
  double revoked = 0;  // revoked jtis held during the run
  double filter_bytes = 0;
  double exact_bytes = 0;
  double watermark_bytes = 0;
  double expected_fpr = -1;
  double BytesPerId() const { return revoked > 0 ? (filter_bytes + exact_bytes) / revoked : 0; }
};

struct Results {
  std::string schema;
  std::string command;
  std::string jwt_alg;  // the algorithm of the S2/S3/S7 rows
  double threads = 0;
  double machine_cores = 0;
  std::string cpu_model;
  std::vector<Row> rows;
  Revocation revocation;
  // The end-to-end rows served by jwtgated (e2e.strategies; the nginx floor S0 and the rows
  // that were not measured are left out) and the revoked ids their server held.
  std::vector<Row> served;
  double served_revoked = 0;
  const Row* Find(std::string_view key) const;        // ok rows only
  const Row* FindServed(std::string_view key) const;  // ok served rows only
};

// Parses a strategies.json document. False with *error when it is not one, or holds no rows.
bool ParseResults(std::string_view json, Results* out, std::string* error);

// "ES256:0.7,HS256:0.3" -> weights (normalized to sum 1). False with *error on bad syntax.
bool ParseAlgMix(std::string_view text, std::vector<std::pair<std::string, double>>* out,
                 std::string* error);

// The figures of a fleet benchmark document that the fleet plan reads.
struct Fleet {
  std::string command;
  double nodes = 0;        // jwtgated nodes of the measured fleet
  double revocations = 0;  // revocations of the propagation part
  double rate_per_s = 0;   // their achieved rate
  double redis_cpu_s = 0;  // redis-server CPU over the propagation part
  double propagation_p99_ms = 0;
  double catchup_rate_per_s = 0;
  double stream_bytes_per_entry = 0;
  double snapshot_bytes_per_revocation = 0;
  double snapshot_every = 0;
  // Measured redis-server CPU microseconds per revocation per node (0 when not measured).
  double RedisUsPerRevocationPerNode() const {
    return revocations > 0 && nodes > 0 ? redis_cpu_s * 1e6 / revocations / nodes : 0;
  }
};

// Parses a fleet document. False with *error when it is not one or lacks a figure the plan
// needs (the error names it).
bool ParseFleet(std::string_view json, Fleet* out, std::string* error);

struct Request {
  double rps = 0;
  double p99_ms = 0;
  std::vector<std::pair<std::string, double>> alg_mix;  // empty: the run's JWT algorithm
  double revoked = -1;                                  // < 0: as measured
  double cache_hit = -1;                                // < 0: as measured (S7)
  double utilisation = 0.7;
  double headroom = 0.25;
  double cores_per_server = 0;    // 0: the measured machine's cores
  std::string strategy;           // "S1", "S2", "S7"; empty: S7 with --cache-hit, else S2
  double nodes = 0;               // 0: the headline's servers
  double revocations_per_s = -1;  // < 0: no revocation rate given
  double token_lifetime_s = 3600;
};

struct FleetPlan {
  double nodes = 0;
  double capacity_rps = 0;  // with one node down, at the objective and headroom
  bool fits = false;        // capacity_rps >= the requested rate
  double revocations_per_s = 0;
  double redis_us_per_revocation_per_node = 0;
  double redis_cores = 0;   // fraction of one core
  bool redis_fits = false;  // redis_cores <= the utilisation target
  double redis_memory_mib = 0;
  double redis_peak_memory_mib = 0;
  double catchup_s = 0;
  double propagation_p99_ms = 0;
  double measured_nodes = 0;
  double measured_rate_per_s = 0;
};

struct StrategyPlan {
  std::string key;  // "S2" (JWT families with the mix applied) or a DB row key
  std::string name;
  bool database = false;
  bool served = false;            // the rows are served rows (Results::served); else in-process
  std::vector<std::string> rows;  // the rows it draws on
  double app_cpu_us = 0;
  double server_cpu_us = 0;
  double per_core_rps = 0;  // C
  double u_lat = 0;         // 0: the objective was not met at any measured load
  double best_p99_ms = 0;   // the lowest measured p99 over its open-loop runs
  double u = 0;
  double per_core_rps_at_objective = 0;  // C * u
  bool feasible = false;
  double cores = 0;
  double cores_per_server = 0;
  double servers = 0;  // N+1
  double operating_fraction = 0;
  double expected_p99_ms = 0;
  double expected_mean_ms = 0;
  double in_flight = 0;
  double db_cores = 0;
  double db_servers = 0;
  double pool_connections = 0;
  double memory_mib = 0;     // per application server
  double db_memory_mib = 0;  // measured database server resident set
  std::string note;
  // How the figures above were read, per row drawn on (in the order of `rows`): the highest
  // measured load at which the row met the objective (u_lat is their minimum; empty when a
  // row had no open-loop runs), and, when feasible, the open-loop point at the operating
  // fraction that expected p99 and mean were taken from.
  std::vector<std::pair<std::string, double>> row_u_lat;
  std::vector<std::pair<std::string, OpenLoopPoint>> row_points;
};

struct Plan {
  Request request;  // with defaults resolved
  std::string headline;
  std::vector<StrategyPlan> strategies;  // headline first, then S1/S2/S7, then databases
  std::string best_database;             // key of the DB row with the fewest total cores
  double revoked = 0;
  double revocation_memory_mib = 0;
  double bytes_per_id = 0;          // resident bytes per revoked id the model used
  bool served = false;              // the JWT strategies are planned from served rows
  double http_path_us = 0;          // served: added to the session-lookup rows' application CPU
  double stateless_memory_mib = 0;  // served: a jwtgated node without revocation state
  double expected_fpr = -1;
  std::vector<std::string> outside_measured;
  // The fleet: nodes and capacity whenever the headline is feasible; the Redis figures when a
  // fleet document and a revocation rate were given (redis_planned).
  FleetPlan fleet;
  bool redis_planned = false;
  std::string error;  // non-empty: a request the data cannot answer (unknown alg, ...)
  const StrategyPlan* Find(std::string_view key) const;
};

// `fleet` may be null (no fleet document): the fleet plan is then the node count and capacity
// alone.
Plan MakePlan(const Results& results, const Request& request, const Fleet* fleet = nullptr);

// The plan as text (for people) and as JSON (for tools).
std::string FormatPlanText(const Plan& plan, const Results& results);
std::string FormatPlanJson(const Plan& plan, const Results& results);

}  // namespace jwtgate::cli::plan

#endif  // JWTGATE_CLI_PLAN_MODEL_H_
