#include "loopback_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace jwtgate::bench {

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

int ConnectLoopback(int port, double timeout_s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int HttpGet(int port, const std::string& path, std::string* body) {
  const int fd = ConnectLoopback(port, 5.0);
  if (fd < 0) return 0;
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return 0;
  }
  std::string in;
  char buf[16384];
  size_t want = std::string::npos;
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    const size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos && want == std::string::npos) {
      want = end + 4;
      std::string head = in.substr(0, end);
      std::transform(head.begin(), head.end(), head.begin(), ::tolower);
      const size_t cl = head.find("content-length:");
      if (cl == std::string::npos) {
        want = std::string::npos - 1;  // until the server closes
      } else {
        want += std::strtoull(head.c_str() + cl + 15, nullptr, 10);
      }
    }
    if (want != std::string::npos && in.size() >= want) break;
  }
  ::close(fd);
  if (in.compare(0, 5, "HTTP/") != 0) return 0;
  const size_t sp = in.find(' ');
  const int status = sp == std::string::npos ? 0 : std::atoi(in.c_str() + sp + 1);
  const size_t end = in.find("\r\n\r\n");
  if (body != nullptr) *body = end == std::string::npos ? std::string() : in.substr(end + 4);
  return status;
}

}  // namespace jwtgate::bench
