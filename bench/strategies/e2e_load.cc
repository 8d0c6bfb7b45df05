#include "e2e_load.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "child_process.h"
#include "progress.h"

namespace jwtgate::bench {

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
    // A client on CPUs of its own polls between sends rather than sleeping: a timer wake-up
    // per request would make it, not the server, the bottleneck of the higher loads.
    if (!o.client_cpus.empty()) argv.push_back("--spin");
    argv.push_back("--rate");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", rate);
    argv.push_back(buf);
  }
  std::filesystem::remove(out);
  ChildProcess p(argv, out + ".log", o.client_cpus);
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

Json LoadgenRunJson(const Json& lg, bool closed, double offered) {
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
      Json{{"p50", l.value("p50", 0.0)}, {"p90", l.value("p90", 0.0)},
           {"p99", l.value("p99", 0.0)}, {"p999", l.value("p99_9", 0.0)},
           {"max", l.value("max", 0.0)}, {"mean", Round(l.value("mean", 0.0), 3)},
           {"samples", requests}};
  Json per_million = Json::object();
  Json busy = Json::object();
  double total = 0;
  for (const auto& [name, v] : lg["cpu_s"].items()) {
    const double seconds = v.get<double>();
    total += seconds;
    per_million[name] =
        requests > 0 ? Round(seconds / static_cast<double>(requests) * 1e6, 3) : 0.0;
    busy[name] = window > 0 ? Round(seconds / window, 3) : 0.0;
  }
  per_million["total"] = requests > 0 ? Round(total / static_cast<double>(requests) * 1e6, 3) : 0.0;
  busy["total"] = window > 0 ? Round(total / window, 3) : 0.0;
  j["cpu_s_per_million"] = per_million;
  j["cpu_cores_busy"] = busy;
  j["statuses"] = lg["statuses"];
  if (lg.contains("noise")) j["noise"] = lg["noise"];
  j["loadgen_command"] = lg["command"];
  return j;
}

}  // namespace jwtgate::bench
