#include "revoke/bloom_filter.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace jwtgate::revoke {

size_t BlockedBloomFilter::BlocksFor(size_t capacity, double bits_per_key) noexcept {
  const double bits = static_cast<double>(capacity) * bits_per_key;
  const double blocks = std::ceil(bits / static_cast<double>(kBitsPerBlock));
  constexpr double kMaxBlocks = 4294967295.0;
  return static_cast<size_t>(std::clamp(blocks, 1.0, kMaxBlocks));
}

BlockedBloomFilter::BlockedBloomFilter(size_t capacity, double bits_per_key)
    : buf_(BlocksFor(capacity, bits_per_key) * kBlockBytes),
      words_(static_cast<uint64_t*>(buf_.data())),
      num_blocks_(BlocksFor(capacity, bits_per_key)),
      capacity_(capacity),
      bits_per_key_(bits_per_key) {}

void BlockedBloomFilter::MayContainBatch(const uint64_t* hashes, size_t n,
                                         bool* out) const noexcept {
  // Software pipeline: the block of key i + kPrefetchDistance is requested while key i is
  // probed, so about that many cache misses are in flight at any time.
  const size_t warm = std::min(n, kPrefetchDistance);
  for (size_t i = 0; i < warm; ++i) Prefetch(hashes[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) Prefetch(hashes[i + kPrefetchDistance]);
    out[i] = MayContain(hashes[i]);
  }
}

double BlockedBloomFilter::FillRatio() const noexcept {
  uint64_t set = 0;
  const size_t words = num_blocks_ * kWordsPerBlock;
  for (size_t i = 0; i < words; ++i) {
    std::atomic_ref<uint64_t> w(words_[i]);
    set += static_cast<uint64_t>(std::popcount(w.load(std::memory_order_relaxed)));
  }
  return static_cast<double>(set) / static_cast<double>(words * 64);
}

double BlockedBloomFilter::ModelFpr(double bits_per_key) noexcept {
  const double lambda = static_cast<double>(kBitsPerBlock) / bits_per_key;
  const double log_lambda = std::log(lambda);
  const double q = 63.0 / 64.0;  // a lane bit survives one key
  const auto last = static_cast<size_t>(lambda + 12.0 * std::sqrt(lambda) + 64.0);
  double sum = 0;
  double log_factorial = 0;  // log(j!)
  for (size_t j = 0; j <= last; ++j) {
    if (j > 0) log_factorial += std::log(static_cast<double>(j));
    const auto dj = static_cast<double>(j);
    const double log_p = -lambda + dj * log_lambda - log_factorial;
    sum += std::exp(log_p) * std::pow(1.0 - std::pow(q, dj), 8.0);
  }
  return sum;
}

namespace {

// ModelFpr decreases with bits/key; bisect to 1e-4 bits (about 1,500 pow() calls).
double BisectBitsPerKey(double fpr) noexcept {
  double lo = 1.0;
  double hi = 128.0;
  while (hi - lo > 1e-4) {
    const double mid = (lo + hi) / 2;
    if (BlockedBloomFilter::ModelFpr(mid) <= fpr) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace

double BlockedBloomFilter::BitsPerKeyForFpr(double fpr) noexcept {
  // Every store opened with the default rate asks for the same answer: compute it once.
  static const double kForDefault = BisectBitsPerKey(kDefaultFpr);
  return fpr == kDefaultFpr ? kForDefault : BisectBitsPerKey(fpr);
}

}  // namespace jwtgate::revoke
