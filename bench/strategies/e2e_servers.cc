#include "e2e_servers.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "../common/proc_stats.h"
#include "fixtures.h"
#include "loopback_http.h"
#include "progress.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

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
    "jwtgate_auth_requests_total",       "jwtgate_cache_hits_total",
    "jwtgate_cache_misses_total",        "jwtgate_cache_entries",
    "jwtgate_revocation_jti_entries",    "jwtgate_revocation_subject_watermarks",
    "jwtgate_revocation_filter_bytes",   "jwtgate_revocation_exact_bytes",
    "jwtgate_pipeline_workers",          "jwtgate_pipeline_completed_total",
    "jwtgate_overload_rejections_total", "process_resident_memory_bytes"};

// pipeline.workers: as given; 0 on pinned CPUs is one per server CPU (jwtgated's own default
// counts the machine's cores, not its affinity).
unsigned DaemonWorkers(const E2eOptions& o) {
  return o.daemon_workers == 0 && !o.server_cpus.empty()
             ? static_cast<unsigned>(o.server_cpus.size())
             : o.daemon_workers;
}

// "0,1" for the record.
std::string CpuListText(const std::vector<int>& cpus) {
  std::string out;
  for (int cpu : cpus) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

// jwtgated's configuration for one row.
std::string DaemonYaml(const E2eOptions& o, const DaemonSpec& d, const Server& s) {
  std::ostringstream y;
  y << "auth: {listen: \"127.0.0.1:" << s.port << "\", path_prefix: /auth}\n"
    << "admin: {listen: \"127.0.0.1:" << s.admin_port << "\"}\n"
    << "issuers: [{issuer: \"" << kIssuer << "\", jwks_file: \"" << d.jwks << "\"}]\n"
    << "verify: {audiences: [\"" << kAudience << "\"], leeway_seconds: " << kLeewayS << "}\n"
    << "cache: {entries: " << d.cache_entries << "}\n"
    << "pipeline: {workers: " << DaemonWorkers(o) << ", inline: " << o.inline_verify << "}\n"
    << "io_threads: " << o.io_threads << "\n"
    << "http: {max_connections: 10000}\n";
  if (!d.revocation_dir.empty()) y << "revocation: {dir: \"" << d.revocation_dir << "\"}\n";
  return y.str();
}

// Waits until jwtgated's admin API answers /readyz with 200. Throws std::runtime_error.
void WaitReady(const E2eOptions& o, Server& s, std::chrono::steady_clock::time_point t0) {
  for (;;) {
    if (HttpGet(s.admin_port, "/readyz", nullptr) == 200) return;
    if (!s.process->Running() || SecondsSince(t0) > o.start_timeout_s) {
      throw std::runtime_error("jwtgated never became ready; see " + s.log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// nginx's configuration: a private prefix under `dir`, `return 200` on `port`; one worker per
// pinned server CPU, else one per core.
std::string NginxConf(const E2eOptions& o, const std::string& d, int port) {
  std::ostringstream c;
  c << "worker_processes "
    << (o.server_cpus.empty() ? std::string("auto") : std::to_string(o.server_cpus.size()))
    << ";\ndaemon off;\npid " << d << "/nginx.pid;\n"
    << "error_log " << d << "/logs/error.log warn;\n"
    << "events { worker_connections 4096; }\n"
    << "http {\n  access_log off;\n"
    << "  client_body_temp_path " << d << "/body; proxy_temp_path " << d << "/proxy;\n"
    << "  fastcgi_temp_path " << d << "/fastcgi; uwsgi_temp_path " << d << "/uwsgi;\n"
    << "  scgi_temp_path " << d << "/scgi;\n"
    << "  keepalive_requests 1000000;\n"
    << "  server {\n    listen 127.0.0.1:" << port << " reuseport;\n"
    << "    location / { return 200; }\n  }\n}\n";
  return c.str();
}

}  // namespace

Server StartDaemon(const E2eOptions& o, const DaemonSpec& d, const std::string& label) {
  Server s;
  s.group = "daemon";
  s.port = FreePort();
  s.admin_port = FreePort();
  const std::string cfg = o.workdir + "/" + label + ".yaml";
  WriteFile(cfg, DaemonYaml(o, d, s));
  s.log = o.workdir + "/" + label + ".log";
  std::filesystem::remove(s.log);
  s.config =
      Json{{"file", cfg},
           {"cache_entries", d.cache_entries},
           {"revocation_dir", d.revocation_dir.empty() ? Json(nullptr) : Json(d.revocation_dir)},
           {"workers", DaemonWorkers(o)},
           {"io_threads", o.io_threads},
           {"inline", o.inline_verify},
           {"cpus", o.server_cpus}};
  s.description =
      "jwtgated: io_threads " + std::to_string(o.io_threads) + ", workers " +
      (DaemonWorkers(o) == 0 ? std::string("one per core") : std::to_string(DaemonWorkers(o))) +
      ", inline " + o.inline_verify + ", cache " +
      (d.cache_entries == 0 ? std::string("off") : std::to_string(d.cache_entries) + " entries") +
      (d.revocation_dir.empty() ? "" : ", revocation state") +
      (o.server_cpus.empty() ? "" : ", pinned to CPUs " + CpuListText(o.server_cpus));
  const auto t0 = Clock::now();
  s.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{o.jwtgated, "--config", cfg}, s.log, o.server_cpus);
  WaitListening(*s.process, s.port, o.start_timeout_s, "jwtgated", s.log);
  WaitReady(o, s, t0);
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
  const std::string conf = d + "/nginx.conf";
  WriteFile(conf, NginxConf(o, d, s.port));
  s.log = d + "/logs/stderr.log";
  const std::string processes =
      o.server_cpus.empty() ? std::string("auto") : std::to_string(o.server_cpus.size());
  s.config = Json{{"file", conf},
                  {"worker_processes", processes},
                  {"location", "return 200"},
                  {"cpus", o.server_cpus}};
  s.description = "nginx worker_processes " + processes + ", location / { return 200; }" +
                  (o.server_cpus.empty() ? "" : ", pinned to CPUs " + CpuListText(o.server_cpus));
  const auto t0 = Clock::now();
  s.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{o.nginx, "-p", d, "-e", d + "/logs/error.log", "-c", conf}, s.log,
      o.server_cpus);
  WaitListening(*s.process, s.port, 30, "nginx", s.log);
  s.start_seconds = SecondsSince(t0);
  // The master and its workers, once the workers are up.
  const unsigned cores = o.server_cpus.empty()
                             ? std::max(1u, std::thread::hardware_concurrency())
                             : static_cast<unsigned>(o.server_cpus.size());
  std::vector<int> workers;
  for (int i = 0; i < 100 && workers.size() < cores; ++i) {
    workers = ChildrenOf(s.process->pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.pids = {s.process->pid()};
  s.pids.insert(s.pids.end(), workers.begin(), workers.end());
  return s;
}

std::map<std::string, double> ScrapeMetrics(const Server& s) {
  std::string text;
  if (s.admin_port == 0 || HttpGet(s.admin_port, "/metrics", &text) != 200) return {};
  return ParseMetrics(text, kMetricNames);
}

std::string NginxVersion(const std::string& nginx) { return FirstLine(nginx + " -v"); }

}  // namespace jwtgate::bench
