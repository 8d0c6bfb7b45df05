// bench/loadgen as the end-to-end rows drive it (e2e.h): one closed-loop or open-loop run
// against a Server, with the server's processes watched for CPU and memory, and its result in
// the layout of the in-process rows (in_process_json.h), so that strategies.json's readers
// take both kinds of row alike.
#ifndef JWTGATE_BENCH_STRATEGIES_E2E_LOAD_H_
#define JWTGATE_BENCH_STRATEGIES_E2E_LOAD_H_

#include <string>

#include "document.h"
#include "e2e.h"
#include "e2e_servers.h"

namespace jwtgate::bench {

// Runs loadgen against `s` with the tokens of file `tokens`: closed loop (maximum throughput),
// or open loop at `rate` requests per second; its JSON goes to `out` (its log beside it).
// Returns loadgen's result without the percentile spectrum, with the command line added.
// Throws std::runtime_error when loadgen writes no result.
Json RunLoadgen(const E2eOptions& o, const Server& s, const std::string& tokens, bool closed,
                double rate, double duration_s, double warmup_s, const std::string& out);

// A loadgen result `lg` as a closed_loop entry or an open_loop entry (offered at `offered`
// requests per second) of a strategies row.
Json LoadgenRunJson(const Json& lg, bool closed, double offered);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_E2E_LOAD_H_
