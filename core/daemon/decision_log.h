// The decision log (config `decision_log`): one JSON object per line for each decision of the
// auth endpoint, for the operator who must answer "why was this request refused?".
//
//   {"time":"2026-12-07T11:22:33.123456Z","route":"admin","method":"GET","decision":"deny",
//    "status":403,"reason":"route_scope_missing","sub":"alice","iss":"https://id.example",
//    "kid":"k1","alg":"ES256","cache":true,"latency_us":12,
//    "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//
// - route: the matched route's name, null when no route matched (or routing is off).
// - sub, iss, kid, alg: from a verified token only; null otherwise (the claims of a token that
//   failed verification are an attacker's words).
// - trace_id: the trace-id of a valid W3C `traceparent` request header, else null.
// - Never the token, its signature, or any other request header: the log may be shipped to
//   places the tokens must not reach. Every string is JSON-escaped.
// - Allows are sampled (sample_allows); every deny and error is written up to
//   max_denies_per_second (a token bucket per I/O thread, each with its share of the rate and
//   a one-second burst); what is not written is counted.
//
// Writing: each I/O thread appends to its own Writer's buffer and writes whole lines with one
// write() at the end of its loop iteration (or when 64 KiB are buffered), under the log's
// mutex, so lines of different threads never interleave; a crash loses at most the lines of
// the iteration in progress. A write error is counted and the lines dropped: the auth path
// never blocks on a full disk. Reopen() (reload, SIGHUP) lets logrotate move the file.
//
// Threads: a Writer is used by its own I/O thread only; Reopen and the counters from any thread.
#ifndef JWTGATE_DAEMON_DECISION_LOG_H_
#define JWTGATE_DAEMON_DECISION_LOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/thread_annotations.h"
#include "daemon/config.h"

namespace jwtgate::daemon {

// What one decision log line says. Views are read during DecisionLog::Writer::Append only.
struct DecisionRecord {
  std::string_view route;  // "" : null
  bool has_route = false;
  std::string_view method;
  std::string_view decision;  // "allow", "deny", "error"
  int status = 0;             // the HTTP status answered
  std::string_view reason;    // a stable status name (status.h) or request-level reason
  bool verified = false;      // sub, iss, kid, alg below are from a verified token
  std::string_view sub, iss, kid, alg;
  bool cache = false;
  int64_t latency_us = 0;
  std::string_view trace_id;  // 32 hex digits, or "" (null)
};

// The trace-id of a W3C Trace Context `traceparent` value ("00-<32 hex>-<16 hex>-<2 hex>", the
// ids not all zero), or "" when `value` is not one.
std::string_view TraceIdOf(std::string_view traceparent) noexcept;

class DecisionLog {
 public:
  // Opens the log for `threads` I/O threads. Null with `*error` naming the file and the reason
  // when it cannot be opened.
  static std::unique_ptr<DecisionLog> Open(const DecisionLogConfig& config, unsigned threads,
                                           std::string* error);
  ~DecisionLog();
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  class Writer {
   public:
    // Whether this allow is written (sample_allows).
    bool SampleAllow() noexcept;
    // Whether a deny or error at `now_ns` (monotonic) is written; false: counted as dropped.
    bool AdmitDeny(int64_t now_ns) noexcept;
    void Append(const DecisionRecord& r);
    // Writes the buffered lines (the I/O thread calls it once per loop iteration).
    void Flush();

   private:
    friend class DecisionLog;
    Writer(DecisionLog* log, double deny_rate);
    DecisionLog* log_;
    std::string buf_;
    uint64_t pending_lines_ = 0;  // lines in buf_
    uint64_t rng_;
    uint64_t sample_threshold_;  // an allow is written when rng < threshold
    double deny_rate_;           // tokens per second
    double deny_tokens_;
    int64_t deny_refilled_ns_ = 0;
    int64_t time_second_ = -1;  // the second time_text_ was formatted for
    char time_text_[24] = {};   // "2026-12-07T11:22:33."
  };

  // The writer of I/O thread `i` (< threads).
  Writer* writer(unsigned i) noexcept { return writers_[i].get(); }

  // Reopens the file (after rotation); stderr is left alone. Any thread.
  bool Reopen(std::string* error);

  uint64_t lines() const noexcept { return lines_.load(std::memory_order_relaxed); }
  uint64_t dropped_rate() const noexcept { return dropped_rate_.load(std::memory_order_relaxed); }
  uint64_t dropped_write() const noexcept { return dropped_write_.load(std::memory_order_relaxed); }

 private:
  explicit DecisionLog(DecisionLogConfig config) : config_(std::move(config)) {}
  bool OpenFile(std::string* error) JWTGATE_REQUIRES(mu_);
  void Write(std::string_view lines, uint64_t count);

  const DecisionLogConfig config_;
  std::vector<std::unique_ptr<Writer>> writers_;
  base::Mutex mu_;
  int fd_ JWTGATE_GUARDED_BY(mu_) = -1;
  bool own_fd_ JWTGATE_GUARDED_BY(mu_) = false;
  // Counted with relaxed read-modify-writes: flushes and drops are rare next to requests.
  std::atomic<uint64_t> lines_{0};
  std::atomic<uint64_t> dropped_rate_{0};
  std::atomic<uint64_t> dropped_write_{0};
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_DECISION_LOG_H_
