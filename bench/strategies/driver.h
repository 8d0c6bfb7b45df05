// The load driver of the in-process mode: N threads, each with its own Worker (its own
// VerifyContext, its own database connection), in two disciplines.
//
// Closed loop (maximum throughput). Every thread issues its next request as soon as the
// previous one is answered, for a fixed duration after a warm-up. Throughput = requests
// answered in the measured window / window length. The histogram holds service times (the
// time of the call that answered the request, batch round trip for pipelined workers); these
// are NOT latencies under load and are reported as such.
//
// Open loop (latency at a fixed offered rate). Each thread follows a schedule of intended send
// times, one every N / rate seconds (threads start at evenly spread phases). A request's
// latency is measured from its INTENDED send time to its answer, so a stall delays and
// penalises every request scheduled behind it (wrk2's method; no coordinated omission). A
// pipelined worker takes every request that is due, up to its batch size, in one call: the
// behaviour of an asynchronous client under the same schedule. Requests still unsent when the
// driver gives up (drain limit after the schedule ends) are recorded with the time they had
// waited by then, a lower bound, and counted as `unsent`.
//
// Sleeping until the next intended time uses clock_nanosleep with a 1 ns timer slack (the
// default 50 us slack would add itself to every latency); what remains of the wake-up delay
// is the harness's own cost and shows in the S0 row.
#ifndef JWTGATE_BENCH_STRATEGIES_DRIVER_H_
#define JWTGATE_BENCH_STRATEGIES_DRIVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/histogram.h"
#include "../common/proc_stats.h"

namespace jwtgate::bench {

// Handles requests for one thread. Not thread-safe; the driver calls it from one thread only.
class Worker {
 public:
  virtual ~Worker() = default;
  // Handles the requests named by keys[0..n) (random 64-bit numbers; the worker maps each to
  // an item of its pool), n <= the row's batch size. Returns how many succeeded (a token
  // accepted, a session found); the others count as errors.
  virtual size_t Handle(const uint64_t* keys, size_t n) noexcept = 0;
  // Server processes this worker's connection uses (for CPU accounting), e.g. its PostgreSQL
  // backend. Empty for in-process work.
  virtual std::vector<int> server_pids() const { return {}; }
  // The last failure, for the report; empty when none.
  virtual std::string last_error() const { return {}; }
};

struct LoadResult {
  bool open_loop = false;
  double offered_rps = 0;  // open loop only
  double window_s = 0;     // measured window
  uint64_t requests = 0;   // answered in the window (successes and errors)
  uint64_t errors = 0;
  uint64_t unsent = 0;                  // open loop: scheduled in the window, never sent
  double achieved_rps = 0;              // requests / window_s
  LatencyHistogram histogram;           // ns
  std::map<std::string, double> cpu_s;  // per process group, over the window
  Noise noise;                          // what else ran over the window (proc_stats.h)
};

struct DriverOptions {
  double warmup_s = 0.5;
  double duration_s = 3.0;
  double drain_limit_s = 1.0;  // open loop: how long past the schedule's end to keep going
  uint64_t seed = 1;
  // Called on the driver's thread when the measured window begins (after the warm-up), e.g.
  // to snapshot counters that should cover the window only.
  std::function<void()> on_measure_start;
};

// REQUIRES: workers non-empty, batch >= 1. `groups` are sampled at the window's edges.
LoadResult RunClosedLoop(std::vector<std::unique_ptr<Worker>>& workers, size_t batch,
                         const DriverOptions& options, const std::vector<ProcessGroup>& groups);

// REQUIRES: rate_rps > 0.
LoadResult RunOpenLoop(std::vector<std::unique_ptr<Worker>>& workers, size_t batch, double rate_rps,
                       const DriverOptions& options, const std::vector<ProcessGroup>& groups);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_DRIVER_H_
