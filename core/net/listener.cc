#include "net/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace jwtgate::net {
namespace {

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

bool ParseSocketAddress(std::string_view text, SocketAddress* out, std::string* error) {
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
                   SocketAddress* bound, std::string* error) {
  fds->clear();
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

}  // namespace jwtgate::net
