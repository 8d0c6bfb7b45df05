// LatencyHistogram: an HDR-style log-linear histogram of non-negative integer values (latencies
// in nanoseconds, by convention of its users), with O(1) recording, exact count/min/max/mean,
// percentiles with a bounded relative error, and lossless merging of histograms recorded on
// different threads.
//
// Layout. With M = sub_bucket_bits, values below 2^(M+1) have a bucket each (exact). Above, the
// range [2^e, 2^(e+1)) is split into 2^M equal sub-buckets of width 2^(e-M):
//
//   index(v) = v                                   for v < 2^(M+1)
//   index(v) = (e - M) * 2^M + (v >> (e - M))      for v >= 2^(M+1), e = floor(log2 v)
//
// so consecutive powers of two use consecutive runs of 2^M buckets and every bucket holds values
// that differ by less than 1 part in 2^M: a reported value is within 2^-M of the true one
// (M = 10: 0.1 %, HdrHistogram's "3 significant digits"; M = 7: 0.8 %). Memory is about
// (log2(highest) - M + 1) * 2^M counters of 8 bytes: M = 10 and highest = 2^36 ns (68.7 s), the
// defaults, take 27,649 counters (216 KiB). Values above `highest_trackable` are recorded as
// `highest_trackable` and counted in clamped(), so a stall is never silently dropped.
//
// Percentiles. ValueAtPercentile(p) returns the highest value equivalent to the bucket holding
// the sample of rank ceil(p/100 * count) (1-based): like HdrHistogram, a percentile is never
// reported below the true one by more than the bucket width, and never above the bucket's end.
// p = 0 gives min(), p = 100 gives max() (both exact).
//
// Coordinated omission. A histogram records what it is given. Open-loop users record the
// latency from the *intended* send time of each request (wrk2's method), which needs no
// correction. Closed-loop users that want HdrHistogram's post-hoc correction call
// RecordCorrected(value, expected_interval), which also records the requests that would have
// been sent during a stall (value - k * interval for k = 1, 2, ... while positive).
//
// Thread safety. None: one histogram per thread (recording is a single increment on a plain
// counter), merged after the threads have joined. Merge() requires identical configurations.
//
// Example:
//   jwtgate::bench::LatencyHistogram h;            // M = 10, up to 2^36
//   h.Record(1234);                                // ns
//   h.Merge(other_thread_histogram);
//   uint64_t p99 = h.ValueAtPercentile(99.0);
#ifndef JWTGATE_BENCH_COMMON_HISTOGRAM_H_
#define JWTGATE_BENCH_COMMON_HISTOGRAM_H_

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace jwtgate::bench {

class LatencyHistogram {
 public:
  static constexpr unsigned kDefaultSubBucketBits = 10;
  static constexpr uint64_t kDefaultHighestTrackable = uint64_t{1} << 36;

  // REQUIRES: 1 <= sub_bucket_bits <= 20; highest_trackable >= 2^(sub_bucket_bits + 1).
  // Throws std::invalid_argument otherwise (construction is set-up code, never the hot path).
  explicit LatencyHistogram(unsigned sub_bucket_bits = kDefaultSubBucketBits,
                            uint64_t highest_trackable = kDefaultHighestTrackable)
      : sub_bits_(sub_bucket_bits), highest_(highest_trackable) {
    if (sub_bucket_bits < 1 || sub_bucket_bits > 20 ||
        highest_trackable < (uint64_t{2} << sub_bucket_bits)) {
      throw std::invalid_argument("LatencyHistogram: bad sub_bucket_bits or highest_trackable");
    }
    counts_.assign(IndexOf(highest_) + 1, 0);
  }

  // Records one sample. O(1): a bit scan, a shift and an increment.
  void Record(uint64_t value) noexcept { RecordN(value, 1); }

  // Records `n` samples of `value`.
  void RecordN(uint64_t value, uint64_t n) noexcept {
    if (n == 0) return;
    if (value > highest_) {
      value = highest_;
      clamped_ += n;
    }
    counts_[IndexOf(value)] += n;
    count_ += n;
    sum_ += static_cast<long double>(value) * static_cast<long double>(n);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  // HdrHistogram's recordCorrectedValue: records `value`, then, when expected_interval > 0 and
  // value > expected_interval, the samples value - k * expected_interval (k >= 1) down to
  // expected_interval, standing for the requests a stalled closed-loop client did not send.
  void RecordCorrected(uint64_t value, uint64_t expected_interval) noexcept {
    Record(value);
    if (expected_interval == 0) return;
    for (uint64_t v = value; v > expected_interval;) {
      v -= expected_interval;
      Record(v);
    }
  }

  // Adds every sample of `other`. REQUIRES (checked, throws std::invalid_argument): the same
  // sub_bucket_bits and highest_trackable.
  void Merge(const LatencyHistogram& other) {
    if (other.sub_bits_ != sub_bits_ || other.highest_ != highest_) {
      throw std::invalid_argument("LatencyHistogram::Merge: different configurations");
    }
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    clamped_ += other.clamped_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void Reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    sum_ = 0;
    clamped_ = 0;
    min_ = std::numeric_limits<uint64_t>::max();
    max_ = 0;
  }

  uint64_t count() const noexcept { return count_; }
  // Samples above highest_trackable (recorded as highest_trackable).
  uint64_t clamped() const noexcept { return clamped_; }
  // Exact; 0 when empty.
  uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  uint64_t max() const noexcept { return max_; }
  // Exact (of the recorded, possibly clamped, values); 0 when empty.
  double mean() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
  }
  unsigned sub_bucket_bits() const noexcept { return sub_bits_; }
  uint64_t highest_trackable() const noexcept { return highest_; }
  // The guaranteed relative precision of a reported value: 2^-sub_bucket_bits.
  double relative_precision() const noexcept {
    return std::ldexp(1.0, -static_cast<int>(sub_bits_));
  }

  // See the header comment. `percentile` in [0, 100] (clamped); 0 when empty.
  uint64_t ValueAtPercentile(double percentile) const noexcept {
    if (count_ == 0) return 0;
    if (!(percentile > 0.0)) return min();  // also NaN
    if (percentile >= 100.0) return max_;
    const double exact_rank = percentile / 100.0 * static_cast<double>(count_);
    uint64_t rank = static_cast<uint64_t>(std::ceil(exact_rank));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(HighestEquivalent(i), min(), max_);
    }
    return max_;
  }

  // Calls f(lowest, highest, count) for every non-empty bucket in increasing order; for
  // exporting spectra (e.g. the .hgrm percentile distribution) or plotting.
  template <typename F>
  void ForEachBucket(F&& f) const {
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] != 0) f(LowestEquivalent(i), HighestEquivalent(i), counts_[i]);
    }
  }

  // The bucket index of `value` (exposed for tests). REQUIRES: value <= highest_trackable.
  size_t IndexOf(uint64_t value) const noexcept {
    if (value < (uint64_t{2} << sub_bits_)) return static_cast<size_t>(value);
    const unsigned e = static_cast<unsigned>(std::bit_width(value)) - 1;  // floor(log2 value)
    const unsigned shift = e - sub_bits_;
    return (static_cast<size_t>(shift) << sub_bits_) + static_cast<size_t>(value >> shift);
  }
  // The smallest and largest values that map to bucket `index`.
  uint64_t LowestEquivalent(size_t index) const noexcept {
    const size_t linear = size_t{2} << sub_bits_;
    if (index < linear) return index;
    // index = shift * 2^M + m with m in [2^M, 2^(M+1)): shift = index / 2^M - 1.
    const unsigned shift = static_cast<unsigned>((index >> sub_bits_) - 1);
    const uint64_t m = (index & ((size_t{1} << sub_bits_) - 1)) | (uint64_t{1} << sub_bits_);
    return m << shift;
  }
  uint64_t HighestEquivalent(size_t index) const noexcept {
    const size_t linear = size_t{2} << sub_bits_;
    if (index < linear) return index;
    const unsigned shift = static_cast<unsigned>((index >> sub_bits_) - 1);
    return LowestEquivalent(index) + ((uint64_t{1} << shift) - 1);
  }
  size_t bucket_count() const noexcept { return counts_.size(); }

 private:
  unsigned sub_bits_;
  uint64_t highest_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  long double sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_COMMON_HISTOGRAM_H_
