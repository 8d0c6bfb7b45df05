#include "e2e.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/proc_stats.h"
#include "document.h"
#include "e2e_load.h"
#include "e2e_passes.h"
#include "e2e_servers.h"
#include "fixtures.h"
#include "progress.h"
#include "strategies.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

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

// The document's "method" member.
Json MethodJson(const E2eOptions& o) {
  return Json{
      {"mode", "e2e"},
      {"e2e",
       "each row runs through a server on 127.0.0.1 started for that row: jwtgated (one issuer "
       "with the row's key; cache and revocation state as the row says) or, for S0, nginx "
       "answering `return 200`; the load generator (bench/loadgen) sends GET /auth with "
       "Authorization: Bearer <token> on keep-alive connections, cycling through the row's "
       "token pool. Where client and server run: see isolation"},
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
       "unsent > 0.1% of the window's offered requests or achieved < 95% of offered; a pinned "
       "client polls between sends (loadgen --spin) instead of sleeping"},
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
      {"isolation",
       o.server_cpus.empty() || o.client_cpus.empty()
           ? Json("not pinned: client, servers and harness share the machine's cores")
           : Json("the servers pinned to config.server_cpus (one jwtgated pipeline worker, one "
                  "nginx worker per CPU), the load generator to config.client_cpus "
                  "(sched_setaffinity before exec); the harness is not pinned and waits while a "
                  "window runs")},
      {"settings", Json{{"connections", o.connections},
                        {"client_threads", o.client_threads},
                        {"daemon_workers",
                         o.daemon_workers == 0 ? Json("one per core") : Json(o.daemon_workers)},
                        {"daemon_io_threads", o.io_threads},
                        {"daemon_inline", o.inline_verify},
                        {"s7_cache_entries", o.cache_entries}}},
  };
}

// The files jwtgated and loadgen read for each algorithm's pool.
struct PoolFiles {
  std::map<Alg, std::string> tokens;  // one token per line
  std::map<Alg, std::string> jwks;    // the public key
};

// The members that say what was run and with which programs, before any set-up.
Json DocumentStart(const E2eOptions& o, bool have_nginx) {
  Json doc;
  doc["schema"] = "jwtgate.strategies.e2e/1";
  doc["title"] = "The strategies jwtgated serves, end to end over HTTP on loopback";
  doc["method"] = MethodJson(o);
  doc["config"] = Json{{"duration_s", o.duration_s},    {"open_duration_s", o.open_duration_s},
                       {"warmup_s", o.warmup_s},        {"rate_fractions", o.rate_fractions},
                       {"connections", o.connections},  {"client_threads", o.client_threads},
                       {"tokens_per_alg", o.tokens},    {"tokens_per_rsa_alg", o.rsa_tokens},
                       {"revoked", o.revoked},          {"watermarks", o.watermarks},
                       {"jwt_alg", AlgName(o.jwt_alg)}, {"seed", o.seed},
                       {"closed_only", o.closed_only},  {"server_cpus", o.server_cpus},
                       {"client_cpus", o.client_cpus},  {"repetitions", o.repetitions}};
  doc["programs"] =
      Json{{"jwtgated", o.jwtgated},
           {"loadgen", o.loadgen},
           {"nginx", have_nginx ? Json(o.nginx) : Json(nullptr)},
           {"nginx_version", have_nginx ? Json(NginxVersion(o.nginx)) : Json(nullptr)}};
  doc["loadavg_1m_at_start"] = LoadAverage()[0];
  return doc;
}

// Signs a pool for every selected S1 algorithm and for the S2/S7 one (needed by S0 too: nginx
// gets the same requests) and writes its files; returns setup["tokens"].
Json SetUpTokens(const E2eOptions& o, Environment* env, PoolFiles* files) {
  std::vector<Alg> needed;
  for (Alg a : o.algs) {
    if (RowSelected(o.rows, "S1." + std::string(AlgName(a)))) needed.push_back(a);
  }
  const std::string jwt_name(AlgName(o.jwt_alg));
  const bool want_revocation =
      RowSelected(o.rows, "S2." + jwt_name) || RowSelected(o.rows, "S7." + jwt_name);
  if ((want_revocation || RowSelected(o.rows, "S0")) &&
      std::find(needed.begin(), needed.end(), o.jwt_alg) == needed.end()) {
    needed.push_back(o.jwt_alg);
  }
  Json tokens = Json::object();
  for (Alg a : needed) {
    const bool rsa = FamilyOf(a) == AlgFamily::kRsaPkcs1 || FamilyOf(a) == AlgFamily::kRsaPss;
    const size_t n = rsa && a != o.jwt_alg ? o.rsa_tokens : o.tokens;
    Progress("  tokens: %zu %s ...", n, AlgName(a).data());
    TokenPool pool = MakeTokenPool(a, n, env->now, o.threads, o.seed);
    Progress(" %.1f s\n", pool.sign_seconds);
    files->tokens[a] = TokenFile(o, pool);
    files->jwks[a] = JwksFile(o, pool);
    tokens[std::string(AlgName(a))] = Json{{"count", n},
                                           {"sign_seconds", Round(pool.sign_seconds, 3)},
                                           {"mean_token_bytes", Round(pool.mean_token_bytes, 1)}};
    env->pools.emplace(a, std::move(pool));
  }
  return tokens;
}

// Builds the revocation state jwtgated recovers for S2 and S7 in WORKDIR/revocations (when a
// selected row needs it) and closes it; sets setup["revocation"]. Returns the directory and,
// on failure, the reason their rows report.
struct RevocationState {
  std::string dir;
  std::string error;
};
RevocationState SetUpRevocation(const E2eOptions& o, const Environment& env, Json* setup) {
  const std::string jwt_name(AlgName(o.jwt_alg));
  RevocationState state;
  if (!RowSelected(o.rows, "S2." + jwt_name) && !RowSelected(o.rows, "S7." + jwt_name)) {
    return state;
  }
  state.dir = o.workdir + "/revocations";
  Progress("  revocations: %zu jtis + %zu subject watermarks (sync off) ...\n", o.revoked,
           o.watermarks);
  try {
    RevocationFixture f =
        MakeRevocationStore(state.dir, o.revoked, o.watermarks, env.pools.at(o.jwt_alg), env.now,
                            o.seed, o.threads, nullptr);
    const RevocationStats st = f.store->Stats();
    (*setup)["revocation"] = Json{{"dir", state.dir},
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
    state.error = e.what();
    (*setup)["revocation"] = Json{{"error", state.error}};
    Progress("  revocations: FAILED: %s\n", e.what());
  }
  return state;
}

// What serves a row: nginx (S0) or jwtgated with `spec`, the tokens it is sent, or why it is
// not measured end to end.
struct RowServing {
  std::string tokens_file;
  DaemonSpec spec;
  std::string not_measured;
};

// Decides how `row` is served and describes it in *j (name, variant, description).
RowServing PlanRow(const E2eOptions& o, const RowSpec& row, const PoolFiles& files,
                   const RevocationState& revocation, bool have_nginx, Json* j) {
  RowServing r;
  auto file_of = [](const std::map<Alg, std::string>& m, Alg a) {
    const auto it = m.find(a);
    return it == m.end() ? std::string() : it->second;
  };
  if (row.id == "S0") {
    (*j)["name"] = "no check (HTTP floor)";
    (*j)["variant"] = "nginx return 200";
    (*j)["description"] =
        "nginx `location / { return 200; }` answering the same requests "
        "(token header included) with the same load settings: the HTTP "
        "floor, no check";
    if (!have_nginx) r.not_measured = "nginx is not installed (" + o.nginx + ")";
    r.tokens_file = file_of(files.tokens, o.jwt_alg);
  } else if (row.id == "S1" || row.id == "S2" || row.id == "S7") {
    Alg a = o.jwt_alg;
    AlgFromName(row.alg, &a);  // every S1, S2 and S7 row names its algorithm
    r.tokens_file = file_of(files.tokens, a);
    r.spec.jwks = file_of(files.jwks, a);
    r.spec.cache_entries = row.id == "S7" ? o.cache_entries : 0;
    if (row.id != "S1") r.spec.revocation_dir = revocation.dir;
    (*j)["description"] =
        row.id == "S1" ? "jwtgated verifies every request (verified-token cache off): parse, "
                         "key by (kid, alg), " +
                             row.alg + " signature, claims policy"
        : row.id == "S2"
            ? "jwtgated as S1 with the revocation state recovered from disk (" +
                  std::to_string(o.revoked) + " revoked jtis, " + std::to_string(o.watermarks) +
                  " subject watermarks), cache off"
            : "jwtgated as S2 with the verified-token cache on (" +
                  std::to_string(o.cache_entries) +
                  " entries; the token pool fits, so after the warm-up requests hit it)";
    if (row.id != "S1" && !revocation.error.empty()) {
      r.not_measured = "revocation state set-up failed: " + revocation.error;
    }
  } else {
    (*j)["description"] = row.description;
    r.not_measured = "jwtgated has no " +
                     std::string(row.backend == "redis"        ? "Redis"
                                 : row.backend == "postgresql" ? "PostgreSQL"
                                                               : "SQLite") +
                     (row.id == "S3" ? " denylist" : " session") + " backend (in-process row only)";
  }
  return r;
}

// row["daemon_metrics"]: jwtgated's gauges after the closed loop and its counters over it.
Json DaemonMetricsJson(const std::map<std::string, double>& m0,
                       const std::map<std::string, double>& m1) {
  Json metrics = Json::object();
  for (const auto& [k, v] : m1) metrics[k] = v;
  Json window = Json::object();
  for (const char* counter : {"jwtgate_cache_hits_total", "jwtgate_cache_misses_total",
                              "jwtgate_pipeline_completed_total"}) {
    const auto after = m1.find(counter);
    if (after == m1.end()) continue;
    const auto before = m0.find(counter);
    window[counter] = after->second - (before == m0.end() ? 0.0 : before->second);
  }
  const double hits = window.value("jwtgate_cache_hits_total", 0.0);
  const double misses = window.value("jwtgate_cache_misses_total", 0.0);
  if (hits + misses > 0) window["cache_hit_ratio"] = Round(hits / (hits + misses), 5);
  return Json{{"after_closed_loop", metrics}, {"closed_loop_window", window}};
}

// Open-loop runs at each --rates fraction of the closed-loop maximum `max_rps`; `base` names
// their loadgen result files.
Json OpenLoopRuns(const E2eOptions& o, const Server& server, const std::string& tokens_file,
                  double max_rps, const std::string& base) {
  Json open = Json::array();
  if (max_rps <= 0 || o.closed_only) return open;
  for (double f : o.rate_fractions) {
    char tag[32];
    std::snprintf(tag, sizeof tag, ".open%.0f.json", f * 100);
    const Json lg = RunLoadgen(o, server, tokens_file, false, f * max_rps, o.open_duration_s,
                               o.warmup_s, base + tag);
    Json oj = LoadgenRunJson(lg, false, f * max_rps);
    oj["fraction_of_max"] = f;
    Progress(" | %2.0f%%: p50 %.0f p99 %.0f us", f * 100, oj["latency_us"]["p50"].get<double>(),
             oj["latency_us"]["p99"].get<double>());
    open.push_back(oj);
  }
  return open;
}

// Starts the row's server, measures it (closed loop, memory, metrics, open loop) and stops it;
// fills *j. Throws std::runtime_error when the server or loadgen fails.
void MeasureRow(const E2eOptions& o, const RowSpec& row, const RowServing& serving, Json* j) {
  Server server = row.id == "S0" ? StartNginx(o) : StartDaemon(o, serving.spec, row.key);
  (*j)["server"] = Json{{"program", row.id == "S0" ? "nginx" : "jwtgated"},
                        {"description", server.description},
                        {"pids", server.pids},
                        {"start_seconds", Round(server.start_seconds, 3)},
                        {"config", server.config}};
  if (server.recovery_seconds >= 0) {
    (*j)["server"]["revocation_recovery_seconds"] = server.recovery_seconds;
  }
  (*j)["loadavg_1m_at_start"] = LoadAverage()[0];
  const std::map<std::string, double> m0 = ScrapeMetrics(server);
  const std::string base = o.workdir + "/" + row.key;
  Progress("closed %.1fs ", o.duration_s);
  const Json closed_lg = RunLoadgen(o, server, serving.tokens_file, true, 0, o.duration_s,
                                    o.warmup_s, base + ".closed.json");
  const std::map<std::string, double> m1 = ScrapeMetrics(server);
  const Json closed = LoadgenRunJson(closed_lg, true, 0);
  (*j)["closed_loop"] = closed;
  const double max_rps = closed["throughput_rps"].get<double>();
  Json mem = Json::object();
  for (const auto& [name, kib] : closed_lg["rss_kib"].items()) {
    mem[name == "client" ? "client" : server.group] = Json{{"rss_kib", kib}};
  }
  (*j)["memory"] = mem;
  if (!m1.empty()) (*j)["daemon_metrics"] = DaemonMetricsJson(m0, m1);
  Progress("%9.0f req/s  %7.2f us CPU/req", max_rps,
           closed["cpu_s_per_million"]["total"].get<double>());
  const Json open = OpenLoopRuns(o, server, serving.tokens_file, max_rps, base);
  Progress("\n");
  (*j)["open_loop"] = open;
  uint64_t errors = closed["errors"].get<uint64_t>();
  for (const Json& x : open) errors += x["errors"].get<uint64_t>();
  // A window that completed nothing had a server that stopped answering (its requests wait,
  // unanswered, as "unsent"): the pass failed, whatever its error count says.
  std::string silent;
  for (const Json& x : open) {
    if (silent.empty() && x["requests"].get<uint64_t>() == 0) {
      char what[160];
      std::snprintf(what, sizeof what,
                    "the open-loop window at %.2f of the maximum completed no request (%llu "
                    "unsent): the server stopped answering",
                    x.value("fraction_of_max", 0.0),
                    static_cast<unsigned long long>(x.value("unsent", uint64_t{0})));
      silent = what;
    }
  }
  const bool alive = server.process->Running();
  server.process->Stop(row.id == "S0" ? SIGQUIT : SIGTERM, 15.0);
  (*j)["server"]["exit_status"] = server.process->exit_status();
  (*j)["status"] = errors == 0 && closed["requests"].get<uint64_t>() > 0 ? "ok" : "errors";
  if (!silent.empty()) {
    (*j)["status"] = "failed";
    (*j)["reason"] = silent + (alive ? " (still running when stopped)" : " (it had exited)");
  }
  if (errors != 0 || !silent.empty()) {
    (*j)["log"] = server.log;
    const std::string log = ReadFile(server.log);
    (*j)["log_tail"] = log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  }
}

// Row `index` of `count`: its description, and its figures or why it was not measured.
Json RunRow(const E2eOptions& o, const RowSpec& row, size_t index, size_t count,
            const PoolFiles& files, const RevocationState& revocation, bool have_nginx) {
  Json j = RowIdentityJson(row);
  j["mode"] = "e2e";
  Progress("[e2e %2zu/%zu] %-22s ", index, count, row.key.c_str());
  const RowServing serving = PlanRow(o, row, files, revocation, have_nginx, &j);
  if (!serving.not_measured.empty()) {
    j["measured"] = false;
    j["status"] = "not measured";
    j["reason"] = serving.not_measured;
    Progress("not measured: %s\n", serving.not_measured.c_str());
  } else {
    j["measured"] = true;
    try {
      MeasureRow(o, row, serving, &j);
    } catch (const std::exception& e) {
      j["status"] = "failed";
      j["reason"] = e.what();
      Progress("failed: %s\n", e.what());
    }
  }
  return j;
}

}  // namespace

Json RunE2e(const E2eOptions& o) {
  g_quiet = o.quiet;
  const auto run_start = Clock::now();
  for (const std::string* exe : {&o.jwtgated, &o.loadgen}) {
    if (access(exe->c_str(), X_OK) != 0) {
      throw std::runtime_error(*exe +
                               " is not an executable (build the jwtgated and loadgen "
                               "targets, or give --jwtgated / --loadgen)");
    }
  }
  const bool have_nginx = !o.nginx.empty() && access(o.nginx.c_str(), X_OK) == 0;
  Json doc = DocumentStart(o, have_nginx);

  // Set-up: token pools and their files, the revocation state jwtgated recovers.
  Environment env;
  env.now = static_cast<int64_t>(std::time(nullptr));
  env.jwt_alg = o.jwt_alg;
  Json setup;
  PoolFiles files;
  setup["tokens"] = SetUpTokens(o, &env, &files);
  const RevocationState revocation = SetUpRevocation(o, env, &setup);
  doc["setup"] = setup;

  // Rows, in the in-process mode's order and with its keys.
  std::vector<RowSpec> specs = MakeRows(env, o.algs);
  std::vector<const RowSpec*> rows;
  for (const RowSpec& r : specs) {
    if (!r.in_process_only && RowSelected(o.rows, r.key)) rows.push_back(&r);
  }
  // A row's figures are its medians over the passes (e2e_passes.h).
  doc["strategies"] = RunRotatedPasses(rows.size(), o.repetitions, [&](size_t i, size_t k) {
    return RunRow(o, *rows[i], k, rows.size(), files, revocation, have_nginx);
  });
  doc["loadavg_1m_at_end"] = LoadAverage()[0];
  doc["run_seconds"] = Round(SecondsSince(run_start), 1);
  return doc;
}

}  // namespace jwtgate::bench
