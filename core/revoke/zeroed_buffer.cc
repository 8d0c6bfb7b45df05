#include "revoke/zeroed_buffer.h"

#include <sys/mman.h>

#include <bitset>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "base/cache_line.h"
#include "base/thread_annotations.h"

namespace jwtgate::revoke {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAlign = base::kCacheLine;

// Maps `len` bytes (a multiple of kHugePage) aligned to 2 MiB, with the huge-page hint.
void* MapHuge(size_t len) {
  // Map one extra huge page so that the start can be aligned to 2 MiB; trim the slack.
  void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto addr = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (addr + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > addr) munmap(raw, aligned - addr);
  const uintptr_t end = addr + len + kHugePage;
  if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, len, MADV_HUGEPAGE);  // a hint; failure only costs TLB misses
  return p;
}

// Buffers of kArenaMinBytes up to 2 MiB, carved out of 2 MiB huge-page chunks in 4 KiB pages.
// A chunk tracks its pages in a bitmap (so freeing allocates nothing); allocation is best fit
// over all chunks, which keeps the few large buffers of a store together. Invariant: every
// free page of a chunk is zero (fresh chunks are; Free zeroes what it returns), so Allocate
// hands out zeroed memory without touching it. A chunk whose pages are all free is unmapped,
// except one, kept for the next allocation.
// Allocation happens on writer paths only (a table or filter is built or grown), so one mutex
// is enough.
class HugePageArena {
 public:
  static constexpr size_t kPage = size_t{4} << 10;
  static constexpr size_t kPages = kHugePage / kPage;

  static HugePageArena& Get() noexcept {
    static HugePageArena* const arena = new HugePageArena();  // never destroyed
    return *arena;
  }

  // REQUIRES: 0 < pages < kPages.
  void* Allocate(size_t pages) {
    base::MutexLock l(&mu_);
    Chunk* best = nullptr;
    size_t best_at = 0;
    size_t best_len = kPages + 1;
    for (auto& [base, c] : chunks_) {
      size_t at = 0;
      size_t len = 0;
      if (c.BestFit(pages, &at, &len) && len < best_len) {
        best = &c;
        best_at = at;
        best_len = len;
      }
    }
    if (best == nullptr) {
      char* base = static_cast<char*>(MapHuge(kHugePage));
      try {
        best = &chunks_[reinterpret_cast<uintptr_t>(base)];
      } catch (...) {
        munmap(base, kHugePage);
        throw;
      }
      best->base = base;
      best_at = 0;
    }
    for (size_t i = 0; i < pages; ++i) best->used.set(best_at + i);
    chunk_used_ += pages * kPage;
    return best->base + best_at * kPage;
  }

  void Free(void* p, size_t pages) noexcept {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    base::MutexLock l(&mu_);
    auto it = chunks_.upper_bound(addr);
    --it;  // the chunk holding p: the last one starting at or before it
    Chunk& c = it->second;
    const size_t first = (addr - it->first) / kPage;
    chunk_used_ -= pages * kPage;
    for (size_t i = 0; i < pages; ++i) c.used.reset(first + i);
    if (c.used.none()) {
      // Keep one empty chunk: a store that builds and drops tables (or a process that
      // opens and closes stores) would otherwise map, fault in and clear a fresh 2 MiB page
      // each time. Zeroing what was used costs no more than the kernel clearing a new page.
      bool has_spare = false;
      for (const auto& [base, other] : chunks_) {
        if (&other != &c && other.used.none()) has_spare = true;
      }
      if (has_spare) {
        munmap(c.base, kHugePage);
        chunks_.erase(it);
        return;
      }
    }
    std::memset(p, 0, pages * kPage);
  }

  size_t chunk_bytes() noexcept {
    base::MutexLock l(&mu_);
    return chunks_.size() * kHugePage;
  }
  size_t used_bytes() noexcept {
    base::MutexLock l(&mu_);
    return chunk_used_;
  }

 private:
  struct Chunk {
    char* base = nullptr;
    std::bitset<kPages> used;

    // The shortest run of free pages holding `pages`: its start and length.
    bool BestFit(size_t pages, size_t* at, size_t* len) const noexcept {
      bool found = false;
      for (size_t i = 0; i < kPages;) {
        if (used[i]) {
          ++i;
          continue;
        }
        size_t j = i;
        while (j < kPages && !used[j]) ++j;
        const size_t run = j - i;
        if (run >= pages && (!found || run < *len)) {
          *at = i;
          *len = run;
          found = true;
        }
        i = j;
      }
      return found;
    }
  };

  HugePageArena() = default;

  base::Mutex mu_;
  std::map<uintptr_t, Chunk> chunks_ JWTGATE_GUARDED_BY(mu_);  // by base address
  size_t chunk_used_ JWTGATE_GUARDED_BY(mu_) = 0;
};

}  // namespace

ZeroedBuffer::ZeroedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  if (bytes >= kHugePage) {
    const size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    data_ = MapHuge(len);
    mapped_ = len;
    kind_ = Kind::kMapped;
    return;
  }
  if (bytes >= kArenaMinBytes) {
    const size_t pages = (bytes + HugePageArena::kPage - 1) / HugePageArena::kPage;
    data_ = HugePageArena::Get().Allocate(pages);
    mapped_ = pages * HugePageArena::kPage;
    kind_ = Kind::kArena;
    return;
  }
  data_ = ::operator new (bytes, std::align_val_t{kAlign});
  std::memset(data_, 0, bytes);
  kind_ = Kind::kHeap;
}

ZeroedBuffer::~ZeroedBuffer() { Release(); }

void ZeroedBuffer::Release() noexcept {
  switch (kind_) {
    case Kind::kNone:
      break;
    case Kind::kHeap:
      ::operator delete (data_, std::align_val_t{kAlign});
      break;
    case Kind::kArena:
      HugePageArena::Get().Free(data_, mapped_ / HugePageArena::kPage);
      break;
    case Kind::kMapped:
      munmap(data_, mapped_);
      break;
  }
  data_ = nullptr;
  bytes_ = 0;
  mapped_ = 0;
  kind_ = Kind::kNone;
}

size_t ZeroedBuffer::ArenaChunkBytes() noexcept { return HugePageArena::Get().chunk_bytes(); }
size_t ZeroedBuffer::ArenaUsedBytes() noexcept { return HugePageArena::Get().used_bytes(); }

}  // namespace jwtgate::revoke
