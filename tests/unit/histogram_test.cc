// LatencyHistogram (bench/common/histogram.h): bucket layout, the relative-precision bound,
// exact statistics, percentiles against known distributions, merge, clamping and
// HdrHistogram-style coordinated-omission correction.
#include "../../bench/common/histogram.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

namespace jwtgate::bench {
namespace {

// Every value maps to a bucket whose [lowest, highest] range holds it.
void CheckBucketOf(const LatencyHistogram& h, uint64_t v) {
  const size_t i = h.IndexOf(v);
  REQUIRE(i < h.bucket_count());
  REQUIRE(h.LowestEquivalent(i) <= v);
  REQUIRE(v <= h.HighestEquivalent(i));
}

TEST_CASE("buckets tile the value range without gaps or overlaps", "[histogram]") {
  for (unsigned bits : {1u, 3u, 7u, 10u}) {
    LatencyHistogram h(bits, uint64_t{1} << 30);
    for (size_t i = 0; i + 1 < h.bucket_count(); ++i) {
      REQUIRE(h.HighestEquivalent(i) + 1 == h.LowestEquivalent(i + 1));
      REQUIRE(h.IndexOf(h.LowestEquivalent(i)) == i);
      REQUIRE(h.IndexOf(h.HighestEquivalent(i)) == i);
    }
    REQUIRE(h.LowestEquivalent(0) == 0);
  }
}

TEST_CASE("values below 2^(M+1) are exact; above, buckets are narrower than 2^-M", "[histogram]") {
  LatencyHistogram h;  // M = 10
  const unsigned m = h.sub_bucket_bits();
  for (uint64_t v = 0; v < (uint64_t{2} << m); ++v) {
    const size_t i = h.IndexOf(v);
    REQUIRE(h.LowestEquivalent(i) == v);
    REQUIRE(h.HighestEquivalent(i) == v);
  }
  std::mt19937_64 rng(42);
  for (int k = 0; k < 100000; ++k) {
    const uint64_t v = (uint64_t{2} << m) + rng() % h.highest_trackable();
    if (v > h.highest_trackable()) continue;
    CheckBucketOf(h, v);
    const size_t i = h.IndexOf(v);
    const double width = static_cast<double>(h.HighestEquivalent(i) - h.LowestEquivalent(i) + 1);
    REQUIRE(width / static_cast<double>(h.LowestEquivalent(i)) <= h.relative_precision());
  }
  CheckBucketOf(h, h.highest_trackable());
}

TEST_CASE("count, min, max and mean are exact", "[histogram]") {
  LatencyHistogram h;
  const std::vector<uint64_t> values = {7, 1'000, 123'456'789, 42, 5'000'000'000};
  long double sum = 0;
  for (uint64_t v : values) {
    h.Record(v);
    sum += static_cast<long double>(v);
  }
  CHECK(h.count() == values.size());
  CHECK(h.min() == 7);
  CHECK(h.max() == 5'000'000'000);
  CHECK(h.mean() == Approx(static_cast<double>(sum / values.size())).epsilon(1e-12));
  CHECK(h.clamped() == 0);
}

TEST_CASE("an empty histogram reports zeros", "[histogram]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0.0);
  CHECK(h.ValueAtPercentile(50) == 0);
  CHECK(h.ValueAtPercentile(100) == 0);
}

TEST_CASE("percentiles of 1..100 are exact in the linear range", "[histogram]") {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  CHECK(h.ValueAtPercentile(0) == 1);
  CHECK(h.ValueAtPercentile(1) == 1);
  CHECK(h.ValueAtPercentile(50) == 50);
  CHECK(h.ValueAtPercentile(50.5) == 51);  // rank ceil(50.5) = 51
  CHECK(h.ValueAtPercentile(99) == 99);
  CHECK(h.ValueAtPercentile(99.9) == 100);
  CHECK(h.ValueAtPercentile(100) == 100);
  CHECK(h.ValueAtPercentile(250) == 100);  // clamped
}

TEST_CASE("percentiles of a uniform distribution are within the precision", "[histogram]") {
  LatencyHistogram h;
  // 1 us .. 1 s in 1 us steps (ns values).
  constexpr uint64_t kN = 1'000'000;
  for (uint64_t i = 1; i <= kN; ++i) h.Record(i * 1000);
  const double precision = h.relative_precision();
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
    const double truth = std::ceil(p / 100.0 * kN) * 1000.0;
    const double got = static_cast<double>(h.ValueAtPercentile(p));
    INFO("p" << p << ": " << got << " vs " << truth);
    CHECK(got >= truth);  // the bucket's highest equivalent value: never below
    CHECK(got <= truth * (1.0 + precision));
  }
}

TEST_CASE("a bimodal distribution: p50 in the fast mode, p99.9 in the slow one", "[histogram]") {
  LatencyHistogram h;
  h.RecordN(20'000, 9'980);   // 20 us
  h.RecordN(10'000'000, 20);  // 10 ms stalls: 0.2 %
  const auto fast = [&](double p) {
    const auto v = static_cast<double>(h.ValueAtPercentile(p));
    return v >= 20'000 && v <= 20'000 * (1 + h.relative_precision());
  };
  CHECK(fast(50));
  CHECK(fast(99));
  CHECK(h.ValueAtPercentile(99.9) >= 10'000'000);
  CHECK(static_cast<double>(h.ValueAtPercentile(99.9)) <=
        10'000'000 * (1 + h.relative_precision()));
  CHECK(h.count() == 10'000);
}

TEST_CASE("merging equals recording everything in one histogram", "[histogram]") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> latency(11.0, 1.5);  // median ~60 us
  LatencyHistogram all, a, b, c;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<uint64_t>(latency(rng));
    all.Record(v);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).Record(v);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  merged.Merge(c);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == Approx(all.mean()).epsilon(1e-9));
  for (double p : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    CHECK(merged.ValueAtPercentile(p) == all.ValueAtPercentile(p));
  }
}

TEST_CASE("merge refuses a histogram of another configuration", "[histogram]") {
  LatencyHistogram a(10);
  LatencyHistogram b(7);
  LatencyHistogram c(10, uint64_t{1} << 20);
  CHECK_THROWS_AS(a.Merge(b), std::invalid_argument);
  CHECK_THROWS_AS(a.Merge(c), std::invalid_argument);
}

TEST_CASE("values above highest_trackable are clamped and counted, never dropped", "[histogram]") {
  LatencyHistogram h(7, uint64_t{1} << 20);
  h.Record(10);
  h.Record(uint64_t{1} << 40);
  CHECK(h.count() == 2);
  CHECK(h.clamped() == 1);
  CHECK(h.max() == (uint64_t{1} << 20));
  CHECK(h.ValueAtPercentile(100) == (uint64_t{1} << 20));
}

TEST_CASE("RecordCorrected backfills the requests a stall held back", "[histogram]") {
  LatencyHistogram h;
  // A 10 ms stall in a loop expecting one request per ms: 10 ms, 9 ms, ..., 1 ms.
  h.RecordCorrected(10'000'000, 1'000'000);
  CHECK(h.count() == 10);
  CHECK(h.min() == 1'000'000);
  CHECK(h.max() == 10'000'000);
  // No stall: one sample.
  LatencyHistogram g;
  g.RecordCorrected(500, 1'000'000);
  g.RecordCorrected(500, 0);
  CHECK(g.count() == 2);
}

TEST_CASE("Reset empties the histogram", "[histogram]") {
  LatencyHistogram h;
  h.Record(123);
  h.Reset();
  CHECK(h.count() == 0);
  CHECK(h.ValueAtPercentile(50) == 0);
  h.Record(5);
  CHECK(h.min() == 5);
}

TEST_CASE("bad configurations are refused", "[histogram]") {
  CHECK_THROWS_AS(LatencyHistogram(0), std::invalid_argument);
  CHECK_THROWS_AS(LatencyHistogram(21), std::invalid_argument);
  CHECK_THROWS_AS(LatencyHistogram(10, 1000), std::invalid_argument);  // < 2^11
  CHECK_NOTHROW(LatencyHistogram(10, 2048));
}

}  // namespace
}  // namespace jwtgate::bench
