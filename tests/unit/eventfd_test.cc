// Eventfd signalling: signals accumulate until a drain, a drain leaves the descriptor
// unreadable, and a signal from another thread wakes a poll.
#include "base/eventfd.h"

#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <thread>

namespace jwtgate::base {
namespace {

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

TEST_CASE("Signals accumulate until a drain", "[eventfd]") {
  const int fd = OpenEventFd();
  REQUIRE(fd >= 0);
  CHECK_FALSE(Readable(fd, 0));
  CHECK(DrainEventFd(fd) == 0);  // nothing signalled: does not block
  SignalEventFd(fd);
  SignalEventFd(fd);
  SignalEventFd(fd);
  CHECK(Readable(fd, 0));
  CHECK(DrainEventFd(fd) == 3);
  CHECK_FALSE(Readable(fd, 0));
  CHECK(DrainEventFd(fd) == 0);
  ::close(fd);
}

TEST_CASE("A signal from another thread wakes a poll", "[eventfd][concurrency]") {
  const int fd = OpenEventFd();
  REQUIRE(fd >= 0);
  std::thread signaller([fd] { SignalEventFd(fd); });
  CHECK(Readable(fd, 10000));
  signaller.join();
  CHECK(DrainEventFd(fd) == 1);
  ::close(fd);
}

}  // namespace
}  // namespace jwtgate::base
