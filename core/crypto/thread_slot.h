// ThreadSlot: a small dense index for the calling thread, so that per-key, per-thread state
// (reusable OpenSSL contexts) lives in a flat array instead of a locked map. Indices are
// handed out at a thread's first call and returned to a free list when the thread exits; the
// mutex is taken only then, never on the verify path.
#ifndef JWTGATE_CRYPTO_THREAD_SLOT_H_
#define JWTGATE_CRYPTO_THREAD_SLOT_H_

#include <cstddef>

namespace jwtgate::crypto {

inline constexpr size_t kMaxThreadSlots = 256;

// The calling thread's slot in [0, kMaxThreadSlots), or kMaxThreadSlots when all are taken
// (callers then fall back to per-call state).
size_t ThisThreadSlot() noexcept;

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_THREAD_SLOT_H_
