// Listening sockets: address parsing and socket set-up for the daemon's listeners.
#ifndef JWTGATE_NET_LISTENER_H_
#define JWTGATE_NET_LISTENER_H_

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// Parses "HOST:PORT" with a numeric IPv4 host ("127.0.0.1:9090") or "[IPv6]:PORT"
// ("[::1]:9090"). Port 0 asks the kernel for one. Host names are refused: a listener address
// must not depend on name resolution.
bool ParseSocketAddress(std::string_view text, SocketAddress* out, std::string* error);

// "127.0.0.1:9090" / "[::1]:9090".
std::string FormatSocketAddress(const SocketAddress& addr);

// True for an address only this host can reach: 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104.
// False for the wildcards (0.0.0.0, ::), which listen on every interface.
bool IsLoopback(const SocketAddress& addr);

// Opens `count` listening TCP sockets on `addr` (SO_REUSEADDR; SO_REUSEPORT when count > 1, so
// that each I/O thread accepts on its own socket and the kernel spreads connections). With
// port 0, the first socket picks the port and the others bind the same one. `bound` receives
// the address actually bound. Sockets are close-on-exec. Returns false (closing what it
// opened) on failure.
bool OpenListeners(const SocketAddress& addr, int count, int backlog, std::vector<int>* fds,
                   SocketAddress* bound, std::string* error);

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_LISTENER_H_
