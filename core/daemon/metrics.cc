#include "daemon/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace jwtgate::daemon {
namespace {

inline void Bump(std::atomic<uint64_t>& c, uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Bucket bounds in nanoseconds, for the comparison on the request path.
constexpr std::array<int64_t, kLatencyBounds.size()> MakeBoundsNs() {
  std::array<int64_t, kLatencyBounds.size()> b{};
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<int64_t>(kLatencyBounds[i] * 1e9 + 0.5);
  }
  return b;
}
constexpr std::array<int64_t, kLatencyBounds.size()> kBoundsNs = MakeBoundsNs();

}  // namespace

void LatencyHistogram::Observe(int64_t ns) noexcept {
  if (ns < 0) ns = 0;
  size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
  Bump(counts_[i], 1);
  Bump(sum_ns_, static_cast<uint64_t>(ns));
  // Count last: a reader that sees the count sees (approximately) its bucket too.
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const noexcept {
  Snapshot s;
  s.count = count_.load(std::memory_order_acquire);
  uint64_t total = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    total += s.counts[i];
  }
  // The buckets and the count are read at slightly different times; keep the exposition
  // consistent (+Inf bucket == count).
  s.count = total;
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  return s;
}

void LatencyHistogram::Snapshot::Add(const Snapshot& o) noexcept {
  for (size_t i = 0; i < kBuckets; ++i) counts[i] += o.counts[i];
  count += o.count;
  sum_seconds += o.sum_seconds;
}

std::string_view ReasonName(size_t reason) noexcept {
  if (reason < static_cast<size_t>(kStatusCount)) return ToString(static_cast<Status>(reason));
  switch (reason) {
    case kReasonMissing:
      return "token_missing";
    case kReasonInvalidRequest:
      return "invalid_request";
    case kReasonNotFound:
      return "not_found";
    default:
      return "unknown";
  }
}

std::string_view DecisionOf(size_t reason) noexcept {
  if (reason == ReasonOf(Status::kOk)) return "allow";
  if (reason == ReasonOf(Status::kOverloaded) || reason == ReasonOf(Status::kShuttingDown) ||
      reason == ReasonOf(Status::kInternalError) || reason == ReasonOf(Status::kIssuerKeysStale) ||
      reason == ReasonOf(Status::kRevocationStale)) {
    return "error";
  }
  return "deny";
}

void MetricsText::AppendEscaped(std::string_view s, bool quote, std::string* out) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

std::string MetricsText::FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  text_.append("# HELP ").append(name).push_back(' ');
  AppendEscaped(help, false, &text_);
  text_.append("\n# TYPE ").append(name).push_back(' ');
  text_.append(type).push_back('\n');
}

void MetricsText::Head(std::string_view name, Labels labels) {
  text_.append(name);
  if (labels.size() != 0) {
    text_.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) text_.push_back(',');
      first = false;
      text_.append(k).append("=\"");
      AppendEscaped(v, true, &text_);
      text_.push_back('"');
    }
    text_.push_back('}');
  }
  text_.push_back(' ');
}

void MetricsText::Sample(std::string_view name, Labels labels, double value) {
  Head(name, labels);
  text_.append(FormatDouble(value)).push_back('\n');
}

void MetricsText::Sample(std::string_view name, Labels labels, uint64_t value) {
  Head(name, labels);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  text_.append(buf, r.ptr).push_back('\n');
}

void MetricsText::Histogram(std::string_view name, std::string_view help,
                            const LatencyHistogram::Snapshot& h) {
  Family(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBounds.size(); ++i) {
    cumulative += h.counts[i];
    const std::string le = FormatDouble(kLatencyBounds[i]);
    Sample(bucket, {{"le", le}}, cumulative);
  }
  cumulative += h.counts[kLatencyBounds.size()];
  Sample(bucket, {{"le", "+Inf"}}, cumulative);
  Sample(std::string(name) + "_sum", {}, h.sum_seconds);
  Sample(std::string(name) + "_count", {}, cumulative);
}

ProcessStats ReadProcessStats() {
  ProcessStats p;
  rusage ru;
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    p.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  }
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
      p.virtual_bytes = size * page;
      p.resident_bytes = resident * page;
    }
    std::fclose(f);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++p.open_fds;
    }
    ::closedir(d);
    if (p.open_fds > 0) --p.open_fds;  // the directory stream itself
  }
  rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    p.max_fds = rl.rlim_cur == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max() : rl.rlim_cur;
  }
  return p;
}

}  // namespace jwtgate::daemon
