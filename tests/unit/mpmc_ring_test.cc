#include "pipeline/mpmc_ring.h"

#include <catch2/catch.hpp>

#include <algorithm>
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

TEST_CASE("MpmcRing bulk forms take runs in FIFO order and stop at full and empty", "[pipeline]") {
  MpmcRing<int> ring(8);
  int in[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  int out[12] = {};
  REQUIRE(ring.TryPopBulk(out, 12) == 0);
  REQUIRE(ring.TryPushBulk(in, 5) == 5);
  REQUIRE(ring.TryPushBulk(in + 5, 7) == 3);  // room for 3 more only
  REQUIRE(ring.TryPushBulk(in + 8, 4) == 0);  // full
  REQUIRE(ring.SizeApprox() == 8);
  REQUIRE(ring.TryPopBulk(out, 3) == 3);
  CHECK(out[0] == 0);
  CHECK(out[2] == 2);
  REQUIRE(ring.TryPopBulk(out, 12) == 5);
  CHECK(out[0] == 3);
  CHECK(out[4] == 7);
  REQUIRE(ring.TryPopBulk(out, 12) == 0);
  // Runs that wrap around the end of the array, mixed with the single forms.
  for (int lap = 0; lap < 20; ++lap) {
    int v[3] = {lap * 3, lap * 3 + 1, lap * 3 + 2};
    REQUIRE(ring.TryPushBulk(v, 2) == 2);
    REQUIRE(ring.TryPush(int{v[2]}));
    int x = -1;
    REQUIRE(ring.TryPop(&x));
    CHECK(x == lap * 3);
    REQUIRE(ring.TryPopBulk(out, 5) == 2);
    CHECK(out[0] == lap * 3 + 1);
    CHECK(out[1] == lap * 3 + 2);
  }
}

TEST_CASE("MpmcRing bulk push and pop deliver every element exactly once under contention",
          "[pipeline][concurrency]") {
  constexpr int kProducers = 3, kConsumers = 2, kPerProducer = 20000;
  MpmcRing<uint64_t> ring(64);
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  for (auto& s : seen) s.store(0);
  std::atomic<int> consumed{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      uint64_t batch[7];
      for (int i = 0; i < kPerProducer;) {
        const int n = std::min(7, kPerProducer - i);
        for (int k = 0; k < n; ++k) batch[k] = static_cast<uint64_t>(p * kPerProducer + i + k);
        size_t done = 0;
        while (done < static_cast<size_t>(n)) {
          const size_t k = ring.TryPushBulk(batch + done, static_cast<size_t>(n) - done);
          if (k == 0) std::this_thread::yield();
          done += k;
        }
        i += n;
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      uint64_t out[16];
      while (consumed.load() < kProducers * kPerProducer) {
        const size_t n = ring.TryPopBulk(out, 16);
        if (n == 0) {
          std::this_thread::yield();
          continue;
        }
        for (size_t k = 0; k < n; ++k) seen[out[k]].fetch_add(1);
        consumed.fetch_add(static_cast<int>(n));
      }
    });
  }
  for (auto& t : threads) t.join();
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  REQUIRE(wrong == 0);
  REQUIRE(consumed.load() == kProducers * kPerProducer);
}
