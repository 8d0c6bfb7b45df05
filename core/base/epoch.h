// EpochDomain: safe memory reclamation for lock-free read paths. Two users: the revocation
// read path (RevocationStore::IsRevoked reads filters and tables that a writer replaces when a
// table grows or expired revocations are dropped) and the verified-token cache (a hit reads an
// entry that a writer may replace or evict).
//
// Readers (on any thread) follow pointers that a writer may unpublish. A writer unpublishes an
// object, calls Synchronize(), and only then frees it: Synchronize returns once every
// read-side critical section that could still hold the old pointer has ended.
//
// Read side. Each thread uses its ThreadSlot (base/thread_slot.h) as its reader slot here.
// Entering stores the current epoch into the slot, leaving stores 0. Between the slot store
// and the pointer loads that follow, a store-load barrier is needed (Dekker: the writer stores
// the pointer, then loads the slots). On Linux with membarrier(2) that barrier is asymmetric:
// readers use a compiler barrier only, and Synchronize pays with one
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the process
// execute a full fence. Without membarrier (and under ThreadSanitizer, which does not model
// it) readers use a sequentially consistent store instead. A Guard therefore costs two
// thread-local stores, no atomic read-modify-write and no fence on the fast path.
//
// Write side. Synchronize advances the epoch, issues the heavy barrier and waits for every slot
// that is busy with an older epoch. Readers never wait for anything; writers wait only for
// readers, whose critical sections are a few hundred nanoseconds.
//
// A thread without a ThreadSlot (more than kMaxThreadSlots threads, or a thread that is
// exiting) falls back to a shared counter (correct, but an atomic increment per Guard, and a
// writer may then wait until that counter drains).
//
// Thread safety: Guard and Synchronize may be used from any thread at the same time.
#ifndef JWTGATE_BASE_EPOCH_H_
#define JWTGATE_BASE_EPOCH_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/cache_line.h"
#include "base/thread_slot.h"

namespace jwtgate::base {

class EpochDomain {
 public:
  // The process-wide domain (never destroyed, so guards in thread-exit paths stay valid).
  static EpochDomain& Global() noexcept;

  // A read-side critical section. Nestable; not movable. Pointers loaded (acquire) from
  // structures protected by this domain stay valid until the outermost Guard ends.
  // Inline: the fast path is a few thread-local accesses and one store each way.
  class Guard {
   public:
    explicit Guard(EpochDomain& d) noexcept : d_(d) {
      if (t_depth_++ > 0) {
        slot_ = kNested;
        return;
      }
      const size_t s = ThisThreadSlot();
      if (s != kNoThreadSlot) [[likely]] {
        slot_ = static_cast<int>(s);
        d_.EnterSlot(s);
      } else {
        slot_ = kShared;
        d_.EnterShared();
      }
    }
    ~Guard() {
      --t_depth_;
      if (slot_ >= 0) [[likely]] {
        // release: every load done inside the section happens-before a writer that sees
        // the slot idle (acquire) and then frees what those loads reached.
        d_.slots_[slot_].epoch.store(0, std::memory_order_release);
      } else if (slot_ == kShared) {
        d_.shared_readers_.fetch_sub(1, std::memory_order_release);
      }
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    EpochDomain& d_;
    int slot_;  // >= 0: own slot; kNested: no-op; kShared: shared counter
  };

  // Waits until every Guard that began before this call has ended.
  // REQUIRES: !InGuard(). Inside a Guard it would wait for itself forever; it aborts with a
  // message instead, so that such a caller fails loudly rather than spinning.
  void Synchronize() noexcept;

  // True inside a Guard of this thread (the domain is process-wide: any Guard counts). A
  // writer that may run inside one (a cache insert during a verification) defers its
  // Synchronize to a later call outside.
  static bool InGuard() noexcept { return t_depth_ > 0; }

  // True when readers use the asymmetric (membarrier) barrier.
  bool asymmetric() const noexcept { return asymmetric_; }

 private:
  static constexpr int kShared = -2;  // Guard::slot_ without a ThreadSlot: shared counter
  static constexpr int kNested = -3;  // Guard::slot_ of an inner Guard

  EpochDomain() noexcept;
  void EnterSlot(size_t s) noexcept {
    // acquire: a reader that sees an epoch advanced by Synchronize also sees what that
    // writer unpublished before advancing it.
    const uint64_t e = epoch_.load(std::memory_order_acquire);
    std::atomic<uint64_t>& slot = slots_[s].epoch;
    if (asymmetric_) {
      // relaxed + compiler barrier: the writer's membarrier supplies the store-load fence.
      slot.store(e, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      StoreLoadFence(slot, e);
    }
  }
  // Enters through the shared counter (no ThreadSlot).
  void EnterShared() noexcept;
  static void StoreLoadFence(std::atomic<uint64_t>& slot, uint64_t e) noexcept;
  void HeavyBarrier() noexcept;

  // Trivially constructed thread-local: no TLS init wrapper on the fast path.
  static inline thread_local int t_depth_ = 0;

  // One per ThreadSlot, on a line of its own: only its thread writes it.
  struct alignas(kCacheLine) Slot {
    std::atomic<uint64_t> epoch{0};  // 0: idle; else the epoch at entry
  };

  Slot slots_[kMaxThreadSlots];
  alignas(kCacheLine) std::atomic<uint64_t> epoch_{1};
  alignas(kCacheLine) std::atomic<uint64_t> shared_readers_{0};
  bool asymmetric_ = false;
};

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_EPOCH_H_
