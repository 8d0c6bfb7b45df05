#include "e2e.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "proc_stats.h"
#include "progress.h"
#include "strategies.h"

namespace jwtgate::bench {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double LoadAverage1() {
  std::ifstream in("/proc/loadavg");
  double a = 0;
  in >> a;
  return a;
}

// ---------------------------------------------------------------------------------------------
// Child processes. Every pid in g_children is stopped by StopE2eChildren (a signal) or by the
// ChildProcess that owns it (every other exit path).

std::mutex g_children_mu;
std::vector<pid_t> g_children;  // guarded by g_children_mu

void Register(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_children_mu);
  g_children.push_back(pid);
}

void Unregister(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_children_mu);
  g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
}

class ChildProcess {
 public:
  // Starts argv[0] with stdout and stderr appended to `log_path`. Throws std::runtime_error.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
      if (log_fd >= 0) ::close(log_fd);
      if (null_fd >= 0) ::close(null_fd);
      throw std::runtime_error("cannot open " + log_path);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec (the parent has threads).
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent blocks INT/TERM/HUP
      signal(SIGPIPE, SIG_DFL);                  // the parent ignores it
      dup2(null_fd, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execv(args[0], args.data());
      _exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    Register(pid_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(SIGTERM, 15.0); }

  pid_t pid() const { return pid_; }

  // True while the process runs; reaps it when it has exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    Reaped(status);
    return false;
  }

  // Waits up to `timeout_s` for the process to exit by itself; then stops it. Returns its
  // exit status (128 + signal when killed).
  int Wait(double timeout_s) {
    const auto t0 = Clock::now();
    while (Running() && SecondsSince(t0) < timeout_s) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pid_ > 0) Stop(SIGTERM, 5.0);
    return exit_status_;
  }

  // Sends `sig`, waits up to `grace_s`, then SIGKILL.
  void Stop(int sig, double grace_s) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    const auto t0 = Clock::now();
    while (Running() && SecondsSince(t0) < grace_s) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      Reaped(status);
    }
  }

  int exit_status() const { return exit_status_; }

 private:
  void Reaped(int status) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    Unregister(pid_);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Loopback helpers.

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

// One GET on a new connection; returns the status (0 on failure) and the body.
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

// Waits until something accepts connections on `port`, or the process exits, or the timeout.
void WaitListening(ChildProcess& p, int port, double timeout_s, const std::string& what,
                   const std::string& log) {
  const auto t0 = Clock::now();
  while (SecondsSince(t0) < timeout_s) {
    if (!p.Running()) {
      throw std::runtime_error(what + " exited with status " + std::to_string(p.exit_status()) +
                               " before listening; see " + log);
    }
    const int fd = ConnectLoopback(port, 1.0);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error(what + " did not listen on port " + std::to_string(port) + " within " +
                           std::to_string(static_cast<int>(timeout_s)) + " s; see " + log);
}

// First line of `command`'s output (stdout and stderr), or empty.
std::string FirstLine(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {};
  char buf[256] = {};
  const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  pclose(p);
  std::string line = got ? buf : "";
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Prometheus text: the samples of the families in `names` (labels kept in the key).
std::map<std::string, double> ParseMetrics(const std::string& text,
                                           const std::vector<std::string>& names) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const std::string key = line.substr(0, sp);
    const std::string name = key.substr(0, key.find('{'));
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    out[key] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return out;
}

const std::vector<std::string> kMetricNames = {
    "jwtgate_auth_requests_total",        "jwtgate_cache_hits_total",
    "jwtgate_cache_misses_total",         "jwtgate_cache_entries",
    "jwtgate_revocation_jti_entries",     "jwtgate_revocation_subject_watermarks",
    "jwtgate_revocation_filter_bytes",    "jwtgate_revocation_exact_bytes",
    "jwtgate_pipeline_workers",           "jwtgate_pipeline_completed_total",
    "jwtgate_overload_rejections_total",  "process_resident_memory_bytes"};

// ---------------------------------------------------------------------------------------------
// Servers.

struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string group;                // "daemon" or "nginx"
  std::vector<int> pids;            // for the CPU and memory accounting
  int port = 0;                     // where the load goes
  int admin_port = 0;               // jwtgated only
  double start_seconds = 0;         // start to listening (and ready)
  double recovery_seconds = -1;     // jwtgated's revocation recovery, from its log
  std::string log;
  std::string description;
  Json config;
};

struct DaemonSpec {
  std::string jwks;
  size_t cache_entries = 0;
  std::string revocation_dir;  // empty: none
};

Server StartDaemon(const E2eOptions& o, const DaemonSpec& d, const std::string& label) {
  Server s;
  s.group = "daemon";
  s.port = FreePort();
  s.admin_port = FreePort();
  const std::string cfg = o.workdir + "/" + label + ".yaml";
  std::ostringstream y;
  y << "auth: {listen: \"127.0.0.1:" << s.port << "\", path_prefix: /auth}\n"
    << "admin: {listen: \"127.0.0.1:" << s.admin_port << "\"}\n"
    << "issuers: [{issuer: \"" << kIssuer << "\", jwks_file: \"" << d.jwks << "\"}]\n"
    << "verify: {audiences: [\"" << kAudience << "\"], leeway_seconds: " << kLeewayS << "}\n"
    << "cache: {entries: " << d.cache_entries << "}\n"
    << "pipeline: {workers: " << o.daemon_workers << ", inline: " << o.inline_verify << "}\n"
    << "io_threads: " << o.io_threads << "\n"
    << "http: {max_connections: 10000}\n";
  if (!d.revocation_dir.empty()) y << "revocation: {dir: \"" << d.revocation_dir << "\"}\n";
  WriteFile(cfg, y.str());
  s.log = o.workdir + "/" + label + ".log";
  std::filesystem::remove(s.log);
  s.config = Json{{"file", cfg},
                  {"cache_entries", d.cache_entries},
                  {"revocation_dir", d.revocation_dir.empty() ? Json(nullptr) : Json(d.revocation_dir)},
                  {"workers", o.daemon_workers},
                  {"io_threads", o.io_threads},
                  {"inline", o.inline_verify}};
  s.description = "jwtgated: io_threads " + std::to_string(o.io_threads) + ", workers " +
                  (o.daemon_workers == 0 ? std::string("one per core")
                                         : std::to_string(o.daemon_workers)) +
                  ", inline " + o.inline_verify + ", cache " +
                  (d.cache_entries == 0 ? std::string("off")
                                        : std::to_string(d.cache_entries) + " entries") +
                  (d.revocation_dir.empty() ? "" : ", revocation state");
  const auto t0 = Clock::now();
  s.process = std::make_unique<ChildProcess>(std::vector<std::string>{o.jwtgated, "--config", cfg},
                                             s.log);
  WaitListening(*s.process, s.port, o.start_timeout_s, "jwtgated", s.log);
  // Ready: the admin API answers /readyz with 200.
  for (;;) {
    if (HttpGet(s.admin_port, "/readyz", nullptr) == 200) break;
    if (!s.process->Running() || SecondsSince(t0) > o.start_timeout_s) {
      throw std::runtime_error("jwtgated never became ready; see " + s.log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  s.start_seconds = SecondsSince(t0);
  s.pids = {s.process->pid()};
  const std::string log = ReadFile(s.log);
  const size_t at = log.find("recovered in ");
  if (at != std::string::npos) s.recovery_seconds = std::strtod(log.c_str() + at + 13, nullptr);
  return s;
}

Server StartNginx(const E2eOptions& o) {
  Server s;
  s.group = "nginx";
  s.port = FreePort();
  const std::string d = o.workdir + "/nginx";
  for (const char* sub : {"logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    std::filesystem::create_directories(d + "/" + sub);
  }
  std::ostringstream c;
  c << "worker_processes auto;\ndaemon off;\npid " << d << "/nginx.pid;\n"
    << "error_log " << d << "/logs/error.log warn;\n"
    << "events { worker_connections 4096; }\n"
    << "http {\n  access_log off;\n"
    << "  client_body_temp_path " << d << "/body; proxy_temp_path " << d << "/proxy;\n"
    << "  fastcgi_temp_path " << d << "/fastcgi; uwsgi_temp_path " << d << "/uwsgi;\n"
    << "  scgi_temp_path " << d << "/scgi;\n"
    << "  keepalive_requests 1000000;\n"
    << "  server {\n    listen 127.0.0.1:" << s.port << " reuseport;\n"
    << "    location / { return 200; }\n  }\n}\n";
  const std::string conf = d + "/nginx.conf";
  WriteFile(conf, c.str());
  s.log = d + "/logs/stderr.log";
  s.config = Json{{"file", conf}, {"worker_processes", "auto"}, {"location", "return 200"}};
  s.description = "nginx worker_processes auto, location / { return 200; }";
  const auto t0 = Clock::now();
  s.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{o.nginx, "-p", d, "-e", d + "/logs/error.log", "-c", conf}, s.log);
  WaitListening(*s.process, s.port, 30, "nginx", s.log);
  s.start_seconds = SecondsSince(t0);
  // The master and its workers, once the workers are up.
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<int> workers;
  for (int i = 0; i < 100 && workers.size() < cores; ++i) {
    workers = ChildrenOf(s.process->pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.pids = {s.process->pid()};
  s.pids.insert(s.pids.end(), workers.begin(), workers.end());
  return s;
}

// ---------------------------------------------------------------------------------------------
// Load.

Json RunLoadgen(const E2eOptions& o, const Server& s, const std::string& tokens, bool closed,
                double rate, double duration_s, double warmup_s, const std::string& out) {
  std::string watch = s.group + "=";
  for (size_t i = 0; i < s.pids.size(); ++i) {
    if (i > 0) watch += ',';
    watch += std::to_string(s.pids[i]);
  }
  std::vector<std::string> argv = {o.loadgen,
                                   "--url",
                                   "http://127.0.0.1:" + std::to_string(s.port) + "/auth",
                                   "--duration",
                                   std::to_string(duration_s),
                                   "--warmup",
                                   std::to_string(warmup_s),
                                   "--connections",
                                   std::to_string(o.connections),
                                   "--threads",
                                   std::to_string(std::min(o.client_threads, o.connections)),
                                   "--tokens",
                                   tokens,
                                   "--watch",
                                   watch,
                                   "--json",
                                   out};
  if (closed) {
    argv.push_back("--closed");
  } else {
    argv.push_back("--rate");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", rate);
    argv.push_back(buf);
  }
  std::filesystem::remove(out);
  ChildProcess p(argv, out + ".log");
  const int rc = p.Wait(warmup_s + duration_s + 30.0);
  std::string text = ReadFile(out);
  if (text.empty()) {
    throw std::runtime_error("loadgen exited with " + std::to_string(rc) +
                             " and wrote no result; see " + out + ".log");
  }
  Json j = Json::parse(text);
  j.erase("hgrm");
  std::string command;
  for (const std::string& a : argv) {
    if (!command.empty()) command += ' ';
    command += a;
  }
  j["command"] = command;
  return j;
}

// The loadgen result in the in-process mode's layout (strategies.json rows).
Json LoadJson(const Json& lg, bool closed, double offered) {
  const double window = lg.value("window_s", 0.0);
  const uint64_t requests = lg.value("completed", uint64_t{0});
  const uint64_t non_2xx = lg.value("status_other", uint64_t{0});
  const uint64_t socket_errors = lg.value("errors", uint64_t{0});
  const double rps = window > 0 ? static_cast<double>(requests) / window : 0.0;
  Json j;
  if (!closed) j["offered_rps"] = Round(offered, 1);
  j["window_s"] = Round(window, 3);
  j["requests"] = requests;
  j["errors"] = non_2xx + socket_errors;
  j["non_2xx"] = non_2xx;
  j["socket_errors"] = socket_errors;
  if (!closed) j["unsent"] = lg.value("late_at_end", uint64_t{0});
  j[closed ? "throughput_rps" : "achieved_rps"] = Round(rps, 1);
  if (!closed) {
    // A few requests of a 64-connection schedule can be behind when the window closes on a
    // busy machine; more than 0.1 % of the window's requests is a server that did not keep up.
    const double unsent = static_cast<double>(lg.value("late_at_end", uint64_t{0}));
    j["saturated"] = unsent > 0.001 * offered * window || rps < 0.95 * offered;
  }
  const Json& l = lg["latency_us"];
  j[closed ? "service_time_us" : "latency_us"] =
      Json{{"p50", l.value("p50", 0.0)},   {"p90", l.value("p90", 0.0)},
           {"p99", l.value("p99", 0.0)},   {"p999", l.value("p99_9", 0.0)},
           {"max", l.value("max", 0.0)},   {"mean", Round(l.value("mean", 0.0), 3)},
           {"samples", requests}};
  Json per_million = Json::object();
  Json busy = Json::object();
  double total = 0;
  for (const auto& [name, v] : lg["cpu_s"].items()) {
    const double seconds = v.get<double>();
    total += seconds;
    per_million[name] = requests > 0 ? Round(seconds / static_cast<double>(requests) * 1e6, 3) : 0.0;
    busy[name] = window > 0 ? Round(seconds / window, 3) : 0.0;
  }
  per_million["total"] = requests > 0 ? Round(total / static_cast<double>(requests) * 1e6, 3) : 0.0;
  busy["total"] = window > 0 ? Round(total / window, 3) : 0.0;
  j["cpu_s_per_million"] = per_million;
  j["cpu_cores_busy"] = busy;
  j["statuses"] = lg["statuses"];
  j["loadgen_command"] = lg["command"];
  return j;
}

bool RowSelected(const E2eOptions& o, const std::string& key) {
  if (o.rows.empty()) return true;
  for (const std::string& p : o.rows) {
    if (key.rfind(p, 0) == 0) return true;
  }
  return false;
}

std::string TokenFile(const E2eOptions& o, const TokenPool& pool) {
  const std::string path = o.workdir + "/tokens-" + std::string(AlgName(pool.alg)) + ".txt";
  std::string text;
  for (const std::string& t : pool.tokens) text += t + "\n";
  WriteFile(path, text);
  return path;
}

std::string JwksFile(const E2eOptions& o, const TokenPool& pool) {
  const std::string path = o.workdir + "/jwks-" + std::string(AlgName(pool.alg)) + ".json";
  WriteFile(path, "{\"keys\":[" + pool.public_jwk + "]}\n");
  return path;
}

Json MethodJson(const E2eOptions& o) {
  return Json{
      {"mode", "e2e"},
      {"e2e",
       "each row runs through a server on 127.0.0.1 started for that row: jwtgated (one issuer "
       "with the row's key; cache and revocation state as the row says) or, for S0, nginx "
       "answering `return 200`; the load generator (bench/loadgen) sends GET /auth with "
       "Authorization: Bearer <token> on keep-alive connections, cycling through the row's "
       "token pool. Client, server and harness share the machine's cores"},
      {"closed_loop",
       "loadgen --closed: every connection sends its next request as soon as the previous one "
       "is answered, for duration_s after warmup_s; throughput_rps = 2xx and non-2xx answers "
       "in the window / window; service_time_us is send-to-answer time, not a latency under "
       "load"},
      {"open_loop",
       "loadgen at a fixed offered rate = fraction x the row's closed-loop throughput, evenly "
       "spaced intended send times per connection; latency_us from the INTENDED send time (no "
       "coordinated omission; wrk2's method); unsent = requests due in the window that were "
       "never sent or were still unanswered 1 s after it (not in the histogram); saturated = "
       "unsent > 0.1% of the window's offered requests or achieved < 95% of offered"},
      {"cpu",
       "utime+stime deltas from /proc/<pid>/stat over the load generator's measured window, "
       "sampled by it: client (the load generator), daemon (jwtgated, all threads) or nginx "
       "(master and workers); cpu_s_per_million = CPU microseconds per request; resolution "
       "1/CLK_TCK s per process"},
      {"memory",
       "VmRSS of the server (and of the load generator) at the end of the closed-loop window; "
       "for jwtgated also its own process_resident_memory_bytes and revocation and cache "
       "gauges from its /metrics"},
      {"errors", "non-2xx answers plus connection errors; every request carries a valid token"},
      {"settings",
       Json{{"connections", o.connections},
            {"client_threads", o.client_threads},
            {"daemon_workers", o.daemon_workers == 0 ? Json("one per core") : Json(o.daemon_workers)},
            {"daemon_io_threads", o.io_threads},
            {"daemon_inline", o.inline_verify},
            {"s7_cache_entries", o.cache_entries}}},
  };
}

}  // namespace

void StopE2eChildren() {
  std::lock_guard<std::mutex> lock(g_children_mu);
  for (pid_t pid : g_children) ::kill(pid, SIGTERM);
}

Json RunE2e(const E2eOptions& o) {
  g_quiet = o.quiet;
  const auto run_start = Clock::now();
  for (const std::string* exe : {&o.jwtgated, &o.loadgen}) {
    if (access(exe->c_str(), X_OK) != 0) {
      throw std::runtime_error(*exe + " is not an executable (build the jwtgated and loadgen "
                                      "targets, or give --jwtgated / --loadgen)");
    }
  }
  const bool have_nginx = !o.nginx.empty() && access(o.nginx.c_str(), X_OK) == 0;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));

  Json doc;
  doc["schema"] = "jwtgate.strategies.e2e/1";
  doc["title"] = "The strategies jwtgated serves, end to end over HTTP on loopback";
  doc["method"] = MethodJson(o);
  doc["config"] = Json{{"duration_s", o.duration_s},
                       {"open_duration_s", o.open_duration_s},
                       {"warmup_s", o.warmup_s},
                       {"rate_fractions", o.rate_fractions},
                       {"connections", o.connections},
                       {"client_threads", o.client_threads},
                       {"tokens_per_alg", o.tokens},
                       {"tokens_per_rsa_alg", o.rsa_tokens},
                       {"revoked", o.revoked},
                       {"watermarks", o.watermarks},
                       {"jwt_alg", AlgName(o.jwt_alg)},
                       {"seed", o.seed},
                       {"closed_only", o.closed_only}};
  doc["programs"] = Json{{"jwtgated", o.jwtgated},
                         {"loadgen", o.loadgen},
                         {"nginx", have_nginx ? Json(o.nginx) : Json(nullptr)},
                         {"nginx_version", have_nginx ? Json(FirstLine(o.nginx + " -v"))
                                                      : Json(nullptr)}};
  doc["loadavg_1m_at_start"] = LoadAverage1();

  // Token pools: the S1 algorithms and the S2/S7 one.
  Json setup;
  Environment env;
  env.now = now;
  env.jwt_alg = o.jwt_alg;
  std::vector<Alg> needed;
  for (Alg a : o.algs) {
    if (RowSelected(o, "S1." + std::string(AlgName(a)))) needed.push_back(a);
  }
  const std::string jwt_name(AlgName(o.jwt_alg));
  const bool want_revocation = RowSelected(o, "S2." + jwt_name) || RowSelected(o, "S7." + jwt_name);
  if ((want_revocation || RowSelected(o, "S0")) &&
      std::find(needed.begin(), needed.end(), o.jwt_alg) == needed.end()) {
    needed.push_back(o.jwt_alg);
  }
  Json tokens = Json::object();
  std::map<Alg, std::string> token_files, jwks_files;
  for (Alg a : needed) {
    const bool rsa = FamilyOf(a) == AlgFamily::kRsaPkcs1 || FamilyOf(a) == AlgFamily::kRsaPss;
    const size_t n = rsa && a != o.jwt_alg ? o.rsa_tokens : o.tokens;
    Progress("  tokens: %zu %s ...", n, AlgName(a).data());
    TokenPool pool = MakeTokenPool(a, n, now, o.threads, o.seed);
    Progress(" %.1f s\n", pool.sign_seconds);
    token_files[a] = TokenFile(o, pool);
    jwks_files[a] = JwksFile(o, pool);
    tokens[std::string(AlgName(a))] = Json{{"count", n},
                                           {"sign_seconds", Round(pool.sign_seconds, 3)},
                                           {"mean_token_bytes", Round(pool.mean_token_bytes, 1)}};
    env.pools.emplace(a, std::move(pool));
  }
  setup["tokens"] = tokens;

  // The revocation state jwtgated recovers for S2 and S7.
  std::string revocation_dir;
  std::string revocation_error;
  if (want_revocation) {
    revocation_dir = o.workdir + "/revocations";
    Progress("  revocations: %zu jtis + %zu subject watermarks (sync off) ...\n", o.revoked,
             o.watermarks);
    try {
      RevocationFixture f = MakeRevocationStore(revocation_dir, o.revoked, o.watermarks,
                                                env.pools.at(o.jwt_alg), now, o.seed, o.threads,
                                                nullptr);
      const RevocationStats st = f.store->Stats();
      setup["revocation"] = Json{{"dir", revocation_dir},
                                 {"revoked_jtis", f.revoked},
                                 {"subject_watermarks", f.watermarks},
                                 {"insert_seconds", Round(f.insert_seconds, 3)},
                                 {"filter_bytes", st.filter_bytes},
                                 {"exact_bytes", st.exact_bytes},
                                 {"watermark_bytes", st.watermark_bytes},
                                 {"log_bytes", st.log_bytes}};
      Progress("  revocations: %.1f s; closing the store for jwtgated to recover\n",
               f.insert_seconds);
      f.store.reset();
    } catch (const std::exception& e) {
      revocation_error = e.what();
      setup["revocation"] = Json{{"error", revocation_error}};
      Progress("  revocations: FAILED: %s\n", e.what());
    }
  }
  doc["setup"] = setup;

  // Rows, in the in-process mode's order and with its keys.
  std::vector<RowSpec> specs = MakeRows(env, o.algs);
  std::vector<RowSpec*> rows;
  for (RowSpec& r : specs) {
    if (RowSelected(o, r.key)) rows.push_back(&r);
  }
  Json rows_json = Json::array();
  size_t index = 0;
  for (RowSpec* row : rows) {
    ++index;
    Json j;
    j["key"] = row->key;
    j["id"] = row->id;
    j["name"] = row->name;
    j["variant"] = row->variant;
    j["alg"] = row->alg.empty() ? Json(nullptr) : Json(row->alg);
    j["backend"] = row->backend.empty() ? Json(nullptr) : Json(row->backend);
    j["mode"] = "e2e";
    Progress("[e2e %2zu/%zu] %-22s ", index, rows.size(), row->key.c_str());

    // What serves the row.
    std::string tokens_file;
    DaemonSpec spec;
    std::string not_measured;
    if (row->id == "S0") {
      j["name"] = "no check (HTTP floor)";
      j["variant"] = "nginx return 200";
      j["description"] = "nginx `location / { return 200; }` answering the same requests "
                         "(token header included) with the same load settings: the HTTP "
                         "floor, no check";
      if (!have_nginx) not_measured = "nginx is not installed (" + o.nginx + ")";
      tokens_file = token_files.count(o.jwt_alg) ? token_files[o.jwt_alg] : "";
    } else if (row->id == "S1" || row->id == "S2" || row->id == "S7") {
      Alg a;
      AlgFromName(row->alg, &a);
      tokens_file = token_files.count(a) ? token_files[a] : "";
      spec.jwks = jwks_files.count(a) ? jwks_files[a] : "";
      spec.cache_entries = row->id == "S7" ? o.cache_entries : 0;
      if (row->id != "S1") spec.revocation_dir = revocation_dir;
      j["description"] =
          row->id == "S1" ? "jwtgated verifies every request (verified-token cache off): parse, "
                            "key by (kid, alg), " + row->alg + " signature, claims policy"
          : row->id == "S2"
              ? "jwtgated as S1 with the revocation state recovered from disk (" +
                    std::to_string(o.revoked) + " revoked jtis, " +
                    std::to_string(o.watermarks) + " subject watermarks), cache off"
              : "jwtgated as S2 with the verified-token cache on (" +
                    std::to_string(o.cache_entries) +
                    " entries; the token pool fits, so after the warm-up requests hit it)";
      if (row->id != "S1" && !revocation_error.empty()) {
        not_measured = "revocation state set-up failed: " + revocation_error;
      }
    } else {
      j["description"] = row->description;
      not_measured =
          "jwtgated has no " +
          std::string(row->backend == "redis"        ? "Redis"
                      : row->backend == "postgresql" ? "PostgreSQL"
                                                     : "SQLite") +
          (row->id == "S3" ? " denylist" : " session") + " backend (in-process row only)";
    }
    if (!not_measured.empty()) {
      j["measured"] = false;
      j["status"] = "not measured";
      j["reason"] = not_measured;
      Progress("not measured: %s\n", not_measured.c_str());
      rows_json.push_back(j);
      continue;
    }
    j["measured"] = true;
    try {
      Server server = row->id == "S0" ? StartNginx(o) : StartDaemon(o, spec, row->key);
      j["server"] = Json{{"program", row->id == "S0" ? "nginx" : "jwtgated"},
                         {"description", server.description},
                         {"pids", server.pids},
                         {"start_seconds", Round(server.start_seconds, 3)},
                         {"config", server.config}};
      if (server.recovery_seconds >= 0) {
        j["server"]["revocation_recovery_seconds"] = server.recovery_seconds;
      }
      j["loadavg_1m_at_start"] = LoadAverage1();
      std::string text;
      std::map<std::string, double> m0, m1;
      if (server.admin_port != 0 && HttpGet(server.admin_port, "/metrics", &text) == 200) {
        m0 = ParseMetrics(text, kMetricNames);
      }
      const std::string base = o.workdir + "/" + row->key;
      Progress("closed %.1fs ", o.duration_s);
      const Json closed_lg = RunLoadgen(o, server, tokens_file, true, 0, o.duration_s,
                                        o.warmup_s, base + ".closed.json");
      if (server.admin_port != 0 && HttpGet(server.admin_port, "/metrics", &text) == 200) {
        m1 = ParseMetrics(text, kMetricNames);
      }
      const Json closed = LoadJson(closed_lg, true, 0);
      j["closed_loop"] = closed;
      const double max_rps = closed["throughput_rps"].get<double>();
      Json mem = Json::object();
      for (const auto& [name, kib] : closed_lg["rss_kib"].items()) {
        mem[name == "client" ? "client" : server.group] = Json{{"rss_kib", kib}};
      }
      j["memory"] = mem;
      if (!m1.empty()) {
        Json metrics = Json::object();
        for (const auto& [k, v] : m1) metrics[k] = v;
        Json window = Json::object();
        for (const char* counter : {"jwtgate_cache_hits_total", "jwtgate_cache_misses_total",
                                    "jwtgate_pipeline_completed_total"}) {
          if (m1.count(counter)) window[counter] = m1[counter] - m0[counter];
        }
        const double hits = window.value("jwtgate_cache_hits_total", 0.0);
        const double misses = window.value("jwtgate_cache_misses_total", 0.0);
        if (hits + misses > 0) window["cache_hit_ratio"] = Round(hits / (hits + misses), 5);
        j["daemon_metrics"] = Json{{"after_closed_loop", metrics},
                                   {"closed_loop_window", window}};
      }
      Progress("%9.0f req/s  %7.2f us CPU/req", max_rps,
               closed["cpu_s_per_million"]["total"].get<double>());
      Json open = Json::array();
      if (max_rps > 0 && !o.closed_only) {
        for (double f : o.rate_fractions) {
          char tag[32];
          std::snprintf(tag, sizeof tag, ".open%.0f.json", f * 100);
          const Json lg = RunLoadgen(o, server, tokens_file, false, f * max_rps,
                                     o.open_duration_s, o.warmup_s, base + tag);
          Json oj = LoadJson(lg, false, f * max_rps);
          oj["fraction_of_max"] = f;
          Progress(" | %2.0f%%: p50 %.0f p99 %.0f us", f * 100,
                   oj["latency_us"]["p50"].get<double>(), oj["latency_us"]["p99"].get<double>());
          open.push_back(oj);
        }
      }
      Progress("\n");
      j["open_loop"] = open;
      uint64_t errors = closed["errors"].get<uint64_t>();
      for (const Json& x : open) errors += x["errors"].get<uint64_t>();
      server.process->Stop(row->id == "S0" ? SIGQUIT : SIGTERM, 15.0);
      j["server"]["exit_status"] = server.process->exit_status();
      j["status"] = errors == 0 && closed["requests"].get<uint64_t>() > 0 ? "ok" : "errors";
      if (errors != 0) j["log"] = server.log;
    } catch (const std::exception& e) {
      j["status"] = "failed";
      j["reason"] = e.what();
      Progress("failed: %s\n", e.what());
    }
    rows_json.push_back(j);
  }
  doc["strategies"] = rows_json;
  doc["loadavg_1m_at_end"] = LoadAverage1();
  doc["run_seconds"] = Round(SecondsSince(run_start), 1);
  return doc;
}

}  // namespace jwtgate::bench
