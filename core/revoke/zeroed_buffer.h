// ZeroedBuffer: zero-filled, 64-byte aligned memory for filters and tables.
//
// Buffers of 2 MiB and more come straight from mmap with a transparent-huge-page hint: a 20 MB
// filter then needs 10 TLB entries instead of 5,000, which is most of the difference between a
// probe that waits for the TLB and one that does not. Smaller buffers use aligned operator new.
// Either way the pages are zero, and big ones are only touched when written.
#ifndef JWTGATE_REVOKE_ZEROED_BUFFER_H_
#define JWTGATE_REVOKE_ZEROED_BUFFER_H_

#include <cstddef>
#include <utility>

namespace jwtgate::revoke {

class ZeroedBuffer {
 public:
  ZeroedBuffer() noexcept = default;
  // Throws std::bad_alloc when the memory is not available.
  explicit ZeroedBuffer(size_t bytes);
  ~ZeroedBuffer();
  ZeroedBuffer(ZeroedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)),
        mapped_(std::exchange(o.mapped_, 0)) {}
  ZeroedBuffer& operator=(ZeroedBuffer&& o) noexcept {
    if (this != &o) {
      Release();
      data_ = std::exchange(o.data_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }
  ZeroedBuffer(const ZeroedBuffer&) = delete;
  ZeroedBuffer& operator=(const ZeroedBuffer&) = delete;

  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return bytes_; }

 private:
  void Release() noexcept;

  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t mapped_ = 0;  // bytes mapped with mmap; 0 when the memory came from operator new
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_ZEROED_BUFFER_H_
