// loadgen: an open-loop (constant offered rate) HTTP/1.1 load generator on keep-alive
// connections, measuring latency from each request's *intended* send time (wrk2's method), so
// that a server stall shows up in the percentiles instead of slowing the load down
// (coordinated omission). With --closed it is a closed-loop generator instead (maximum
// throughput: every connection sends its next request as soon as the previous one is answered,
// and the histogram holds service times, not latencies under load).
//
//   loadgen --url http://127.0.0.1:9090/auth --rate 20000 --duration 10 --connections 64
//           [--threads 1] [--warmup 2] [--tokens FILE] [--json OUT]
//           [--closed] [--spin] [--watch NAME=PID[,PID...]]... [--unix PATH]
//
// Each connection has its own schedule at rate/connections: request k of a connection is due at
// start + k * interval (with a per-connection phase so connections do not fire together). A
// connection carries one request at a time; when a response arrives after the next request was
// due, that request goes out at once and its latency still counts from when it was due. Requests
// that were due but never sent by the end, or still unanswered a second after it, are not
// counted as completions; they are reported as `late_at_end` (a sign the rate was beyond what
// the server sustained).
//
// With --tokens, each request carries `Authorization: Bearer <line>` from the file, cycling
// through its lines. Latencies go into an HDR-style log-linear histogram
// (bench/common/histogram.h, 0.1 % relative precision). Output: a JSON document on stdout (and
// in --json), with the percentile spectrum in HdrHistogram's .hgrm layout under "hgrm".
// Loopback only: the host must be 127.0.0.1. With --unix PATH the connections go to that Unix
// socket instead (jwtgated's `listen: unix:PATH`); the URL still gives the path and Host.
//
// CPU and memory of the processes involved: over the measured window (after the warm-up, to the
// end of the schedule) the main thread samples utime + stime from /proc/<pid>/stat of this
// process ("client") and of every --watch group (e.g. --watch daemon=1234, or an nginx master
// and its workers as one group), and reports "cpu_s" per group, "window_s", and each group's
// VmRSS at the end of the window ("rss_kib"); bench/common/proc_stats.h reads /proc.
// Resolution: one clock tick (10 ms) per process. "noise" records what else ran over the same
// window: each CPU's busy and steal fraction from /proc/stat, the busy cores the measured
// groups do not account for, and each group's involuntary context switches.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../common/histogram.h"
#include "../common/proc_stats.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int connections = 16;
  int threads = 1;
  std::string tokens_file;
  std::string json_out;
  bool closed = false;
  // --spin: poll instead of sleeping when the next request is due within 2 ms (for a client
  // on CPUs of its own: it keeps them busy).
  bool spin = false;
  // --watch NAME=PID[,PID...]: process groups whose CPU time is measured over the window.
  std::vector<jwtgate::bench::ProcessGroup> watch;
  // --unix PATH: connect to this Unix socket instead of host:port.
  std::string unix_path;
};

struct Result {
  jwtgate::bench::LatencyHistogram hist;
  uint64_t completed = 0;
  uint64_t status_2xx = 0;
  uint64_t status_other = 0;
  uint64_t errors = 0;
  uint64_t late_at_end = 0;
  uint64_t inflight_at_end = 0;  // closed loop: requests on the wire when the window closed
  std::map<int, uint64_t> statuses;
};

// The process groups measured over the window: this process ("client"), then every --watch.
std::vector<jwtgate::bench::ProcessGroup> MeasuredGroups(const Options& o) {
  std::vector<jwtgate::bench::ProcessGroup> groups = {{"client", {static_cast<int>(getpid())}, 0, {}}};
  groups.insert(groups.end(), o.watch.begin(), o.watch.end());
  return groups;
}

struct Connection {
  int fd = -1;
  int64_t interval_ns = 0;
  int64_t next_due = 0;      // intended send time of the next request
  int64_t inflight_due = 0;  // intended send time of the request on the wire (0: none)
  size_t token_index = 0;
  const std::string* out = nullptr;  // the request on the wire (one of Requests())
  size_t out_off = 0;
  std::string in;  // a response's first part, while the rest has not arrived
};

// Every request this run sends, built once: one per token (or one without a token). The
// client's own cost per request is part of what a run measures beside the server's, so the
// hot loop copies and allocates nothing.
std::vector<std::string> Requests(const Options& o, const std::vector<std::string>& tokens) {
  const std::string head = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
  std::vector<std::string> out;
  if (tokens.empty()) out.push_back(head + "\r\n");
  for (const std::string& t : tokens) out.push_back(head + "Authorization: Bearer " + t + "\r\n\r\n");
  return out;
}

int ConnectUnix(const Options& o) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  o.unix_path.copy(sa.sun_path, sizeof sa.sun_path - 1);
  // A non-blocking connect to a Unix socket completes at once or fails (EAGAIN: backlog full).
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int Connect(const Options& o) {
  if (!o.unix_path.empty()) return ConnectUnix(o);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host.c_str(), &sa.sin_addr);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Parses one response at the start of `in`. Returns its length, 0 when incomplete, -1 when
// malformed. Sets *status.
long ParseResponse(std::string_view in, int* status) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return in.size() > 65536 ? -1 : 0;
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 && in.compare(0, 9, "HTTP/1.0 ") != 0) return -1;
  *status = std::atoi(in.data() + 9);
  size_t length = 0;
  size_t pos = in.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = in.find("\r\n", pos);
    if (eol - pos > 15 && strncasecmp(in.data() + pos, "content-length:", 15) == 0) {
      length = std::strtoull(in.data() + pos + 15, nullptr, 10);
    }
    pos = eol + 2;
  }
  const size_t total = end + 4 + length;
  return in.size() >= total ? static_cast<long>(total) : 0;
}

// The "noise" member (proc_stats.h's NoiseBetween) as JSON.
std::string NoiseJson(const jwtgate::bench::Noise& n) {
  std::ostringstream j;
  j.precision(4);
  j << "{\"cpus\": {";
  bool first = true;
  for (const auto& [cpu, c] : n.cpus) {
    j << (first ? "" : ", ") << "\"" << cpu << "\": {\"busy\": " << c.busy
      << ", \"steal\": " << c.steal << "}";
    first = false;
  }
  j << "}, \"system_busy_cores\": " << n.system_busy_cores << ", \"steal_cores\": " << n.steal_cores
    << ", \"measured_cores\": " << n.measured_cores
    << ", \"unmeasured_cores\": " << n.unmeasured_cores << ", \"nonvoluntary_switches\": {";
  first = true;
  for (const auto& [name, count] : n.nonvoluntary) {
    j << (first ? "" : ", ") << "\"" << name << "\": " << count;
    first = false;
  }
  j << "}}";
  return j.str();
}

void RunThread(const Options& o, const std::vector<std::string>& tokens, int first_conn,
               int n_conns, int64_t start, int64_t measure_from, int64_t stop, Result* r) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> conns(static_cast<size_t>(n_conns));
  const int64_t interval =
      static_cast<int64_t>(1e9 * o.connections / o.rate);  // per connection
  for (int i = 0; i < n_conns; ++i) {
    Connection& c = conns[static_cast<size_t>(i)];
    c.fd = Connect(o);
    if (c.fd < 0) {
      ++r->errors;
      continue;
    }
    c.interval_ns = interval;
    // Spread the connections' phases over one interval.
    c.next_due = start + interval * (first_conn + i) / o.connections;
    c.token_index = static_cast<size_t>(first_conn + i);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  const std::vector<std::string> requests = Requests(o, tokens);
  auto build = [&](Connection& c) {
    c.out = &requests[c.token_index % requests.size()];
    c.token_index += static_cast<size_t>(o.connections);
    c.out_off = 0;
  };
  auto flush = [&](Connection& c) {
    while (c.out != nullptr && c.out_off < c.out->size()) {
      const ssize_t n = ::send(c.fd, c.out->data() + c.out_off, c.out->size() - c.out_off,
                               MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN;
      c.out_off += static_cast<size_t>(n);
    }
    return true;
  };
  auto fail = [&](Connection& c) {
    ++r->errors;
    ::close(c.fd);
    c.fd = -1;
  };
  std::vector<epoll_event> events(256);
  char buf[65536];
  // Timer slack of 1 ns instead of the default 50 µs: a sleep ends when the request is due.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  bool have_pwait2 = true;
  // Open loop: after the schedule ends, the requests still on the wire may finish for up to
  // kDrainNs (their latency counts from when they were due); only those that do not, and
  // those never sent, are `late_at_end`.
  constexpr int64_t kDrainNs = 1000000000;
  for (;;) {
    int64_t now = NowNs();
    if (now >= stop) {
      if (o.closed || now >= stop + kDrainNs) break;
      const bool inflight = std::any_of(conns.begin(), conns.end(), [](const Connection& c) {
        return c.fd >= 0 && c.inflight_due != 0;
      });
      if (!inflight) break;
    }
    // Send every request that is due on an idle connection.
    int64_t earliest = now >= stop ? stop + kDrainNs : stop;
    for (Connection& c : conns) {
      if (c.fd < 0) continue;
      if (o.closed) {
        // Closed loop: an idle connection sends at once; latency counts from the send.
        if (c.inflight_due == 0) {
          build(c);
          c.inflight_due = std::max<int64_t>(now, 1);
          if (!flush(c)) fail(c);
        }
        continue;
      }
      if (c.inflight_due == 0 && c.next_due <= now && c.next_due < stop) {
        build(c);
        c.inflight_due = c.next_due;
        c.next_due += c.interval_ns;
        if (!flush(c)) fail(c);
      }
      if (c.fd >= 0 && c.inflight_due == 0 && c.next_due < stop) {
        earliest = std::min(earliest, c.next_due);
      }
    }
    int64_t wait_ns = std::max<int64_t>(0, earliest - NowNs());
    // --spin: a wait shorter than kSpinBelowNs polls instead of sleeping. Waking from a
    // microsecond timer costs several microseconds of this CPU per request, enough to make the
    // client the bottleneck of an open loop at 50-75 % of a fast server's rate.
    constexpr int64_t kSpinBelowNs = 2000000;
    if (o.spin && wait_ns < kSpinBelowNs) wait_ns = 0;
    int timeout_ms = 0;
    int n = -1;
    if (have_pwait2) {
      // Nanosecond timeout: the thread sleeps until the next request is due instead of
      // spinning, so it leaves the CPU to the server it measures (2 cores shared).
      const timespec ts{static_cast<time_t>(wait_ns / 1000000000),
                        static_cast<long>(wait_ns % 1000000000)};
      n = ::epoll_pwait2(ep, events.data(), static_cast<int>(events.size()), &ts, nullptr);
      if (n < 0 && errno == ENOSYS) have_pwait2 = false;
    }
    if (!have_pwait2) {
      // epoll_wait's millisecond timeout is too coarse for µs schedules: the rest is spun.
      timeout_ms = wait_ns > 2000000 ? static_cast<int>(wait_ns / 1000000) - 1 : 0;
      n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    }
    for (int i = 0; i < n; ++i) {
      Connection& c = conns[events[static_cast<size_t>(i)].data.u32];
      if (c.fd < 0) continue;
      if (events[static_cast<size_t>(i)].events & EPOLLOUT) {
        if (!flush(c)) {
          fail(c);
          continue;
        }
      }
      if (events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        // Edge-triggered: a read shorter than the buffer emptied the socket, and data that
        // arrives after it raises a new edge, so no read is spent on EAGAIN. A response read
        // whole in one go is parsed in place, without a copy.
        std::string_view data;
        for (;;) {
          const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
          if (got > 0) {
            if (c.in.empty() && static_cast<size_t>(got) < sizeof buf) {
              data = std::string_view(buf, static_cast<size_t>(got));
              break;
            }
            c.in.append(buf, static_cast<size_t>(got));
            if (static_cast<size_t>(got) < sizeof buf) break;
            continue;
          }
          if (got == 0 || (errno != EAGAIN && errno != EINTR)) fail(c);
          break;
        }
        if (c.fd < 0) continue;
        if (data.empty()) data = c.in;
        int status = 0;
        const long len = ParseResponse(data, &status);
        if (len < 0) {
          fail(c);
          continue;
        }
        size_t used = 0;
        if (len > 0 && c.inflight_due != 0) {
          used = static_cast<size_t>(len);
          const int64_t done = NowNs();
          if (c.inflight_due >= measure_from) {
            r->hist.Record(static_cast<uint64_t>(std::max<int64_t>(0, done - c.inflight_due)));
            ++r->completed;
            ++r->statuses[status];
            if (status >= 200 && status < 300) {
              ++r->status_2xx;
            } else {
              ++r->status_other;
            }
          }
          c.inflight_due = 0;
        }
        // What is left after the response (or all of it, when incomplete) waits in c.in.
        if (data.data() == c.in.data()) {
          c.in.erase(0, used);
        } else if (used < data.size()) {
          c.in.assign(data.substr(used));
        }
      }
    }
    if (!have_pwait2 && n == 0 && wait_ns > 0 && timeout_ms == 0) {
      // Spin-sleep the last few hundred µs.
      const int64_t target = earliest;
      while (NowNs() < target) std::this_thread::yield();
    }
  }
  const int64_t end = NowNs();
  for (Connection& c : conns) {
    if (c.fd < 0) continue;
    if (o.closed) {
      if (c.inflight_due != 0) ++r->inflight_at_end;
    } else {
      // Requests due before the end that never completed.
      if (c.inflight_due != 0) ++r->late_at_end;
      for (int64_t due = c.next_due; due < std::min(end, stop); due += c.interval_ns) {
        ++r->late_at_end;
      }
    }
    ::close(c.fd);
  }
  ::close(ep);
}

bool ParseUrl(const std::string& url, Options* o, std::string* error) {
  const std::string prefix = "http://";
  if (url.compare(0, prefix.size(), prefix) != 0) {
    *error = "--url must start with http://";
    return false;
  }
  const std::string rest = url.substr(prefix.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  o->path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos) {
    *error = "--url needs a port";
    return false;
  }
  o->host = authority.substr(0, colon);
  o->port = std::atoi(authority.c_str() + colon + 1);
  if (o->host != "127.0.0.1" || o->port <= 0 || o->port > 65535) {
    *error = "--url must be http://127.0.0.1:PORT/... (loopback only)";
    return false;
  }
  return true;
}

void Usage() {
  std::fprintf(stderr,
               "usage: loadgen --url http://127.0.0.1:PORT/PATH --rate R [--duration S] "
               "[--warmup S] [--connections N] [--threads T] [--tokens FILE] [--json OUT] "
               "[--closed] [--spin] [--watch NAME=PID[,PID...]]... [--unix PATH]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") url = next();
    else if (a == "--rate") o.rate = std::atof(next().c_str());
    else if (a == "--duration") o.duration_s = std::atof(next().c_str());
    else if (a == "--warmup") o.warmup_s = std::atof(next().c_str());
    else if (a == "--connections") o.connections = std::atoi(next().c_str());
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--tokens") o.tokens_file = next();
    else if (a == "--json") o.json_out = next();
    else if (a == "--closed") o.closed = true;
    else if (a == "--spin") o.spin = true;
    else if (a == "--unix") o.unix_path = next();
    else if (a == "--watch") {
      const std::string spec = next();
      const size_t eq = spec.find('=');
      std::vector<int> pids;
      if (eq != std::string::npos && eq > 0) {
        std::istringstream list(spec.substr(eq + 1));
        for (std::string p; std::getline(list, p, ',');) {
          if (std::atoi(p.c_str()) > 0) pids.push_back(std::atoi(p.c_str()));
        }
      }
      if (pids.empty()) {
        std::fprintf(stderr, "loadgen: --watch wants NAME=PID[,PID...], got '%s'\n",
                     spec.c_str());
        return 2;
      }
      o.watch.push_back({spec.substr(0, eq), std::move(pids), 0, {}});
    }
    else {
      Usage();
      return 2;
    }
  }
  std::string error;
  if (url.empty() || !ParseUrl(url, &o, &error) || o.rate <= 0 || o.duration_s <= 0 ||
      o.connections < 1 || o.threads < 1 || o.threads > o.connections) {
    if (!error.empty()) std::fprintf(stderr, "loadgen: %s\n", error.c_str());
    Usage();
    return 2;
  }
  std::vector<std::string> tokens;
  if (!o.tokens_file.empty()) {
    std::ifstream in(o.tokens_file);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) tokens.push_back(line);
    }
    if (tokens.empty()) {
      std::fprintf(stderr, "loadgen: no tokens in %s\n", o.tokens_file.c_str());
      return 2;
    }
  }

  const int64_t start = NowNs() + 50000000;  // connections are set up first
  const int64_t measure_from = start + static_cast<int64_t>(o.warmup_s * 1e9);
  const int64_t stop = measure_from + static_cast<int64_t>(o.duration_s * 1e9);
  std::vector<Result> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  int first = 0;
  for (int t = 0; t < o.threads; ++t) {
    const int n = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    threads.emplace_back(RunThread, std::cref(o), std::cref(tokens), first, n, start,
                         measure_from, stop, &results[static_cast<size_t>(t)]);
    first += n;
  }
  // CPU of every process involved over the measured window, sampled at its edges.
  const std::vector<jwtgate::bench::ProcessGroup> groups = MeasuredGroups(o);
  std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(measure_from)));
  const jwtgate::bench::NoiseSample noise0 = jwtgate::bench::SampleNoise(groups);
  std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(stop)));
  const jwtgate::bench::NoiseSample noise1 = jwtgate::bench::SampleNoise(groups);
  const std::map<std::string, double>& cpu0 = noise0.cpu_s;
  const std::map<std::string, double>& cpu1 = noise1.cpu_s;
  const std::map<std::string, long> rss = jwtgate::bench::SampleResidentKib(groups);
  for (auto& t : threads) t.join();
  Result total;
  for (const Result& r : results) {
    total.hist.Merge(r.hist);
    total.completed += r.completed;
    total.status_2xx += r.status_2xx;
    total.status_other += r.status_other;
    total.errors += r.errors;
    total.late_at_end += r.late_at_end;
    total.inflight_at_end += r.inflight_at_end;
    for (const auto& [s, n] : r.statuses) total.statuses[s] += n;
  }
  const auto& h = total.hist;
  auto us = [&](double p) { return static_cast<double>(h.ValueAtPercentile(p)) / 1000.0; };
  std::ostringstream j;
  j.precision(6);
  j << "{\n  \"generator\": \""
    << (o.closed ? "loadgen (closed loop, service time from the send)"
                 : "loadgen (open loop, latency from intended send time)")
    << "\",\n"
    << "  \"mode\": \"" << (o.closed ? "closed" : "open") << "\",\n"
    << "  \"url\": \"" << url << "\",\n";
  if (!o.unix_path.empty()) j << "  \"unix\": \"" << o.unix_path << "\",\n";
  if (!o.closed) j << "  \"offered_rate\": " << o.rate << ",\n";
  j << "  \"achieved_rate\": " << static_cast<double>(total.completed) / o.duration_s << ",\n"
    << "  \"duration_s\": " << o.duration_s << ",\n  \"warmup_s\": " << o.warmup_s << ",\n"
    << "  \"connections\": " << o.connections << ",\n  \"threads\": " << o.threads << ",\n"
    << "  \"completed\": " << total.completed << ",\n"
    << "  \"status_2xx\": " << total.status_2xx << ",\n"
    << "  \"status_other\": " << total.status_other << ",\n"
    << "  \"errors\": " << total.errors << ",\n"
    << "  \"late_at_end\": " << total.late_at_end << ",\n"
    << "  \"inflight_at_end\": " << total.inflight_at_end << ",\n"
    << "  \"window_s\": " << o.duration_s << ",\n"
    << "  \"cpu_s\": {";
  {
    bool first_cpu = true;
    for (const auto& [name, c1] : cpu1) {
      const auto it = cpu0.find(name);
      const double d = it != cpu0.end() && it->second >= 0 && c1 >= 0 ? c1 - it->second : 0.0;
      j << (first_cpu ? "" : ", ") << "\"" << name << "\": " << d;
      first_cpu = false;
    }
    j << "},\n  \"rss_kib\": {";
    first_cpu = true;
    for (const auto& [name, kib] : rss) {
      j << (first_cpu ? "" : ", ") << "\"" << name << "\": " << kib;
      first_cpu = false;
    }
  }
  j << "},\n"
    << "  \"latency_us\": {\"p50\": " << us(50) << ", \"p90\": " << us(90)
    << ", \"p99\": " << us(99) << ", \"p99_9\": " << us(99.9) << ", \"p99_99\": " << us(99.99)
    << ", \"max\": " << static_cast<double>(h.max()) / 1000.0
    << ", \"mean\": " << h.mean() / 1000.0 << "},\n"
    << "  \"hgrm\": [";
  // .hgrm-style spectrum: value (µs), percentile, total count, 1/(1-percentile).
  bool first_row = true;
  for (double p : {0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5, 80.0,
                   82.5, 85.0, 87.5, 88.75, 90.0, 91.25, 92.5, 93.75, 94.375, 95.0, 95.625,
                   96.25, 96.875, 97.1875, 97.5, 97.8125, 98.125, 98.4375, 98.59375, 98.75,
                   98.90625, 99.0, 99.21875, 99.375, 99.53125, 99.6094, 99.6875, 99.7656,
                   99.8047, 99.8437, 99.8828, 99.9, 99.9219, 99.9414, 99.9609, 99.9707,
                   99.9805, 99.99, 99.999, 100.0}) {
    j << (first_row ? "" : ",") << "\n    [" << us(p) << ", " << p / 100.0 << ", "
      << static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total.completed)))
      << ", " << (p < 100.0 ? 1.0 / (1.0 - p / 100.0) : 0.0) << "]";
    first_row = false;
  }
  j << "\n  ],\n  \"statuses\": {";
  first_row = true;
  for (const auto& [s, n] : total.statuses) {
    j << (first_row ? "" : ", ") << "\"" << s << "\": " << n;
    first_row = false;
  }
  j << "},\n  \"noise\": " << NoiseJson(jwtgate::bench::NoiseBetween(noise0, noise1, o.duration_s)) << "\n}\n";
  std::fputs(j.str().c_str(), stdout);
  if (!o.json_out.empty()) std::ofstream(o.json_out) << j.str();
  return total.errors == 0 ? 0 : 1;
}
