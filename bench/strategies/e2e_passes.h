// Repeated measurements (--repetitions, both modes): every pass runs every selected row
// once, in an order rotated by one row per pass, so that a row's passes meet the machine at
// different times and in different neighbours. MergePasses turns a row's passes into one row
// of the usual layout whose figures are medians over the passes, and records each pass and
// the distribution-free 95 % confidence interval of the medians that the capacity plan and the
// report read.
#ifndef JWTGATE_BENCH_STRATEGIES_E2E_PASSES_H_
#define JWTGATE_BENCH_STRATEGIES_E2E_PASSES_H_

#include <functional>
#include <vector>

#include "document.h"

namespace jwtgate::bench {

// The median of `values` and the 95 % interval of the median from order statistics: the
// widest k with P(Binomial(n, 1/2) < k) <= 2.5 % gives [x(k), x(n-k+1)]; for n < 6 there is
// none at 95 % and the interval is the range, with its coverage (1 - 2^(1-n)) stated.
struct MedianInterval {
  double median = 0;
  // The interval [low, high] holds the true median with probability `coverage`.
  double low = 0;
  double high = 0;
  double coverage = 0;
  size_t n = 0;  // values it was taken from
};
MedianInterval MedianWithInterval(std::vector<double> values);

// One row from its passes (one entry per pass, each a row as RunRow makes it). A single pass
// is returned as it is. Otherwise the row is the first measured pass with every number of its
// closed_loop, open_loop entries and memory replaced by the median over the measured passes
// (counts of errors and statuses summed, `saturated` true when any pass saturated), its status
// the worst of the passes', and "repetitions" holding each pass's key figures and the
// intervals: closed-loop throughput and CPU per request of every process group, and each
// open-loop load's p50 and p99. A row no pass measured is the first pass.
Json MergePasses(const std::vector<Json>& passes);

// Measures `count` rows in `passes` passes, the order rotated by one row per pass (pass p
// starts at row p mod count); run(i, k) measures row i as the k-th (1-based) of its pass.
// Returns the rows in their own order, each merged over its passes (MergePasses). Both modes
// of the strategies benchmark run their rows through it.
Json RunRotatedPasses(size_t count, unsigned passes,
                      const std::function<Json(size_t row, size_t position)>& run);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_E2E_PASSES_H_
