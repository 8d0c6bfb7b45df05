// Small helpers shared by the strategies harness's modes: progress lines on stderr (silenced
// by --quiet), elapsed seconds, and rounding for the JSON document.
#ifndef JWTGATE_BENCH_STRATEGIES_PROGRESS_H_
#define JWTGATE_BENCH_STRATEGIES_PROGRESS_H_

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace jwtgate::bench {

// Set once from the command line before any row runs (single-threaded).
inline bool g_quiet = false;

__attribute__((format(printf, 1, 2))) inline void Progress(const char* fmt, ...) {
  if (g_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fflush(stderr);
}

inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// `v` rounded to `digits` decimal places.
inline double Round(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_PROGRESS_H_
