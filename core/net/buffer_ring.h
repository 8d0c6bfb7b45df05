// ProvidedBufferRing: the receive buffers of one io_uring, handed to the kernel through a
// provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19+). A multishot receive picks a
// buffer only when data arrives, so an idle connection holds no buffer at all.
//
// liburing 2.3 (Debian bookworm) has no io_uring_setup_buf_ring(), so the ring is set up by
// hand: an mmap'd, page-aligned array of io_uring_buf registered with
// io_uring_register_buf_ring(), filled with io_uring_buf_ring_add() and published with
// io_uring_buf_ring_advance().
//
// Every buffer is followed by kPadding readable bytes that the kernel is never told about, so a
// token (or any view) inside a received buffer can be handed to a parser that reads past its
// end (simdjson's padding contract) without a copy.
//
// Ownership: a buffer the kernel filled is out of the ring until its holds drop to zero; the
// receive path holds it while parsing, and a request that keeps a view into it (a token being
// verified) holds it until its response is written. Loop thread only.
#ifndef JWTGATE_NET_BUFFER_RING_H_
#define JWTGATE_NET_BUFFER_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct io_uring;
struct io_uring_buf_ring;

namespace jwtgate::net {

class ProvidedBufferRing {
 public:
  static constexpr size_t kPadding = 64;  // >= simdjson::SIMDJSON_PADDING

  // REQUIRES: count a power of two in [1, 32768]; size > 0.
  static std::unique_ptr<ProvidedBufferRing> Create(io_uring* ring, uint16_t group_id,
                                                    unsigned count, unsigned size,
                                                    std::string* error);
  ~ProvidedBufferRing();
  ProvidedBufferRing(const ProvidedBufferRing&) = delete;
  ProvidedBufferRing& operator=(const ProvidedBufferRing&) = delete;

  uint16_t group_id() const noexcept { return group_id_; }
  unsigned buffer_size() const noexcept { return size_; }
  char* data(uint16_t bid) const noexcept { return base_ + static_cast<size_t>(bid) * stride_; }
  // True when `p` lies inside buffer `bid` (its usable bytes).
  bool Contains(uint16_t bid, const char* p, size_t n) const noexcept {
    const char* b = data(bid);
    return p >= b && p + n <= b + size_;
  }

  // A buffer the kernel just filled: one hold (the receive path's).
  void Take(uint16_t bid) noexcept;
  void Hold(uint16_t bid) noexcept { ++holds_[bid]; }
  // Drops one hold; the last one gives the buffer back (visible to the kernel after Commit).
  void Release(uint16_t bid) noexcept;
  // Publishes the buffers given back since the last Commit.
  void Commit() noexcept;

  unsigned count() const noexcept { return count_; }
  unsigned out() const noexcept { return out_; }  // buffers not in the ring

 private:
  ProvidedBufferRing() = default;
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;  // the ring of buffer descriptors (its own mapping)
  size_t ring_bytes_ = 0;            // of that mapping: count_ descriptors
  char* base_ = nullptr;             // the buffers (one mapping): buffer i at base_ + i * stride_
  size_t base_bytes_ = 0;            // stride_ * count_
  size_t stride_ = 0;                // size_ + kPadding, rounded up to a cache line
  unsigned count_ = 0;               // buffers, a power of two
  unsigned size_ = 0;                // usable bytes of one buffer, as the kernel is told
  uint16_t group_id_ = 0;            // the buffer group receives name
  bool registered_ = false;          // registered with the ring: unregister before unmapping
  int pending_ = 0;                  // added, not yet published
  unsigned out_ = 0;                 // taken by the kernel or held, not yet given back
  std::vector<uint16_t> holds_;      // per buffer: holds on it
};

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_BUFFER_RING_H_
