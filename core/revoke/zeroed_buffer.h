// ZeroedBuffer: zero-filled, 64-byte aligned memory for filters and tables.
//
// Every probe of a large filter or table is a cache miss at a random address; when the page
// of that address is not in the TLB the miss first waits for a page walk, which in a virtual
// machine (two-dimensional paging) can cost as much as the miss itself. So the buffers that
// matter come from transparent huge pages (2 MiB):
//   - 2 MiB and more: straight from mmap, 2 MiB aligned, with MADV_HUGEPAGE. A 20 MB filter
//     then needs 10 TLB entries instead of 5,000.
//   - 64 KiB up to 2 MiB (the filter of a table holding 30 k - 1 M revocations, smaller
//     tables): carved from shared 2 MiB huge-page chunks (HugePageArena in zeroed_buffer.cc),
//     so that many such buffers share huge pages instead of thousands of small ones. (When
//     the store kept 10 M revocations in sixteen 1.2 MB filters, one per expiry window, its
//     check cost 2.3x the check of one 20 MB filter without this, for the page walks alone.)
//   - Smaller buffers: aligned operator new.
// Either way the memory is zero, and big mmap'ed buffers are only touched when written.
// MADV_HUGEPAGE is a hint: where THP is disabled the buffers still work, on small pages.
#ifndef JWTGATE_REVOKE_ZEROED_BUFFER_H_
#define JWTGATE_REVOKE_ZEROED_BUFFER_H_

#include <cstddef>
#include <utility>

namespace jwtgate::revoke {

class ZeroedBuffer {
 public:
  // Buffers of at least this many bytes (and under 2 MiB) come from the huge-page arena.
  static constexpr size_t kArenaMinBytes = size_t{64} << 10;

  ZeroedBuffer() noexcept = default;
  // Throws std::bad_alloc when the memory is not available.
  explicit ZeroedBuffer(size_t bytes);
  ~ZeroedBuffer();
  ZeroedBuffer(ZeroedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)),
        mapped_(std::exchange(o.mapped_, 0)),
        kind_(std::exchange(o.kind_, Kind::kNone)) {}
  ZeroedBuffer& operator=(ZeroedBuffer&& o) noexcept {
    if (this != &o) {
      Release();
      data_ = std::exchange(o.data_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
      kind_ = std::exchange(o.kind_, Kind::kNone);
    }
    return *this;
  }
  ZeroedBuffer(const ZeroedBuffer&) = delete;
  ZeroedBuffer& operator=(const ZeroedBuffer&) = delete;

  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return bytes_; }

  // Bytes held in huge-page arena chunks by the whole process (allocated or free), and of
  // those, bytes handed out; for tests and statistics.
  static size_t ArenaChunkBytes() noexcept;
  static size_t ArenaUsedBytes() noexcept;

 private:
  enum class Kind : unsigned char { kNone, kHeap, kArena, kMapped };
  void Release() noexcept;

  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t mapped_ = 0;  // bytes reserved (mmap length, or the arena's rounded size)
  Kind kind_ = Kind::kNone;
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_ZEROED_BUFFER_H_
