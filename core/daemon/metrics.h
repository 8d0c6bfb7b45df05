// Metrics of jwtgated and their Prometheus text exposition (format 0.0.4).
//
// Counting is per I/O thread and single-writer: the thread that owns an AuthCounters or a
// LatencyHistogram is the only one that writes it (relaxed load + store, no locked
// read-modify-write on the request path); the exporter sums the threads' values when
// /metrics is scraped. Labels only ever take values from fixed sets (decision, the stable
// status names of status.h, HTTP error kinds, fetch outcomes) or from the configuration (the
// `issuer` label of the key-source families): never a kid, an issuer, a subject or a path
// from a request.
#ifndef JWTGATE_DAEMON_METRICS_H_
#define JWTGATE_DAEMON_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "jwtgate/status.h"

namespace jwtgate::daemon {

// Upper bounds (seconds) of the latency buckets: 1-2.5-5 steps from 1 µs to 2.5 s, fine enough
// for an HMAC check (a few µs) and wide enough for a queue backing up.
inline constexpr std::array<double, 20> kLatencyBounds = {
    1e-6,   2.5e-6, 5e-6, 1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
    2.5e-3, 5e-3,   1e-2, 2.5e-2, 5e-2,   0.1,  0.25, 0.5,    1.0,  2.5};

class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = kLatencyBounds.size() + 1;  // the last one is +Inf

  // Owner thread only.
  void Observe(int64_t nanoseconds) noexcept;

  struct Snapshot {
    std::array<uint64_t, kBuckets> counts{};  // per bucket, not cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
    void Add(const Snapshot& other) noexcept;
  };
  // Any thread.
  Snapshot Read() const noexcept;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Why an auth request ended the way it did: a Status (the verifier's verdict, or kOverloaded /
// kShuttingDown / kInternalError), or one of the request-level reasons below.
inline constexpr size_t kReasonMissing = static_cast<size_t>(kStatusCount);  // no bearer token
inline constexpr size_t kReasonInvalidRequest = kReasonMissing + 1;  // several/garbled headers
inline constexpr size_t kReasonNotFound = kReasonMissing + 2;        // path outside the prefix
inline constexpr size_t kReasonCount = kReasonMissing + 3;

inline constexpr size_t ReasonOf(Status s) noexcept { return static_cast<size_t>(s); }
std::string_view ReasonName(size_t reason) noexcept;
// "allow", "deny" or "error" (5xx: overload, shutdown, internal).
std::string_view DecisionOf(size_t reason) noexcept;

class AuthCounters {
 public:
  // Owner thread only.
  void Count(size_t reason) noexcept {
    auto& c = counts_[reason];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t Read(size_t reason) const noexcept {
    return counts_[reason].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kReasonCount> counts_{};
};

// Builds a Prometheus text exposition. Families must be declared (Family) before their
// samples; a family is written once.
class MetricsText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, Labels labels, double value);
  void Sample(std::string_view name, Labels labels, uint64_t value);
  // A whole histogram family (HELP, TYPE, buckets, sum, count) with the shared bounds.
  void Histogram(std::string_view name, std::string_view help, const LatencyHistogram::Snapshot& h);

  const std::string& text() const noexcept { return text_; }

  // Label values escape backslash, double quote and newline; HELP text backslash and newline.
  static void AppendEscaped(std::string_view s, bool quote, std::string* out);
  // Shortest text that reads back as the same double ("+Inf", "NaN" as Prometheus spells
  // them).
  static std::string FormatDouble(double v);

 private:
  void Head(std::string_view name, Labels labels);
  std::string text_;
};

// Process metrics as the Prometheus client libraries export them (process_*).
struct ProcessStats {
  double cpu_seconds = 0;       // process_cpu_seconds_total: user + system (getrusage)
  uint64_t resident_bytes = 0;  // process_resident_memory_bytes (/proc/self/statm)
  uint64_t virtual_bytes = 0;   // process_virtual_memory_bytes (/proc/self/statm)
  uint64_t open_fds = 0;        // process_open_fds: entries of /proc/self/fd
  uint64_t max_fds = 0;         // process_max_fds: RLIMIT_NOFILE's soft limit
};
ProcessStats ReadProcessStats();

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_METRICS_H_
