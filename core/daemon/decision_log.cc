#include "daemon/decision_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <random>

#include "base/json_string.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kFlushBytes = 64 * 1024;
constexpr mode_t kFileMode = 0640;

bool IsHex(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void AppendNullable(std::string_view key, bool present, std::string_view value, bool ascii_only,
                    std::string* out) {
  out->append(",\"").append(key).append("\":");
  if (present) {
    // Bytes of verified claims are valid UTF-8 (the payload parser checked); request-supplied
    // text (the method) is not, and is written ASCII-only.
    base::AppendJsonString(value, out, ascii_only);
  } else {
    out->append("null");
  }
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

uint64_t SplitMix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string_view TraceIdOf(std::string_view v) noexcept {
  // version "00": exactly 55 bytes; a later version may append fields after a '-'.
  if (v.size() < 55 || (v.size() > 55 && v[55] != '-')) return {};
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return {};
  const std::string_view version = v.substr(0, 2), trace = v.substr(3, 32),
                         parent = v.substr(36, 16), flags = v.substr(53, 2);
  if (!IsHex(version) || version == "ff" || (version == "00" && v.size() != 55)) return {};
  if (!IsHex(trace) || !IsHex(parent) || !IsHex(flags)) return {};
  if (trace == std::string_view("00000000000000000000000000000000") ||
      parent == std::string_view("0000000000000000")) {
    return {};
  }
  return trace;
}

std::unique_ptr<DecisionLog> DecisionLog::Open(const DecisionLogConfig& config, unsigned threads,
                                               std::string* error) {
  std::unique_ptr<DecisionLog> log(new DecisionLog(config));
  {
    base::MutexLock lock(&log->mu_);
    if (!log->OpenFile(error)) return nullptr;
  }
  const double share = static_cast<double>(config.max_denies_per_second) / std::max(threads, 1u);
  for (unsigned i = 0; i < threads; ++i) {
    log->writers_.push_back(std::unique_ptr<Writer>(new Writer(log.get(), share)));
  }
  return log;
}

DecisionLog::~DecisionLog() {
  base::MutexLock lock(&mu_);
  if (own_fd_) ::close(fd_);
}

bool DecisionLog::OpenFile(std::string* error) {
  if (config_.path == "stderr") {
    fd_ = STDERR_FILENO;
    own_fd_ = false;
    return true;
  }
  const int fd = ::open(config_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kFileMode);
  if (fd < 0) {
    *error = "decision_log.path " + config_.path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  if (own_fd_) ::close(fd_);
  fd_ = fd;
  own_fd_ = true;
  return true;
}

bool DecisionLog::Reopen(std::string* error) {
  base::MutexLock lock(&mu_);
  if (config_.path == "stderr") return true;
  return OpenFile(error);
}

void DecisionLog::Write(std::string_view lines, uint64_t count) {
  base::MutexLock lock(&mu_);
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Every line not wholly written is lost (a partial one included).
      const auto lost = static_cast<uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
      dropped_write_.fetch_add(lost, std::memory_order_relaxed);
      count -= std::min(count, lost);
      break;
    }
    lines.remove_prefix(static_cast<size_t>(n));
  }
  lines_.fetch_add(count, std::memory_order_relaxed);
}

DecisionLog::Writer::Writer(DecisionLog* log, double deny_rate)
    : log_(log), rng_(std::random_device{}()), deny_rate_(deny_rate), deny_tokens_(deny_rate) {
  const double p = log->config_.sample_allows;
  // p == 1 must always pass: the threshold saturates and SampleAllow short-cuts.
  sample_threshold_ = p >= 1.0 ? UINT64_MAX : static_cast<uint64_t>(p * 18446744073709551616.0);
  buf_.reserve(kFlushBytes + 1024);
}

bool DecisionLog::Writer::SampleAllow() noexcept {
  if (sample_threshold_ == UINT64_MAX) return true;
  return SplitMix64(rng_) < sample_threshold_;
}

bool DecisionLog::Writer::AdmitDeny(int64_t now_ns) noexcept {
  // A token bucket of one second's share: bursts up to the rate, then the rate.
  if (deny_refilled_ns_ != 0) {
    const double elapsed = static_cast<double>(now_ns - deny_refilled_ns_) * 1e-9;
    deny_tokens_ = std::min(deny_rate_, deny_tokens_ + elapsed * deny_rate_);
  }
  deny_refilled_ns_ = now_ns;
  if (deny_tokens_ >= 1.0) {
    deny_tokens_ -= 1.0;
    return true;
  }
  log_->dropped_rate_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void DecisionLog::Writer::Append(const DecisionRecord& r) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != time_second_) {
    // Formatting the date is the costly part of a line: once per second.
    tm utc;
    gmtime_r(&ts.tv_sec, &utc);
    strftime(time_text_, sizeof time_text_, "%Y-%m-%dT%H:%M:%S.", &utc);
    time_second_ = ts.tv_sec;
  }
  std::string& b = buf_;
  b.append("{\"time\":\"").append(time_text_);
  char micros[8];
  const int us = static_cast<int>(ts.tv_nsec / 1000);
  for (int i = 5, v = us; i >= 0; --i, v /= 10) micros[i] = static_cast<char>('0' + v % 10);
  b.append(micros, 6).append("Z\"");
  AppendNullable("route", r.has_route, r.route, false, &b);
  AppendNullable("method", true, r.method, true, &b);
  b.append(",\"decision\":\"").append(r.decision).append("\",\"status\":");
  AppendInt(r.status, &b);
  b.append(",\"reason\":\"").append(r.reason).append("\"");
  AppendNullable("sub", r.verified, r.sub, false, &b);
  AppendNullable("iss", r.verified, r.iss, false, &b);
  AppendNullable("kid", r.verified && !r.kid.empty(), r.kid, false, &b);
  AppendNullable("alg", r.verified, r.alg, false, &b);
  b.append(r.cache ? ",\"cache\":true" : ",\"cache\":false").append(",\"latency_us\":");
  AppendInt(r.latency_us, &b);
  AppendNullable("trace_id", !r.trace_id.empty(), r.trace_id, false, &b);
  b.append("}\n");
  ++pending_lines_;
  if (b.size() >= kFlushBytes) Flush();
}

void DecisionLog::Writer::Flush() {
  if (buf_.empty()) return;
  log_->Write(buf_, pending_lines_);
  buf_.clear();
  pending_lines_ = 0;
}

}  // namespace jwtgate::daemon
