// ThreadSlot: live threads hold distinct slots, a thread keeps its slot, the slots of exited
// threads are handed out again, and a thread that is exiting gets none.
#include "base/thread_slot.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace jwtgate::base {
namespace {

TEST_CASE("Threads alive at once hold distinct, stable slots", "[thread_slot][concurrency]") {
  constexpr int kThreads = 8;
  std::vector<size_t> first(kThreads), second(kThreads);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      first[static_cast<size_t>(i)] = ThisThreadSlot();
      // Nobody exits (and gives a slot back) before every thread has claimed one.
      arrived.fetch_add(1);
      while (arrived.load() < kThreads) std::this_thread::yield();
      second[static_cast<size_t>(i)] = ThisThreadSlot();
    });
  }
  for (auto& t : threads) t.join();
  const size_t high_water = ThreadSlotHighWater();
  std::set<size_t> distinct;
  for (int i = 0; i < kThreads; ++i) {
    const size_t s = first[static_cast<size_t>(i)];
    CHECK(s != kNoThreadSlot);
    CHECK(s < high_water);
    CHECK(second[static_cast<size_t>(i)] == s);
    distinct.insert(s);
  }
  CHECK(distinct.size() == static_cast<size_t>(kThreads));
}

TEST_CASE("The slots of exited threads are handed out again", "[thread_slot][concurrency]") {
  // join() returns after the thread's thread-local destructors ran, so each thread below
  // finds the slot of the one before it free again: without reuse, the high-water mark would
  // rise by one per thread.
  std::thread([] { (void)ThisThreadSlot(); }).join();
  const size_t before = ThreadSlotHighWater();
  for (int i = 0; i < 200; ++i) {
    size_t s = kNoThreadSlot;
    std::thread([&s] { s = ThisThreadSlot(); }).join();
    REQUIRE(s != kNoThreadSlot);
    REQUIRE(s < ThreadSlotHighWater());
  }
  CHECK(ThreadSlotHighWater() <= before + 2);  // slack for threads started elsewhere
}

std::atomic<size_t> g_slot_at_exit{0};

// Constructed before the thread's first ThisThreadSlot, so destroyed after its slot was given
// back.
struct AskAtExit {
  bool armed = false;
  ~AskAtExit() {
    if (armed) g_slot_at_exit.store(ThisThreadSlot());
  }
};
thread_local AskAtExit t_ask_at_exit;

TEST_CASE("A thread that is exiting gets no slot", "[thread_slot][concurrency]") {
  g_slot_at_exit.store(0);
  size_t while_running = kNoThreadSlot;
  std::thread([&] {
    t_ask_at_exit.armed = true;  // constructs it now, before the slot is claimed
    while_running = ThisThreadSlot();
  }).join();
  CHECK(while_running != kNoThreadSlot);
  CHECK(g_slot_at_exit.load() == kNoThreadSlot);
}

}  // namespace
}  // namespace jwtgate::base
