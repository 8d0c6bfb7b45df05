// Loopback TCP and HTTP for the end-to-end rows (e2e.h): a free port, a connection with
// timeouts, and one-shot GETs of a server's admin endpoints (/readyz, /metrics).
#ifndef JWTGATE_BENCH_STRATEGIES_LOOPBACK_HTTP_H_
#define JWTGATE_BENCH_STRATEGIES_LOOPBACK_HTTP_H_

#include <string>

namespace jwtgate::bench {

// A port nothing listens on at this instant (bound and released). Throws std::runtime_error.
int FreePort();

// A blocking connection to 127.0.0.1:port with send and receive timeouts; -1 on failure.
int ConnectLoopback(int port, double timeout_s);

// One GET on a new connection; returns the status (0 on failure) and the body (may be null).
int HttpGet(int port, const std::string& path, std::string* body);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_LOOPBACK_HTTP_H_
