// The strategies benchmark's repetitions (bench/strategies/e2e_passes.h): medians, their
// intervals, the merged row the capacity plan reads, and the rotated order of the passes.
#include "../../bench/strategies/e2e_passes.h"

#include <catch2/catch.hpp>

namespace jwtgate::bench {
namespace {

TEST_CASE("passes: the median and its interval from order statistics", "[bench]") {
  // 5 values: no 95 % interval from order statistics; the range, covering 1 - 2/32.
  MedianInterval m = MedianWithInterval({5, 1, 4, 2, 3});
  CHECK(m.median == 3);
  CHECK(m.low == 1);
  CHECK(m.high == 5);
  CHECK(m.coverage == Approx(0.9375));
  CHECK(m.n == 5);
  // 10 values: P(B(10, 1/2) < 2) = 11/1024 <= 2.5 % < P(B < 3) = 56/1024, so k = 2:
  // [x(2), x(9)], coverage 1 - 22/1024.
  m = MedianWithInterval({10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(m.median == 5.5);
  CHECK(m.low == 2);
  CHECK(m.high == 9);
  CHECK(m.coverage == Approx(1 - 22.0 / 1024));
  m = MedianWithInterval({7});
  CHECK(m.median == 7);
  CHECK(m.low == 7);
  CHECK(m.high == 7);
}

Json Pass(double rps, double daemon_cpu, double p99, const char* status = "ok") {
  return Json{{"key", "S1.HS256"},
              {"status", status},
              {"server", {{"program", "jwtgated"}}},
              {"closed_loop",
               {{"throughput_rps", rps},
                {"requests", 100},
                {"errors", 0},
                {"cpu_s_per_million", {{"client", 5.0}, {"daemon", daemon_cpu}}},
                {"statuses", {{"200", 100}}}}},
              {"memory", {{"daemon", {{"rss_kib", 20000.0 + daemon_cpu}}}}},
              {"open_loop",
               Json::array({{{"fraction_of_max", 0.25},
                             {"saturated", p99 > 1000},
                             {"latency_us", {{"p50", 50.0}, {"p99", p99}}}}})}};
}

TEST_CASE("passes: a row's passes merge into medians with their intervals", "[bench]") {
  const std::vector<Json> passes = {Pass(100, 6.0, 200), Pass(120, 5.0, 150),
                                    Pass(90, 7.0, 5000), Pass(110, 6.5, 180),
                                    Pass(105, 5.5, 170)};
  const Json row = MergePasses(passes);
  CHECK(row["status"] == "ok");
  CHECK(row["closed_loop"]["throughput_rps"].get<double>() == 105);
  CHECK(row["closed_loop"]["cpu_s_per_million"]["daemon"].get<double>() == 6.0);
  CHECK(row["closed_loop"]["requests"].get<int64_t>() == 500);  // counts are summed
  CHECK(row["closed_loop"]["statuses"]["200"].get<int64_t>() == 500);
  CHECK(row["memory"]["daemon"]["rss_kib"].get<double>() == 20006.0);
  CHECK(row["open_loop"][0]["latency_us"]["p99"].get<double>() == 180);
  CHECK(row["open_loop"][0]["saturated"].get<bool>());  // one pass saturated
  const Json& reps = row["repetitions"];
  CHECK(reps["n"] == 5);
  CHECK(reps["passes"].size() == 5);
  CHECK(reps["passes"][2]["open_loop"][0]["p99"].get<double>() == 5000);
  const Json& cpu = reps["intervals"]["closed_loop.cpu_s_per_million.daemon"];
  CHECK(cpu["median"].get<double>() == 6.0);
  CHECK(cpu["ci95_low"].get<double>() == 5.0);
  CHECK(cpu["ci95_high"].get<double>() == 7.0);
  CHECK(reps["intervals"]["open_loop[0].latency_us.p99"]["ci95_high"].get<double>() == 5000);

  // A pass that failed: the medians are the others', the row says "errors".
  std::vector<Json> with_failure = passes;
  with_failure[1] = Json{{"key", "S1.HS256"}, {"status", "failed"}, {"reason", "x"}};
  const Json partial = MergePasses(with_failure);
  CHECK(partial["status"] == "errors");
  CHECK(partial["repetitions"]["measured"] == 4);
  CHECK(partial["closed_loop"]["throughput_rps"].get<double>() == Approx(102.5));

  // One pass is the row as it is.
  CHECK(MergePasses({passes[0]}) == passes[0]);
}

TEST_CASE("passes: every pass runs every row once, its order rotated by one row", "[bench]") {
  std::vector<std::pair<size_t, size_t>> calls;  // (row, position in its pass)
  const Json rows = RunRotatedPasses(3, 3, [&](size_t i, size_t k) {
    calls.emplace_back(i, k);
    return Pass(100.0 + static_cast<double>(10 * i + calls.size()), 6.0, 200);
  });
  const std::vector<std::pair<size_t, size_t>> expected = {
      {0, 1}, {1, 2}, {2, 3}, {1, 1}, {2, 2}, {0, 3}, {2, 1}, {0, 2}, {1, 3}};
  CHECK(calls == expected);
  REQUIRE(rows.size() == 3);
  // Row 0 ran as calls 1, 6 and 8: throughputs 101, 106, 108, median 106.
  CHECK(rows[0]["closed_loop"]["throughput_rps"].get<double>() == 106);
  CHECK(rows[0]["repetitions"]["n"] == 3);
  // One pass: the rows in their order, unmerged.
  calls.clear();
  const Json once = RunRotatedPasses(2, 1, [&](size_t i, size_t k) {
    calls.emplace_back(i, k);
    return Pass(100, 6.0, 200);
  });
  CHECK(calls == std::vector<std::pair<size_t, size_t>>{{0, 1}, {1, 2}});
  CHECK_FALSE(once[0].contains("repetitions"));
}

}  // namespace
}  // namespace jwtgate::bench
