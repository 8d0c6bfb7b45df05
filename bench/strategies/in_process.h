// The in-process mode of `jwtgate-bench strategies`: every row of strategies.h through library
// calls from N threads of this process (driver.h), against the stores of backends.h. Writes the
// strategies document (schema "jwtgate.strategies/1"; its layout in in_process_json.h).
#ifndef JWTGATE_BENCH_STRATEGIES_IN_PROCESS_H_
#define JWTGATE_BENCH_STRATEGIES_IN_PROCESS_H_

#include <string>
#include <vector>

#include "config.h"
#include "jwtgate/alg.h"

namespace jwtgate::bench {

// Runs the selected rows and writes the document to c.out. REQUIRES: c.threads > 0 and
// c.workdir exists (the revocation state and the SQLite database go there). Returns the exit
// status; throws std::runtime_error on a set-up failure that leaves nothing to measure.
int RunInProcess(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg,
                 const std::string& command_line);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_IN_PROCESS_H_
