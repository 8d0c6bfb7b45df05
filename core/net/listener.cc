#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace jwtgate::net {
namespace {

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

constexpr std::string_view kUnixPrefix = "unix:";

bool ParseUnixAddress(std::string_view text, SocketAddress* out, std::string* error) {
  const std::string_view path = text.substr(kUnixPrefix.size());
  sockaddr_un* sa = reinterpret_cast<sockaddr_un*>(&out->storage);
  if (!path.empty() && path.front() == '@') {
    *error = "abstract Unix sockets are refused (no file permissions guard them): '" +
             std::string(text) + "'; use unix:/ABSOLUTE/PATH";
    return false;
  }
  if (path.empty() || path.front() != '/') {
    *error = "expected unix:/ABSOLUTE/PATH, got '" + std::string(text) + "'";
    return false;
  }
  if (path.size() >= sizeof sa->sun_path) {
    *error = "Unix socket path longer than " + std::to_string(sizeof sa->sun_path - 1) +
             " bytes: '" + std::string(path) + "'";
    return false;
  }
  if (path.find('\0') != std::string_view::npos) {
    *error = "NUL byte in Unix socket path '" + std::string(text) + "'";
    return false;
  }
  *out = SocketAddress();
  sa->sun_family = AF_UNIX;
  std::memcpy(sa->sun_path, path.data(), path.size());
  out->length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

std::string UnixPath(const SocketAddress& addr) {
  return reinterpret_cast<const sockaddr_un*>(&addr.storage)->sun_path;
}

// What a connection attempt to the Unix socket at `addr` says (it does not wait).
enum class Probe { kAccepting, kStale, kUnknown };
Probe ProbeUnixSocket(const SocketAddress& addr, int* error_number) {
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    *error_number = errno;
    return Probe::kUnknown;
  }
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length);
  *error_number = rc == 0 ? 0 : errno;
  ::close(probe);
  // Only ECONNREFUSED means that nothing listens. EAGAIN is a full backlog: alive, just busy.
  // EACCES (a socket whose mode shuts this user out) says nothing about its owner: unknown.
  if (rc == 0 || *error_number == EAGAIN) return Probe::kAccepting;
  return *error_number == ECONNREFUSED ? Probe::kStale : Probe::kUnknown;
}

// What is at a Unix listener's path before it binds: nothing, a stale socket (removed here),
// or something that must not be touched (false, *error says what).
bool ClearStaleUnixSocket(const SocketAddress& addr, std::string* error) {
  const std::string path = UnixPath(addr);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = Errno("stat " + path);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = path + " exists and is not a socket (refusing to replace it)";
    return false;
  }
  int probe_errno = 0;
  switch (ProbeUnixSocket(addr, &probe_errno)) {
    case Probe::kAccepting:
      *error = path + " is in use: another process accepts on it";
      return false;
    case Probe::kUnknown:
      *error = "cannot tell whether " + path +
               " is in use (connect: " + std::strerror(probe_errno) + "); refusing to replace it";
      return false;
    case Probe::kStale:
      break;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = Errno("remove stale socket " + path);
    return false;
  }
  return true;
}

bool OpenUnixListener(const SocketAddress& addr, int count, int backlog, std::vector<int>* fds,
                      SocketAddress* bound, std::string* error, unsigned mode) {
  const std::string shown = FormatSocketAddress(addr);
  if (!ClearStaleUnixSocket(addr, error)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = Errno("socket");
    return false;
  }
  fds->push_back(fd);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length) != 0) {
    *error = Errno("bind " + shown);
    return false;
  }
  // The file exists from bind on; nobody can connect before listen, so the mode is set first.
  // Not through a symbolic link: were the directory writable by others, one swapped in for the
  // socket file would aim the chmod at another file.
  if (::fchmodat(AT_FDCWD, UnixPath(addr).c_str(), mode, AT_SYMLINK_NOFOLLOW) != 0) {
    *error = Errno("chmod " + shown);
    ::unlink(UnixPath(addr).c_str());
    return false;
  }
  if (::listen(fd, backlog) != 0) {
    *error = Errno("listen " + shown);
    ::unlink(UnixPath(addr).c_str());
    return false;
  }
  for (int i = 1; i < count; ++i) {
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
      *error = Errno("dup " + shown);
      ::unlink(UnixPath(addr).c_str());
      return false;
    }
    fds->push_back(dup);
  }
  *bound = addr;
  return true;
}

}  // namespace

bool ParseSocketAddress(std::string_view text, SocketAddress* out, std::string* error) {
  if (text.substr(0, kUnixPrefix.size()) == kUnixPrefix) return ParseUnixAddress(text, out, error);
  std::string host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "expected [IPv6]:PORT, got '" + std::string(text) + "'";
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "expected HOST:PORT, got '" + std::string(text) + "'";
      return false;
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    *error = "invalid port in '" + std::string(text) + "'";
    return false;
  }
  *out = SocketAddress();
  const int family = v6 ? AF_INET6 : AF_INET;
  void* ip;  // where inet_pton writes the address
  if (v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out->storage);
    sa->sin6_port = htons(static_cast<uint16_t>(port));
    ip = &sa->sin6_addr;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&out->storage);
    sa->sin_port = htons(static_cast<uint16_t>(port));
    ip = &sa->sin_addr;
  }
  // Every sockaddr_* has its family where sockaddr_storage has ss_family.
  out->storage.ss_family = static_cast<sa_family_t>(family);
  if (inet_pton(family, host.c_str(), ip) != 1) {
    *error = v6 ? "invalid IPv6 address '" + host + "'"
                : "invalid IPv4 address '" + host + "' (a numeric address is required)";
    return false;
  }
  out->length = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return true;
}

std::string FormatSocketAddress(const SocketAddress& addr) {
  if (IsUnix(addr)) return std::string(kUnixPrefix) + UnixPath(addr);
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.storage.ss_family == AF_INET6) {
    const auto* sa = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    inet_ntop(AF_INET6, &sa->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sa->sin6_port));
  }
  const auto* sa = reinterpret_cast<const sockaddr_in*>(&addr.storage);
  inet_ntop(AF_INET, &sa->sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(sa->sin_port));
}

bool IsLoopback(const SocketAddress& addr) {
  if (IsUnix(addr)) return true;
  if (addr.storage.ss_family == AF_INET) {
    const auto* sa = reinterpret_cast<const sockaddr_in*>(&addr.storage);
    return (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr.storage.ss_family == AF_INET6) {
    const auto* sa = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    const in6_addr& a = sa->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

bool OpenListeners(const SocketAddress& addr, int count, int backlog, std::vector<int>* fds,
                   SocketAddress* bound, std::string* error, unsigned unix_mode) {
  fds->clear();
  if (IsUnix(addr)) {
    if (OpenUnixListener(addr, count, backlog, fds, bound, error, unix_mode)) return true;
    for (int fd : *fds) ::close(fd);
    fds->clear();
    return false;
  }
  SocketAddress target = addr;
  bool ok = true;
  for (int i = 0; ok && i < count; ++i) {
    const int fd = ::socket(target.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = Errno("socket");
      ok = false;
      break;
    }
    fds->push_back(fd);
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (count > 1 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)) {
      *error = Errno("setsockopt");
      ok = false;
      break;
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&target.storage), target.length) != 0) {
      *error = Errno("bind " + FormatSocketAddress(target));
      ok = false;
      break;
    }
    if (::listen(fd, backlog) != 0) {
      *error = Errno("listen " + FormatSocketAddress(target));
      ok = false;
      break;
    }
    if (i == 0) {
      SocketAddress actual;
      actual.length = sizeof actual.storage;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&actual.storage), &actual.length) != 0) {
        *error = Errno("getsockname");
        ok = false;
        break;
      }
      target = actual;  // later sockets bind the port the first one got
      *bound = actual;
    }
  }
  if (ok) return true;
  for (int fd : *fds) ::close(fd);
  fds->clear();
  return false;
}

UnixSocketFile StatUnixSocketFile(const SocketAddress& addr) {
  UnixSocketFile f;
  struct stat st;
  if (!IsUnix(addr) || ::lstat(UnixPath(addr).c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return f;
  }
  f.path = UnixPath(addr);
  f.addr = addr;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  return f;
}

void RemoveUnixSocketFile(const UnixSocketFile& file) {
  if (file.path.empty()) return;
  struct stat st;
  // The same inode is not enough: a file system may give a successor's new socket file the
  // number this one's had. A socket something accepts on is not this process's either: its
  // listeners are closed by now.
  int probe_errno = 0;
  if (::lstat(file.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == file.dev &&
      st.st_ino == file.ino && ProbeUnixSocket(file.addr, &probe_errno) == Probe::kStale) {
    ::unlink(file.path.c_str());
  }
}

}  // namespace jwtgate::net
