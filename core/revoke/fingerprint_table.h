// FingerprintTable: the exact store. An open-addressing hash table of 128-bit Fingerprints
// (optionally each with an int64 value) for one writer and any number of lock-free readers.
//
// Layout. Slots of 16 bytes (hi, lo) or 24 bytes (hi, lo, value) in one zeroed array; hi == 0
// marks an empty slot (KeyHasher never produces hi == 0). The home slot is fastrange(hi) =
// (hi * capacity) >> 64, so the capacity need not be a power of two and a table can be sized
// to its content: after compaction a table holds n entries in n / 0.8 slots, 20 (set) or 30
// (map) bytes per entry; it grows by 1.5x when it reaches 90 % load, so between compactions
// an entry costs at most 16 / 0.6 = 26.7 (set) or 24 / 0.6 = 40 (map) bytes. The revocation
// store uses maps only: each jti entry carries its keep-until time. Collisions use linear probing:
// at 80-90 % load a hit costs about 3-5 slots (one or two cache lines), a miss more, but misses
// reach the table only through a filter false positive (about 0.1 % of negative checks).
//
// Concurrency. One writer at a time (the caller serializes writers); readers need no lock.
// The writer fills lo and value first and publishes the slot with a release store of hi; a
// reader loads hi with acquire, so it sees lo and value of every slot it finds occupied.
// Slots are never cleared or moved while the table is shared: a table that must grow is
// rebuilt into a new one, and the old one is retired by the caller (EpochDomain). Map values
// only rise (max), with relaxed stores: a reader sees the old or the new value.
#ifndef JWTGATE_REVOKE_FINGERPRINT_TABLE_H_
#define JWTGATE_REVOKE_FINGERPRINT_TABLE_H_

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "revoke/hash.h"
#include "revoke/zeroed_buffer.h"

namespace jwtgate::revoke {

template <bool kWithValue>
class FingerprintTable {
 public:
  static constexpr size_t kSlotWords = kWithValue ? 3 : 2;
  static constexpr size_t kSlotBytes = kSlotWords * sizeof(uint64_t);
  // Inserts stop at this load; the owner then rebuilds at kGrowLoad.
  static constexpr double kMaxLoad = 0.9;
  static constexpr double kGrowLoad = 0.6;
  // Load of a table built to fit its content (recovery, compaction).
  static constexpr double kCompactLoad = 0.8;
  static constexpr size_t kMinCapacity = 8;

  // An empty table of `capacity` slots (at least kMinCapacity). Throws std::bad_alloc.
  explicit FingerprintTable(size_t capacity)
      : capacity_(std::max(capacity, kMinCapacity)),
        max_size_(static_cast<size_t>(static_cast<double>(capacity_) * kMaxLoad)),
        buf_(capacity_ * kSlotBytes),
        slots_(static_cast<uint64_t*>(buf_.data())) {}

  // Slots for `n` entries at `load`.
  static size_t CapacityFor(size_t n, double load) noexcept {
    return std::max(kMinCapacity,
                    static_cast<size_t>(std::ceil(static_cast<double>(n) / load)) + 1);
  }

  // Reader-side (any thread, concurrently with the writer).
  bool Contains(const Fingerprint& f) const noexcept { return Locate(f) != nullptr; }
  // When present, stores the value into `*value` (maps only).
  bool Find(const Fingerprint& f, int64_t* value) const noexcept {
    const uint64_t* s = Locate(f);
    if (s == nullptr) return false;
    if constexpr (kWithValue) {
      *value = static_cast<int64_t>(Load(s[2], std::memory_order_relaxed));
    } else {
      *value = 0;
    }
    return true;
  }
  // Starts loading the home slot of `hi`.
  void Prefetch(uint64_t hi) const noexcept { __builtin_prefetch(slots_ + Home(hi) * kSlotWords); }

  // Writer-side (one thread at a time).
  bool HasRoomFor(size_t more) const noexcept { return size_ + more <= max_size_; }
  // Adds `f`. For maps, an existing entry's value becomes max(old, value). Returns true when
  // `f` was not present. REQUIRES: f.hi != 0, HasRoomFor(1).
  bool Insert(const Fingerprint& f, int64_t value = 0) noexcept {
    for (size_t i = Home(f.hi);; i = Next(i)) {
      uint64_t* s = slots_ + i * kSlotWords;
      const uint64_t h = Load(s[0], std::memory_order_relaxed);  // only this thread writes
      if (h == 0) {
        Store(s[1], f.lo, std::memory_order_relaxed);
        if constexpr (kWithValue) {
          Store(s[2], static_cast<uint64_t>(value), std::memory_order_relaxed);
        }
        // release: publishes lo and value (above) to readers that acquire hi.
        Store(s[0], f.hi, std::memory_order_release);
        ++size_;
        return true;
      }
      if (h == f.hi && Load(s[1], std::memory_order_relaxed) == f.lo) {
        if constexpr (kWithValue) {
          const auto old = static_cast<int64_t>(Load(s[2], std::memory_order_relaxed));
          // relaxed: a racing reader may see either value; only acknowledged raises count.
          if (value > old) Store(s[2], static_cast<uint64_t>(value), std::memory_order_relaxed);
        }
        return false;
      }
    }
  }

  // Calls fn(fingerprint, value) for every entry, in slot order. Writer-side or on a table no
  // writer touches.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t i = 0; i < capacity_; ++i) {
      const uint64_t* s = slots_ + i * kSlotWords;
      const uint64_t h = Load(s[0], std::memory_order_acquire);
      if (h == 0) continue;
      int64_t v = 0;
      if constexpr (kWithValue) v = static_cast<int64_t>(Load(s[2], std::memory_order_relaxed));
      fn(Fingerprint{Load(s[1], std::memory_order_relaxed), h}, v);
    }
  }

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }
  size_t bytes() const noexcept { return capacity_ * kSlotBytes; }

 private:
  static uint64_t Load(const uint64_t& w, std::memory_order o) noexcept {
    // The cast only lets atomic_ref (C++20) load from a const object; nothing is written.
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(w)).load(o);  // NOLINT
  }
  static void Store(uint64_t& w, uint64_t v, std::memory_order o) noexcept {
    std::atomic_ref<uint64_t>(w).store(v, o);
  }
  size_t Home(uint64_t hi) const noexcept {
    return static_cast<size_t>((static_cast<hash_internal::Uint128>(hi) * capacity_) >> 64);
  }
  size_t Next(size_t i) const noexcept { return i + 1 == capacity_ ? 0 : i + 1; }

  const uint64_t* Locate(const Fingerprint& f) const noexcept {
    // Terminates: the load never exceeds kMaxLoad, so an empty slot exists.
    for (size_t i = Home(f.hi);; i = Next(i)) {
      const uint64_t* s = slots_ + i * kSlotWords;
      // acquire: pairs with the writer's release store of hi; lo and value are then visible.
      const uint64_t h = Load(s[0], std::memory_order_acquire);
      if (h == 0) return nullptr;
      if (h == f.hi && Load(s[1], std::memory_order_relaxed) == f.lo) return s;
    }
  }

  size_t capacity_;
  size_t max_size_;
  size_t size_ = 0;  // writer-side
  ZeroedBuffer buf_;
  uint64_t* slots_;
};

using FingerprintMap = FingerprintTable<true>;

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_FINGERPRINT_TABLE_H_
