// Listening sockets: address parsing and socket set-up for the daemon's listeners.
#ifndef JWTGATE_NET_LISTENER_H_
#define JWTGATE_NET_LISTENER_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// Parses "HOST:PORT" with a numeric IPv4 host ("127.0.0.1:9090") or "[IPv6]:PORT"
// ("[::1]:9090"), or "unix:/ABSOLUTE/PATH" for a Unix domain stream socket (the path at most
// 107 bytes, sun_path's size less its terminator). Port 0 asks the kernel for one. Host names
// are refused: a listener address must not depend on name resolution. Abstract Unix sockets
// ("unix:@name") are refused too: they carry no file permissions, so any process of the
// network namespace could connect.
bool ParseSocketAddress(std::string_view text, SocketAddress* out, std::string* error);

// "127.0.0.1:9090" / "[::1]:9090" / "unix:/run/jwtgate/auth.sock".
std::string FormatSocketAddress(const SocketAddress& addr);

// True for an address only this host can reach: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104, and
// every Unix socket. False for the wildcards (0.0.0.0, ::), which listen on every interface.
bool IsLoopback(const SocketAddress& addr);

inline bool IsUnix(const SocketAddress& addr) { return addr.storage.ss_family == AF_UNIX; }

// Opens `count` listening sockets on `addr`. Returns false (closing what it opened, and
// naming the step and the address in *error) on failure. Sockets are close-on-exec; `bound`
// receives the address actually bound.
//  - TCP: `count` sockets (SO_REUSEADDR; SO_REUSEPORT when count > 1, so that each I/O thread
//    accepts on its own socket and the kernel spreads connections). With port 0, the first
//    socket picks the port and the others bind the same one.
//  - Unix: one socket, and count - 1 duplicates of it (Unix sockets have no SO_REUSEPORT; the
//    I/O threads accept from the one queue). A socket file already at the path is replaced
//    when a connection to it is refused (ECONNREFUSED: left by a process that died); a path
//    in use, one this user cannot probe, or one that is not a socket, is refused. The file
//    gets `unix_mode` (set after bind, before listen, so that nobody connects under a wider
//    mode; never through a symbolic link). Keep the socket's directory writable by the daemon
//    alone (systemd's RuntimeDirectory, /run/jwtgate).
bool OpenListeners(const SocketAddress& addr, int count, int backlog, std::vector<int>* fds,
                   SocketAddress* bound, std::string* error, unsigned unix_mode = 0666);

// The socket file a Unix listener created, recorded right after OpenListeners, so that
// shutdown (after the listeners are closed) removes it only while the path still holds that
// same file and nothing accepts on it: a successor started during this process's drain may
// have replaced it with its own. Between a successor's bind and its listen (microseconds)
// its file looks stale; removing it then would make the successor unreachable until it
// restarts, a window this check narrows to that instant.
struct UnixSocketFile {
  std::string path;  // empty: nothing to remove (TCP, or the file could not be read)
  SocketAddress addr;
  dev_t dev = 0;
  ino_t ino = 0;
};
UnixSocketFile StatUnixSocketFile(const SocketAddress& addr);
void RemoveUnixSocketFile(const UnixSocketFile& file);

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_LISTENER_H_
