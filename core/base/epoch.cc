#include "base/epoch.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace jwtgate::base {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kSanitizeThread = true;
#else
constexpr bool kSanitizeThread = false;
#endif

long Membarrier(int cmd) noexcept { return syscall(__NR_membarrier, cmd, 0U, 0); }

// The symmetric fallback. ThreadSanitizer does not support atomic_thread_fence, so under it
// the reader's store itself is the seq_cst operation (and the writer's seq_cst epoch increment
// is its side); elsewhere both sides use a seq_cst fence.
#if defined(__SANITIZE_THREAD__)
void WriterFence() noexcept {}
#else
void WriterFence() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }
#endif

}  // namespace

EpochDomain& EpochDomain::Global() noexcept {
  static EpochDomain* const domain = new EpochDomain();  // never destroyed, see header
  return *domain;
}

EpochDomain::EpochDomain() noexcept {
  if (kSanitizeThread) return;
  const long mask = Membarrier(MEMBARRIER_CMD_QUERY);
  if (mask > 0 && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
      Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
    asymmetric_ = true;
  }
}

void EpochDomain::StoreLoadFence(std::atomic<uint64_t>& slot, uint64_t e) noexcept {
#if defined(__SANITIZE_THREAD__)
  slot.exchange(e, std::memory_order_seq_cst);
#else
  slot.store(e, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

void EpochDomain::EnterShared() noexcept {
  // seq_cst: the store-load barrier between entering and the pointer loads that follow.
  shared_readers_.fetch_add(1, std::memory_order_seq_cst);
}

void EpochDomain::HeavyBarrier() noexcept {
  if (!asymmetric_) {
    WriterFence();
    return;
  }
  if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  // A process created by fork() may need to register again.
  if (Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
      Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
    return;
  }
  // Readers rely on this barrier; continuing without it could free memory in use.
  std::fputs("jwtgate: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed\n", stderr);
  std::abort();
}

void EpochDomain::Synchronize() noexcept {
  if (InGuard()) {
    std::fputs(
        "jwtgate: EpochDomain::Synchronize called inside a read Guard (it would wait "
        "for itself)\n",
        stderr);
    std::abort();
  }
  // seq_cst: ordered after the caller's unpublishing stores and before the slot loads.
  const uint64_t target = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
  HeavyBarrier();
  // A slot claimed too late to be counted here was claimed after the barrier above, so its
  // reader sees what the caller unpublished.
  const size_t hw = ThreadSlotHighWater();
  for (size_t i = 0; i < hw; ++i) {
    for (int spins = 0;; ++spins) {
      // acquire: pairs with the release store of a leaving reader.
      const uint64_t v = slots_[i].epoch.load(std::memory_order_acquire);
      if (v == 0 || v >= target) break;
      if (spins > 64) std::this_thread::yield();
    }
  }
  for (int spins = 0; shared_readers_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins > 64) std::this_thread::yield();
  }
}

}  // namespace jwtgate::base
