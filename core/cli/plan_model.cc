// The capacity model (see plan_model.h for the formulas).
#include "cli/plan_model.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace jwtgate::cli::plan {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

constexpr double kEps = 1e-9;

double Num(const Json& j, const char* key, double def = 0) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;
  return it->get<double>();
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

const Json& Obj(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return (it == j.end() || !it->is_object()) ? kEmpty : *it;
}

double CeilCount(double x) { return std::ceil(x - kEps); }

// The highest measured load at which `row` met the objective; 0 when none did.
double LatencyLimitedFraction(const Row& row, double p99_us) {
  double best = 0;
  for (const OpenLoopPoint& p : row.open_loop) {
    if (!p.saturated && p.errors == 0 && p.p99_us <= p99_us) best = std::max(best, p.fraction);
  }
  return best;
}

// The open-loop point at the lowest measured load >= fraction (nullptr when beyond all).
const OpenLoopPoint* PointAtOrAbove(const Row& row, double fraction) {
  for (const OpenLoopPoint& p : row.open_loop) {
    if (p.fraction + kEps >= fraction) return &p;
  }
  return nullptr;
}

Row ParseRow(const Json& j, const char* app_group) {
  Row row;
  row.key = Str(j, "key");
  row.app_group = app_group;
  row.id = Str(j, "id");
  row.name = Str(j, "name");
  row.alg = Str(j, "alg");
  row.backend = Str(j, "backend");
  row.batch = std::max(1.0, Num(j, "batch", 1));
  row.status = Str(j, "status");
  const Json& closed = Obj(j, "closed_loop");
  row.closed_rps = Num(closed, "throughput_rps");
  row.service_mean_us = Num(Obj(closed, "service_time_us"), "mean");
  for (const auto& [group, v] : Obj(closed, "cpu_s_per_million").items()) {
    if (v.is_number()) row.cpu_us[group] = v.get<double>();
  }
  for (const auto& [group, v] : Obj(j, "memory").items()) {
    row.rss_kib[group] = Num(v, "rss_kib");
  }
  row.cache_hit_ratio = Num(Obj(j, "stats"), "cache_hit_ratio_closed_loop", -1);
  auto ol = j.find("open_loop");
  if (ol != j.end() && ol->is_array()) {
    for (const Json& p : *ol) {
      OpenLoopPoint pt;
      pt.offered_rps = Num(p, "offered_rps");
      pt.achieved_rps = Num(p, "achieved_rps");
      pt.fraction =
          Num(p, "fraction_of_max", row.closed_rps > 0 ? pt.offered_rps / row.closed_rps : 0);
      const Json& lat = Obj(p, "latency_us");
      pt.p50_us = Num(lat, "p50");
      pt.p99_us = Num(lat, "p99");
      pt.mean_us = Num(lat, "mean");
      pt.saturated = p.is_object() && p.value("saturated", false);
      pt.errors = Num(p, "errors");
      row.open_loop.push_back(pt);
    }
    std::sort(
        row.open_loop.begin(), row.open_loop.end(),
        [](const OpenLoopPoint& a, const OpenLoopPoint& b) { return a.fraction < b.fraction; });
  }
  return row;
}

// The cache hit ratio of a served row from jwtgated's own counters after the closed loop
// (warm-up included); -1 when the row has none.
double ServedHitRatio(const Json& j) {
  const Json& m = Obj(Obj(j, "daemon_metrics"), "after_closed_loop");
  const double hits = Num(m, "jwtgate_cache_hits_total");
  const double misses = Num(m, "jwtgate_cache_misses_total");
  return hits + misses > 0 ? hits / (hits + misses) : -1;
}

}  // namespace

double Row::AppCpuUs() const {
  auto it = cpu_us.find(app_group);
  if (it != cpu_us.end()) return it->second;
  // A served row's "total" counts the load generator: no fallback there.
  auto t = cpu_us.find("total");
  return t == cpu_us.end() || app_group != "bench" ? 0 : t->second;
}

double Row::ServerCpuUs() const {
  auto t = cpu_us.find("total");
  if (t == cpu_us.end() || app_group != "bench") return 0;
  return std::max(0.0, t->second - AppCpuUs());
}

double Row::AppRssKib() const {
  auto it = rss_kib.find(app_group);
  return it == rss_kib.end() ? 0 : it->second;
}

double Row::ServerRssKib() const {
  if (app_group != "bench") return 0;
  double sum = 0;
  for (const auto& [group, kib] : rss_kib) {
    if (group != "bench") sum += kib;
  }
  return sum;
}

namespace {

const Row* FindOk(const std::vector<Row>& rows, std::string_view key) {
  for (const Row& r : rows) {
    if (r.key == key && (r.status == "ok" || r.status == "errors")) return &r;
  }
  return nullptr;
}

}  // namespace

const Row* Results::Find(std::string_view key) const { return FindOk(rows, key); }

const Row* Results::FindServed(std::string_view key) const { return FindOk(served, key); }

const StrategyPlan* Plan::Find(std::string_view key) const {
  for (const StrategyPlan& s : strategies) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

bool ParseResults(std::string_view text, Results* out, std::string* error) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  Results r;
  r.schema = Str(doc, "schema");
  if (r.schema != "jwtgate.strategies/1") {
    *error = "schema is '" + r.schema + "', expected 'jwtgate.strategies/1'";
    return false;
  }
  if (doc.contains("error")) {
    *error = "the benchmark run failed: " + Str(doc, "error");
    return false;
  }
  r.command = Str(Obj(doc, "script"), "command");
  if (r.command.empty()) r.command = Str(doc, "command");
  const Json& config = Obj(doc, "config");
  r.jwt_alg = Str(config, "jwt_alg");
  r.threads = Num(config, "threads");
  const Json& machine = Obj(doc, "machine");
  r.machine_cores = Num(machine, "cores", r.threads);
  r.cpu_model = Str(machine, "cpu_model");
  const Json& rev = Obj(Obj(doc, "setup"), "revocation");
  r.revocation.revoked = Num(rev, "revoked_jtis");
  r.revocation.filter_bytes = Num(rev, "filter_bytes");
  r.revocation.exact_bytes = Num(rev, "exact_bytes");
  r.revocation.watermark_bytes = Num(rev, "watermark_bytes");
  r.revocation.expected_fpr = Num(rev, "expected_fpr", -1);

  auto rows = doc.find("strategies");
  if (rows == doc.end() || !rows->is_array()) {
    *error = "no 'strategies' array";
    return false;
  }
  for (const Json& j : *rows) {
    Row row = ParseRow(j, "bench");
    if (!row.key.empty()) r.rows.push_back(std::move(row));
  }
  const Json& e2e = Obj(doc, "e2e");
  auto served = e2e.find("strategies");
  if (served != e2e.end() && served->is_array()) {
    for (const Json& j : *served) {
      if (Str(Obj(j, "server"), "program") != "jwtgated") continue;
      Row row = ParseRow(j, "daemon");
      row.cache_hit_ratio = ServedHitRatio(j);
      if (!row.key.empty()) r.served.push_back(std::move(row));
    }
    r.served_revoked = Num(Obj(Obj(e2e, "setup"), "revocation"), "revoked_jtis");
  }
  if (r.rows.empty()) {
    *error = "the document holds no strategy rows";
    return false;
  }
  if (r.jwt_alg.empty()) {
    for (const Row& row : r.rows) {
      if (row.id == "S2" && !row.alg.empty()) {
        r.jwt_alg = row.alg;
        break;
      }
    }
  }
  *out = std::move(r);
  return true;
}

bool ParseFleet(std::string_view text, Fleet* out, std::string* error) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  if (Str(doc, "schema") != "jwtgate.fleet/1") {
    *error = "schema is '" + Str(doc, "schema") + "', expected 'jwtgate.fleet/1'";
    return false;
  }
  const Json& parts = Obj(doc, "parts");
  const Json& prop = Obj(parts, "propagation");
  const Json& cpu = Obj(Obj(prop, "cpu"), "cpu_s");
  Fleet f;
  f.command = Str(doc, "command");
  for (const auto& [name, v] : cpu.items()) {
    if (name.rfind("jwtgated_", 0) == 0) f.nodes += 1;
  }
  f.revocations = Num(prop, "acknowledged");
  f.rate_per_s = Num(prop, "achieved_rate_per_s");
  f.redis_cpu_s = Num(cpu, "redis");
  f.propagation_p99_ms = Num(Obj(prop, "overall_latency_ms"), "p99");
  f.catchup_rate_per_s = Num(Obj(parts, "catchup"), "catchup_rate_per_s");
  const Json& memory = Obj(parts, "memory");
  f.stream_bytes_per_entry = Num(Obj(memory, "probe"), "used_memory_bytes_per_entry");
  f.snapshot_bytes_per_revocation = Num(Obj(memory, "snapshot"), "bytes_per_revocation");
  f.snapshot_every = Num(Obj(doc, "parameters"), "snapshot_every");
  const std::pair<const char*, double> needed[] = {
      {"parts.propagation.cpu.cpu_s.jwtgated_*", f.nodes},
      {"parts.propagation.acknowledged", f.revocations},
      {"parts.propagation.cpu.cpu_s.redis", f.redis_cpu_s},
      {"parts.catchup.catchup_rate_per_s", f.catchup_rate_per_s},
      {"parts.memory.probe.used_memory_bytes_per_entry", f.stream_bytes_per_entry},
      {"parts.memory.snapshot.bytes_per_revocation", f.snapshot_bytes_per_revocation},
      {"parameters.snapshot_every", f.snapshot_every},
  };
  for (const auto& [name, value] : needed) {
    if (!(value > 0)) {
      *error = fmt::format("{} is missing or not > 0", name);
      return false;
    }
  }
  *out = std::move(f);
  return true;
}

bool ParseAlgMix(std::string_view text, std::vector<std::pair<std::string, double>>* out,
                 std::string* error) {
  std::vector<std::pair<std::string, double>> mix;
  double sum = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string item(text.substr(start, end - start));
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0) {
      *error = "'" + item + "' is not ALG:WEIGHT";
      return false;
    }
    std::string alg = item.substr(0, colon);
    std::string w = item.substr(colon + 1);
    char* endp = nullptr;
    const double weight = std::strtod(w.c_str(), &endp);
    if (w.empty() || endp == nullptr || *endp != '\0' || !std::isfinite(weight) || weight < 0) {
      *error = "weight '" + w + "' of " + alg + " is not a number >= 0";
      return false;
    }
    for (const auto& [a, _] : mix) {
      if (a == alg) {
        *error = alg + " appears twice";
        return false;
      }
    }
    mix.emplace_back(alg, weight);
    sum += weight;
    start = end + 1;
  }
  if (sum <= 0) {
    *error = "the weights sum to 0";
    return false;
  }
  for (auto& [_, w] : mix) w /= sum;
  *out = std::move(mix);
  return true;
}

namespace {

// The row `key` of the source `s` draws on.
const Row* RowOf(const Results& results, const StrategyPlan& s, std::string_view key) {
  return s.served ? results.FindServed(key) : results.Find(key);
}

// Fills the latency-derived and count fields of `s` from its cost and rows.
void Size(const Results& results, const Request& rq, StrategyPlan* s) {
  const double p99_us = rq.p99_ms * 1000.0;
  const double load = rq.rps * (1.0 + rq.headroom);
  s->cores_per_server = rq.cores_per_server;
  s->per_core_rps = s->app_cpu_us > 0 ? 1e6 / s->app_cpu_us : 0;
  double u_lat = std::numeric_limits<double>::infinity();
  double best_p99 = 0;
  bool any_open_loop = true;
  for (const std::string& key : s->rows) {
    const Row* row = RowOf(results, *s, key);
    if (row == nullptr || row->open_loop.empty()) {
      any_open_loop = false;
      continue;
    }
    const double row_u_lat = LatencyLimitedFraction(*row, p99_us);
    s->row_u_lat.emplace_back(key, row_u_lat);
    u_lat = std::min(u_lat, row_u_lat);
    double row_best = std::numeric_limits<double>::infinity();
    for (const OpenLoopPoint& p : row->open_loop) row_best = std::min(row_best, p.p99_us);
    best_p99 = std::max(best_p99, row_best);
  }
  if (!any_open_loop || s->per_core_rps <= 0) {
    s->u_lat = 0;
    s->row_u_lat.clear();
    s->note = s->per_core_rps <= 0 ? "no CPU figure measured" : "no open-loop runs measured";
    return;
  }
  s->u_lat = u_lat;
  s->best_p99_ms = best_p99 / 1000.0;
  if (u_lat <= 0) {
    // Either no load met the p99, or those that did were saturated or had errors.
    std::string unusable;
    for (const auto& [key, row_u_lat] : s->row_u_lat) {
      if (row_u_lat > 0) continue;
      for (const OpenLoopPoint& p : RowOf(results, *s, key)->open_loop) {
        if (p.p99_us <= p99_us && (p.saturated || p.errors > 0)) unusable = key;
      }
    }
    s->note = !unusable.empty() ? fmt::format(
                                      "every open-loop load of {} that met the p99 objective was "
                                      "saturated or had errors",
                                      unusable)
                                : fmt::format(
                                      "the p99 objective {} ms is below the best measured p99 "
                                      "({:.3f} ms)",
                                      rq.p99_ms, s->best_p99_ms);
    return;
  }
  s->u = std::min(rq.utilisation, u_lat);
  s->per_core_rps_at_objective = s->per_core_rps * s->u;
  s->cores = std::max(1.0, CeilCount(load / s->per_core_rps_at_objective));
  s->servers = CeilCount(s->cores / rq.cores_per_server) + 1;
  s->operating_fraction = rq.rps / (s->cores * s->per_core_rps);
  double p99 = 0, mean = 0;
  for (const std::string& key : s->rows) {
    const OpenLoopPoint* p = PointAtOrAbove(*RowOf(results, *s, key), s->operating_fraction);
    if (p == nullptr) continue;  // cannot happen: operating_fraction <= u <= u_lat
    s->row_points.emplace_back(key, *p);
    p99 = std::max(p99, p->p99_us);
    mean = std::max(mean, p->mean_us);
  }
  s->expected_p99_ms = p99 / 1000.0;
  s->expected_mean_ms = mean / 1000.0;
  s->in_flight = rq.rps * mean / 1e6;
  if (s->database) {
    if (s->server_cpu_us > 0) {
      s->db_cores = std::max(1.0, CeilCount(load * s->server_cpu_us / 1e6 / rq.utilisation));
      s->db_servers = CeilCount(s->db_cores / rq.cores_per_server) + 1;
    }
    const Row* row = results.Find(s->rows.front());
    s->pool_connections = std::max(1.0, CeilCount(load * row->service_mean_us / 1e6 / row->batch));
  }
  s->feasible = true;
}

}  // namespace

namespace {

void AddRows(StrategyPlan* s, const std::vector<std::string>& keys) {
  for (const std::string& k : keys) {
    if (std::find(s->rows.begin(), s->rows.end(), k) == s->rows.end()) s->rows.push_back(k);
  }
}

// What the JWT strategies are planned from: the rows of one source (served or in-process) for
// the mix's S1 rows and the run's JWT algorithm J.
struct JwtInputs {
  bool served = false;
  double mix_cpu = 0;      // sum of w_a * cpu_us(S1.a)
  double mix_rss_kib = 0;  // max over the mix's S1 rows
  std::vector<std::string> mix_rows;
  const Row* s1j = nullptr;
  const Row* s2j = nullptr;
  const Row* s7j = nullptr;
};

// Step 1: the request with its defaults resolved.
Request ResolveRequest(const Results& results, Request rq) {
  if (rq.cores_per_server <= 0) rq.cores_per_server = std::max(1.0, results.machine_cores);
  if (rq.alg_mix.empty() && !results.jwt_alg.empty()) rq.alg_mix = {{results.jwt_alg, 1.0}};
  if (rq.strategy.empty()) rq.strategy = rq.cache_hit >= 0 ? "S7" : "S2";
  // An id is held until its token expires.
  if (rq.revoked < 0 && rq.revocations_per_s >= 0) {
    rq.revoked = rq.revocations_per_s * rq.token_lifetime_s;
  }
  return rq;
}

// Step 2: the source and the mix. Served when every S1 row of the mix has a served row; false
// with plan->error when an algorithm of the mix was not measured at all.
bool ChooseJwtInputs(const Results& results, const Request& rq, Plan* plan, JwtInputs* in) {
  std::string measured;
  for (const Row& r : results.rows) {
    if (r.id == "S1" && results.Find(r.key) != nullptr) {
      measured += (measured.empty() ? "" : ", ") + r.alg;
    }
  }
  in->served = !results.served.empty();
  for (const auto& [alg, w] : rq.alg_mix) {
    if (results.Find("S1." + alg) == nullptr) {
      plan->error = fmt::format("algorithm {} was not measured in this run (measured: {})", alg,
                                measured.empty() ? "none" : measured);
      return false;
    }
    in->served = in->served && results.FindServed("S1." + alg) != nullptr;
  }
  auto find = [&](const std::string& key) {
    return in->served ? results.FindServed(key) : results.Find(key);
  };
  for (const auto& [alg, w] : rq.alg_mix) {
    const Row* r = find("S1." + alg);
    in->mix_cpu += w * r->AppCpuUs();
    in->mix_rss_kib = std::max(in->mix_rss_kib, r->AppRssKib());
    if (w > 0) in->mix_rows.push_back(r->key);
  }
  const std::string& j = results.jwt_alg;
  in->s1j = find("S1." + j);
  in->s2j = find("S2." + j);
  in->s7j = find("S7." + j);
  plan->served = in->served;
  if (!in->served) {
    plan->outside_measured.push_back(
        "no end-to-end rows served by jwtgated for this mix: the JWT strategies are planned "
        "from the in-process rows, without the HTTP path, and their memory is the benchmark "
        "process's");
  }
  return true;
}

// Step 3: the revocation set's size and resident bytes per id.
void PlanRevocation(const Results& results, const Request& rq, const JwtInputs& in, Plan* plan) {
  const Revocation& rev = results.revocation;
  const double measured = in.served ? results.served_revoked : rev.revoked;
  plan->revoked = rq.revoked >= 0 ? rq.revoked : measured;
  plan->expected_fpr = rev.expected_fpr;
  if (in.served && in.s1j != nullptr && in.s2j != nullptr && measured > 0) {
    plan->stateless_memory_mib = in.mix_rss_kib / 1024.0;
    plan->bytes_per_id =
        std::max(0.0, (in.s2j->AppRssKib() - in.s1j->AppRssKib()) * 1024.0 / measured);
    plan->revocation_memory_mib = plan->revoked * plan->bytes_per_id / 1048576.0;
  } else {
    plan->bytes_per_id = rev.BytesPerId();
    plan->revocation_memory_mib =
        (plan->revoked * rev.BytesPerId() + rev.watermark_bytes) / 1048576.0;
  }
  if (rq.revoked >= 0 && measured <= 0) {
    plan->outside_measured.push_back("no revocation set was measured in this run");
  } else if (plan->revoked > measured) {
    plan->outside_measured.push_back(fmt::format(
        "{:.0f} revoked ids is beyond the {:.0f} measured: memory is extrapolated linearly and "
        "the CPU cost (more cache misses in a larger set) is the measured one",
        plan->revoked, measured));
  }
}

// Step 4: S1, S2 and S7 from the chosen rows. False with plan->error when the request needs a
// row that was not measured.
bool PlanJwt(const Results& results, const Request& rq, const JwtInputs& in, Plan* plan,
             std::vector<StrategyPlan>* out) {
  // In-process memory is the measured process, grown by the ids beyond those measured.
  const double delta_kib =
      (plan->revoked - results.revocation.revoked) * results.revocation.BytesPerId() / 1024.0;
  const double revocation_mib = plan->revocation_memory_mib;
  StrategyPlan s1;
  s1.key = "S1";
  s1.name = "stateless JWT";
  s1.served = in.served;
  s1.app_cpu_us = in.mix_cpu;
  s1.memory_mib = in.mix_rss_kib / 1024.0;
  AddRows(&s1, in.mix_rows);
  out->push_back(s1);
  if (in.s1j == nullptr || in.s2j == nullptr) return true;

  StrategyPlan s2 = s1;
  s2.key = "S2";
  s2.name = "JWT + in-memory revocation";
  s2.app_cpu_us = in.mix_cpu + (in.s2j->AppCpuUs() - in.s1j->AppCpuUs());
  AddRows(&s2, {in.s2j->key});
  s2.memory_mib =
      in.served ? s1.memory_mib + revocation_mib : (in.s2j->AppRssKib() + delta_kib) / 1024.0;
  out->push_back(s2);

  if (in.s7j == nullptr) {
    if (rq.strategy == "S7" || rq.cache_hit >= 0) {
      plan->error = "the verified-token cache (S7) was not measured in this run";
      return false;
    }
    return true;
  }
  StrategyPlan s7;
  s7.key = "S7";
  s7.name = "JWT + verified-token cache + in-memory revocation";
  s7.served = in.served;
  const double h0 = in.s7j->cache_hit_ratio;
  const double hit = rq.cache_hit >= 0 ? rq.cache_hit : h0;
  if (h0 <= 0) {
    if (rq.strategy != "S7") return true;
    plan->error = "the S7 row has no measured cache-hit ratio";
    return false;
  }
  const double cpu_hit = (in.s7j->AppCpuUs() - (1 - h0) * in.s2j->AppCpuUs()) / h0;
  s7.app_cpu_us = hit * cpu_hit + (1 - hit) * s2.app_cpu_us;
  AddRows(&s7, {in.s7j->key});
  if (hit < 1) AddRows(&s7, s2.rows);
  s7.memory_mib =
      in.served ? s2.memory_mib + std::max(0.0, in.s7j->AppRssKib() - in.s2j->AppRssKib()) / 1024.0
                : (in.s7j->AppRssKib() + delta_kib) / 1024.0;
  if (rq.cache_hit >= 0 && hit + kEps < h0) {
    plan->outside_measured.push_back(fmt::format(
        "cache-hit ratio {} is below the measured {:.3f}: interpolated between the measured "
        "hit (S7) and miss (S2) costs; cache insertion and eviction are not measured",
        hit, h0));
  }
  out->push_back(s7);
  return true;
}

// Step 5: the session-lookup and denylist rows, as measured in process (S3 with the mix
// applied to its JWT part); with served JWT rows, plus the HTTP path.
std::vector<StrategyPlan> PlanDatabases(const Results& results, const Request& rq,
                                        const JwtInputs& in, Plan* plan) {
  const Row* s1j = results.Find("S1." + results.jwt_alg);
  const bool mix_is_run_alg = rq.alg_mix.size() == 1 && rq.alg_mix[0].first == results.jwt_alg;
  if (in.served && s1j != nullptr && in.s1j != nullptr) {
    plan->http_path_us = std::max(0.0, in.s1j->AppCpuUs() - s1j->AppCpuUs());
  }
  std::vector<StrategyPlan> dbs;
  for (const Row& r : results.rows) {
    if (results.Find(r.key) == nullptr) continue;
    if (r.id != "S3" && r.id != "S4" && r.id != "S5" && r.id != "S6") continue;
    StrategyPlan s;
    s.key = r.key;
    s.name = r.name;
    s.database = true;
    s.app_cpu_us = r.AppCpuUs() + plan->http_path_us;
    s.server_cpu_us = r.ServerCpuUs();
    s.rows = {r.key};
    if (!r.alg.empty() && s1j != nullptr && r.alg == results.jwt_alg && !mix_is_run_alg) {
      // The mix's verification cost in process, where this row was measured.
      double mix_in_process = 0;
      for (const auto& [alg, w] : rq.alg_mix) {
        mix_in_process += w * results.Find("S1." + alg)->AppCpuUs();
        if (w > 0) AddRows(&s, {"S1." + alg});
      }
      s.app_cpu_us += mix_in_process - s1j->AppCpuUs();
    }
    s.memory_mib = in.served ? plan->stateless_memory_mib : r.AppRssKib() / 1024.0;
    s.db_memory_mib = r.ServerRssKib() / 1024.0;
    Size(results, rq, &s);
    dbs.push_back(s);
  }
  if (in.served && !dbs.empty()) {
    plan->outside_measured.push_back(fmt::format(
        "the session lookups were measured in process: their application CPU adds jwtgated's "
        "measured HTTP path ({:.3f} us), their memory is a stateless jwtgated's and their "
        "latency is the in-process one",
        plan->http_path_us));
  }
  double best_total = std::numeric_limits<double>::infinity();
  for (const StrategyPlan& s : dbs) {
    const bool session_lookup =
        s.key.rfind("S4", 0) == 0 || s.key.rfind("S5", 0) == 0 || s.key.rfind("S6", 0) == 0;
    if (s.feasible && session_lookup && s.cores + s.db_cores < best_total) {
      best_total = s.cores + s.db_cores;
      plan->best_database = s.key;
    }
  }
  return dbs;
}

// Step 6: the fleet, from the headline's per-node capacity and the fleet document's Redis
// figures.
void PlanFleet(const Request& rq, const Fleet* fleet, Plan* plan) {
  const StrategyPlan& h = plan->strategies.front();
  if (!h.feasible) return;
  FleetPlan& f = plan->fleet;
  f.nodes = rq.nodes > 0 ? rq.nodes : h.servers;
  f.capacity_rps = std::max(0.0, f.nodes - 1) * rq.cores_per_server * h.per_core_rps_at_objective /
                   (1.0 + rq.headroom);
  f.fits = f.capacity_rps + kEps >= rq.rps;
  if (!f.fits) {
    plan->outside_measured.push_back(fmt::format(
        "{:.0f} nodes carry {:.0f} requests/s at the objective with one node down, below the "
        "requested {:.0f}: {:.0f} nodes are needed",
        f.nodes, f.capacity_rps, rq.rps, h.servers));
  }
  if (fleet == nullptr) return;
  if (rq.revocations_per_s < 0) {
    plan->outside_measured.push_back(
        "a fleet document without --revocations-per-s: the Redis figures need a revocation "
        "rate");
    return;
  }
  plan->redis_planned = true;
  f.revocations_per_s = rq.revocations_per_s;
  f.measured_nodes = fleet->nodes;
  f.measured_rate_per_s = fleet->rate_per_s;
  f.redis_us_per_revocation_per_node = fleet->RedisUsPerRevocationPerNode();
  f.redis_cores = rq.revocations_per_s * f.nodes * f.redis_us_per_revocation_per_node / 1e6;
  f.redis_fits = f.redis_cores <= rq.utilisation;
  const double snapshot = plan->revoked * fleet->snapshot_bytes_per_revocation;
  const double stream = fleet->snapshot_every * fleet->stream_bytes_per_entry;
  f.redis_memory_mib = (snapshot + stream) / 1048576.0;
  f.redis_peak_memory_mib = (2 * snapshot + stream) / 1048576.0;
  f.catchup_s = plan->revoked / fleet->catchup_rate_per_s;
  f.propagation_p99_ms = fleet->propagation_p99_ms;
  if (!f.redis_fits) {
    plan->outside_measured.push_back(
        fmt::format("Redis: {:.0f} revocations/s to {:.0f} nodes need {:.2f} of a core, above the "
                    "utilisation target {}; one Redis runs one command thread",
                    rq.revocations_per_s, f.nodes, f.redis_cores, rq.utilisation));
  }
  if (f.nodes > fleet->nodes || rq.revocations_per_s > fleet->rate_per_s) {
    plan->outside_measured.push_back(fmt::format(
        "the fleet was measured with {:.0f} nodes at {:.0f} revocations/s: Redis CPU is scaled "
        "linearly in nodes and rate, and the propagation p99 is the measured one",
        fleet->nodes, fleet->rate_per_s));
  }
}

}  // namespace

Plan MakePlan(const Results& results, const Request& request, const Fleet* fleet) {
  Plan plan;
  const Request rq = ResolveRequest(results, request);
  plan.request = rq;
  plan.headline = rq.strategy;
  JwtInputs in;
  if (!ChooseJwtInputs(results, rq, &plan, &in)) return plan;
  PlanRevocation(results, rq, in, &plan);
  std::vector<StrategyPlan> jwt;
  if (!PlanJwt(results, rq, in, &plan, &jwt)) return plan;
  for (StrategyPlan& s : jwt) Size(results, rq, &s);
  std::vector<StrategyPlan> dbs = PlanDatabases(results, rq, in, &plan);

  // The headline first, then the other JWT strategies, then the databases.
  auto headline = std::find_if(jwt.begin(), jwt.end(),
                               [&](const StrategyPlan& s) { return s.key == rq.strategy; });
  if (headline == jwt.end()) {
    plan.error =
        fmt::format("strategy {} was not measured in this run (or is not S1, S2, S7)", rq.strategy);
    return plan;
  }
  std::rotate(jwt.begin(), headline, headline + 1);
  plan.strategies = std::move(jwt);
  for (StrategyPlan& s : dbs) plan.strategies.push_back(s);
  const StrategyPlan& h = plan.strategies.front();
  if (!h.feasible) plan.outside_measured.push_back(h.key + ": " + h.note);
  if (h.feasible && h.u_lat < rq.utilisation) {
    plan.outside_measured.push_back(fmt::format(
        "{}: the highest measured load that met the objective is {:.2f} of the maximum, below "
        "the utilisation target {}; planned at {:.2f}",
        h.key, h.u_lat, rq.utilisation, h.u));
  }
  PlanFleet(rq, fleet, &plan);
  return plan;
}

namespace {

std::string FormatFleetText(const Plan& plan) {
  const FleetPlan& f = plan.fleet;
  std::string out = fmt::format(
      "  fleet            {:.0f} nodes carry {:.0f} requests/s at the objective with one down\n",
      f.nodes, f.capacity_rps);
  if (!plan.redis_planned) return out;
  out += fmt::format(
      "  Redis CPU        {:.3f} of a core for {:.0f} revocations/s to {:.0f} nodes "
      "({:.1f} us per revocation per node)\n",
      f.redis_cores, f.revocations_per_s, f.nodes, f.redis_us_per_revocation_per_node);
  out += fmt::format(
      "  Redis memory     {:.1f} MiB (peak {:.1f} MiB while a snapshot is replaced) for "
      "{:.0f} revoked ids\n",
      f.redis_memory_mib, f.redis_peak_memory_mib, plan.revoked);
  out += fmt::format("  catch-up         {:.1f} s for a node that reloads the revoked ids\n",
                     f.catchup_s);
  out +=
      fmt::format("  propagation p99  {:.3f} ms (measured: {:.0f} nodes, {:.0f} revocations/s)\n",
                  f.propagation_p99_ms, f.measured_nodes, f.measured_rate_per_s);
  return out;
}

OJson FleetJson(const Plan& plan) {
  const FleetPlan& f = plan.fleet;
  OJson o;
  o["nodes"] = f.nodes;
  o["capacity_rps"] = f.capacity_rps;
  o["fits"] = f.fits;
  if (!plan.redis_planned) return o;
  o["revocations_per_s"] = f.revocations_per_s;
  o["redis_us_per_revocation_per_node"] = f.redis_us_per_revocation_per_node;
  o["redis_cores"] = f.redis_cores;
  o["redis_fits"] = f.redis_fits;
  o["redis_memory_mib"] = f.redis_memory_mib;
  o["redis_peak_memory_mib"] = f.redis_peak_memory_mib;
  o["catchup_s"] = f.catchup_s;
  o["propagation_p99_ms"] = f.propagation_p99_ms;
  o["measured_nodes"] = f.measured_nodes;
  o["measured_rate_per_s"] = f.measured_rate_per_s;
  return o;
}

}  // namespace

std::string FormatPlanText(const Plan& plan, const Results& results) {
  const Request& rq = plan.request;
  std::string out;
  std::string mix;
  for (const auto& [a, w] : rq.alg_mix)
    mix += fmt::format("{}{}:{:.3g}", mix.empty() ? "" : ",", a, w);
  out += fmt::format("jwtgate plan: {:.0f} requests/s, p99 <= {} ms, algorithms {}\n", rq.rps,
                     rq.p99_ms, mix);
  out += fmt::format("  from: {}\n",
                     results.command.empty() ? "(no command recorded)" : results.command);
  out += fmt::format(
      "  measured on: {} ({:.0f} cores); utilisation target {}, headroom {}, "
      "{:.0f} cores per server, N+1\n",
      results.cpu_model.empty() ? "unknown CPU" : results.cpu_model, results.machine_cores,
      rq.utilisation, rq.headroom, rq.cores_per_server);
  out += plan.served
             ? fmt::format(
                   "  JWT figures: jwtgated served on loopback (its own CPU and memory, the "
                   "HTTP path included; HTTP path {:.3f} us)\n\n",
                   plan.http_path_us)
             : std::string(
                   "  JWT figures: in process (no HTTP path; memory of the benchmark "
                   "process)\n\n");
  const StrategyPlan& h = plan.strategies.front();
  if (h.feasible) {
    out += fmt::format("{} ({}):\n", h.key, h.name);
    out += fmt::format("  cores            {:.0f}  ({:.0f} servers of {:.0f} cores, N+1)\n",
                       h.cores, h.servers, rq.cores_per_server);
    if (h.key == "S1") {
      out += fmt::format("  memory           {:.1f} MiB per server (no revocation state)\n",
                         h.memory_mib);
    } else {
      out += fmt::format(
          "  memory           {:.1f} MiB per server (revocation set {:.1f} MiB for "
          "{:.0f} revoked ids at {:.1f} B each)\n",
          h.memory_mib, plan.revocation_memory_mib, plan.revoked, plan.bytes_per_id);
    }
    out += fmt::format("  expected p99     {:.3f} ms at {:.2f} of the per-core maximum\n",
                       h.expected_p99_ms, h.operating_fraction);
    out += fmt::format("  in flight        {:.1f} requests (Little's law, mean {:.3f} ms)\n",
                       h.in_flight, h.expected_mean_ms);
    out += fmt::format(
        "  per-core rate    {:.0f}/s at 100 % ({:.4f} CPU us/request), {:.0f}/s "
        "at the objective (u = {:.2f})\n",
        h.per_core_rps, h.app_cpu_us, h.per_core_rps_at_objective, h.u);
    out += FormatFleetText(plan);
  } else {
    out += fmt::format("{} ({}): CANNOT PLAN: {}\n", h.key, h.name, h.note);
  }
  if (!plan.best_database.empty()) {
    const StrategyPlan& d = *plan.Find(plan.best_database);
    out += fmt::format("\nDB-lookup alternative {} ({}):\n", d.key, d.name);
    out += fmt::format(
        "  application cores {:.0f} ({:.0f} servers), database cores {:.0f} "
        "({:.0f} servers), pool {:.0f} connections, expected p99 {:.3f} ms\n",
        d.cores, d.servers, d.db_cores, d.db_servers, d.pool_connections, d.expected_p99_ms);
  } else {
    out += "\nDB-lookup alternative: none of the measured session lookups meets the objective\n";
  }
  out += "\nAll strategies:\n";
  out += fmt::format("  {:<22} {:>11} {:>12} {:>6} {:>6} {:>8} {:>8} {:>10}  {}\n", "strategy",
                     "CPU us/req", "core rate/s", "u", "cores", "servers", "DB cores", "p99 ms",
                     "note");
  for (const StrategyPlan& s : plan.strategies) {
    if (s.feasible) {
      out += fmt::format(
          "  {:<22} {:>11.4f} {:>12.0f} {:>6.2f} {:>6.0f} {:>8.0f} {:>8.0f} "
          "{:>10.3f}\n",
          s.key, s.app_cpu_us, s.per_core_rps, s.u, s.cores, s.servers, s.db_cores,
          s.expected_p99_ms);
    } else {
      out += fmt::format("  {:<22} {:>11.4f} {:>12.0f} {:>6} {:>6} {:>8} {:>8} {:>10}  {}\n", s.key,
                         s.app_cpu_us, s.per_core_rps, "-", "-", "-", "-", "-", s.note);
    }
  }
  if (!plan.outside_measured.empty()) {
    out += "\nOUTSIDE WHAT WAS MEASURED:\n";
    for (const std::string& w : plan.outside_measured) out += "  - " + w + "\n";
  }
  return out;
}

std::string FormatPlanJson(const Plan& plan, const Results& results) {
  const Request& rq = plan.request;
  OJson j;
  j["schema"] = "jwtgate.plan/1";
  j["results_command"] = results.command;
  OJson req;
  req["rps"] = rq.rps;
  req["p99_ms"] = rq.p99_ms;
  OJson mix = OJson::object();
  for (const auto& [a, w] : rq.alg_mix) mix[a] = w;
  req["alg_mix"] = mix;
  req["revoked"] = plan.revoked;
  req["cache_hit"] = rq.cache_hit >= 0 ? OJson(rq.cache_hit) : OJson(nullptr);
  req["utilisation"] = rq.utilisation;
  req["headroom"] = rq.headroom;
  req["cores_per_server"] = rq.cores_per_server;
  req["strategy"] = rq.strategy;
  req["nodes"] = rq.nodes > 0 ? OJson(rq.nodes) : OJson(nullptr);
  req["revocations_per_s"] =
      rq.revocations_per_s >= 0 ? OJson(rq.revocations_per_s) : OJson(nullptr);
  req["token_lifetime_s"] = rq.token_lifetime_s;
  j["request"] = req;
  j["headline"] = plan.headline;
  j["best_database"] = plan.best_database.empty() ? OJson(nullptr) : OJson(plan.best_database);
  j["source"] = plan.served ? "served" : "in-process";
  j["http_path_us"] = plan.http_path_us;
  j["stateless_memory_mib"] = plan.stateless_memory_mib;
  j["revocation"] = {
      {"revoked", plan.revoked},
      {"memory_mib", plan.revocation_memory_mib},
      {"bytes_per_id", plan.bytes_per_id},
      {"measured_revoked", plan.served ? results.served_revoked : results.revocation.revoked},
      {"expected_fpr", plan.expected_fpr}};
  OJson list = OJson::array();
  for (const StrategyPlan& s : plan.strategies) {
    OJson o;
    o["key"] = s.key;
    o["name"] = s.name;
    o["database"] = s.database;
    o["source"] = s.served ? "served" : "in-process";
    o["rows"] = s.rows;
    o["feasible"] = s.feasible;
    o["app_cpu_us"] = s.app_cpu_us;
    o["server_cpu_us"] = s.server_cpu_us;
    o["per_core_rps"] = s.per_core_rps;
    o["u_lat"] = s.u_lat;
    o["best_p99_ms"] = s.best_p99_ms;
    o["u"] = s.u;
    o["per_core_rps_at_objective"] = s.per_core_rps_at_objective;
    o["cores"] = s.cores;
    o["servers"] = s.servers;
    o["operating_fraction"] = s.operating_fraction;
    o["expected_p99_ms"] = s.expected_p99_ms;
    o["expected_mean_ms"] = s.expected_mean_ms;
    o["in_flight"] = s.in_flight;
    o["memory_mib"] = s.memory_mib;
    if (s.database) {
      o["db_cores"] = s.db_cores;
      o["db_servers"] = s.db_servers;
      o["pool_connections"] = s.pool_connections;
      o["db_memory_mib"] = s.db_memory_mib;
    }
    if (!s.note.empty()) o["note"] = s.note;
    OJson row_u_lat = OJson::object();
    for (const auto& [key, u_lat] : s.row_u_lat) row_u_lat[key] = u_lat;
    o["u_lat_by_row"] = row_u_lat;
    OJson points = OJson::object();
    for (const auto& [key, p] : s.row_points) {
      points[key] = {{"fraction", p.fraction},
                     {"offered_rps", p.offered_rps},
                     {"p99_ms", p.p99_us / 1000.0},
                     {"mean_ms", p.mean_us / 1000.0}};
    }
    o["operating_points"] = points;
    list.push_back(o);
  }
  j["strategies"] = list;
  j["fleet"] = plan.strategies.front().feasible ? FleetJson(plan) : OJson(nullptr);
  j["outside_measured"] = plan.outside_measured;
  return j.dump(2) + "\n";
}

}  // namespace jwtgate::cli::plan
