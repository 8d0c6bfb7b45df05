// MpmcRing: a bounded multi-producer multi-consumer queue after Dmitry Vyukov's design: an
// array of cells, each with a sequence number that tells producers and consumers whose turn
// it is. One CAS per push or pop on the shared position; no locks, no allocation after
// construction. TryPush fails immediately when the ring is full (back-pressure), TryPop when
// it is empty. The bulk forms claim a run of consecutive cells with one CAS: the sequence
// loads of the run are independent, so their cache misses overlap instead of queueing
// behind one locked instruction per element.
#ifndef JWTGATE_PIPELINE_MPMC_RING_H_
#define JWTGATE_PIPELINE_MPMC_RING_H_

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include "base/cache_line.h"

namespace jwtgate::pipeline {

template <typename T>
class MpmcRing {
  static_assert(std::is_nothrow_move_assignable_v<T> && std::is_default_constructible_v<T>);

 public:
  // REQUIRES: capacity is a power of two, >= 2.
  explicit MpmcRing(size_t capacity) : mask_(capacity - 1), cells_(new Cell[capacity]) {
    assert(capacity >= 2 && (capacity & (capacity - 1)) == 0);
    for (size_t i = 0; i < capacity; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
    enqueue_pos_.store(0, std::memory_order_relaxed);
    dequeue_pos_.store(0, std::memory_order_relaxed);
  }
  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;

  size_t capacity() const noexcept { return mask_ + 1; }

  // Thread-safe. Returns false when full.
  bool TryPush(T&& value) noexcept {
    Cell* cell;
    size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      cell = &cells_[pos & mask_];
      // acquire: pairs with the consumer's release of seq, so the cell's previous value has
      // been moved out before we overwrite it.
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (dif == 0) {
        // relaxed: the CAS only claims the cell; publication happens through seq below.
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        return false;  // full: the cell still holds an element from one lap ago
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
    cell->value = std::move(value);
    // release: publishes the value to the consumer that acquires seq == pos + 1.
    cell->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  // Thread-safe. Returns false when empty.
  bool TryPop(T* out) noexcept {
    Cell* cell;
    size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      cell = &cells_[pos & mask_];
      // acquire: pairs with the producer's release, making the value visible.
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1);
      if (dif == 0) {
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        return false;  // empty
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);
      }
    }
    *out = std::move(cell->value);
    // release: hands the cell back to producers of the next lap after the move-out.
    cell->seq.store(pos + mask_ + 1, std::memory_order_release);
    return true;
  }

  // Thread-safe. Pushes a prefix of values[0, n) (moving from it) and returns its length: 0
  // when full, less than n when the ring has room for fewer.
  size_t TryPushBulk(T* values, size_t n) noexcept {
    if (n == 0) return 0;
    size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    size_t m;
    for (;;) {
      // acquire, as in TryPush: the cells' previous values have been moved out.
      const size_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
      const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (dif < 0) return 0;  // full
      if (dif > 0) {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
        continue;
      }
      // Cell pos + m is free for this lap only when its seq is exactly pos + m; only the
      // producer that claims position pos + m can change that, so the run stays free until
      // the CAS below either claims all of it or fails.
      m = 1;
      while (m < n && cells_[(pos + m) & mask_].seq.load(std::memory_order_acquire) == pos + m) ++m;
      // relaxed: the CAS only claims the cells; publication happens through seq below.
      if (enqueue_pos_.compare_exchange_weak(pos, pos + m, std::memory_order_relaxed)) break;
    }
    for (size_t i = 0; i < m; ++i) {
      Cell& cell = cells_[(pos + i) & mask_];
      cell.value = std::move(values[i]);
      // release: publishes the value to the consumer that acquires seq == pos + i + 1.
      cell.seq.store(pos + i + 1, std::memory_order_release);
    }
    return m;
  }

  // Thread-safe. Pops up to `max` elements into out[0, max) in FIFO order; returns how many
  // (0 when empty).
  size_t TryPopBulk(T* out, size_t max) noexcept {
    if (max == 0) return 0;
    size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    size_t m;
    for (;;) {
      // acquire, as in TryPop: makes the producers' values visible.
      const size_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
      const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1);
      if (dif < 0) return 0;  // empty
      if (dif > 0) {
        pos = dequeue_pos_.load(std::memory_order_relaxed);
        continue;
      }
      // The run ends at the first cell not yet published (producers finish out of order).
      m = 1;
      while (m < max &&
             cells_[(pos + m) & mask_].seq.load(std::memory_order_acquire) == pos + m + 1)
        ++m;
      if (dequeue_pos_.compare_exchange_weak(pos, pos + m, std::memory_order_relaxed)) break;
    }
    for (size_t i = 0; i < m; ++i) {
      Cell& cell = cells_[(pos + i) & mask_];
      out[i] = std::move(cell.value);
      // release: hands the cell back to producers of the next lap after the move-out.
      cell.seq.store(pos + i + mask_ + 1, std::memory_order_release);
    }
    return m;
  }

  // Approximate number of elements (exact when no operation is in flight).
  size_t SizeApprox() const noexcept {
    const size_t e = enqueue_pos_.load(std::memory_order_relaxed);
    const size_t d = dequeue_pos_.load(std::memory_order_relaxed);
    return e >= d ? e - d : 0;
  }

 private:
  struct alignas(base::kCacheLine) Cell {
    std::atomic<size_t> seq;
    T value;
  };
  const size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  // Producer and consumer positions on their own cache lines (no false sharing).
  alignas(base::kCacheLine) std::atomic<size_t> enqueue_pos_;
  alignas(base::kCacheLine) std::atomic<size_t> dequeue_pos_;
};

}  // namespace jwtgate::pipeline

#endif  // JWTGATE_PIPELINE_MPMC_RING_H_
