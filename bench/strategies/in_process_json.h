// The layout of the in-process document's rows (schema "jwtgate.strategies/1", read by
// scripts/jwtgate_results.py, scripts/report and `jwtgate plan`): a load run's figures, the
// state a strategy keeps, and the "method" member that describes how they were measured.
#ifndef JWTGATE_BENCH_STRATEGIES_IN_PROCESS_JSON_H_
#define JWTGATE_BENCH_STRATEGIES_IN_PROCESS_JSON_H_

#include "../common/histogram.h"
#include "config.h"
#include "document.h"
#include "driver.h"
#include "strategies.h"

namespace jwtgate::bench {

// p50, p90, p99, p999, max and mean in microseconds, and the number of samples.
Json Percentiles(const LatencyHistogram& h);

// A closed-loop or open-loop run: rates, requests, errors, latency (open loop, from the
// intended send time) or service time (closed loop), and CPU per million requests and cores
// busy per process group.
Json LoadJson(const LoadResult& r);

// The state a strategy keeps, and what it costs in memory, from the set-up figures of `doc`:
// what a capacity plan multiplies by the number of sessions or revocations. null when the
// set-up did not record it.
Json StateJson(const RowSpec& row, const Json& doc);

// The document's "method" member.
Json MethodJson(const Config& c);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_IN_PROCESS_JSON_H_
