#include "in_process_json.h"

#include <initializer_list>

#include "progress.h"

namespace jwtgate::bench {
namespace {

Json CpuJson(const LoadResult& r) {
  Json per_million = Json::object();
  Json utilisation = Json::object();
  double total = 0;
  for (const auto& [name, seconds] : r.cpu_s) {
    total += seconds;
    per_million[name] =
        r.requests > 0 ? Round(seconds / static_cast<double>(r.requests) * 1e6, 3) : 0.0;
    utilisation[name] = r.window_s > 0 ? Round(seconds / r.window_s, 3) : 0.0;
  }
  per_million["total"] =
      r.requests > 0 ? Round(total / static_cast<double>(r.requests) * 1e6, 3) : 0.0;
  utilisation["total"] = r.window_s > 0 ? Round(total / r.window_s, 3) : 0.0;
  return Json{{"cpu_s_per_million", per_million}, {"cpu_cores_busy", utilisation}};
}

// The layout of bench/loadgen's "noise" member, so that the report reads both alike.
Json NoiseJson(const Noise& n) {
  Json cpus = Json::object();
  for (const auto& [cpu, c] : n.cpus) {
    cpus[std::to_string(cpu)] = Json{{"busy", Round(c.busy, 4)}, {"steal", Round(c.steal, 4)}};
  }
  return Json{{"cpus", cpus},
              {"system_busy_cores", Round(n.system_busy_cores, 4)},
              {"steal_cores", Round(n.steal_cores, 4)},
              {"measured_cores", Round(n.measured_cores, 4)},
              {"unmeasured_cores", Round(n.unmeasured_cores, 4)},
              {"nonvoluntary_switches", n.nonvoluntary}};
}

}  // namespace

Json Percentiles(const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return Round(static_cast<double>(ns) / 1000.0, 3); };
  return Json{{"p50", us(h.ValueAtPercentile(50))},
              {"p90", us(h.ValueAtPercentile(90))},
              {"p99", us(h.ValueAtPercentile(99))},
              {"p999", us(h.ValueAtPercentile(99.9))},
              {"max", us(h.max())},
              {"mean", Round(h.mean() / 1000.0, 3)},
              {"samples", h.count()}};
}

Json LoadJson(const LoadResult& r) {
  Json j;
  if (r.open_loop) {
    j["offered_rps"] = Round(r.offered_rps, 1);
  }
  j["window_s"] = Round(r.window_s, 3);
  j["requests"] = r.requests;
  j["errors"] = r.errors;
  if (r.open_loop) j["unsent"] = r.unsent;
  j[r.open_loop ? "achieved_rps" : "throughput_rps"] = Round(r.achieved_rps, 1);
  if (r.open_loop) {
    j["saturated"] = r.unsent > 0 || r.achieved_rps < 0.95 * r.offered_rps;
  }
  j[r.open_loop ? "latency_us" : "service_time_us"] = Percentiles(r.histogram);
  const Json cpu = CpuJson(r);
  j["cpu_s_per_million"] = cpu["cpu_s_per_million"];
  j["cpu_cores_busy"] = cpu["cpu_cores_busy"];
  j["noise"] = NoiseJson(r.noise);
  return j;
}

Json StateJson(const RowSpec& row, const Json& doc) {
  auto at = [&](std::initializer_list<const char*> path) -> const Json* {
    const Json* j = &doc;
    for (const char* k : path) {
      if (!j->is_object() || !j->contains(k)) return nullptr;
      j = &(*j)[k];
    }
    return j;
  };
  auto state = [](const char* what, double bytes, double items) {
    return Json{{"what", what},
                {"bytes", bytes},
                {"items", items},
                {"bytes_per_item", items > 0 ? Round(bytes / items, 1) : 0.0}};
  };
  if (row.id == "S0" || row.id == "S1") return state("none (public keys only)", 0, 0);
  if (row.id == "S2" || row.id == "S7") {
    const Json* r = at({"setup", "revocation"});
    if (r == nullptr) return nullptr;
    const double bytes = (*r)["filter_bytes"].get<double>() + (*r)["exact_bytes"].get<double>() +
                         (*r)["watermark_bytes"].get<double>();
    return state(row.id == "S2" ? "in-process revocation store: filters, exact tables, "
                                  "watermarks (per revoked jti)"
                                : "revocation store as S2, plus the verified-token cache",
                 bytes, (*r)["revoked_jtis"].get<double>());
  }
  if (row.id == "S3" || row.id == "S4") {
    const Json* l = at({"backends", "redis", "loads", row.id == "S3" ? "denylist" : "sessions"});
    if (l == nullptr) return nullptr;
    return state(row.id == "S3"
                     ? "Redis used_memory growth while loading the denylist (per revoked jti)"
                     : "Redis used_memory growth while loading the sessions (per session)",
                 (*l)["used_memory_bytes"].get<double>(), (*l)["keys"].get<double>());
  }
  if (row.id == "S5") {
    const Json* p = at({"backends", "postgresql", "prewarm", "pages"});
    const Json* n = at({"setup", "sessions", "count"});
    if (p == nullptr || n == nullptr) return nullptr;
    return state("PostgreSQL table + primary key (prewarmed 8 KiB blocks; per session)",
                 p->get<double>() * 8192, n->get<double>());
  }
  if (row.id == "S6") {
    const Json* f = at({"backends", "sqlite", "file_bytes"});
    const Json* n = at({"setup", "sessions", "count"});
    if (f == nullptr || n == nullptr) return nullptr;
    return state("SQLite database file (per session)", f->get<double>(), n->get<double>());
  }
  return nullptr;
}

Json MethodJson(const Config& c) {
  return Json{
      {"mode", c.mode},
      {"in_process",
       "library calls from N threads of this process, one VerifyContext and one database "
       "connection per thread; requests pick a token or a session uniformly at random"},
      {"closed_loop",
       "each thread sends its next request as soon as the previous one is answered, for "
       "duration_s after warmup_s; throughput_rps = answered requests / window. "
       "service_time_us is the duration of the call that answered (the batch round trip for "
       "pipelined rows), not a latency under load"},
      {"open_loop",
       "fixed offered rate = fraction x the row's closed-loop throughput, evenly spaced "
       "intended send times per thread; latency_us is measured from the INTENDED send time "
       "(no coordinated omission; wrk2's method); pipelined rows send every due request, up to "
       "the batch size, in one round trip; saturated = unsent requests or achieved < 95% of "
       "offered"},
      {"cpu",
       "utime+stime deltas from /proc/<pid>/stat over the measured window, per process group: "
       "bench (this process: client work, verification, harness), redis-server, postgres "
       "backends (this run's connections), postgres other (the rest of the server: "
       "checkpointer, WAL writer, ...); cpu_s_per_million = CPU seconds per million requests = "
       "CPU microseconds per request; resolution 1/CLK_TCK s"},
      {"noise",
       "per window: each CPU's busy and steal fraction (/proc/stat), their sums in cores, the "
       "cores the process groups account for (measured_cores) and the busy cores they do not "
       "(unmeasured_cores: other processes, kernel work no process is charged for), and each "
       "group's involuntary context switches"},
      {"repetitions",
       "with --repetitions N > 1 every row runs N times, the rows in an order rotated by one "
       "per pass; a row's figures are medians over its passes and repetitions.intervals holds "
       "the 95 % interval of each median"},
      {"memory",
       "VmRSS and Pss (smaps_rollup; shared pages divided among sharers) per process group "
       "after the row's closed-loop run; the benchmark process holds every row's data at once, "
       "so its figure is not one strategy's"},
      {"state",
       "the memory of the state a strategy keeps (revocation store, Redis keys, table, file), "
       "from the set-up, with bytes per item: what a capacity plan scales"},
      {"histogram",
       Json{{"kind", "log-linear (HDR-style)"},
            {"sub_bucket_bits", LatencyHistogram::kDefaultSubBucketBits},
            {"relative_precision", LatencyHistogram().relative_precision()},
            {"percentile_value", "highest value equivalent to the bucket of the rank"}}},
  };
}

}  // namespace jwtgate::bench
