// jwtgated metrics (daemon/metrics.h): histogram bucketing, reason names and decisions, and the
// Prometheus text exposition (escaping, histogram shape).
#include <catch2/catch.hpp>

#include <atomic>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/metrics.h"

using jwtgate::Status;
using jwtgate::daemon::LatencyHistogram;
using jwtgate::daemon::MetricsText;
using jwtgate::daemon::ReasonOf;

TEST_CASE("metrics: latency buckets are inclusive upper bounds", "[metrics]") {
  LatencyHistogram h;
  h.Observe(0);          // -> le=1e-06
  h.Observe(1000);       // exactly 1 µs -> le=1e-06
  h.Observe(1001);       // -> le=2.5e-06
  h.Observe(40000);      // 40 µs -> le=5e-05
  h.Observe(3000000000); // 3 s -> +Inf
  h.Observe(-5);         // clock oddity: counted as 0
  const LatencyHistogram::Snapshot s = h.Read();
  CHECK(s.count == 6);
  CHECK(s.counts[0] == 3);
  CHECK(s.counts[1] == 1);
  CHECK(s.counts[5] == 1);
  CHECK(s.counts[LatencyHistogram::kBuckets - 1] == 1);
  CHECK(s.sum_seconds == Approx(3.000042001).epsilon(1e-9));
}

TEST_CASE("metrics: a single writer and a concurrent reader", "[metrics][concurrency]") {
  LatencyHistogram h;
  std::atomic<bool> stop{false};
  std::atomic<bool> inconsistent{false};
  std::thread reader([&] {
    while (!stop.load()) {
      const auto s = h.Read();
      uint64_t total = 0;
      for (uint64_t c : s.counts) total += c;
      if (total != s.count) inconsistent.store(true);  // +Inf bucket must equal the count
    }
  });
  for (int i = 0; i < 200000; ++i) h.Observe(i % 5000);
  stop.store(true);
  reader.join();
  CHECK_FALSE(inconsistent.load());
  CHECK(h.Read().count == 200000);
}

TEST_CASE("metrics: reasons and decisions", "[metrics]") {
  using jwtgate::daemon::DecisionOf;
  using jwtgate::daemon::ReasonName;
  CHECK(ReasonName(ReasonOf(Status::kOk)) == "ok");
  CHECK(DecisionOf(ReasonOf(Status::kOk)) == "allow");
  CHECK(ReasonName(ReasonOf(Status::kExpired)) == "expired");
  CHECK(DecisionOf(ReasonOf(Status::kExpired)) == "deny");
  CHECK(DecisionOf(ReasonOf(Status::kRevoked)) == "deny");
  CHECK(DecisionOf(ReasonOf(Status::kOverloaded)) == "error");
  CHECK(DecisionOf(ReasonOf(Status::kShuttingDown)) == "error");
  CHECK(DecisionOf(ReasonOf(Status::kInternalError)) == "error");
  CHECK(ReasonName(jwtgate::daemon::kReasonMissing) == "token_missing");
  CHECK(DecisionOf(jwtgate::daemon::kReasonMissing) == "deny");
  CHECK(ReasonName(jwtgate::daemon::kReasonInvalidRequest) == "invalid_request");
  CHECK(ReasonName(jwtgate::daemon::kReasonNotFound) == "not_found");
  // Every reason has a distinct, label-safe name.
  std::set<std::string> names;
  for (size_t r = 0; r < jwtgate::daemon::kReasonCount; ++r) {
    const std::string n(ReasonName(r));
    CHECK(names.insert(n).second);
    for (char c : n) CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'));
  }
}

TEST_CASE("metrics: counters per reason", "[metrics]") {
  jwtgate::daemon::AuthCounters c;
  c.Count(ReasonOf(Status::kOk));
  c.Count(ReasonOf(Status::kOk));
  c.Count(jwtgate::daemon::kReasonMissing);
  CHECK(c.Read(ReasonOf(Status::kOk)) == 2);
  CHECK(c.Read(jwtgate::daemon::kReasonMissing) == 1);
  CHECK(c.Read(ReasonOf(Status::kExpired)) == 0);
}

TEST_CASE("metrics: text exposition", "[metrics]") {
  MetricsText m;
  m.Family("jwtgate_x_total", "counter", "Help with \\ and\nnewline.");
  m.Sample("jwtgate_x_total", {{"a", "q\"b\\c\nd"}, {"b", "plain"}}, uint64_t{42});
  m.Sample("jwtgate_x_total", {}, 0.5);
  const std::string expected =
      "# HELP jwtgate_x_total Help with \\\\ and\\nnewline.\n"
      "# TYPE jwtgate_x_total counter\n"
      "jwtgate_x_total{a=\"q\\\"b\\\\c\\nd\",b=\"plain\"} 42\n"
      "jwtgate_x_total 0.5\n";
  CHECK(m.text() == expected);
}

TEST_CASE("metrics: histogram exposition is cumulative and ends at +Inf", "[metrics]") {
  LatencyHistogram h;
  h.Observe(500);     // 0.5 µs
  h.Observe(20000);   // 20 µs
  h.Observe(20000);
  MetricsText m;
  m.Histogram("jwtgate_verify_duration_seconds", "Verify time.", h.Read());
  const std::string& t = m.text();
  CHECK_THAT(t, Catch::Matchers::Contains("# TYPE jwtgate_verify_duration_seconds histogram\n"));
  CHECK_THAT(t, Catch::Matchers::Contains("jwtgate_verify_duration_seconds_bucket{le=\"1e-06\"} 1\n"));
  CHECK_THAT(t, Catch::Matchers::Contains("jwtgate_verify_duration_seconds_bucket{le=\"1e-05\"} 1\n"));
  CHECK_THAT(t, Catch::Matchers::Contains("jwtgate_verify_duration_seconds_bucket{le=\"2.5e-05\"} 3\n"));
  CHECK_THAT(t, Catch::Matchers::Contains("jwtgate_verify_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(t, Catch::Matchers::Contains("jwtgate_verify_duration_seconds_count 3\n"));
  const size_t sum_at = t.find("jwtgate_verify_duration_seconds_sum ");
  REQUIRE(sum_at != std::string::npos);
  CHECK(std::stod(t.substr(sum_at + 36)) == Approx(4.05e-05));
  // Bounds ascend and every bucket line is well-formed.
  std::istringstream in(t);
  std::string line;
  double last = -1;
  uint64_t last_count = 0;
  while (std::getline(in, line)) {
    if (line.rfind("jwtgate_verify_duration_seconds_bucket", 0) != 0) continue;
    const size_t q1 = line.find('"'), q2 = line.find('"', q1 + 1);
    const std::string le = line.substr(q1 + 1, q2 - q1 - 1);
    const double bound = le == "+Inf" ? 1e300 : std::stod(le);
    CHECK(bound > last);
    last = bound;
    const uint64_t count = std::stoull(line.substr(line.rfind(' ') + 1));
    CHECK(count >= last_count);
    last_count = count;
  }
}

TEST_CASE("metrics: doubles print as Prometheus reads them", "[metrics]") {
  CHECK(MetricsText::FormatDouble(1e-6) == "1e-06");
  CHECK(MetricsText::FormatDouble(0.25) == "0.25");
  CHECK(MetricsText::FormatDouble(3) == "3");
  CHECK(MetricsText::FormatDouble(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(MetricsText::FormatDouble(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("metrics: process stats are plausible", "[metrics]") {
  const auto p = jwtgate::daemon::ReadProcessStats();
  CHECK(p.resident_bytes > 0);
  CHECK(p.virtual_bytes >= p.resident_bytes);
  CHECK(p.open_fds >= 3);
  CHECK(p.max_fds >= p.open_fds);
}
