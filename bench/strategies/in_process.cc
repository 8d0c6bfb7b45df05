#include "in_process.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../common/proc_stats.h"
#include "backends.h"
#include "document.h"
#include "driver.h"
#include "fixtures.h"
#include "e2e_passes.h"
#include "in_process_json.h"
#include "progress.h"
#include "store/client_versions.h"
#include "strategies.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

void RevocationProgress(size_t done, size_t total) {
  static size_t last = 0;
  if (done == total || done >= last + (size_t{2} << 20) || done < last) {
    last = done;
    Progress("  revocations: %zu / %zu\n", done, total);
  }
}

// The members that say what was run, where and how, before any set-up.
Json DocumentHeader(const Config& c, const std::string& command_line) {
  Json doc;
  doc["schema"] = "jwtgate.strategies/1";
  doc["title"] =
      "What trusting a JWT costs against a per-request session lookup, same machine, one run";
  doc["command"] = command_line;
  doc["date_utc"] = DateUtc();
  doc["host"] = Hostname();
  doc["loadavg_at_start"] = LoadAverage();
  doc["units"] = UnitsJson("requests per second (all threads)");
  doc["method"] = MethodJson(c);
  doc["config"] = Json{{"threads", c.threads},
                       {"repetitions", c.repetitions},
                       {"duration_s", c.duration_s},
                       {"open_duration_s", c.open_duration_s},
                       {"warmup_s", c.warmup_s},
                       {"rate_fractions", c.rate_fractions},
                       {"tokens_per_alg", c.tokens},
                       {"tokens_per_rsa_alg", c.rsa_tokens},
                       {"sessions", c.sessions},
                       {"redis_denylist", c.denylist},
                       {"revoked", c.revoked},
                       {"watermarks", c.watermarks},
                       {"pipeline_depth", c.pipeline},
                       {"jwt_alg", c.jwt_alg},
                       {"seed", c.seed},
                       {"quick", c.quick},
                       {"closed_only", c.closed_only},
                       {"warm_connections", c.warm_connections}};
  doc["versions"] = Json{{"openssl", OpenSSL_version(OPENSSL_VERSION)},
                         {"hiredis", store::HiredisVersion()},
                         {"libpq", store::LibpqVersion()},
                         {"sqlite", store::SqliteVersion()}};
  return doc;
}

// Signs a token pool for every selected S1 algorithm and for the S2/S3/S7 one (env->pools);
// returns setup["tokens"]. A pool that fails leaves its rows skipped.
Json SetUpTokens(const Config& c, const std::vector<Alg>& s1_algs, Environment* env) {
  const Alg jwt_alg = env->jwt_alg;
  const int64_t now = env->now;
  Json token_json = Json::object();
  std::vector<Alg> pool_algs;
  for (Alg a : s1_algs) {
    if (FamilySelected(c.rows, "S1." + std::string(AlgName(a)))) pool_algs.push_back(a);
  }
  if (std::find(pool_algs.begin(), pool_algs.end(), jwt_alg) == pool_algs.end()) {
    pool_algs.push_back(jwt_alg);
  }
  for (Alg a : pool_algs) {
    // RSA signing costs milliseconds per token; verification does not depend on the number of
    // distinct tokens once they exceed the caches, so RSA pools may be smaller (--rsa-tokens).
    const bool rsa = FamilyOf(a) == AlgFamily::kRsaPkcs1 || FamilyOf(a) == AlgFamily::kRsaPss;
    const size_t count = rsa && a != jwt_alg ? c.rsa_tokens : c.tokens;
    Progress("  tokens: %zu x %s ...", count, std::string(AlgName(a)).c_str());
    try {
      TokenPool pool = MakeTokenPool(a, count, now, c.threads, c.seed);
      Progress(" %.1f s\n", pool.sign_seconds);
      token_json[std::string(AlgName(a))] =
          Json{{"count", pool.tokens.size()},
               {"sign_seconds", Round(pool.sign_seconds, 3)},
               {"mean_token_bytes", Round(pool.mean_token_bytes, 1)},
               {"example_header", Json::parse(pool.example_header, nullptr, false)},
               {"example_payload", Json::parse(pool.example_payload, nullptr, false)}};
      env->pools.emplace(a, std::move(pool));
    } catch (const std::exception& e) {
      // The rows of this algorithm are skipped ("no token pool"); the others run.
      Progress(" FAILED: %s\n", e.what());
      token_json[std::string(AlgName(a))] = Json{{"error", e.what()}};
    }
  }
  return token_json;
}

// The sessions of S4-S6 (env->sessions), when a selected row needs them; sets
// setup["sessions"].
std::unique_ptr<SessionSet> SetUpSessions(const Config& c, Environment* env, Json* setup) {
  const bool need_sessions =
      FamilySelected(c.rows, "S4") || FamilySelected(c.rows, "S5") || FamilySelected(c.rows, "S6");
  if (!need_sessions || c.sessions == 0) return nullptr;
  Progress("  sessions: %zu ids ...", c.sessions);
  auto sessions = std::make_unique<SessionSet>(c.sessions, env->now);
  Progress(" %.1f s\n", sessions->build_seconds);
  env->sessions = sessions.get();
  (*setup)["sessions"] = Json{{"count", c.sessions},
                              {"id_bytes", SessionSet::kIdBytes},
                              {"id", "SHA-256(\"jwtgate-session:\" || n), n = 0..count-1"},
                              {"cookie", "base64url(id), 43 characters"},
                              {"example_value", Json::parse(sessions->Value(0))},
                              {"value_bytes", sessions->Value(0).size()},
                              {"build_seconds", Round(sessions->build_seconds, 3)}};
  return sessions;
}

// The in-process revocation store of S2 and S7 (env->revocation), when a selected row needs
// it; sets setup["revocation"]. On failure returns the reason, which their rows report.
std::string SetUpRevocation(const Config& c, Environment* env, RevocationFixture* revocation,
                            Json* setup) {
  if (!FamilySelected(c.rows, "S2") && !FamilySelected(c.rows, "S7")) return {};
  Progress("  revocations: %zu jtis + %zu subject watermarks (sync off) ...\n", c.revoked,
           c.watermarks);
  try {
    *revocation = MakeRevocationStore(c.workdir + "/revocations", c.revoked, c.watermarks,
                                      env->pools.at(env->jwt_alg), env->now, c.seed, c.threads,
                                      &RevocationProgress);
  } catch (const std::exception& e) {
    Progress("  revocations: FAILED: %s\n", e.what());
    (*setup)["revocation"] = Json{{"error", e.what()}};
    return e.what();
  }
  Progress("  revocations: %.1f s (%.2f M/s)\n", revocation->insert_seconds,
           static_cast<double>(revocation->revoked) / revocation->insert_seconds / 1e6);
  env->revocation = revocation->store.get();
  const RevocationStats st = revocation->store->Stats();
  (*setup)["revocation"] = Json{
      {"revoked_jtis", revocation->revoked},
      {"subject_watermarks", revocation->watermarks},
      {"insert_seconds", Round(revocation->insert_seconds, 3)},
      {"insert_cpu_seconds", Round(revocation->insert_cpu_seconds, 3)},
      {"insert_threads", c.threads},
      {"inserts_per_second",
       Round(static_cast<double>(revocation->revoked) / std::max(1e-9, revocation->insert_seconds),
             0)},
      {"watermark_seconds", Round(revocation->watermark_seconds, 3)},
      {"sync", false},
      {"generations", st.generations},
      {"filter_bytes", st.filter_bytes},
      {"exact_bytes", st.exact_bytes},
      {"watermark_bytes", st.watermark_bytes},
      {"filter_bits_per_key", Round(st.filter_bits_per_key, 2)},
      {"expected_fpr", st.expected_fpr},
      {"log_bytes", st.log_bytes}};
  return {};
}

// ---------------------------------------------------------------------------------------------
// One row.

// The row's description: key, names, what one request does, the state it keeps.
Json RowHeaderJson(const RowSpec& row, const Json& doc) {
  Json j = RowIdentityJson(row);
  j["batch"] = row.batch;
  j["description"] = row.description;
  j["state"] = StateJson(row, doc);
  return j;
}

// The process groups whose CPU time the row is charged: this process ("bench"), and the
// servers its workers' connections use.
std::vector<ProcessGroup> ProcessGroupsFor(const RowSpec& row,
                                           const std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<ProcessGroup> groups = {{"bench", {static_cast<int>(getpid())}, 0, {}}};
  if (row.backend == "redis") {
    groups.push_back({"redis-server", {workers[0]->server_pids().at(0)}, 0, {}});
  } else if (row.backend == "postgresql") {
    std::vector<int> backends_pids;
    for (const auto& w : workers) {
      for (int pid : w->server_pids()) backends_pids.push_back(pid);
    }
    const int postmaster = backends_pids.empty() ? 0 : ParentPid(backends_pids[0]);
    groups.push_back({"postgres backends", backends_pids, 0, {}});
    groups.push_back({"postgres other", {postmaster}, postmaster, backends_pids});
  }
  return groups;
}

// The row's counters (cache hits ...) over the closed-loop window, and its stats.
Json RowStatsJson(const RowSpec& row, std::map<std::string, double>& counters0,
                  std::map<std::string, double>& counters1) {
  Json extra = Json::object();
  if (row.stats) {
    for (const auto& [k, v] : row.stats()) extra[k] = v;
  }
  // Counters over the closed-loop measured window (the warm-up fills the cache).
  for (const auto& [k, v] : counters1) extra[k + "_closed_loop"] = v - counters0[k];
  if (counters1.count("cache_hits") != 0) {
    const double hits = counters1["cache_hits"] - counters0["cache_hits"];
    const double misses = counters1["cache_misses"] - counters0["cache_misses"];
    extra["cache_hit_ratio_closed_loop"] =
        hits + misses > 0 ? Round(hits / (hits + misses), 5) : 0.0;
  }
  return extra;
}

// Open-loop runs at each --rates fraction of the closed-loop maximum `max_rps`.
Json OpenLoopRuns(const Config& c, const RowSpec& row,
                  std::vector<std::unique_ptr<Worker>>& workers, double max_rps,
                  const DriverOptions& closed_options, const std::vector<ProcessGroup>& groups) {
  Json open = Json::array();
  if (max_rps <= 0 || c.closed_only) return open;
  for (double f : c.rate_fractions) {
    DriverOptions o = closed_options;
    o.on_measure_start = nullptr;
    o.duration_s = c.open_duration_s;
    o.warmup_s = std::min(c.warmup_s, 0.2);
    const LoadResult r = RunOpenLoop(workers, row.batch, f * max_rps, o, groups);
    Json oj = LoadJson(r);
    oj["fraction_of_max"] = f;
    open.push_back(oj);
    Progress(" | %2.0f%%: p50 %.1f p99 %.1f us", f * 100,
             static_cast<double>(r.histogram.ValueAtPercentile(50)) / 1e3,
             static_cast<double>(r.histogram.ValueAtPercentile(99)) / 1e3);
  }
  return open;
}

// Measures one row (row `index` of `count`): closed loop, memory, open loop, stats, status.
Json RunRow(const Config& c, RowSpec& row, size_t index, size_t count, const Json& doc) {
  Json j = RowHeaderJson(row, doc);
  Progress("[%2zu/%zu] %-22s ", index, count, row.key.c_str());
  if (!row.unavailable.empty()) {
    j["status"] = "skipped";
    j["reason"] = row.unavailable;
    Progress("skipped: %s\n", row.unavailable.c_str());
    return j;
  }
  j["loadavg_1m_at_start"] = LoadAverage()[0];
  std::vector<std::unique_ptr<Worker>> workers;
  try {
    for (unsigned t = 0; t < c.threads; ++t) workers.push_back(row.make_worker(t));
  } catch (const std::exception& e) {
    j["status"] = "failed";
    j["reason"] = e.what();
    Progress("failed: %s\n", e.what());
    return j;
  }
  const std::vector<ProcessGroup> groups = ProcessGroupsFor(row, workers);
  Json procs = Json::object();
  for (const ProcessGroup& g : groups) procs[g.name] = g.pids;
  j["processes"] = procs;

  DriverOptions dopt;
  dopt.warmup_s = c.warmup_s;
  dopt.duration_s = c.duration_s;
  dopt.seed = c.seed + index;
  Progress("closed %.1fs ", c.duration_s);
  std::map<std::string, double> counters0;
  if (row.counters) dopt.on_measure_start = [&] { counters0 = row.counters(); };
  const LoadResult closed = RunClosedLoop(workers, row.batch, dopt, groups);
  std::map<std::string, double> counters1;
  if (row.counters) counters1 = row.counters();
  j["closed_loop"] = LoadJson(closed);
  Json mem = Json::object();
  for (const auto& [name, m] : SampleMemory(groups)) {
    mem[name] = Json{{"rss_kib", m.rss_kib}, {"pss_kib", m.pss_kib}};
  }
  j["memory"] = mem;
  const double cpu_total =
      closed.requests > 0 ? j["closed_loop"]["cpu_s_per_million"]["total"].get<double>() : 0.0;
  Progress("%10.0f req/s  %7.2f us CPU/req", closed.achieved_rps, cpu_total);
  const Json open = OpenLoopRuns(c, row, workers, closed.achieved_rps, dopt, groups);
  Progress("\n");
  j["open_loop"] = open;

  uint64_t errors = closed.errors;
  for (const Json& o : open) errors += o["errors"].get<uint64_t>();
  std::string last_error;
  for (auto& w : workers) {
    if (!w->last_error().empty()) last_error = w->last_error();
  }
  if (row.stats || row.counters) j["stats"] = RowStatsJson(row, counters0, counters1);
  j["status"] = errors == 0 && closed.requests > 0 ? "ok" : "errors";
  if (!last_error.empty()) j["last_error"] = last_error;
  return j;
}

}  // namespace

int RunInProcess(const Config& c, const std::vector<Alg>& s1_algs, Alg jwt_alg,
                 const std::string& command_line) {
  const auto run_start = Clock::now();
  std::mt19937_64 rng(c.seed);
  Json doc = DocumentHeader(c, command_line);
  Progress("jwtgate-bench strategies: %u threads, %.1f s closed + %zu x %.1f s open per row%s\n",
           c.threads, c.duration_s, c.rate_fractions.size(), c.open_duration_s,
           c.quick ? " (quick)" : "");

  // Set-up: tokens, sessions, stores, revocations.
  Environment env;
  env.now = static_cast<int64_t>(std::time(nullptr));
  env.jwt_alg = jwt_alg;
  env.pipeline_depth = std::max<size_t>(1, c.pipeline);
  env.warm_connections = c.warm_connections;
  Json setup;
  setup["tokens"] = SetUpTokens(c, s1_algs, &env);
  const std::unique_ptr<SessionSet> sessions = SetUpSessions(c, &env, &setup);
  doc["backends"] = SetUpBackends(c, &env, rng);
  RevocationFixture revocation;
  const std::string revocation_error = SetUpRevocation(c, &env, &revocation, &setup);
  setup["seconds"] = Round(SecondsSince(run_start), 3);
  doc["setup"] = setup;

  // Rows.
  std::vector<RowSpec> all_rows = MakeRows(env, s1_algs);
  std::vector<RowSpec*> rows;
  for (RowSpec& r : all_rows) {
    if ((r.id == "S2" || r.id == "S7") && !revocation_error.empty()) {
      r.unavailable = "revocation store set-up failed: " + revocation_error;
    }
    if (RowSelected(c.rows, r.key)) rows.push_back(&r);
  }
  // A row's figures are its medians over the passes (e2e_passes.h). Its requests' seed
  // follows its position in the pass, so each pass draws other tokens.
  doc["strategies"] = RunRotatedPasses(rows.size(), c.repetitions, [&](size_t i, size_t k) {
    return RunRow(c, *rows[i], k, rows.size(), doc);
  });
  doc["loadavg_at_end"] = LoadAverage();
  doc["run_seconds"] = Round(SecondsSince(run_start), 1);
  return WriteDocument(doc, c.out, run_start);
}

}  // namespace jwtgate::bench
