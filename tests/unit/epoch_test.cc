// EpochDomain: Synchronize waits for read-side critical sections that began before it, and
// only for those.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "base/epoch.h"

namespace jwtgate::base {
namespace {

using std::chrono::milliseconds;

TEST_CASE("Synchronize waits for a reader inside a Guard", "[epoch][concurrency]") {
  EpochDomain& d = EpochDomain::Global();
  std::atomic<bool> entered{false};
  std::atomic<bool> leave{false};
  std::atomic<bool> synchronized{false};
  std::thread reader([&] {
    EpochDomain::Guard g(d);
    entered = true;
    while (!leave) std::this_thread::sleep_for(milliseconds(1));
  });
  while (!entered) std::this_thread::yield();
  std::thread writer([&] {
    d.Synchronize();
    synchronized = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  CHECK_FALSE(synchronized.load());  // the reader is still inside
  leave = true;
  reader.join();
  writer.join();
  CHECK(synchronized.load());
}

TEST_CASE("Nested guards and idle threads do not hold up Synchronize",
          "[epoch][concurrency]") {
  EpochDomain& d = EpochDomain::Global();
  {
    EpochDomain::Guard outer(d);
    EpochDomain::Guard inner(d);
  }
  // Threads that used a Guard and left it (or exited) never block a writer.
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) EpochDomain::Guard g(d);
    });
  }
  for (auto& t : threads) t.join();
  const auto start = std::chrono::steady_clock::now();
  d.Synchronize();
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(500));
}

TEST_CASE("A freed object is never reached through a pointer loaded in a Guard",
          "[epoch][concurrency]") {
  // The pattern of the revocation store: readers load a pointer and read the object; the
  // writer swaps the pointer, synchronizes and frees the old object (poisoning it first, so a
  // reader that still saw it would notice even without a sanitizer).
  struct Box {
    std::atomic<uint64_t> value;
  };
  EpochDomain& d = EpochDomain::Global();
  std::atomic<Box*> current{new Box{{1}}};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        EpochDomain::Guard g(d);
        const Box* b = current.load(std::memory_order_acquire);
        for (int k = 0; k < 16; ++k) {
          if (b->value.load(std::memory_order_relaxed) == 0) ++bad;
        }
      }
    });
  }
  for (uint64_t i = 2; i < 2000; ++i) {
    Box* old = current.exchange(new Box{{i}}, std::memory_order_acq_rel);
    d.Synchronize();
    old->value.store(0, std::memory_order_relaxed);  // poison
    delete old;
  }
  stop = true;
  for (auto& t : readers) t.join();
  delete current.load();
  CHECK(bad.load() == 0);
}

}  // namespace
}  // namespace jwtgate::base
