// HttpServer (net/http_server.h) under a connection flood: with evict_when_full, a connection
// beyond max_connections takes the slot of the oldest connection the server owes nothing
// (idle keep-alive, or a request head still arriving); without it, or when every connection is
// owed an answer, the newcomer is closed at once.
//
// Each case runs a real server on 127.0.0.1 (port 0) on its own thread and talks to it over
// blocking loopback sockets; every wait is bounded (poll, SO_SNDTIMEO, deadlines on the stats).
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "net/http_server.h"
#include "net/listener.h"

namespace {

using jwtgate::net::HttpRequest;
using jwtgate::net::HttpServer;
using jwtgate::net::RequestHandler;
using jwtgate::net::RequestId;
using jwtgate::net::ServerOptions;
using jwtgate::net::SocketAddress;
using Clock = std::chrono::steady_clock;

constexpr int kBacklog = 4096;
constexpr int kIoTimeoutMs = 2000;  // bound of any single wait on a socket
constexpr std::string_view kRevoke =
    "POST /revoke HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

// Answers 200 "ok\n" at once, except GET /hold, which waits for ReleaseHeld.
class TestHandler : public RequestHandler {
 public:
  void OnRequest(HttpServer& server, RequestId id, const HttpRequest& req,
                 std::string_view /*body*/) override {
    if (req.path == "/hold") {
      held_.push_back(id);
      return;
    }
    Answer(server, id);
  }

  // Loop thread.
  void ReleaseHeld(HttpServer& server) {
    for (RequestId id : held_) Answer(server, id);
    held_.clear();
  }

 private:
  static void Answer(HttpServer& server, RequestId id) {
    server.ResponseHead(id)->append("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
    server.ResponseBody(id)->assign("ok\n");
    server.Finish(id);
  }

  std::vector<RequestId> held_;  // loop thread only
};

// An HttpServer on 127.0.0.1:0 running on its own thread (Init and Run there); stopped and
// joined by the destructor.
class TestServer {
 public:
  explicit TestServer(ServerOptions options) {
    SocketAddress any;
    std::string error;
    REQUIRE(jwtgate::net::ParseSocketAddress("127.0.0.1:0", &any, &error));
    std::vector<int> fds;
    INFO(error);
    REQUIRE(jwtgate::net::OpenListeners(any, 1, kBacklog, &fds, &address_, &error));
    release_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(release_fd_ >= 0);
    server_ = std::make_unique<HttpServer>(std::move(options), fds[0], &handler_);
    std::promise<std::string> ready;
    std::future<std::string> init = ready.get_future();
    thread_ = std::thread([this, &ready] {
      std::string init_error;
      if (!server_->Init(&init_error)) {
        ready.set_value(init_error);
        return;
      }
      server_->WatchFd(release_fd_, [this] {
        uint64_t v;
        if (::read(release_fd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
          handler_.ReleaseHeld(*server_);
        }
      });
      ready.set_value("");
      server_->Run();
    });
    const std::string init_error = init.get();
    if (!init_error.empty()) {
      thread_.join();
      FAIL("HttpServer::Init: " << init_error);
    }
  }

  ~TestServer() {
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
    server_.reset();
    if (release_fd_ >= 0) ::close(release_fd_);
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  const SocketAddress& address() const { return address_; }
  const HttpServer& server() const { return *server_; }

  // Finishes the held /hold requests (on the loop thread).
  void ReleaseHeld() {
    const uint64_t one = 1;
    REQUIRE(::write(release_fd_, &one, sizeof one) == static_cast<ssize_t>(sizeof one));
  }

 private:
  TestHandler handler_;
  SocketAddress address_;
  int release_fd_ = -1;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// A client socket, closed on destruction.
class Client {
 public:
  Client() = default;
  explicit Client(int fd) : fd_(fd) {}
  Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Client& operator=(Client&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Client() { Reset(); }

  int fd() const { return fd_; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// A blocking TCP connection to `addr`; connect and send give up after kIoTimeoutMs.
Client Connect(const SocketAddress& addr) {
  const int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  Client client(fd);
  timeval tv{};
  tv.tv_sec = kIoTimeoutMs / 1000;
  tv.tv_usec = (kIoTimeoutMs % 1000) * 1000;
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length);
  INFO("connect: " << std::strerror(errno));
  REQUIRE(rc == 0);
  return client;
}

void SendAll(const Client& c, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(c.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    INFO("send: " << std::strerror(errno));
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Reads one response (head, then Content-Length body bytes) within `timeout_ms`. Returns what
// arrived, complete or not.
std::string ReadResponse(const Client& c, int timeout_ms) {
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string in;
  for (;;) {
    const size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      constexpr std::string_view kLength = "\r\nContent-Length: ";
      const size_t at = in.find(kLength);
      const size_t body =
          at == std::string::npos || at > head_end ? 0 : std::stoul(in.substr(at + kLength.size()));
      if (in.size() >= head_end + 4 + body) return in;
    }
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, RemainingMs(deadline)) != 1) return in;
    char buf[4096];
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) return in;
    in.append(buf, static_cast<size_t>(n));
  }
}

// The status code of a response, or -1 when there is none.
int StatusOf(std::string_view response) {
  constexpr std::string_view kPrefix = "HTTP/1.1 ";
  if (response.size() < kPrefix.size() + 3 || response.substr(0, kPrefix.size()) != kPrefix) {
    return -1;
  }
  return std::stoi(std::string(response.substr(kPrefix.size(), 3)));
}

// Sends `request` and returns the status of the answer (-1: none within kIoTimeoutMs).
int RoundTrip(const Client& c, std::string_view request = kGet) {
  SendAll(c, request);
  return StatusOf(ReadResponse(c, kIoTimeoutMs));
}

enum class ReadOutcome { kEof, kReset, kData, kNothing };

const char* Name(ReadOutcome o) {
  switch (o) {
    case ReadOutcome::kEof: return "EOF";
    case ReadOutcome::kReset: return "ECONNRESET";
    case ReadOutcome::kData: return "data";
    case ReadOutcome::kNothing: return "nothing";
  }
  return "?";
}

// What one read on `c` gives within `timeout_ms`.
ReadOutcome ReadOnce(const Client& c, int timeout_ms) {
  pollfd p{c.fd(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return ReadOutcome::kNothing;
  char buf[256];
  const ssize_t n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0) return ReadOutcome::kData;
  if (n == 0) return ReadOutcome::kEof;
  return errno == ECONNRESET ? ReadOutcome::kReset : ReadOutcome::kNothing;
}

// Waits (bounded) until `counter` reads `expected`; returns its last value.
uint64_t AwaitCount(const std::atomic<uint64_t>& counter, uint64_t expected,
                    int timeout_ms = kIoTimeoutMs) {
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // Relaxed: the value is only compared; the loop re-reads until it settles or time runs out.
  uint64_t v = counter.load(std::memory_order_relaxed);
  while (v != expected && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    v = counter.load(std::memory_order_relaxed);
  }
  return v;
}

uint64_t Count(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);  // read once the loop thread is quiet
}

// Lets the loop thread process what the client just sent (on top of the ordering a later
// round trip on another connection already gives).
void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(10)); }

size_t OpenFdCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

void EnsureFdLimit(rlim_t need) {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  INFO("RLIMIT_NOFILE hard limit " << rl.rlim_max);
  REQUIRE(rl.rlim_cur >= need);
}

ServerOptions FloodOptions(size_t max_connections) {
  ServerOptions o;
  o.name = "test";
  o.max_connections = max_connections;
  o.evict_when_full = true;
  o.buffer_count = 64;
  o.ring_entries = 256;
  return o;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<ReadOutcome> {
  static std::string convert(ReadOutcome o) { return Name(o); }
};
}  // namespace Catch

TEST_CASE("http server: 1000 idle connections do not lock out a fresh request", "[http_server]") {
  constexpr size_t kMax = 64;
  constexpr size_t kFlood = 1000;
  EnsureFdLimit(kFlood + 256);
  const size_t fds_before = OpenFdCount();
  {
    TestServer ts(FloodOptions(kMax));
    const auto& stats = ts.server().stats();
    std::vector<Client> flood;
    flood.reserve(kFlood);
    for (size_t i = 0; i < kFlood; ++i) flood.push_back(Connect(ts.address()));

    Client fresh = Connect(ts.address());
    const Clock::time_point t0 = Clock::now();
    SendAll(fresh, kRevoke);
    const std::string response = ReadResponse(fresh, 1000);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    INFO("response after " << waited.count() << " ms: '" << response << "'");
    REQUIRE(StatusOf(response) == 200);
    CHECK(waited.count() < 1000);

    // The fresh connection was accepted after every flood connection and has been served, so
    // every accept has been handled: the 1001 connections were all taken in, none refused, and
    // each one beyond the 64 slots pushed out the oldest (idle) one.
    CHECK(AwaitCount(stats.connections_accepted, kFlood + 1) == kFlood + 1);
    CHECK(Count(stats.connections_rejected) == 0);
    CHECK(AwaitCount(stats.connections_evicted, kFlood + 1 - kMax) == kFlood + 1 - kMax);
    CHECK(AwaitCount(stats.connections_active, kMax) == kMax);

    // Oldest first: the first 937 flood connections were closed (EOF: they sent nothing), the
    // newest 63 still hold slots.
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
    size_t closed = 0, first_open = kFlood;
    for (size_t i = 0; i < kFlood - (kMax - 1); ++i) {
      if (ReadOnce(flood[i], RemainingMs(deadline)) == ReadOutcome::kEof) {
        ++closed;
      } else if (first_open == kFlood) {
        first_open = i;
      }
    }
    INFO("first flood connection not closed: #" << first_open);
    CHECK(closed == kFlood - (kMax - 1));
    for (size_t i = kFlood - (kMax - 1); i < kFlood; ++i) {
      INFO("flood connection " << i);
      CHECK(ReadOnce(flood[i], 0) == ReadOutcome::kNothing);
    }

    // Still serving: keep-alive on the fresh connection, and one more newcomer, which evicts
    // the oldest survivor.
    CHECK(RoundTrip(fresh, kRevoke) == 200);
    Client late = Connect(ts.address());
    CHECK(RoundTrip(late) == 200);
    CHECK(Count(stats.connections_evicted) == kFlood + 2 - kMax);
    CHECK(ReadOnce(flood[kFlood - (kMax - 1)], kIoTimeoutMs) == ReadOutcome::kEof);
    CHECK(ReadOnce(flood[kFlood - 1], 0) == ReadOutcome::kNothing);
  }
  // Every descriptor the server took in (slots and waiting newcomers alike) was closed once.
  CHECK(OpenFdCount() == fds_before);
}

TEST_CASE("http server: a slowloris is evicted by when its request began, oldest first",
          "[http_server]") {
  TestServer ts(FloodOptions(4));
  const auto& stats = ts.server().stats();
  // t1: probe. t2: `slow` begins a request head. t3, t4: idle `b`, `c`. t5: `slow` sends one more
  // header line, so its last activity is newer than b's and c's, but its request began at t2.
  // Each round trip on `probe` orders what came before it and leaves `probe` the newest.
  Client probe = Connect(ts.address());
  REQUIRE(AwaitCount(stats.connections_accepted, 1) == 1);
  Client slow = Connect(ts.address());
  REQUIRE(AwaitCount(stats.connections_accepted, 2) == 2);
  SendAll(slow, "GET /slow HTTP/1.1\r\n");
  Settle();
  REQUIRE(RoundTrip(probe) == 200);
  Client b = Connect(ts.address());
  REQUIRE(AwaitCount(stats.connections_accepted, 3) == 3);
  Settle();
  Client c = Connect(ts.address());
  REQUIRE(AwaitCount(stats.connections_accepted, 4) == 4);
  Settle();
  SendAll(slow, "Host: x\r\n");
  Settle();
  REQUIRE(RoundTrip(probe) == 200);
  REQUIRE(Count(stats.connections_evicted) == 0);

  // Every slot is taken: a newcomer's request is answered, and the partial request that began
  // first gives way. The server had read everything `slow` sent, so `slow` reads a plain EOF (no
  // 408: it did not time out, and an answer would keep the slot busy).
  Client n = Connect(ts.address());
  CHECK(RoundTrip(n) == 200);
  CHECK(Count(stats.connections_evicted) == 1);
  CHECK(ReadOnce(slow, kIoTimeoutMs) == ReadOutcome::kEof);
  CHECK(ReadOnce(b, 0) == ReadOutcome::kNothing);
  CHECK(ReadOnce(c, 0) == ReadOutcome::kNothing);

  // The next newcomer takes the slot of the oldest idle connection, b (t3), not c or the
  // connections served since.
  Client m = Connect(ts.address());
  CHECK(RoundTrip(m) == 200);
  CHECK(Count(stats.connections_evicted) == 2);
  CHECK(ReadOnce(b, kIoTimeoutMs) == ReadOutcome::kEof);
  CHECK(ReadOnce(c, 0) == ReadOutcome::kNothing);
  CHECK(RoundTrip(c) == 200);
  CHECK(RoundTrip(probe) == 200);
  CHECK(Count(stats.connections_rejected) == 0);
  CHECK(Count(stats.connections_active) == 4);
}

TEST_CASE("http server: connections owed an answer are never evicted; the newcomer is refused",
          "[http_server]") {
  TestServer ts(FloodOptions(2));
  const auto& stats = ts.server().stats();
  Client x = Connect(ts.address());
  Client y = Connect(ts.address());
  SendAll(x, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  SendAll(y, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(AwaitCount(stats.requests, 2) == 2);

  Client z = Connect(ts.address());
  CHECK(AwaitCount(stats.connections_rejected, 1) == 1);
  CHECK(ReadOnce(z, kIoTimeoutMs) == ReadOutcome::kEof);
  CHECK(Count(stats.connections_evicted) == 0);
  CHECK(Count(stats.connections_accepted) == 2);

  ts.ReleaseHeld();
  CHECK(StatusOf(ReadResponse(x, kIoTimeoutMs)) == 200);
  CHECK(StatusOf(ReadResponse(y, kIoTimeoutMs)) == 200);
}

TEST_CASE("http server: without evict_when_full a connection over the limit is closed at once",
          "[http_server]") {
  CHECK_FALSE(ServerOptions().evict_when_full);  // the default keeps the old behaviour
  ServerOptions o = FloodOptions(2);
  o.evict_when_full = false;
  TestServer ts(o);
  const auto& stats = ts.server().stats();
  Client x = Connect(ts.address());
  Client y = Connect(ts.address());
  REQUIRE(AwaitCount(stats.connections_accepted, 2) == 2);

  Client z = Connect(ts.address());
  CHECK(AwaitCount(stats.connections_rejected, 1) == 1);
  CHECK(ReadOnce(z, kIoTimeoutMs) == ReadOutcome::kEof);
  CHECK(Count(stats.connections_evicted) == 0);
  CHECK(Count(stats.connections_accepted) == 2);
  CHECK(ReadOnce(x, 0) == ReadOutcome::kNothing);
  CHECK(RoundTrip(x) == 200);
  CHECK(RoundTrip(y) == 200);
}
