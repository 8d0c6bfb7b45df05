#include "revoke/zeroed_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>

namespace jwtgate::revoke {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAlign = 64;

}  // namespace

ZeroedBuffer::ZeroedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  if (bytes >= kHugePage) {
    const size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    // Map one extra huge page so that the start can be aligned to 2 MiB; trim the slack.
    void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto addr = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (addr + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > addr) munmap(raw, aligned - addr);
    const uintptr_t end = addr + len + kHugePage;
    if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
    data_ = reinterpret_cast<void*>(aligned);
    mapped_ = len;
    madvise(data_, len, MADV_HUGEPAGE);  // a hint; failure only costs TLB misses
    return;
  }
  data_ = ::operator new (bytes, std::align_val_t{kAlign});
  std::memset(data_, 0, bytes);
}

ZeroedBuffer::~ZeroedBuffer() { Release(); }

void ZeroedBuffer::Release() noexcept {
  if (data_ == nullptr) return;
  if (mapped_ != 0) {
    munmap(data_, mapped_);
  } else {
    ::operator delete (data_, std::align_val_t{kAlign});
  }
  data_ = nullptr;
  bytes_ = 0;
  mapped_ = 0;
}

}  // namespace jwtgate::revoke
