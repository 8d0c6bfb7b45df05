// The capacity model of `jwtgate plan` (core/cli/plan_model.h) on a small synthetic strategies
// document whose answers are worked out by hand in the comments.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../../core/cli/plan_model.h"

namespace jwtgate::cli::plan {
namespace {

using Json = nlohmann::json;

// Open-loop runs at 0.25, 0.5 and 0.75 of the maximum with the given p99 and mean latencies.
Json OpenLoop(double max_rps, std::initializer_list<std::pair<double, double>> p99_mean) {
  Json runs = Json::array();
  double f = 0.25;
  for (const auto& [p99, mean] : p99_mean) {
    runs.push_back({{"offered_rps", f * max_rps},
                    {"achieved_rps", f * max_rps},
                    {"saturated", false},
                    {"errors", 0},
                    {"fraction_of_max", f},
                    {"latency_us", {{"p50", mean}, {"p90", p99}, {"p99", p99}, {"mean", mean}}}});
    f += 0.25;
  }
  return runs;
}

Json MakeRow(const std::string& key, const std::string& id, const char* alg, const char* backend,
         Json cpu, Json memory, Json open_loop, double service_mean_us = 1) {
  return {{"key", key},
          {"id", id},
          {"name", id + " row"},
          {"alg", alg ? Json(alg) : Json(nullptr)},
          {"backend", backend ? Json(backend) : Json(nullptr)},
          {"batch", 1},
          {"status", "ok"},
          {"closed_loop",
           {{"throughput_rps", 400000.0},
            {"service_time_us", {{"mean", service_mean_us}}},
            {"cpu_s_per_million", cpu}}},
          {"memory", memory},
          {"open_loop", open_loop}};
}

// S1.HS256 1 us, S1.ES256 20 us, S2.HS256 1.5 us, S7.HS256 0.5 us at a measured hit ratio of
// 0.8, S4.redis.sync 10 us (application) + 5 us (redis-server); 1000 revoked ids at 10 B each.
std::string Document() {
  const Json fast = OpenLoop(400000, {{100, 50}, {200, 80}, {1000, 300}});
  Json doc = {
      {"schema", "jwtgate.strategies/1"},
      {"script", {{"command", "scripts/bench-strategies --build b --out r"}}},
      {"machine", {{"cores", 4}, {"cpu_model", "Test CPU"}}},
      {"config", {{"threads", 4}, {"jwt_alg", "HS256"}}},
      {"setup",
       {{"revocation",
         {{"revoked_jtis", 1000},
          {"filter_bytes", 4000},
          {"exact_bytes", 6000},
          {"watermark_bytes", 100},
          {"expected_fpr", 0.001}}}}},
  };
  Json rows = Json::array();
  rows.push_back(MakeRow("S1.HS256", "S1", "HS256", nullptr, {{"bench", 1.0}, {"total", 1.0}},
                     {{"bench", {{"rss_kib", 10240}}}}, fast));
  rows.push_back(MakeRow("S1.ES256", "S1", "ES256", nullptr, {{"bench", 20.0}, {"total", 20.0}},
                     {{"bench", {{"rss_kib", 10240}}}},
                     OpenLoop(20000, {{300, 100}, {500, 200}, {5000, 900}})));
  rows.push_back(MakeRow("S2.HS256", "S2", "HS256", nullptr, {{"bench", 1.5}, {"total", 1.5}},
                     {{"bench", {{"rss_kib", 20480}}}}, fast));
  Json s7 = MakeRow("S7.HS256", "S7", "HS256", nullptr, {{"bench", 0.5}, {"total", 0.5}},
                {{"bench", {{"rss_kib", 20480}}}}, fast);
  s7["stats"] = {{"cache_hit_ratio_closed_loop", 0.8}};
  rows.push_back(s7);
  rows.push_back(MakeRow("S4.redis.sync", "S4", nullptr, "redis",
                     {{"bench", 10.0}, {"redis-server", 5.0}, {"total", 15.0}},
                     {{"bench", {{"rss_kib", 8192}}}, {"redis-server", {{"rss_kib", 102400}}}},
                     OpenLoop(40000, {{400, 100}, {800, 200}, {3000, 900}}), 50));
  Json skipped = {{"key", "S5.postgresql.sync"}, {"id", "S5"}, {"status", "skipped"}};
  rows.push_back(skipped);
  doc["strategies"] = rows;
  return doc.dump();
}

// Document() with end-to-end rows served by jwtgated: S1.HS256 5 us and 20 MiB, S1.ES256 24 us
// and 22 MiB, S2.HS256 6 us and 52 MiB holding 1 Mi revoked ids (32 B each), S7.HS256 2 us and
// 54 MiB at a hit ratio of 900 / (900 + 100) = 0.9. The load generator ("client") and the
// nginx floor (S0) must not count; S4 has no served row.
std::string ServedDocument() {
  Json doc = Json::parse(Document());
  auto served = [](const std::string& key, const std::string& id, const char* alg, double cpu,
                   double rss_kib, Json open_loop) {
    Json row = MakeRow(key, id, alg, nullptr, {{"client", 8.0}, {"daemon", cpu}, {"total", cpu + 8}},
                       {{"client", {{"rss_kib", 7000}}}, {"daemon", {{"rss_kib", rss_kib}}}},
                       open_loop);
    row["server"] = {{"program", "jwtgated"}};
    return row;
  };
  const Json http = OpenLoop(100000, {{200, 60}, {400, 100}, {2000, 500}});
  Json rows = Json::array();
  Json floor = MakeRow("S0", "S0", nullptr, nullptr, {{"client", 8.0}, {"nginx", 3.0}},
                       {{"nginx", {{"rss_kib", 1}}}}, http);
  floor["server"] = {{"program", "nginx"}};
  rows.push_back(floor);
  rows.push_back(served("S1.HS256", "S1", "HS256", 5.0, 20480, http));
  rows.push_back(served("S1.ES256", "S1", "ES256", 24.0, 22528,
                        OpenLoop(20000, {{500, 150}, {900, 300}, {6000, 1000}})));
  rows.push_back(served("S2.HS256", "S2", "HS256", 6.0, 20480 + 32768, http));
  Json s7 = served("S7.HS256", "S7", "HS256", 2.0, 20480 + 32768 + 2048, http);
  s7["daemon_metrics"] = {{"after_closed_loop",
                           {{"jwtgate_cache_hits_total", 900.0}, {"jwtgate_cache_misses_total", 100.0}}}};
  rows.push_back(s7);
  rows.push_back({{"key", "S4.redis.sync"}, {"id", "S4"}, {"status", "not measured"}});
  doc["e2e"] = {{"setup", {{"revocation", {{"revoked_jtis", 1048576}}}}}, {"strategies", rows}};
  return doc.dump();
}

Results Parse() {
  Results r;
  std::string error;
  REQUIRE(ParseResults(Document(), &r, &error));
  return r;
}

Request Req(double rps, double p99_ms) {
  Request q;
  q.rps = rps;
  q.p99_ms = p99_ms;
  return q;
}

TEST_CASE("plan: the results document is read as written", "[plan]") {
  const Results r = Parse();
  CHECK(r.jwt_alg == "HS256");
  CHECK(r.machine_cores == 4);
  CHECK(r.rows.size() == 6);
  CHECK(r.Find("S5.postgresql.sync") == nullptr);  // skipped rows are not used
  const Row* s4 = r.Find("S4.redis.sync");
  REQUIRE(s4 != nullptr);
  CHECK(s4->AppCpuUs() == Approx(10));
  CHECK(s4->ServerCpuUs() == Approx(5));
  CHECK(s4->ServerRssKib() == Approx(102400));
  CHECK(r.revocation.BytesPerId() == Approx(10));

  std::string error;
  Results bad;
  CHECK_FALSE(ParseResults(R"({"schema":"other/1","strategies":[]})", &bad, &error));
  CHECK(error.find("jwtgate.strategies/1") != std::string::npos);
  CHECK_FALSE(ParseResults("[1,2", &bad, &error));
  CHECK_FALSE(ParseResults(R"({"schema":"jwtgate.strategies/1","error":"exit 1"})", &bad, &error));
  CHECK(error.find("failed") != std::string::npos);
}

TEST_CASE("plan: S2 with the run's algorithm", "[plan]") {
  // cpu 1.5 us -> C = 666,667/s; p99 <= 0.5 ms holds at 0.25 and 0.5 -> u = min(0.7, 0.5);
  // cores = ceil(100000 * 1.25 / (666667 * 0.5)) = ceil(0.375) = 1; servers = ceil(1/4)+1 = 2;
  // operating load 100000 / 666667 = 0.15 -> the 0.25 run: p99 0.1 ms, mean 50 us ->
  // 5 requests in flight.
  const Results r = Parse();
  const Plan p = MakePlan(r, Req(100000, 0.5));
  REQUIRE(p.error.empty());
  CHECK(p.headline == "S2");
  const StrategyPlan& s = p.strategies.front();
  CHECK(s.key == "S2");
  REQUIRE(s.feasible);
  CHECK(s.per_core_rps == Approx(1e6 / 1.5));
  CHECK(s.u_lat == Approx(0.5));
  CHECK(s.u == Approx(0.5));
  CHECK(s.cores == 1);
  CHECK(s.servers == 2);
  CHECK(s.operating_fraction == Approx(0.15));
  CHECK(s.expected_p99_ms == Approx(0.1));
  CHECK(s.in_flight == Approx(5));
  CHECK(s.memory_mib == Approx(20));
  CHECK(p.revocation_memory_mib == Approx(10100.0 / 1048576.0));
  CHECK(p.expected_fpr == Approx(0.001));
  // No served rows in this document, and u_lat 0.5 below the 0.7 target.
  REQUIRE(p.outside_measured.size() == 2);
  CHECK_FALSE(p.served);
  CHECK(p.outside_measured[0].find("planned from the in-process rows") != std::string::npos);
}

TEST_CASE("plan: an algorithm mix weights the per-algorithm costs", "[plan]") {
  // S1 mix = 0.5 * 20 + 0.5 * 1 = 10.5 us; S2 = 10.5 + (1.5 - 1) = 11 us -> C = 90,909/s;
  // p99 <= 1 ms: HS256 rows to 0.75, ES256 to 0.5 -> u = 0.5;
  // cores = ceil(125000 / 45454.5) = ceil(2.75) = 3; operating 100000 / (3 * 90909) = 0.367
  // -> the 0.5 runs, worst p99 = ES256's 0.5 ms.
  const Results r = Parse();
  Request q = Req(100000, 1);
  std::string error;
  REQUIRE(ParseAlgMix("ES256:1,HS256:1", &q.alg_mix, &error));
  CHECK(q.alg_mix[0].second == Approx(0.5));
  const Plan p = MakePlan(r, q);
  REQUIRE(p.error.empty());
  const StrategyPlan* s1 = p.Find("S1");
  const StrategyPlan* s2 = p.Find("S2");
  REQUIRE(s1 != nullptr);
  REQUIRE(s2 != nullptr);
  CHECK(s1->app_cpu_us == Approx(10.5));
  CHECK(s2->app_cpu_us == Approx(11));
  CHECK(s2->u == Approx(0.5));
  CHECK(s2->cores == 3);
  CHECK(s2->servers == 2);
  CHECK(s2->operating_fraction == Approx(100000.0 / (3 * 1e6 / 11)));
  CHECK(s2->expected_p99_ms == Approx(0.5));
}

TEST_CASE("plan: the verified-token cache interpolates between hit and miss", "[plan]") {
  // cpu_hit = (0.5 - 0.2 * 1.5) / 0.8 = 0.25 us; at hit 0.5: 0.5 * 0.25 + 0.5 * 1.5 = 0.875.
  const Results r = Parse();
  Request q = Req(100000, 0.5);
  q.cache_hit = 0.8;
  Plan p = MakePlan(r, q);
  REQUIRE(p.error.empty());
  CHECK(p.headline == "S7");
  CHECK(p.strategies.front().app_cpu_us == Approx(0.5));
  q.cache_hit = 0.5;
  p = MakePlan(r, q);
  CHECK(p.strategies.front().app_cpu_us == Approx(0.875));
  bool noted = false;
  for (const std::string& w : p.outside_measured) noted |= w.find("cache-hit") != std::string::npos;
  CHECK(noted);
}

TEST_CASE("plan: the DB-lookup alternative counts application and database cores", "[plan]") {
  // app 10 us -> C = 100,000/s; p99 <= 1 ms to 0.5 -> u = 0.5; cores = ceil(125000 / 50000) = 3;
  // DB: ceil(125000 * 5e-6 / 0.7) = ceil(0.893) = 1 core, ceil(1/4)+1 = 2 servers;
  // pool: ceil(125000 * 50e-6 / 1) = ceil(6.25) = 7 connections.
  const Results r = Parse();
  const Plan p = MakePlan(r, Req(100000, 1));
  CHECK(p.best_database == "S4.redis.sync");
  const StrategyPlan* d = p.Find("S4.redis.sync");
  REQUIRE(d != nullptr);
  REQUIRE(d->feasible);
  CHECK(d->cores == 3);
  CHECK(d->servers == 2);
  CHECK(d->db_cores == 1);
  CHECK(d->db_servers == 2);
  CHECK(d->pool_connections == 7);
  CHECK(d->db_memory_mib == Approx(100));
  CHECK(d->expected_p99_ms == Approx(0.8));  // 100000 / (3 * 1e5) = 0.333 -> the 0.5 run
}

TEST_CASE("plan: requests outside what was measured are said so", "[plan]") {
  const Results r = Parse();
  std::string error_text;
  // Objective below the best measured p99 (0.1 ms).
  Plan p = MakePlan(r, Req(1000, 0.05));
  REQUIRE(p.error.empty());
  CHECK_FALSE(p.strategies.front().feasible);
  CHECK(p.strategies.front().best_p99_ms == Approx(0.1));
  CHECK(p.strategies.front().note.find("below the best measured p99") != std::string::npos);
  CHECK(p.best_database.empty());
  CHECK_FALSE(p.outside_measured.empty());

  // Loads that met the objective but were saturated: said so, not blamed on the objective.
  {
    Json doc = Json::parse(Document());
    for (Json& row : doc["strategies"]) {
      if (row["key"] == "S2.HS256") {
        for (Json& point : row["open_loop"]) point["saturated"] = true;
      }
    }
    Results saturated;
    REQUIRE(ParseResults(doc.dump(), &saturated, &error_text));
    const Plan q = MakePlan(saturated, Req(1000, 5));
    REQUIRE_FALSE(q.strategies.front().feasible);
    CHECK(q.strategies.front().note ==
          "every open-loop load of S2.HS256 that met the p99 objective was saturated or had "
          "errors");
  }

  // An algorithm that was not measured.
  Request q = Req(1000, 1);
  q.alg_mix = {{"RS256", 1.0}};
  p = MakePlan(r, q);
  CHECK(p.error.find("RS256 was not measured") != std::string::npos);

  // More revoked ids than measured: linear memory, flagged.
  q = Req(100000, 0.5);
  q.revoked = 5000;
  p = MakePlan(r, q);
  REQUIRE(p.error.empty());
  CHECK(p.revocation_memory_mib == Approx(50100.0 / 1048576.0));
  CHECK(p.strategies.front().memory_mib == Approx((20480 + 40000.0 / 1024) / 1024));
  bool noted = false;
  for (const std::string& w : p.outside_measured) noted |= w.find("5000 revoked") != std::string::npos;
  CHECK(noted);
}

TEST_CASE("plan: policy knobs and server size", "[plan]") {
  // S1 HS256: C = 1e6/s; u = min(0.4, 0.5) = 0.4, no headroom:
  // cores = ceil(1e6 / 4e5) = 3 (2.5); 2 cores per server -> ceil(3/2)+1 = 3 servers.
  const Results r = Parse();
  Request q = Req(1e6, 0.5);
  q.strategy = "S1";
  q.utilisation = 0.4;
  q.headroom = 0;
  q.cores_per_server = 2;
  const Plan p = MakePlan(r, q);
  const StrategyPlan& s = p.strategies.front();
  CHECK(s.key == "S1");
  CHECK(s.u == Approx(0.4));
  CHECK(s.cores == 3);
  CHECK(s.servers == 3);
}

Results ParseServed() {
  Results r;
  std::string error;
  REQUIRE(ParseResults(ServedDocument(), &r, &error));
  return r;
}

TEST_CASE("plan: served rows plan what a jwtgated node pays and holds", "[plan]") {
  const Results r = ParseServed();
  REQUIRE(r.served.size() == 4);  // S1.HS256, S1.ES256, S2.HS256, S7.HS256: no nginx, no S4
  CHECK(r.served_revoked == 1048576);
  CHECK(r.FindServed("S1.HS256")->AppCpuUs() == Approx(5));  // the daemon's, not the client's
  CHECK(r.FindServed("S1.HS256")->ServerCpuUs() == 0);
  CHECK(r.FindServed("S7.HS256")->cache_hit_ratio == Approx(0.9));

  // S2: cpu 5 + (6 - 5) = 6 us -> C = 166,667/s; p99 <= 0.5 ms holds to 0.5 -> u = 0.5;
  // cores = ceil(125000 / 83333) = ceil(1.5) = 2, servers = ceil(2/4) + 1 = 2; operating load
  // 100000 / (2 * 166667) = 0.3 -> the 0.5 run: p99 0.4 ms, mean 100 us -> 10 in flight.
  // Memory: 32768 KiB * 1024 / 1048576 ids = 32 B per id; 1 Mi ids = 32 MiB on the stateless
  // 20 MiB = 52 MiB.
  Plan p = MakePlan(r, Req(100000, 0.5));
  REQUIRE(p.error.empty());
  CHECK(p.served);
  const StrategyPlan& s2 = p.strategies.front();
  CHECK(s2.key == "S2");
  CHECK(s2.served);
  CHECK(s2.rows == std::vector<std::string>{"S1.HS256", "S2.HS256"});
  CHECK(s2.app_cpu_us == Approx(6));
  CHECK(s2.u == Approx(0.5));
  CHECK(s2.cores == 2);
  CHECK(s2.servers == 2);
  CHECK(s2.operating_fraction == Approx(0.3));
  CHECK(s2.expected_p99_ms == Approx(0.4));
  CHECK(s2.in_flight == Approx(10));
  CHECK(p.bytes_per_id == Approx(32));
  CHECK(p.revocation_memory_mib == Approx(32));
  CHECK(p.stateless_memory_mib == Approx(20));
  CHECK(s2.memory_mib == Approx(52));
  const StrategyPlan* s1 = p.Find("S1");
  REQUIRE(s1 != nullptr);
  CHECK(s1->app_cpu_us == Approx(5));
  CHECK(s1->memory_mib == Approx(20));
  // S7: cpu_hit = (2 - 0.1 * 6) / 0.9 = 1.556 us; at the measured 0.9: 2 us; memory 52 MiB +
  // the 2 MiB cache = 54 MiB.
  const StrategyPlan* s7 = p.Find("S7");
  REQUIRE(s7 != nullptr);
  CHECK(s7->app_cpu_us == Approx(2));
  CHECK(s7->memory_mib == Approx(54));
  // The session lookup adds the HTTP path 5 - 1 = 4 us to its 10 us and runs on a stateless
  // server (20 MiB): C = 1e6 / 14 = 71,429/s; its p99 is 0.4 ms at 0.25 and 0.8 ms at 0.5, so
  // u = 0.25 and cores = ceil(125000 / (71429 * 0.25)) = ceil(7.0) = 7.
  CHECK(p.http_path_us == Approx(4));
  const StrategyPlan* d = p.Find("S4.redis.sync");
  REQUIRE(d != nullptr);
  CHECK_FALSE(d->served);
  CHECK(d->app_cpu_us == Approx(14));
  CHECK(d->server_cpu_us == Approx(5));
  CHECK(d->memory_mib == Approx(20));
  CHECK(d->cores == 7);
  bool noted = false;
  for (const std::string& w : p.outside_measured) noted |= w.find("HTTP path (4.000 us)") != std::string::npos;
  CHECK(noted);

  // Twice the revoked ids: 64 MiB, flagged as beyond the measured; a mix with ES256 holds
  // the larger stateless server (22 MiB) and costs 0.5 * 24 + 0.5 * 5 = 14.5 us in S1.
  Request q = Req(1000, 5);
  q.revoked = 2097152;
  std::string error;
  REQUIRE(ParseAlgMix("ES256:1,HS256:1", &q.alg_mix, &error));
  p = MakePlan(r, q);
  REQUIRE(p.error.empty());
  CHECK(p.revocation_memory_mib == Approx(64));
  CHECK(p.Find("S1")->app_cpu_us == Approx(14.5));
  CHECK(p.Find("S1")->memory_mib == Approx(22));
  CHECK(p.Find("S2")->memory_mib == Approx(22 + 64));
  noted = false;
  for (const std::string& w : p.outside_measured) noted |= w.find("beyond the 1048576 measured") != std::string::npos;
  CHECK(noted);

  const Json j = Json::parse(FormatPlanJson(p, r));
  CHECK(j["source"] == "served");
  CHECK(j["revocation"]["bytes_per_id"] == Approx(32));
  CHECK(j["revocation"]["measured_revoked"] == 1048576);
  CHECK(FormatPlanText(p, r).find("jwtgated served on loopback") != std::string::npos);
}

// A fleet document: 3 nodes, 60,000 revocations at 1,000/s with 12 s of redis-server CPU
// (12e6 / 60000 / 3 = 66.67 us per revocation per node), propagation p99 1.2 ms, catch-up at
// 200,000/s, 70 B per stream entry, 80 B per revocation in the snapshot, a snapshot every
// 10,000 entries.
std::string FleetDocument() {
  const Json doc = {
      {"schema", "jwtgate.fleet/1"},
      {"command", "bench/fleet/fleet_bench.py"},
      {"parameters", {{"snapshot_every", 10000}}},
      {"parts",
       {{"propagation",
         {{"acknowledged", 60000},
          {"achieved_rate_per_s", 1000.0},
          {"overall_latency_ms", {{"p99", 1.2}}},
          {"cpu",
           {{"cpu_s",
             {{"bench_client", 5.0},
              {"jwtgated_A", 9.0},
              {"jwtgated_B", 3.0},
              {"jwtgated_C", 3.0},
              {"redis", 12.0}}}}}}},
        {"catchup", {{"catchup_rate_per_s", 200000.0}}},
        {"memory",
         {{"probe", {{"used_memory_bytes_per_entry", 70.0}}},
          {"snapshot", {{"bytes_per_revocation", 80.0}}}}}}}};
  return doc.dump();
}

TEST_CASE("plan: the fleet's nodes and the Redis that replicates revocations", "[plan]") {
  const Results r = ParseServed();
  Fleet fleet;
  std::string error;
  REQUIRE(ParseFleet(FleetDocument(), &fleet, &error));
  CHECK(fleet.nodes == 3);
  CHECK(fleet.RedisUsPerRevocationPerNode() == Approx(12e6 / 60000 / 3));

  // S2 as in the served case (C = 166,667/s, u = 0.5, 2 servers of 4 cores): the 2 nodes carry
  // 1 * 4 * 83,333 / 1.25 = 266,667 requests/s with one down. 100 revocations/s held for 3600 s
  // = 360,000 ids: 11.0 MiB on each node at 32 B; Redis 100 * 2 * 66.67 us = 0.0133 of a core,
  // (360000 * 80 + 10000 * 70) B = 28.13 MiB (peak 55.60 with the old snapshot),
  // catch-up 360000 / 200000 = 1.8 s.
  Request q = Req(100000, 0.5);
  q.revocations_per_s = 100;
  Plan p = MakePlan(r, q, &fleet);
  REQUIRE(p.error.empty());
  REQUIRE(p.redis_planned);
  CHECK(p.revoked == 360000);
  CHECK(p.revocation_memory_mib == Approx(360000 * 32.0 / 1048576));
  CHECK(p.fleet.nodes == 2);
  CHECK(p.fleet.capacity_rps == Approx(4 * 1e6 / 6 * 0.5 / 1.25));
  CHECK(p.fleet.fits);
  CHECK(p.fleet.redis_cores == Approx(100 * 2 * 66.6667e-6));
  CHECK(p.fleet.redis_fits);
  CHECK(p.fleet.redis_memory_mib == Approx(29500000.0 / 1048576));
  CHECK(p.fleet.redis_peak_memory_mib == Approx(58300000.0 / 1048576));
  CHECK(p.fleet.catchup_s == Approx(1.8));
  CHECK(p.fleet.propagation_p99_ms == Approx(1.2));
  const Json j = Json::parse(FormatPlanJson(p, r));
  CHECK(j["fleet"]["nodes"] == 2);
  CHECK(j["fleet"]["catchup_s"] == Approx(1.8));
  CHECK(j["request"]["revocations_per_s"] == 100);

  // 300,000 requests/s on 2 nodes: they carry 266,667; the plan needs ceil(375000 / 83333) =
  // 5 cores = 3 servers. 10,000 revocations/s: 1.33 cores of Redis, above the 0.7 target.
  q = Req(300000, 0.5);
  q.nodes = 2;
  q.revocations_per_s = 10000;
  p = MakePlan(r, q, &fleet);
  REQUIRE(p.error.empty());
  CHECK_FALSE(p.fleet.fits);
  CHECK(p.fleet.redis_cores == Approx(10000 * 2 * 66.6667e-6));
  CHECK_FALSE(p.fleet.redis_fits);
  int notes = 0;
  for (const std::string& w : p.outside_measured) {
    notes += w.find("3 nodes are needed") != std::string::npos;
    notes += w.find("one Redis runs one command thread") != std::string::npos;
    notes += w.find("measured with 3 nodes at 1000 revocations/s") != std::string::npos;
  }
  CHECK(notes == 3);

  // Without a rate the fleet document cannot size Redis, and says so.
  p = MakePlan(r, Req(100000, 0.5), &fleet);
  CHECK_FALSE(p.redis_planned);
  CHECK(p.fleet.nodes == 2);

  // A document that lacks a figure is refused with its name.
  Json bad = Json::parse(FleetDocument());
  bad["parameters"].erase("snapshot_every");
  CHECK_FALSE(ParseFleet(bad.dump(), &fleet, &error));
  CHECK(error == "parameters.snapshot_every is missing or not > 0");
  CHECK_FALSE(ParseFleet(Document(), &fleet, &error));
  CHECK(error.find("jwtgate.fleet/1") != std::string::npos);
}

TEST_CASE("plan: algorithm mix syntax", "[plan]") {
  std::vector<std::pair<std::string, double>> mix;
  std::string error;
  CHECK(ParseAlgMix("ES256:0.7,HS256:0.3", &mix, &error));
  REQUIRE(mix.size() == 2);
  CHECK(mix[0].first == "ES256");
  CHECK(mix[0].second == Approx(0.7));
  CHECK_FALSE(ParseAlgMix("ES256", &mix, &error));
  CHECK_FALSE(ParseAlgMix("ES256:x", &mix, &error));
  CHECK_FALSE(ParseAlgMix("ES256:-1", &mix, &error));
  CHECK_FALSE(ParseAlgMix("ES256:0", &mix, &error));
  CHECK_FALSE(ParseAlgMix("ES256:1,ES256:2", &mix, &error));
  CHECK_FALSE(ParseAlgMix("", &mix, &error));
}

TEST_CASE("plan: text and JSON output carry the figures", "[plan]") {
  const Results r = Parse();
  const Plan p = MakePlan(r, Req(100000, 0.5));
  const std::string text = FormatPlanText(p, r);
  CHECK(text.find("scripts/bench-strategies --build b --out r") != std::string::npos);
  CHECK(text.find("OUTSIDE WHAT WAS MEASURED") != std::string::npos);
  const Json j = Json::parse(FormatPlanJson(p, r));
  CHECK(j["schema"] == "jwtgate.plan/1");
  CHECK(j["strategies"][0]["key"] == "S2");
  CHECK(j["strategies"][0]["cores"] == 1);
}

}  // namespace
}  // namespace jwtgate::cli::plan
