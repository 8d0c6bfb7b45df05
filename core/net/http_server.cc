#include "net/http_server.h"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "base/eventfd.h"
#include "net/buffer_ring.h"

namespace jwtgate::net {
namespace {

enum class Op : uint8_t { kAccept = 1, kRecv, kSend, kCancel, kTimer, kWatch, kWake };

constexpr uint64_t UserData(Op op, uint32_t index = 0, uint32_t gen = 0) noexcept {
  return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(index & 0xffffff) << 32) | gen;
}
constexpr Op OpOf(uint64_t ud) noexcept { return static_cast<Op>(ud >> 56); }
constexpr uint32_t IndexOf(uint64_t ud) noexcept {
  return static_cast<uint32_t>((ud >> 32) & 0xffffff);
}
constexpr uint32_t GenOf(uint64_t ud) noexcept { return static_cast<uint32_t>(ud); }

// RequestId: connection index (24 bits) | connection generation (24 bits) | slot (16 bits).
constexpr RequestId MakeId(uint32_t index, uint32_t gen, uint16_t slot) noexcept {
  return static_cast<uint64_t>(index & 0xffffff) | (static_cast<uint64_t>(gen & 0xffffff) << 24) |
         (static_cast<uint64_t>(slot) << 48);
}
constexpr uint32_t IdIndex(RequestId id) noexcept { return static_cast<uint32_t>(id & 0xffffff); }
constexpr uint32_t IdGen(RequestId id) noexcept {
  return static_cast<uint32_t>((id >> 24) & 0xffffff);
}
constexpr uint16_t IdSlot(RequestId id) noexcept { return static_cast<uint16_t>(id >> 48); }

int64_t MonotonicNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Single-writer counter bump: the loop thread is the only writer, so a relaxed load and store
// (no locked read-modify-write) is enough; readers see a recent value.
inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void Drop(std::atomic<uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

std::string_view ReasonPhrase(int status) noexcept {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

constexpr size_t kMaxPipelined = 64;
// Newcomers waiting for the slot of a connection being evicted (ServerOptions::evict_when_full).
// Each one waits for one recv cancellation, about one loop iteration.
constexpr size_t kMaxWaiting = 64;
constexpr uint32_t kNoConn = ~uint32_t{0};
constexpr size_t kKeepCapacity = 16384;  // larger buffers are released when a connection idles

void ShrinkIfLarge(std::string* s) {
  if (s->capacity() > kKeepCapacity) {
    std::string().swap(*s);
  } else {
    s->clear();
  }
}

struct Slot {
  bool used = false;
  bool ready = false;
  bool head_request = false;
  bool close = false;
  int32_t pinned_bid = -1;
  int64_t dispatched_ns = 0;
  uint64_t tag = 0;
  std::string head, body, copy;
};

struct Conn {
  enum class State : uint8_t { kFree, kOpen, kClosing };
  State state = State::kFree;
  int fd = -1;
  uint32_t gen = 0;
  bool recv_armed = false;
  bool send_inflight = false;
  bool want_close = false;   // no more requests: close once the answers are out
  bool stop_output = false;  // a closing response went out: drop later answers
  bool in_dirty = false;
  bool starved = false;
  std::string rx;  // unparsed bytes that did not fit a receive buffer's lifetime
  HttpParseState ps;
  size_t skip = 0;                           // body bytes still to discard
  std::vector<std::unique_ptr<Slot>> slots;  // allocated on first use; addresses stable
  uint8_t order[kMaxPipelined] = {};
  size_t order_head = 0, order_count = 0;
  std::string out, sending;
  size_t sent = 0;
  int64_t last_activity = 0;
  int64_t partial_since = 0;  // a request (or a body being skipped) is arriving since
  uint64_t opened_seq = 0;    // order of opening: breaks ties between eviction candidates
};

struct Watch {
  int fd;
  std::function<void()> on_ready;
};

// What ResponseHead and ResponseBody hand out for a request that is gone (its connection
// closed, or the id is stale): an empty string whose contents are never sent.
std::string* DiscardedResponse() {
  static thread_local std::string sink;
  sink.clear();
  return &sink;
}

}  // namespace

struct HttpServer::Impl {
  HttpServer* self = nullptr;
  RequestHandler* handler = nullptr;
  io_uring ring{};
  bool ring_ready = false;
  std::unique_ptr<ProvidedBufferRing> bufs;
  int listen_fd = -1;
  bool accept_armed = false;
  bool accept_rearm = false;
  int wake_fd = -1;
  std::atomic<bool> drain_requested{false};
  std::atomic<bool> stop_requested{false};
  bool stop = false;
  __kernel_timespec tick{};
  std::vector<Conn> conns;
  std::vector<uint32_t> free_list;
  size_t in_use = 0;
  std::vector<uint32_t> dirty;
  std::vector<uint32_t> starved;
  std::vector<HttpHeader> headers;
  std::vector<Watch> watches;
  // Accepted fds waiting for a slot being freed by an eviction, oldest first (a ring). Owned:
  // each is either handed to OpenConn or closed, exactly once.
  std::array<int, kMaxWaiting> waiting{};
  size_t waiting_head = 0, waiting_count = 0;
  uint64_t opened = 0;  // connections opened so far
  int32_t cur_bid = -1;
  int64_t last_accept_error_log = 0;
  size_t rx_cap = 0;

  const ServerOptions& opt() const { return self->options_; }
  ServerStats& stats() { return self->stats_; }

  io_uring_sqe* Sqe() {
    for (;;) {
      if (io_uring_sqe* s = io_uring_get_sqe(&ring)) return s;
      // The submission queue is full: hand it to the kernel and take a fresh entry.
      const int rc = io_uring_submit(&ring);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        std::fprintf(stderr, "jwtgated: %s: io_uring_submit: %s\n", opt().name.c_str(),
                     std::strerror(-rc));
        std::abort();
      }
    }
  }

  void ArmAccept() {
    io_uring_sqe* s = Sqe();
    io_uring_prep_multishot_accept(s, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, UserData(Op::kAccept));
    accept_armed = true;
  }

  void ArmTimer() {
    io_uring_sqe* s = Sqe();
    io_uring_prep_timeout(s, &tick, 0, 0);
    io_uring_sqe_set_data64(s, UserData(Op::kTimer));
  }

  void ArmWatch(uint32_t i, Op op, int fd) {
    io_uring_sqe* s = Sqe();
    io_uring_prep_poll_multishot(s, fd, POLLIN);
    io_uring_sqe_set_data64(s, UserData(op, i));
  }

  void ArmRecv(Conn& c, uint32_t idx) {
    io_uring_sqe* s = Sqe();
    io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = bufs->group_id();
    io_uring_sqe_set_data64(s, UserData(Op::kRecv, idx, c.gen));
    c.recv_armed = true;
  }

  void MarkDirty(Conn& c, uint32_t idx) {
    if (!c.in_dirty) {
      c.in_dirty = true;
      dirty.push_back(idx);
    }
  }

  // ---- connections -------------------------------------------------------------------------

  void OnAccept(int res, bool more) {
    if (res >= 0) {
      if (self->draining_) {
        ::close(res);
      } else {
        if (waiting_count != 0) AdmitWaiting();  // freed slots go to those who waited first
        if (!free_list.empty()) {
          Bump(stats().connections_accepted);
          OpenConn(res);
        } else if (opt().evict_when_full && MakeRoomFor(res)) {
          Bump(stats().connections_accepted);
        } else {
          ::close(res);
          Bump(stats().connections_rejected);
        }
      }
    } else if (res != -ECANCELED) {
      // EMFILE/ENFILE/ENOMEM: log at most once a second and retry on the next tick.
      if (self->now_ns_ - last_accept_error_log > 1000000000) {
        last_accept_error_log = self->now_ns_;
        std::fprintf(stderr, "jwtgated: %s: accept: %s\n", opt().name.c_str(), std::strerror(-res));
      }
    }
    if (!more) {
      accept_armed = false;
      if (self->draining_) {
        if (listen_fd >= 0) ::close(listen_fd);
        listen_fd = -1;
      } else if (res >= 0) {
        ArmAccept();
      } else {
        accept_rearm = true;  // after an error: wait for the next tick
      }
    }
  }

  void OpenConn(int fd) {
    const uint32_t idx = free_list.back();
    free_list.pop_back();
    Conn& c = conns[idx];
    c.state = Conn::State::kOpen;
    c.fd = fd;
    c.last_activity = self->now_ns_;
    c.partial_since = 0;
    c.opened_seq = opened++;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++in_use;
    Bump(stats().connections_active);
    ArmRecv(c, idx);
  }

  // ---- eviction (ServerOptions::evict_when_full) -------------------------------------------

  // Every slot is taken: closes the oldest connection owed nothing and queues `fd` for its slot,
  // which FreeConn releases once the recv cancellation completes (Close is asynchronous); the
  // victim owes no answer, so nothing else holds the slot. With kMaxWaiting newcomers already
  // waiting, or no connection to evict, the oldest waiting newcomer is closed instead and `fd`
  // takes its place in the queue. Returns false, leaving `fd` to the caller, when neither can
  // give way.
  bool MakeRoomFor(int fd) {
    if (waiting_count < kMaxWaiting) {
      const uint32_t victim = OldestEvictable();
      if (victim != kNoConn) {
        Close(conns[victim], victim);
        Bump(stats().connections_evicted);
        PushWaiting(fd);
        AdmitWaiting();  // Close frees the slot at once when no recv was armed
        return true;
      }
    }
    if (waiting_count == 0) return false;
    ::close(PopWaiting());
    Bump(stats().connections_evicted);
    PushWaiting(fd);
    return true;
  }

  // The open connection the server owes nothing (no request in flight, nothing queued or being
  // sent) whose partial request began first, else whose last activity is oldest; kNoConn if
  // none. A linear scan: it runs only for an accept that finds every slot taken, so the request
  // path keeps no ordering structure for it.
  uint32_t OldestEvictable() const {
    uint32_t best = kNoConn;
    int64_t best_since = 0;
    uint64_t best_seq = 0;
    for (uint32_t idx = 0; idx < conns.size(); ++idx) {
      const Conn& c = conns[idx];
      if (c.state != Conn::State::kOpen || c.order_count != 0 || c.send_inflight ||
          !c.out.empty()) {
        continue;
      }
      const int64_t since = c.partial_since != 0 ? c.partial_since : c.last_activity;
      if (best == kNoConn || since < best_since ||
          (since == best_since && c.opened_seq < best_seq)) {
        best = idx;
        best_since = since;
        best_seq = c.opened_seq;
      }
    }
    return best;
  }

  void PushWaiting(int fd) {
    waiting[(waiting_head + waiting_count) % kMaxWaiting] = fd;
    ++waiting_count;
  }

  int PopWaiting() {
    const int fd = waiting[waiting_head];
    waiting_head = (waiting_head + 1) % kMaxWaiting;
    --waiting_count;
    return fd;
  }

  // Gives free slots to the waiting newcomers, oldest first.
  void AdmitWaiting() {
    while (waiting_count != 0 && !free_list.empty()) OpenConn(PopWaiting());
  }

  // Drain, Stop, destruction: the waiting newcomers are closed unserved.
  void CloseWaiting() {
    while (waiting_count != 0) ::close(PopWaiting());
  }

  void Close(Conn& c, uint32_t idx) {
    if (c.state != Conn::State::kOpen) return;
    c.state = Conn::State::kClosing;
    if (c.recv_armed) {
      io_uring_sqe* s = Sqe();
      io_uring_prep_cancel64(s, UserData(Op::kRecv, idx, c.gen), 0);
      io_uring_sqe_set_data64(s, UserData(Op::kCancel));
    }
    // Wakes a send stuck on a peer that does not read; queued response bytes still go out
    // before the FIN.
    ::shutdown(c.fd, SHUT_RDWR);
    MaybeFinishClose(c, idx);
  }

  void MaybeFinishClose(Conn& c, uint32_t idx) {
    if (c.state != Conn::State::kClosing || c.recv_armed || c.send_inflight) return;
    if (c.fd >= 0) {
      ::close(c.fd);
      c.fd = -1;
    }
    // Requests still being verified keep the connection's slots (and their pinned bytes)
    // until they finish; then the connection is freed.
    if (c.order_count == 0) FreeConn(c, idx);
  }

  void FreeConn(Conn& c, uint32_t idx) {
    c.state = Conn::State::kFree;
    ++c.gen;
    c.recv_armed = c.send_inflight = c.want_close = c.stop_output = c.starved = false;
    ShrinkIfLarge(&c.rx);
    ShrinkIfLarge(&c.out);
    ShrinkIfLarge(&c.sending);
    c.ps.Reset();
    c.skip = 0;
    c.sent = 0;
    c.order_head = c.order_count = 0;
    if (c.slots.size() > 2) c.slots.resize(2);
    for (auto& s : c.slots) {
      ShrinkIfLarge(&s->head);
      ShrinkIfLarge(&s->body);
      ShrinkIfLarge(&s->copy);
    }
    free_list.push_back(idx);
    --in_use;
    Drop(stats().connections_active);
  }

  // ---- receive -----------------------------------------------------------------------------

  void OnRecv(uint32_t idx, uint32_t gen, int res, unsigned flags) {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    int32_t bid = -1;
    if (flags & IORING_CQE_F_BUFFER) {
      bid = static_cast<int32_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      bufs->Take(static_cast<uint16_t>(bid));
    }
    Conn& c = conns[idx];
    if (c.gen != gen || c.state == Conn::State::kFree) {
      if (bid >= 0) bufs->Release(static_cast<uint16_t>(bid));
      return;
    }
    if (!more) c.recv_armed = false;
    if (c.state != Conn::State::kOpen) {
      if (bid >= 0) bufs->Release(static_cast<uint16_t>(bid));
      MaybeFinishClose(c, idx);
      return;
    }
    if (res > 0 && bid >= 0) {
      c.last_activity = self->now_ns_;
      HandleData(c, idx, bufs->data(static_cast<uint16_t>(bid)), static_cast<size_t>(res), bid);
      bufs->Release(static_cast<uint16_t>(bid));
      if (c.state == Conn::State::kOpen && !c.recv_armed) ArmRecv(c, idx);
    } else if (res == 0) {
      // The peer closed its side: answer what it asked, then close.
      c.want_close = true;
      c.rx.clear();
      c.partial_since = 0;
      if (c.order_count == 0 && !c.send_inflight && c.out.empty()) Close(c, idx);
    } else if (res == -ENOBUFS) {
      Bump(stats().recv_buffers_exhausted);
      if (!c.starved) {
        c.starved = true;
        starved.push_back(idx);
      }
    } else {
      Close(c, idx);  // ECONNRESET and friends
    }
  }

  void HandleData(Conn& c, uint32_t idx, const char* data, size_t len, int32_t bid) {
    if (c.want_close) return;  // nothing more is read from a closing connection
    if (c.rx.empty()) {
      const size_t used = ProcessInput(c, idx, data, len, bid);
      if (c.state == Conn::State::kOpen && !c.want_close && used < len) {
        c.rx.append(data + used, len - used);
      }
    } else {
      c.rx.append(data, len);
      const size_t used = ProcessInput(c, idx, c.rx.data(), c.rx.size(), -1);
      c.rx.erase(0, used);
    }
    if (c.state != Conn::State::kOpen) return;
    if (c.rx.size() > rx_cap) {
      // Only a client pipelining far beyond max_pipelined gets here.
      Close(c, idx);
      return;
    }
    UpdatePartial(c);
  }

  void UpdatePartial(Conn& c) {
    const bool partial = !c.want_close && (c.skip > 0 || !c.rx.empty());
    if (!partial) {
      c.partial_since = 0;
    } else if (c.partial_since == 0) {
      c.partial_since = self->now_ns_;
    }
  }

  // Parses and dispatches the complete requests at the start of [data, data + len); returns
  // how many bytes it consumed. `bid` is the receive buffer the bytes live in, or -1.
  size_t ProcessInput(Conn& c, uint32_t idx, const char* data, size_t len, int32_t bid) {
    cur_bid = bid;
    size_t off = 0;
    const HttpLimits& limits = opt().limits;
    while (off < len && c.state == Conn::State::kOpen && !c.want_close) {
      if (c.skip > 0) {
        const size_t n = std::min(c.skip, len - off);
        off += n;
        c.skip -= n;
        continue;
      }
      if (c.order_count >= opt().max_pipelined) break;  // resumed when answers go out
      HttpRequest req;
      HttpError err = HttpError::kNone;
      const ParseStatus st = ParseHttpRequest(std::string_view(data + off, len - off), limits,
                                              &c.ps, headers.data(), &req, &err);
      if (st == ParseStatus::kIncomplete) break;
      if (st == ParseStatus::kError) {
        c.ps.Reset();
        Bump(stats().http_errors[static_cast<size_t>(err)]);
        RespondStatus(c, idx, HttpErrorStatus(err));
        off = len;
        break;
      }
      size_t total = req.head_bytes;
      std::string_view body;
      if (req.content_length > 0) {
        if (opt().discard_body) {
          c.skip = req.content_length;
        } else {
          if (len - off - req.head_bytes < req.content_length) {
            c.ps.Reset();  // re-parsed (bounded by the limits) when the body is complete
            break;
          }
          body = std::string_view(data + off + req.head_bytes, req.content_length);
          total += req.content_length;
        }
      }
      c.ps.Reset();
      c.partial_since = 0;
      if (!req.keep_alive) c.want_close = true;
      Dispatch(c, idx, req, body);
      off += total;
    }
    cur_bid = -1;
    return off;
  }

  uint16_t NewSlot(Conn& c) {
    uint16_t s = 0;
    while (s < c.slots.size() && c.slots[s]->used) ++s;
    if (s == c.slots.size()) c.slots.push_back(std::make_unique<Slot>());
    Slot& slot = *c.slots[s];
    slot.used = true;
    slot.ready = false;
    slot.close = false;
    slot.head_request = false;
    slot.pinned_bid = -1;
    slot.tag = 0;
    slot.dispatched_ns = self->now_ns_;
    slot.head.clear();
    slot.body.clear();
    slot.copy.clear();
    c.order[(c.order_head + c.order_count) % kMaxPipelined] = static_cast<uint8_t>(s);
    ++c.order_count;
    return s;
  }

  void Dispatch(Conn& c, uint32_t idx, const HttpRequest& req, std::string_view body) {
    const uint16_t s = NewSlot(c);
    Slot& slot = *c.slots[s];
    slot.head_request = req.method == "HEAD";
    slot.close = !req.keep_alive;
    Bump(stats().requests);
    handler->OnRequest(*self, MakeId(idx, c.gen, s), req, body);
  }

  // An answer the server gives itself (parse errors, timeouts); closes the connection.
  void RespondStatus(Conn& c, uint32_t idx, int status) {
    const uint16_t s = NewSlot(c);
    Slot& slot = *c.slots[s];
    char line[64];
    const int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    slot.head.assign(line, static_cast<size_t>(n));
    slot.head.append(ReasonPhrase(status));
    slot.head.append("\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n");
    slot.body.assign(ReasonPhrase(status));
    slot.body.push_back('\n');
    slot.close = true;
    slot.ready = true;
    c.want_close = true;
    FlushReady(c, idx);
  }

  Slot* SlotFor(RequestId id, Conn** conn, uint32_t* idx) {
    *idx = IdIndex(id);
    if (*idx >= conns.size()) return nullptr;
    Conn& c = conns[*idx];
    if ((c.gen & 0xffffff) != IdGen(id) || c.state == Conn::State::kFree) return nullptr;
    const uint16_t s = IdSlot(id);
    if (s >= c.slots.size() || !c.slots[s]->used) return nullptr;
    *conn = &c;
    return c.slots[s].get();
  }
  // The same, for callers that need only the slot.
  Slot* SlotFor(RequestId id) {
    Conn* c;
    uint32_t idx;
    return SlotFor(id, &c, &idx);
  }

  // Moves the answers that are ready, in request order, into the output.
  void FlushReady(Conn& c, uint32_t idx) {
    while (c.order_count > 0) {
      Slot& s = *c.slots[c.order[c.order_head]];
      if (!s.ready) break;
      const bool open = c.state == Conn::State::kOpen && !c.stop_output;
      const bool close = s.close || (self->draining_ && c.order_count == 1);
      if (open) {
        c.out.append(s.head);
        char cl[48];
        const int n = std::snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", s.body.size());
        c.out.append(cl, static_cast<size_t>(n));
        if (close) c.out.append("Connection: close\r\n");
        c.out.append("\r\n");
        if (!s.head_request) c.out.append(s.body);
        if (close) {
          c.want_close = true;
          c.stop_output = true;
        }
      }
      if (s.pinned_bid >= 0) bufs->Release(static_cast<uint16_t>(s.pinned_bid));
      s.pinned_bid = -1;
      s.used = false;
      if (s.body.capacity() > kKeepCapacity) std::string().swap(s.body);
      c.order_head = (c.order_head + 1) % kMaxPipelined;
      --c.order_count;
    }
    if (c.state == Conn::State::kOpen) {
      MarkDirty(c, idx);
    } else if (c.order_count == 0 && c.fd < 0) {
      FreeConn(c, idx);
    }
  }

  // ---- send --------------------------------------------------------------------------------

  void StartSend(Conn& c, uint32_t idx) {
    if (c.send_inflight || c.out.empty() || c.state != Conn::State::kOpen) return;
    c.sending.swap(c.out);
    c.out.clear();
    c.sent = 0;
    IssueSend(c, idx);
  }

  void IssueSend(Conn& c, uint32_t idx) {
    io_uring_sqe* s = Sqe();
    io_uring_prep_send(s, c.fd, c.sending.data() + c.sent, c.sending.size() - c.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, UserData(Op::kSend, idx, c.gen));
    c.send_inflight = true;
  }

  void OnSend(uint32_t idx, uint32_t gen, int res) {
    Conn& c = conns[idx];
    if (c.gen != gen || c.state == Conn::State::kFree) return;
    c.send_inflight = false;
    if (c.state != Conn::State::kOpen) {
      MaybeFinishClose(c, idx);
      return;
    }
    if (res < 0) {
      Close(c, idx);
      return;
    }
    c.sent += static_cast<size_t>(res);
    if (c.sent < c.sending.size()) {
      IssueSend(c, idx);
      return;
    }
    if (c.sending.capacity() > kKeepCapacity) {
      std::string().swap(c.sending);
    } else {
      c.sending.clear();
    }
    c.last_activity = self->now_ns_;
    if (!c.out.empty()) {
      StartSend(c, idx);
    } else if (c.want_close && c.order_count == 0) {
      Close(c, idx);
    } else {
      MarkDirty(c, idx);  // resume parsing what waited for room in the pipeline
    }
  }

  void FlushDirty() {
    for (size_t i = 0; i < dirty.size(); ++i) {
      const uint32_t idx = dirty[i];
      Conn& c = conns[idx];
      c.in_dirty = false;
      if (c.state != Conn::State::kOpen) continue;
      if (!c.rx.empty() && !c.want_close && c.order_count < opt().max_pipelined) {
        const size_t used = ProcessInput(c, idx, c.rx.data(), c.rx.size(), -1);
        c.rx.erase(0, used);
        if (c.state != Conn::State::kOpen) continue;
        UpdatePartial(c);
      }
      StartSend(c, idx);
      if (c.want_close && c.order_count == 0 && !c.send_inflight && c.out.empty()) {
        Close(c, idx);
      } else if (self->draining_ && IsIdle(c)) {
        Close(c, idx);  // its last answer went out before the drain began
      }
    }
    dirty.clear();
  }

  static bool IsIdle(const Conn& c) {
    return c.order_count == 0 && !c.send_inflight && c.out.empty() && c.rx.empty() && c.skip == 0;
  }

  // ---- timers, drain -----------------------------------------------------------------------

  void OnTick() {
    const int64_t now = self->now_ns_;
    const int64_t header_ns = static_cast<int64_t>(opt().header_timeout.count()) * 1000000;
    const int64_t idle_ns = static_cast<int64_t>(opt().idle_timeout.count()) * 1000000;
    for (uint32_t idx = 0; idx < conns.size(); ++idx) {
      Conn& c = conns[idx];
      if (c.state != Conn::State::kOpen) continue;
      if (c.send_inflight) {
        // A peer that stops reading its answers holds a send open: give up after idle_timeout.
        if (now - c.last_activity > idle_ns) {
          Bump(stats().idle_timeouts);
          Close(c, idx);
        }
        continue;
      }
      if (c.order_count != 0) continue;  // the server owes an answer
      if (c.partial_since != 0) {
        if (now - c.partial_since > header_ns) {
          Bump(stats().header_timeouts);
          c.rx.clear();
          c.skip = 0;
          c.partial_since = 0;
          if (c.stop_output || c.want_close) {
            Close(c, idx);
          } else {
            RespondStatus(c, idx, 408);
          }
        }
      } else if (c.out.empty() && now - c.last_activity > idle_ns) {
        Bump(stats().idle_timeouts);
        Close(c, idx);
      }
    }
    if (accept_rearm && !self->draining_ && listen_fd >= 0) {
      accept_rearm = false;
      ArmAccept();
    }
  }

  void StartDrain() {
    if (self->draining_) return;
    self->draining_ = true;
    CloseWaiting();
    if (accept_armed) {
      io_uring_sqe* s = Sqe();
      io_uring_prep_cancel64(s, UserData(Op::kAccept), 0);
      io_uring_sqe_set_data64(s, UserData(Op::kCancel));
    } else if (listen_fd >= 0) {
      ::close(listen_fd);
      listen_fd = -1;
    }
    for (uint32_t idx = 0; idx < conns.size(); ++idx) {
      Conn& c = conns[idx];
      if (c.state != Conn::State::kOpen) continue;
      if (IsIdle(c)) Close(c, idx);
      // Otherwise the last answer carries Connection: close (FlushReady).
    }
  }

  void OnWake() {
    base::DrainEventFd(wake_fd);
    if (drain_requested.load(std::memory_order_acquire)) StartDrain();
    if (stop_requested.load(std::memory_order_acquire)) stop = true;
  }

  void HandleCqe(const io_uring_cqe* cqe) {
    const uint64_t ud = io_uring_cqe_get_data64(cqe);
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    switch (OpOf(ud)) {
      case Op::kAccept:
        OnAccept(cqe->res, more);
        break;
      case Op::kRecv:
        OnRecv(IndexOf(ud), GenOf(ud), cqe->res, cqe->flags);
        break;
      case Op::kSend:
        OnSend(IndexOf(ud), GenOf(ud), cqe->res);
        break;
      case Op::kTimer:
        OnTick();
        if (!stop) ArmTimer();
        break;
      case Op::kWatch: {
        const uint32_t i = IndexOf(ud);
        watches[i].on_ready();
        if (!more) ArmWatch(i, Op::kWatch, watches[i].fd);
        break;
      }
      case Op::kWake:
        OnWake();
        if (!more) ArmWatch(0, Op::kWake, wake_fd);
        break;
      case Op::kCancel:
        break;
    }
  }

  void RearmStarved() {
    if (starved.empty() || bufs->out() >= bufs->count()) return;
    for (uint32_t idx : starved) {
      Conn& c = conns[idx];
      c.starved = false;
      if (c.state == Conn::State::kOpen && !c.recv_armed) ArmRecv(c, idx);
    }
    starved.clear();
  }
};

HttpServer::HttpServer(ServerOptions options, int listen_fd, RequestHandler* handler)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->handler = handler;
  impl_->listen_fd = listen_fd;
  options_.max_pipelined = std::clamp<size_t>(options_.max_pipelined, 1, kMaxPipelined);
  options_.max_connections = std::clamp<size_t>(options_.max_connections, 1, 1u << 22);
}

HttpServer::~HttpServer() {
  Impl& m = *impl_;
  m.CloseWaiting();
  for (Conn& c : m.conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  m.bufs.reset();  // unregisters from the ring first
  if (m.ring_ready) io_uring_queue_exit(&m.ring);
  if (m.listen_fd >= 0) ::close(m.listen_fd);
  if (m.wake_fd >= 0) ::close(m.wake_fd);
}

bool HttpServer::Init(std::string* error) {
  Impl& m = *impl_;
  io_uring_params p;
  const unsigned entries = std::max(64u, options_.ring_entries);
  // Preferred: one issuer with deferred task work (6.1+), then cooperative task work (5.19+),
  // then plain.
  const unsigned flag_sets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_COOP_TASKRUN,
      0,
  };
  int rc = -EINVAL;
  for (unsigned flags : flag_sets) {
    std::memset(&p, 0, sizeof p);
    p.flags = flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, &m.ring, &p);
    if (rc != -EINVAL) break;
  }
  if (rc < 0) {
    *error = std::string("io_uring_queue_init: ") + std::strerror(-rc) +
             (rc == -EPERM || rc == -ENOSYS
                  ? " (io_uring disabled by the kernel.io_uring_disabled sysctl or seccomp?)"
                  : "");
    return false;
  }
  m.ring_ready = true;
  if ((p.features & IORING_FEAT_NODROP) == 0 || (p.features & IORING_FEAT_FAST_POLL) == 0) {
    *error = "io_uring lacks IORING_FEAT_NODROP/FAST_POLL (Linux 5.7+ required)";
    return false;
  }
  m.bufs =
      ProvidedBufferRing::Create(&m.ring, 0, options_.buffer_count, options_.buffer_size, error);
  if (!m.bufs) return false;

  m.wake_fd = base::OpenEventFd();
  if (m.wake_fd < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    return false;
  }
  m.conns.resize(options_.max_connections);
  m.free_list.reserve(options_.max_connections);
  for (size_t i = options_.max_connections; i-- > 0;)
    m.free_list.push_back(static_cast<uint32_t>(i));
  m.headers.resize(options_.limits.max_headers + 1);
  m.rx_cap = options_.limits.max_head_bytes +
             (options_.discard_body ? 0 : options_.limits.max_body_bytes) + options_.buffer_size;
  const int64_t tick_ms = std::clamp<int64_t>(options_.header_timeout.count() / 4, 20, 1000);
  m.tick.tv_sec = tick_ms / 1000;
  m.tick.tv_nsec = (tick_ms % 1000) * 1000000;
  now_ns_ = MonotonicNs();

  m.ArmWatch(0, Op::kWake, m.wake_fd);
  m.ArmTimer();
  m.ArmAccept();
  rc = io_uring_submit(&m.ring);
  if (rc < 0) {
    *error = std::string("io_uring_submit: ") + std::strerror(-rc);
    return false;
  }
  return true;
}

void HttpServer::Run() {
  Impl& m = *impl_;
  while (!m.stop) {
    const int rc = io_uring_submit_and_wait(&m.ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
      std::fprintf(stderr, "jwtgated: %s: io_uring_submit_and_wait: %s\n", options_.name.c_str(),
                   std::strerror(-rc));
      break;
    }
    now_ns_ = MonotonicNs();
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&m.ring, head, cqe) {
      m.HandleCqe(cqe);
      ++n;
    }
    io_uring_cq_advance(&m.ring, n);
    if (iteration_hook_) iteration_hook_();
    m.FlushDirty();
    if (m.waiting_count != 0) m.AdmitWaiting();  // slots freed by evictions this iteration
    m.bufs->Commit();
    m.RearmStarved();
    if (draining_ && m.in_use == 0 && !m.accept_armed) break;
  }
  m.CloseWaiting();
  io_uring_submit(&m.ring);
}

void HttpServer::BeginDrain() {
  impl_->drain_requested.store(true, std::memory_order_release);
  base::SignalEventFd(impl_->wake_fd);
}

void HttpServer::Stop() {
  impl_->stop_requested.store(true, std::memory_order_release);
  base::SignalEventFd(impl_->wake_fd);
}

std::string* HttpServer::ResponseHead(RequestId id) {
  Slot* s = impl_->SlotFor(id);
  return s != nullptr ? &s->head : DiscardedResponse();
}

std::string* HttpServer::ResponseBody(RequestId id) {
  Slot* s = impl_->SlotFor(id);
  return s != nullptr ? &s->body : DiscardedResponse();
}

void HttpServer::Finish(RequestId id, bool close) {
  Conn* c;
  uint32_t idx;
  Slot* s = impl_->SlotFor(id, &c, &idx);
  if (s == nullptr || s->ready) return;
  s->ready = true;
  s->close = s->close || close;
  impl_->FlushReady(*c, idx);
}

std::string_view HttpServer::Pin(RequestId id, std::string_view bytes) {
  Slot* s = impl_->SlotFor(id);
  if (s == nullptr) return {};
  Impl& m = *impl_;
  if (m.cur_bid >= 0 && s->pinned_bid < 0 &&
      m.bufs->Contains(static_cast<uint16_t>(m.cur_bid), bytes.data(), bytes.size())) {
    m.bufs->Hold(static_cast<uint16_t>(m.cur_bid));
    s->pinned_bid = m.cur_bid;
    return bytes;  // the buffer's padding follows it
  }
  s->copy.reserve(bytes.size() + ProvidedBufferRing::kPadding);
  s->copy.assign(bytes.data(), bytes.size());
  return s->copy;
}

int64_t HttpServer::DispatchTimeNs(RequestId id) const {
  const Slot* s = impl_->SlotFor(id);
  return s == nullptr ? now_ns_ : s->dispatched_ns;
}

void HttpServer::SetTag(RequestId id, uint64_t tag) {
  if (Slot* s = impl_->SlotFor(id)) s->tag = tag;
}

uint64_t HttpServer::Tag(RequestId id) const {
  const Slot* s = impl_->SlotFor(id);
  return s == nullptr ? 0 : s->tag;
}

void HttpServer::WatchFd(int fd, std::function<void()> on_ready) {
  Impl& m = *impl_;
  m.watches.push_back(Watch{fd, std::move(on_ready)});
  m.ArmWatch(static_cast<uint32_t>(m.watches.size() - 1), Op::kWatch, fd);
}

}  // namespace jwtgate::net
