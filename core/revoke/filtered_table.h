// FilteredTable: a BlockedBloomFilter in front of a FingerprintTable, owned by the writer
// side of the revocation store. One holds one kind of jti revocation (value: keep-until) or
// one kind of watermark.
//
// The writer grows the pair as entries arrive: the table is rebuilt at 1.5x when it reaches
// its maximum load, the filter when its entry count passes the capacity it was sized for (so
// the FPR never exceeds the design rate). A rebuilt object replaces the old one, which goes to
// the caller's Retired list: readers may still hold it until the next grace period. Readers
// only ever see a Ref (two const pointers) through the store's published View.
#ifndef JWTGATE_REVOKE_FILTERED_TABLE_H_
#define JWTGATE_REVOKE_FILTERED_TABLE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "revoke/bloom_filter.h"
#include "revoke/fingerprint_table.h"

namespace jwtgate::revoke {

// Objects unpublished by a writer, freed after EpochDomain::Synchronize.
using Retired = std::vector<std::shared_ptr<const void>>;

// Applies `apply` to each pushed item kDepth pushes later, after `prefetch` started loading
// what it will touch: bulk loads into tables and filters larger than the cache then wait for
// memory once per kDepth items instead of once per item.
template <typename Item, typename Prefetch, typename Apply, size_t kDepth = 16>
class DelayLine {
 public:
  DelayLine(Prefetch prefetch, Apply apply) : prefetch_(prefetch), apply_(apply) {}
  ~DelayLine() { Flush(); }
  DelayLine(const DelayLine&) = delete;
  DelayLine& operator=(const DelayLine&) = delete;

  void Push(const Item& item) {
    prefetch_(item);
    if (size_ == kDepth) apply_(ring_[head_]);
    ring_[head_] = item;
    head_ = (head_ + 1) % kDepth;
    size_ = std::min(size_ + 1, kDepth);
  }
  void Flush() {
    const size_t start = (head_ + kDepth - size_) % kDepth;
    for (size_t k = 0; k < size_; ++k) apply_(ring_[(start + k) % kDepth]);
    size_ = 0;
  }

 private:
  Prefetch prefetch_;
  Apply apply_;
  Item ring_[kDepth];
  size_t head_ = 0;
  size_t size_ = 0;
};

template <bool kWithValue>
class FilteredTable {
 public:
  using Table = FingerprintTable<kWithValue>;
  struct Ref {
    const BlockedBloomFilter* filter = nullptr;  // null: nothing to find
    const Table* table = nullptr;
  };
  static constexpr double kGrowth = 1.5;

  // An empty pair for `capacity` entries.
  FilteredTable(size_t capacity, double bits_per_key)
      : bits_per_key_(bits_per_key),
        filter_(std::make_unique<BlockedBloomFilter>(std::max<size_t>(capacity, 1), bits_per_key)),
        table_(std::make_unique<Table>(Table::CapacityFor(capacity, Table::kCompactLoad))) {}

  // A pair being loaded by recovery: the table holds up to `max_entries`, the filter is built
  // by FinishLoad. REQUIRES: not shared with readers until FinishLoad.
  static std::unique_ptr<FilteredTable> ForLoad(size_t max_entries, double bits_per_key) {
    auto t = std::unique_ptr<FilteredTable>(new FilteredTable(bits_per_key));
    t->table_ = std::make_unique<Table>(Table::CapacityFor(max_entries, Table::kCompactLoad));
    return t;
  }
  // REQUIRES: ForLoad, not shared, and fewer than max_entries inserted so far.
  void LoadInsert(const Fingerprint& f, int64_t value) noexcept { table_->Insert(f, value); }
  // Builds the filter fitted to the content.
  void FinishLoad() { filter_ = BuildFilter(*table_, table_->size(), bits_per_key_); }

  // Adds `f` while readers may be probing. *added: whether it is new. Returns true when the
  // filter or the table was replaced (the old ones are in *retired): the caller republishes.
  bool Insert(const Fingerprint& f, int64_t value, bool* added, Retired* retired) {
    bool replaced = false;
    if (!table_->HasRoomFor(1)) {
      // 1.5x: from kMaxLoad (0.9) down to kGrowLoad (0.6).
      auto bigger = Rebuilt(*table_, Table::CapacityFor(table_->size() + 1, Table::kGrowLoad));
      retired->push_back(std::shared_ptr<const void>(std::move(table_)));
      table_ = std::move(bigger);
      replaced = true;
    }
    *added = table_->Insert(f, value);
    if (!*added) return replaced;
    if (table_->size() > filter_->capacity()) {
      const auto capacity =
          static_cast<size_t>(std::ceil(static_cast<double>(table_->size()) * kGrowth));
      retired->push_back(std::shared_ptr<const void>(std::move(filter_)));
      filter_ = BuildFilter(*table_, capacity, bits_per_key_);
      return true;
    }
    // relaxed fetch_or, after the table already holds the entry (its slot was published with
    // a release store above): a reader that sees these bits but not yet the entry answers
    // "not revoked", which is allowed because this revocation is not acknowledged yet; the
    // acknowledgement (mutex and condition variable of the group commit) happens after both
    // stores, so every reader ordered after it sees both.
    filter_->Add(f.lo);
    return replaced;
  }

  // Rebuilds the filter and the table fitted to the content when they are larger than that.
  // Returns true when anything was replaced.
  bool Refit(Retired* retired) {
    bool replaced = false;
    const size_t n = table_->size();
    const size_t fitted = Table::CapacityFor(n, Table::kCompactLoad);
    if (fitted < table_->capacity()) {
      auto smaller = Rebuilt(*table_, fitted);
      retired->push_back(std::shared_ptr<const void>(std::move(table_)));
      table_ = std::move(smaller);
      replaced = true;
    }
    if (BlockedBloomFilter::BlocksFor(std::max<size_t>(n, 1), bits_per_key_) <
        filter_->num_blocks()) {
      retired->push_back(std::shared_ptr<const void>(std::move(filter_)));
      filter_ = BuildFilter(*table_, n, bits_per_key_);
      replaced = true;
    }
    return replaced;
  }

  Ref ref() const noexcept {
    return table_->size() == 0 ? Ref{} : Ref{filter_.get(), table_.get()};
  }
  size_t size() const noexcept { return table_->size(); }
  size_t filter_bytes() const noexcept { return filter_ ? filter_->bytes() : 0; }
  size_t table_bytes() const noexcept { return table_->bytes(); }
  const BlockedBloomFilter* filter() const noexcept { return filter_.get(); }
  const Table& table() const noexcept { return *table_; }
  double bits_per_key() const noexcept { return bits_per_key_; }

  template <typename Fn>
  void ForEach(Fn&& fn) const {
    table_->ForEach(std::forward<Fn>(fn));
  }

 private:
  explicit FilteredTable(double bits_per_key) : bits_per_key_(bits_per_key) {}

  static std::unique_ptr<Table> Rebuilt(const Table& from, size_t capacity) {
    auto t = std::make_unique<Table>(capacity);
    from.ForEach([&](const Fingerprint& f, int64_t v) { t->Insert(f, v); });
    return t;
  }
  static std::unique_ptr<BlockedBloomFilter> BuildFilter(const Table& from, size_t capacity,
                                                         double bits_per_key) {
    auto f = std::make_unique<BlockedBloomFilter>(std::max<size_t>(capacity, 1), bits_per_key);
    BlockedBloomFilter* filter = f.get();
    auto prefetch = [filter](uint64_t lo) { filter->Prefetch(lo); };
    auto add = [filter](uint64_t lo) { filter->AddExclusive(lo); };
    DelayLine<uint64_t, decltype(prefetch), decltype(add), 32> line(prefetch, add);
    from.ForEach([&](const Fingerprint& fp, int64_t) { line.Push(fp.lo); });
    line.Flush();
    return f;
  }

  double bits_per_key_;
  std::unique_ptr<BlockedBloomFilter> filter_;
  std::unique_ptr<Table> table_;
};

using ValueMap = FilteredTable<true>;

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_FILTERED_TABLE_H_
