// Crash test: a child process revokes in a loop (several writer threads, so batches share an
// fdatasync, plus compactions, plus RevokeAsync with requests in flight) and reports every
// acknowledged revocation through a pipe; the parent SIGKILLs it at a random moment, recovers
// the state, and checks that every acknowledged revocation is there. The state carries over
// from trial to trial, so later trials also recover from states that earlier kills
// (mid-batch, mid-compaction) left behind.
//
// kill -9 loses the process, not the page cache: this checks the protocol (fsync before the
// acknowledgement, atomic snapshot replacement, torn-tail recovery), not the disk's honesty
// about flushes, which only a power-cut rig can.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/revocation.h"
#include "revocation_support.h"

namespace jwtgate {
namespace {

constexpr int64_t kNow = test::kStoreNow;
constexpr int64_t kExp = kNow + 3600;
constexpr int kTrials = 24;
constexpr int kWriters = 4;

std::string IdOf(uint64_t code) {
  return "crash-" + std::to_string(code >> 40) + "-" + std::to_string((code >> 32) & 0xff) + "-" +
         std::to_string(code & 0xffffffffu);
}

RevocationOptions Options(const std::string& dir) { return test::StoreOptions(dir, /*sync=*/true); }

// The child: never returns.
[[noreturn]] void RunChild(const std::string& dir, int trial, int pipe_fd) {
  std::string error;
  auto opened = RevocationStore::Open(Options(dir), &error);
  if (!opened.ok()) {
    (void)!write(STDERR_FILENO, error.data(), error.size());
    _exit(3);
  }
  RevocationStore& store = **opened;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        const uint64_t code =
            (static_cast<uint64_t>(trial) << 40) | (static_cast<uint64_t>(t) << 32) | i;
        if (store.RevokeJti(IdOf(code), "", kExp) != Status::kOk) _exit(4);
        // Acknowledged: report it (an 8-byte write to a pipe is atomic).
        if (write(pipe_fd, &code, sizeof(code)) != sizeof(code)) _exit(5);
        if (t == 0 && i % 64 == 63 && store.Compact() != Status::kOk) _exit(6);
      }
    });
  }
  // One more writer as an event loop would be: RevokeAsync with up to 32 requests in flight,
  // each reported from its completion callback (on the store's commit thread).
  threads.emplace_back([&] {
    std::atomic<int> in_flight{0};
    for (uint64_t i = 0;; ++i) {
      for (int f = in_flight.load(); f >= 32; f = in_flight.load()) in_flight.wait(f);
      in_flight.fetch_add(1);
      const uint64_t code =
          (static_cast<uint64_t>(trial) << 40) | (static_cast<uint64_t>(kWriters) << 32) | i;
      const std::string id = IdOf(code);
      const Revocation r = Revocation::Jti(id, "", kExp);
      const Status st = store.RevokeAsync({&r, 1}, [&in_flight, code, pipe_fd](Status done) {
        if (done != Status::kOk) _exit(8);
        if (write(pipe_fd, &code, sizeof(code)) != sizeof(code)) _exit(5);
        in_flight.fetch_sub(1);
        in_flight.notify_all();
      });
      if (st != Status::kOk) _exit(9);
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(30));  // the parent kills us long before
  _exit(7);
}

TEST_CASE("Every acknowledged revocation survives SIGKILL at random points", "[revocation_crash]") {
  char tmpl[] = "/tmp/jwtgate-revocation-crash-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = std::string(tmpl) + "/state";
  std::mt19937 rng(20260601);
  std::uniform_int_distribution<int> delay_ms(5, 150);
  std::vector<uint64_t> acked;
  uint64_t torn_trials = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      RunChild(dir, trial, fds[1]);
    }
    close(fds[1]);
    // Collect acknowledgements while the child runs, then kill it.
    std::vector<uint64_t> got;
    std::thread reader([&] {
      uint64_t code;
      while (read(fds[0], &code, sizeof(code)) == sizeof(code)) got.push_back(code);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    reader.join();  // EOF once the child's end is closed by its death
    close(fds[0]);
    INFO("trial " << trial << ": child exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    acked.insert(acked.end(), got.begin(), got.end());

    std::string error;
    RevocationOptions o = Options(dir);
    o.sync = false;
    auto s = RevocationStore::Open(o, &error);
    INFO(error);
    REQUIRE(s.ok());
    const RevocationStats st = (*s)->Stats();
    torn_trials += st.recovery.torn_tail_bytes > 0 ? 1 : 0;
    size_t lost = 0;
    for (uint64_t code : acked) {
      const std::string id = IdOf(code);
      Claims c;
      c.jti = id;
      c.has_exp = true;
      c.exp = kExp;
      lost += static_cast<size_t>(!(*s)->IsRevoked(c));
    }
    INFO(acked.size() << " acknowledged so far, " << got.size() << " in this trial");
    REQUIRE(lost == 0);
    CHECK(st.jti_revocations >= acked.size());
  }
  CHECK(acked.size() > static_cast<size_t>(kTrials));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace jwtgate
