#include "pipeline/mpmc_ring.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using jwtgate::pipeline::MpmcRing;

TEST_CASE("MpmcRing is FIFO and reports full and empty", "[pipeline]") {
  MpmcRing<int> ring(4);
  int v = 0;
  REQUIRE_FALSE(ring.TryPop(&v));
  for (int i = 0; i < 4; ++i) REQUIRE(ring.TryPush(int{i}));
  REQUIRE_FALSE(ring.TryPush(99));  // full: back-pressure, no growth
  REQUIRE(ring.SizeApprox() == 4);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(ring.TryPop(&v));
    REQUIRE(v == i);
  }
  REQUIRE_FALSE(ring.TryPop(&v));
  // Wrap around several laps.
  for (int lap = 0; lap < 10; ++lap) {
    REQUIRE(ring.TryPush(lap * 2));
    REQUIRE(ring.TryPush(lap * 2 + 1));
    REQUIRE(ring.TryPop(&v));
    REQUIRE(v == lap * 2);
    REQUIRE(ring.TryPop(&v));
    REQUIRE(v == lap * 2 + 1);
  }
}

TEST_CASE("MpmcRing delivers every element exactly once under contention", "[pipeline][concurrency]") {
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 20000;
  MpmcRing<uint64_t> ring(64);
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  for (auto& s : seen) s.store(0);
  std::atomic<int> consumed{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        uint64_t v = static_cast<uint64_t>(p * kPerProducer + i);
        while (!ring.TryPush(std::move(v))) std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      uint64_t v;
      while (consumed.load() < kProducers * kPerProducer) {
        if (ring.TryPop(&v)) {
          seen[v].fetch_add(1);
          consumed.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  REQUIRE(wrong == 0);
  REQUIRE(consumed.load() == kProducers * kPerProducer);
}
