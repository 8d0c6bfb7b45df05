// ZeroedBuffer, the memory under the revocation filters and tables: zero-filled, 64-byte
// aligned, mid-size buffers packed into shared 2 MiB huge-page chunks, reused memory zeroed
// again, empty chunks returned.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "revoke/bloom_filter.h"
#include "revoke/zeroed_buffer.h"

namespace jwtgate::revoke {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

bool AllZero(const ZeroedBuffer& b) {
  const auto* p = static_cast<const unsigned char*>(b.data());
  for (size_t i = 0; i < b.size(); ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST_CASE("ZeroedBuffer is zeroed and 64-byte aligned at every size class", "[revocation_memory]") {
  for (size_t bytes :
       {size_t{64}, size_t{4096}, ZeroedBuffer::kArenaMinBytes - 64, ZeroedBuffer::kArenaMinBytes,
        size_t{1234567}, kHugePage - 4096, kHugePage, kHugePage + 64}) {
    INFO(bytes);
    ZeroedBuffer b(bytes);
    REQUIRE(b.data() != nullptr);
    CHECK(b.size() == bytes);
    CHECK(reinterpret_cast<uintptr_t>(b.data()) % 64 == 0);
    CHECK(AllZero(b));
    std::memset(b.data(), 0xab, bytes);  // writable to the last byte
  }
}

TEST_CASE("Mid-size buffers share 2 MiB-aligned chunks and come back zeroed",
          "[revocation_memory]") {
  const size_t chunks_before = ZeroedBuffer::ArenaChunkBytes();
  const size_t used_before = ZeroedBuffer::ArenaUsedBytes();
  {
    // Sixteen 123 KB buffers (the filters of 1 M revocations in 16 generations) fit in one
    // or two chunks, not sixteen.
    std::vector<ZeroedBuffer> bufs;
    for (int i = 0; i < 16; ++i) bufs.emplace_back(size_t{123} << 10);
    CHECK(ZeroedBuffer::ArenaChunkBytes() - chunks_before <= 2 * kHugePage);
    CHECK(ZeroedBuffer::ArenaUsedBytes() - used_before == 16 * (size_t{124} << 10));
    for (const ZeroedBuffer& b : bufs) {
      const auto addr = reinterpret_cast<uintptr_t>(b.data());
      // Inside one 2 MiB-aligned chunk: the whole buffer is under a single huge page.
      CHECK(addr / kHugePage == (addr + b.size() - 1) / kHugePage);
    }
    // Dirty one, free it, and get its pages back: zero again.
    void* old = bufs[3].data();
    std::memset(bufs[3].data(), 0xff, bufs[3].size());
    bufs[3] = ZeroedBuffer();
    ZeroedBuffer again(size_t{123} << 10);
    CHECK(again.data() == old);  // best fit: the hole it left
    CHECK(AllZero(again));
  }
  // Everything freed: the chunks went back to the system, but for one empty chunk kept for
  // the next allocation.
  CHECK(ZeroedBuffer::ArenaUsedBytes() == used_before);
  CHECK(ZeroedBuffer::ArenaChunkBytes() <= chunks_before + kHugePage);
}

TEST_CASE("An empty chunk is kept for reuse, zeroed, and only one", "[revocation_memory]") {
  const size_t chunks_before = ZeroedBuffer::ArenaChunkBytes();
  const size_t used_before = ZeroedBuffer::ArenaUsedBytes();
  const size_t big = kHugePage - 8 * 4096;  // needs a chunk of its own
  {
    std::vector<ZeroedBuffer> bufs;
    for (int i = 0; i < 3; ++i) {
      bufs.emplace_back(big);
      std::memset(bufs.back().data(), 0x5a, big);
    }
  }
  // Three chunks emptied: one is kept (every page zeroed again), two went back.
  CHECK(ZeroedBuffer::ArenaUsedBytes() == used_before);
  const size_t chunks_after_free = ZeroedBuffer::ArenaChunkBytes();
  CHECK(chunks_after_free <= chunks_before + kHugePage);
  ZeroedBuffer again(big);
  CHECK(AllZero(again));
  // It came from the kept chunk: no new chunk was mapped for it.
  CHECK(ZeroedBuffer::ArenaChunkBytes() == chunks_after_free);
}

TEST_CASE("A moved-from buffer owns nothing and frees nothing", "[revocation_memory]") {
  const size_t used_before = ZeroedBuffer::ArenaUsedBytes();
  ZeroedBuffer a(size_t{256} << 10);
  void* p = a.data();
  ZeroedBuffer b(std::move(a));
  CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state
  CHECK(b.data() == p);
  ZeroedBuffer c;
  c = std::move(b);
  CHECK(c.data() == p);
  CHECK(ZeroedBuffer::ArenaUsedBytes() == used_before + (size_t{256} << 10));
  c = ZeroedBuffer();
  CHECK(ZeroedBuffer::ArenaUsedBytes() == used_before);
}

TEST_CASE("A filter in arena memory answers like any other", "[revocation_memory]") {
  // 100 k keys at 15.7 bits/key: a 196 KB filter, carved from a huge-page chunk.
  BlockedBloomFilter f(100'000, BlockedBloomFilter::BitsPerKeyForFpr(0.001));
  REQUIRE(f.bytes() >= ZeroedBuffer::kArenaMinBytes);
  REQUIRE(f.bytes() < kHugePage);
  for (uint64_t i = 0; i < 100'000; ++i) f.Add(i * 0x9E3779B97F4A7C15ull);
  const BlockedBloomFilter::Lines lines = f.lines();
  for (uint64_t i = 0; i < 100'000; ++i) {
    REQUIRE(f.MayContain(i * 0x9E3779B97F4A7C15ull));
    REQUIRE(lines.MayContain(i * 0x9E3779B97F4A7C15ull));
  }
  size_t positives = 0;
  for (uint64_t i = 0; i < 100'000; ++i) {
    const uint64_t h = (i + 1'000'000'007ull) * 0xD6E8FEB86659FD93ull;
    CHECK(lines.MayContain(h) == f.MayContain(h));
    positives += f.MayContain(h) ? 1u : 0u;
  }
  CHECK(positives < 300);  // 0.1 % expected: 100, 5 sigma ~ 150
}

}  // namespace
}  // namespace jwtgate::revoke
