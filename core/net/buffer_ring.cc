#include "net/buffer_ring.h"

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace jwtgate::net {

std::unique_ptr<ProvidedBufferRing> ProvidedBufferRing::Create(io_uring* ring, uint16_t group_id,
                                                               unsigned count, unsigned size,
                                                               std::string* error) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0 || size == 0) {
    *error = "buffer ring: count must be a power of two in [1, 32768] and size > 0";
    return nullptr;
  }
  std::unique_ptr<ProvidedBufferRing> r(new ProvidedBufferRing());
  r->ring_ = ring;
  r->group_id_ = group_id;
  r->count_ = count;
  r->size_ = size;
  r->stride_ = (size + kPadding + 63) / 64 * 64;
  r->holds_.assign(count, 0);

  // The ring itself: page-aligned, as the kernel requires.
  r->ring_bytes_ = sizeof(io_uring_buf) * count;
  void* mem =
      ::mmap(nullptr, r->ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("buffer ring: mmap: ") + std::strerror(errno);
    r->ring_bytes_ = 0;
    return nullptr;
  }
  r->br_ = static_cast<io_uring_buf_ring*>(mem);
  r->base_bytes_ = r->stride_ * count;
  mem = ::mmap(nullptr, r->base_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("buffer ring: mmap buffers: ") + std::strerror(errno);
    r->base_bytes_ = 0;
    return nullptr;
  }
  r->base_ = static_cast<char*>(mem);

  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uintptr_t>(r->br_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  const int rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) {
    *error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc) +
             (rc == -EINVAL ? " (provided buffer rings need Linux 5.19 or later)" : "");
    return nullptr;
  }
  r->registered_ = true;
  io_uring_buf_ring_init(r->br_);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(r->br_, r->data(static_cast<uint16_t>(i)), size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(r->br_, static_cast<int>(count));
  return r;
}

ProvidedBufferRing::~ProvidedBufferRing() {
  if (registered_) io_uring_unregister_buf_ring(ring_, group_id_);
  if (br_ != nullptr) ::munmap(br_, ring_bytes_);
  if (base_ != nullptr) ::munmap(base_, base_bytes_);
}

void ProvidedBufferRing::Take(uint16_t bid) noexcept {
  holds_[bid] = 1;
  ++out_;
}

void ProvidedBufferRing::Release(uint16_t bid) noexcept {
  if (holds_[bid] == 0) return;  // defensive: never give a buffer back twice
  if (--holds_[bid] != 0) return;
  io_uring_buf_ring_add(br_, data(bid), size_, bid, io_uring_buf_ring_mask(count_), pending_);
  ++pending_;
  --out_;
}

void ProvidedBufferRing::Commit() noexcept {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(br_, pending_);
  pending_ = 0;
}

}  // namespace jwtgate::net
