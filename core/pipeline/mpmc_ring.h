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
    const Run run = Claim<kProducerTurn>(enqueue_pos_, 1);
    if (run.length == 0) return false;
    Put(*run.cell, run.pos, std::move(value));
    return true;
  }

  // Thread-safe. Returns false when empty.
  bool TryPop(T* out) noexcept {
    const Run run = Claim<kConsumerTurn>(dequeue_pos_, 1);
    if (run.length == 0) return false;
    Take(*run.cell, run.pos, out);
    return true;
  }

  // Thread-safe. Pushes a prefix of values[0, n) (moving from it) and returns its length: 0
  // when full, less than n when the ring has room for fewer.
  size_t TryPushBulk(T* values, size_t n) noexcept {
    const Run run = Claim<kProducerTurn>(enqueue_pos_, n);
    for (size_t i = 0; i < run.length; ++i) {
      Put(cells_[(run.pos + i) & mask_], run.pos + i, std::move(values[i]));
    }
    return run.length;
  }

  // Thread-safe. Pops up to `max` elements into out[0, max) in FIFO order; returns how many
  // (0 when empty).
  size_t TryPopBulk(T* out, size_t max) noexcept {
    const Run run = Claim<kConsumerTurn>(dequeue_pos_, max);
    for (size_t i = 0; i < run.length; ++i) {
      Take(cells_[(run.pos + i) & mask_], run.pos + i, &out[i]);
    }
    return run.length;
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

  // A side's turn at a cell comes when the cell's seq is its position plus the side's turn: a
  // producer's once the previous lap's element has been moved out, a consumer's once the
  // element is published.
  static constexpr size_t kProducerTurn = 0;
  static constexpr size_t kConsumerTurn = 1;

  // Consecutive positions claimed with one CAS. `cell` is the cell of `pos`, found before the
  // CAS: finding it again after the locked instruction reloads cells_ and mask_, which made a
  // single push + pop about 2 ns slower (measured).
  struct Run {
    size_t pos;
    size_t length;  // 0: nothing claimed
    Cell* cell;
  };

  // Claims a run of up to `max` consecutive cells from `position` (enqueue_pos_ for producers,
  // dequeue_pos_ for consumers); none when max is 0 or the ring is full (producers) or empty
  // (consumers).
  template <size_t kTurn>
  Run Claim(std::atomic<size_t>& position, size_t max) noexcept {
    if (max == 0) return {0, 0, nullptr};
    size_t pos = position.load(std::memory_order_relaxed);
    for (;;) {
      Cell* cell = &cells_[pos & mask_];
      // acquire: pairs with the other side's release of seq: a producer's cell has had its
      // previous value moved out before the producer overwrites it; a consumer's value is
      // visible.
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const intptr_t dif = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + kTurn);
      // Full: the cell still holds an element from one lap ago. Empty: not yet published.
      if (dif < 0) return {0, 0, nullptr};
      if (dif > 0) {
        pos = position.load(std::memory_order_relaxed);
        continue;
      }
      // Cell pos + m is this side's turn only when its seq is exactly pos + m + kTurn; only the
      // thread that claims position pos + m can change that, so the run stays claimable until
      // the CAS below either claims all of it or fails. A consumer's run ends at the first cell
      // not yet published (producers finish out of order).
      size_t m = 1;
      while (m < max &&
             cells_[(pos + m) & mask_].seq.load(std::memory_order_acquire) == pos + m + kTurn) {
        ++m;
      }
      // relaxed: the CAS only claims the cells; publication happens through seq (Put, Take).
      if (position.compare_exchange_weak(pos, pos + m, std::memory_order_relaxed)) {
        return {pos, m, cell};
      }
    }
  }

  // Stores into the claimed cell of position `pos` and hands it to consumers.
  void Put(Cell& cell, size_t pos, T&& value) noexcept {
    cell.value = std::move(value);
    // release: publishes the value to the consumer that acquires seq == pos + 1.
    cell.seq.store(pos + 1, std::memory_order_release);
  }

  // Moves out of the claimed cell of position `pos` and hands it back to producers.
  void Take(Cell& cell, size_t pos, T* out) noexcept {
    *out = std::move(cell.value);
    // release: hands the cell back to producers of the next lap after the move-out.
    cell.seq.store(pos + mask_ + 1, std::memory_order_release);
  }

  const size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  // Producer and consumer positions on their own cache lines (no false sharing).
  alignas(base::kCacheLine) std::atomic<size_t> enqueue_pos_;
  alignas(base::kCacheLine) std::atomic<size_t> dequeue_pos_;
};

}  // namespace jwtgate::pipeline

#endif  // JWTGATE_PIPELINE_MPMC_RING_H_
