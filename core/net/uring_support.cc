#include "net/uring_support.h"

#include <liburing.h>
#include <sys/utsname.h>

#include <cstdio>

namespace jwtgate::net {

bool CheckIoUringSupport(std::string* error) {
  utsname u;
  if (::uname(&u) == 0) {
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) == 2 && (major < 6)) {
      *error = std::string(
                   "jwtgated needs Linux 6.0 or later (multishot receive with provided "
                   "buffer rings); this kernel is ") +
               u.release;
      return false;
    }
  }
  io_uring_probe* probe = io_uring_get_probe();
  if (probe == nullptr) {
    *error =
        "io_uring is not available (disabled by the kernel.io_uring_disabled sysctl, a "
        "seccomp policy or a container runtime?)";
    return false;
  }
  struct Needed {
    int op;
    const char* name;
  };
  static constexpr Needed kNeeded[] = {
      {IORING_OP_ACCEPT, "ACCEPT"},   {IORING_OP_RECV, "RECV"},
      {IORING_OP_SEND, "SEND"},       {IORING_OP_POLL_ADD, "POLL_ADD"},
      {IORING_OP_TIMEOUT, "TIMEOUT"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
  };
  std::string missing;
  for (const Needed& n : kNeeded) {
    if (!io_uring_opcode_supported(probe, n.op)) {
      missing += missing.empty() ? "" : ", ";
      missing += n.name;
    }
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) {
    *error = "io_uring lacks the operations " + missing;
    return false;
  }
  return true;
}

}  // namespace jwtgate::net
