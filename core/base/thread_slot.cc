#include "base/thread_slot.h"

#include <atomic>

namespace jwtgate::base {
namespace {

struct Registry {
  std::atomic<bool> claimed[kMaxThreadSlots] = {};
  std::atomic<size_t> high_water{0};  // slots [0, high_water) have ever been claimed
};

Registry& TheRegistry() noexcept {
  // Never destroyed: threads may exit (and give their slot back) after main returns.
  static Registry* const r = new Registry;
  return *r;
}

// Gives the slot back when its thread exits. A thread_local with a destructor, touched only
// on the slow path; the fast path reads the trivially destructible t_slot alone.
struct SlotReleaser {
  int slot = thread_slot_internal::kUnclaimed;
  ~SlotReleaser() {
    if (slot >= 0) {
      // release: everything this thread did with state indexed by its slot happens-before
      // the next holder's claim (acquire).
      TheRegistry().claimed[slot].store(false, std::memory_order_release);
    }
    // Code that runs later in this thread's exit gets no slot.
    thread_slot_internal::t_slot = thread_slot_internal::kNone;
  }
};

thread_local SlotReleaser t_releaser;

}  // namespace

namespace thread_slot_internal {

size_t ClaimSlow() noexcept {
  if (t_slot == kNone) return kNoThreadSlot;
  Registry& r = TheRegistry();
  for (size_t i = 0; i < kMaxThreadSlots; ++i) {
    bool expected = false;
    // acq_rel: acquire pairs with the release in ~SlotReleaser of the previous holder.
    if (!r.claimed[i].load(std::memory_order_relaxed) &&
        r.claimed[i].compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      size_t hw = r.high_water.load(std::memory_order_relaxed);
      // acq_rel: the claim is ordered before the raised mark, which ThreadSlotHighWater reads
      // with acquire.
      while (hw < i + 1 &&
             !r.high_water.compare_exchange_weak(hw, i + 1, std::memory_order_acq_rel)) {
      }
      t_releaser.slot = static_cast<int>(i);
      t_slot = static_cast<int>(i);
      return i;
    }
  }
  t_slot = kNone;
  return kNoThreadSlot;
}

}  // namespace thread_slot_internal

size_t ThreadSlotHighWater() noexcept {
  return TheRegistry().high_water.load(std::memory_order_acquire);
}

}  // namespace jwtgate::base
