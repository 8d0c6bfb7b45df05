// ThreadSlot: a small dense index for the calling thread, so that per-thread state lives in a
// flat array indexed by it instead of in a locked map or a thread_local with a destructor.
// Users: the reusable OpenSSL verify contexts of each key (crypto/signature.h) and the reader
// slots of the epoch reclamation (base/epoch.h).
//
// Semantics. A thread claims the lowest free index at its first call and gives it back when it
// exits; a later thread then reuses it. An index is held by at most one thread at a time, and
// everything its previous holder did happens-before the next holder's first call returns
// (the release store that frees an index pairs with the acquire exchange that claims it), so
// state indexed by a slot needs no further synchronisation at hand-over. When
// kMaxThreadSlots threads already hold one, and once the calling thread has started to exit
// (its thread-local destructors run after the slot was given back), the answer is
// kNoThreadSlot: callers then fall back to shared or per-call state.
//
// Thread safety: every function may be called from any thread. Cost: the fast path reads one
// trivially initialised thread-local (no TLS init wrapper, no atomic); a thread's first call
// claims a flag with one compare-exchange per taken slot it skips. Never a lock.
#ifndef JWTGATE_BASE_THREAD_SLOT_H_
#define JWTGATE_BASE_THREAD_SLOT_H_

#include <cstddef>

namespace jwtgate::base {

inline constexpr size_t kMaxThreadSlots = 1024;
inline constexpr size_t kNoThreadSlot = kMaxThreadSlots;

namespace thread_slot_internal {
inline constexpr int kUnclaimed = -1;  // the thread has not asked yet
inline constexpr int kNone = -2;       // all slots were taken, or the thread is exiting
// The calling thread's slot, or one of the two values above. Constant-initialised, so that
// reading it from any translation unit is a plain thread-local load.
inline thread_local int t_slot = kUnclaimed;
size_t ClaimSlow() noexcept;
}  // namespace thread_slot_internal

// The calling thread's slot in [0, kMaxThreadSlots), or kNoThreadSlot (see above). Stable for
// the life of the thread until it starts to exit.
inline size_t ThisThreadSlot() noexcept {
  const int s = thread_slot_internal::t_slot;
  if (s >= 0) [[likely]] {
    return static_cast<size_t>(s);
  }
  return thread_slot_internal::ClaimSlow();
}

// One past the highest slot ever claimed: every slot held now, or held at any time before
// this call, is below it. Never decreases. Acquire: the claims it counts happened-before.
size_t ThreadSlotHighWater() noexcept;

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_THREAD_SLOT_H_
