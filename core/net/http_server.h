// HttpServer: one io_uring event loop serving HTTP/1.1 on one listening socket.
//
//   multishot accept --> connection --> multishot recv (provided buffers) --> ParseHttpRequest
//   (in place) --> RequestHandler::OnRequest --> ... --> Finish --> in-order send
//
// Each I/O thread owns one HttpServer (one ring, one buffer ring, its own connections); nothing
// in it is shared with other threads except the thread-safe BeginDrain/Stop and the stats.
//
// Requests and responses. A handler answers every request exactly once, now or later, by
// filling ResponseHead (status line and header fields, each ending in CRLF) and optionally
// ResponseBody, then calling Finish; the server adds Content-Length, Connection: close when
// it closes, and the empty line. Requests on one connection may be pipelined: up to
// max_pipelined are in flight at once and their responses go out in request order whatever
// order they finish in. Bytes of the request are valid only during OnRequest; Pin() keeps a
// range valid until Finish (without a copy when it lies in a receive buffer).
//
// Limits and timeouts. The parser's limits bound what one connection buffers; a request head
// (or a body being skipped) must arrive within header_timeout (slow clients get 408 and are
// closed); an idle keep-alive connection is closed after idle_timeout. Malformed requests get
// their 4xx/5xx answer and the connection is closed.
//
// Connection limit. A connection that arrives while max_connections are open is closed at once
// (connections_rejected), unless evict_when_full is set. Then, as nginx reuses keep-alive
// connections when it runs out, the server closes the oldest connection it owes nothing (no
// request in flight, no answer queued or being sent: an idle keep-alive connection, or one whose
// request head or skipped body is still arriving), without an answer, and the newcomer takes the
// slot once that close completes (connections_evicted). "Oldest" is when the partial request
// began, else the last activity; ties go to the connection opened first. At most 64 newcomers
// wait for a slot that way; beyond that, or when no open connection can be evicted, the oldest
// waiting newcomer is closed for the new one (also connections_evicted), so the newest
// connections win. Only when nothing can give way, every connection being owed an answer, is the
// newcomer closed (connections_rejected): a connection with a request in flight is never
// evicted. So a flood of idle or slow connections cannot lock new clients out (operators on the
// admin listener, liveness probes), at the cost of closing idle clients that the flood outlives.
//
// Draining. BeginDrain stops accepting, closes idle connections and the newcomers waiting for a
// slot, lets requests in progress finish (their responses carry Connection: close) and makes Run
// return once no connection is left. Stop makes Run return at the next iteration.
#ifndef JWTGATE_NET_HTTP_SERVER_H_
#define JWTGATE_NET_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_parser.h"

namespace jwtgate::net {

// Identifies a request in flight: connection slot, its generation, pipeline slot.
using RequestId = uint64_t;

class HttpServer;

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called on the loop thread for each complete request, in order per connection. `body` is
  // the request body when the server keeps bodies (ServerOptions::discard_body false), else
  // empty. The handler must Finish(id) exactly once, during this call or later.
  virtual void OnRequest(HttpServer& server, RequestId id, const HttpRequest& req,
                         std::string_view body) = 0;
};

struct ServerOptions {
  std::string name = "http";  // for log lines
  HttpLimits limits;
  bool discard_body = true;  // skip request bodies as they arrive instead of buffering them
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_connections = 4096;
  // Over max_connections, evict the oldest connection owed nothing instead of refusing the
  // newcomer ("Connection limit" above).
  bool evict_when_full = false;
  size_t max_pipelined = 16;    // 1..64
  unsigned buffer_count = 512;  // provided receive buffers (power of two)
  unsigned buffer_size = 4096;
  unsigned ring_entries = 1024;
};

// Counters of one server. Written by the loop thread only (relaxed load + store, no
// read-modify-write), read by the metrics exporter from any thread.
struct ServerStats {
  std::atomic<uint64_t> connections_active{0};
  std::atomic<uint64_t> connections_accepted{0};  // given a slot, or waiting for one
  std::atomic<uint64_t> connections_rejected{0};  // over max_connections, closed at once
  std::atomic<uint64_t> connections_evicted{0};   // closed to make room (evict_when_full)
  std::atomic<uint64_t> header_timeouts{0};
  std::atomic<uint64_t> idle_timeouts{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> recv_buffers_exhausted{0};  // receives that found no free buffer
  std::atomic<uint64_t> http_errors[kHttpErrorCount] = {};
};

class HttpServer {
 public:
  // Takes ownership of `listen_fd`. `handler` must outlive the server.
  HttpServer(ServerOptions options, int listen_fd, RequestHandler* handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Sets up the ring, the buffer ring and the accept. Call on the thread that calls Run
  // (the ring is created single-issuer). Returns false with a reason on failure.
  bool Init(std::string* error);
  // The loop. Returns after Stop, or after BeginDrain once every connection is closed.
  void Run();

  // Thread-safe.
  void BeginDrain();
  void Stop();

  // Loop thread: the handler's side.
  std::string* ResponseHead(RequestId id);
  std::string* ResponseBody(RequestId id);
  void Finish(RequestId id, bool close = false);
  // Keeps `bytes` (a range of the request being handled) valid until Finish(id). Only during
  // OnRequest.
  std::string_view Pin(RequestId id, std::string_view bytes);
  // When the request was handed to OnRequest (CLOCK_MONOTONIC, ns).
  int64_t DispatchTimeNs(RequestId id) const;
  // A value the handler keeps with a request until Finish (0 until set).
  void SetTag(RequestId id, uint64_t tag);
  uint64_t Tag(RequestId id) const;
  // The loop's clock: CLOCK_MONOTONIC at the start of the current iteration, ns.
  int64_t now_ns() const noexcept { return now_ns_; }
  bool draining() const noexcept { return draining_; }

  // Loop thread, after Init: calls `on_ready` on the loop thread whenever `fd` becomes
  // readable (multishot poll). The callback must consume the readiness (e.g. read an eventfd).
  void WatchFd(int fd, std::function<void()> on_ready);
  // Loop thread: called at the end of every loop iteration.
  void SetIterationHook(std::function<void()> hook) { iteration_hook_ = std::move(hook); }

  const ServerStats& stats() const noexcept { return stats_; }
  const ServerOptions& options() const noexcept { return options_; }

  struct Impl;

 private:
  ServerOptions options_;
  std::unique_ptr<Impl> impl_;
  ServerStats stats_;
  int64_t now_ns_ = 0;
  bool draining_ = false;
  std::function<void()> iteration_hook_;
};

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_HTTP_SERVER_H_
