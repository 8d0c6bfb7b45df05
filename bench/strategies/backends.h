// The data stores of rows S3-S6 of the in-process mode: Redis (the S4 sessions, the S3
// denylist, and copies of the sessions under names redis-benchmark can address), PostgreSQL
// and SQLite (the S5 and S6 sessions). Each is loaded (unless --no-load), probed, and described
// in the document's "backends" member; a store that cannot be reached leaves its rows skipped
// with the reason (Environment::*_unavailable).
#ifndef JWTGATE_BENCH_STRATEGIES_BACKENDS_H_
#define JWTGATE_BENCH_STRATEGIES_BACKENDS_H_

#include <random>

#include "config.h"
#include "document.h"
#include "strategies.h"

namespace jwtgate::bench {

// Sets up the stores the selected rows need (env->sessions must be set for S4-S6) and returns
// the "backends" member. `rng` draws the denylist's jtis.
Json SetUpBackends(const Config& c, Environment* env, std::mt19937_64& rng);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_BACKENDS_H_
