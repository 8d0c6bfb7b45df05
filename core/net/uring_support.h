// What the daemon needs from the kernel's io_uring, checked once at start-up so that an old or
// restricted kernel fails with a clear message instead of a confusing error mid-request:
//  - io_uring itself (not disabled by kernel.io_uring_disabled or a seccomp policy);
//  - the opcodes ACCEPT, RECV, SEND, POLL_ADD, TIMEOUT, ASYNC_CANCEL;
//  - Linux 6.0 or later: multishot accept (5.19), provided-buffer rings (5.19) and
//    multishot receive (6.0) cannot be probed by opcode, so the version stands for them.
#ifndef JWTGATE_NET_URING_SUPPORT_H_
#define JWTGATE_NET_URING_SUPPORT_H_

#include <string>

namespace jwtgate::net {

// Returns true when everything is there; otherwise false and a one-line reason.
bool CheckIoUringSupport(std::string* error);

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_URING_SUPPORT_H_
