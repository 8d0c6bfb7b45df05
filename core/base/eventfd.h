// Eventfd signalling: a counter in the kernel that makes a descriptor readable, for waking a
// thread that waits in poll(2) or io_uring rather than on a condition variable (the HTTP
// server's stop and drain requests, the daemon's revocation outcomes, a pipeline
// CompletionQueue's completions).
//
// Semantics. Signals add to the counter; the descriptor is readable while it is not zero; a
// drain reads and resets it. Many signals before a drain wake the waiter once. A waiter drains
// before it reads the state the signals announce: a change signalled after the drain then
// makes the descriptor readable again, so none is missed.
//
// Thread safety: SignalEventFd may be called from any thread (and from a signal handler) at the
// same time as anything else; DrainEventFd by any thread, normally the one that waits. The
// caller owns the descriptor and closes it (close(2)) once no thread uses it any more.
//
// Header only: net uses these and links no part of libjwtgate (core/net/CMakeLists.txt), so
// they must not need a library.
#ifndef JWTGATE_BASE_EVENTFD_H_
#define JWTGATE_BASE_EVENTFD_H_

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace jwtgate::base {

// A new eventfd with a zero counter, non-blocking and close-on-exec. Returns the descriptor,
// or -1 with errno set.
[[nodiscard]] inline int OpenEventFd() noexcept { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

// Adds 1 to the counter of `fd`, which makes it readable. Never blocks. A failure is ignored:
// on an eventfd the only one is EAGAIN when the counter is saturated, and the descriptor is
// readable then anyway. REQUIRES: `fd` from OpenEventFd.
inline void SignalEventFd(int fd) noexcept {
  const uint64_t one = 1;
  ssize_t unused = ::write(fd, &one, sizeof one);
  (void)unused;
}

// Reads and resets the counter of `fd`: it stays unreadable until the next signal. Never
// blocks. Returns the number of signals since the last drain, 0 when there was none (the read
// fails with EAGAIN then). REQUIRES: `fd` from OpenEventFd.
inline uint64_t DrainEventFd(int fd) noexcept {
  uint64_t count = 0;
  if (::read(fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return 0;
  return count;
}

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_EVENTFD_H_
