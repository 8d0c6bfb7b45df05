// jwtgate plan --results FILE --rps N --p99-ms X [--alg-mix "ES256:0.7,HS256:0.3"]
//              [--revoked N] [--cache-hit R] [--strategy S1|S2|S7] [--utilisation U]
//              [--headroom H] [--cores-per-server N] [--json]
// Capacity plan from a strategies benchmark document (scripts/bench-strategies writes it as
// strategies.json); the model is in cli/plan_model.h and is written out in report.md.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

#include "cli/commands.h"
#include "cli/io.h"
#include "cli/plan_model.h"
#include "cli/subcommand.h"

namespace jwtgate::cli {
namespace {

struct PlanArgs {
  std::string results_path;
  double rps = 0;
  double p99_ms = 0;
  std::string alg_mix;
  double revoked = -1;
  double cache_hit = -1;
  std::string strategy;
  double utilisation = 0.7;
  double headroom = 0.25;
  double cores_per_server = 0;
  bool json = false;
};

int RunPlan(const PlanArgs& a) {
  if (!(a.rps > 0) || !std::isfinite(a.rps)) {
    fmt::print(stderr, "error: --rps must be > 0\n");
    return kExitUsage;
  }
  if (!(a.p99_ms > 0) || !std::isfinite(a.p99_ms)) {
    fmt::print(stderr, "error: --p99-ms must be > 0\n");
    return kExitUsage;
  }
  if (!(a.utilisation > 0 && a.utilisation <= 1)) {
    fmt::print(stderr, "error: --utilisation must be in (0, 1]\n");
    return kExitUsage;
  }
  if (!(a.headroom >= 0) || !std::isfinite(a.headroom)) {
    fmt::print(stderr, "error: --headroom must be >= 0\n");
    return kExitUsage;
  }
  if (a.cache_hit != -1 && !(a.cache_hit >= 0 && a.cache_hit <= 1)) {
    fmt::print(stderr, "error: --cache-hit must be in [0, 1]\n");
    return kExitUsage;
  }
  if (a.revoked != -1 && !(a.revoked >= 0 && std::isfinite(a.revoked))) {
    fmt::print(stderr, "error: --revoked must be >= 0\n");
    return kExitUsage;
  }
  if (a.cores_per_server < 0) {
    fmt::print(stderr, "error: --cores-per-server must be >= 1\n");
    return kExitUsage;
  }
  plan::Request rq;
  rq.rps = a.rps;
  rq.p99_ms = a.p99_ms;
  rq.revoked = a.revoked;
  rq.cache_hit = a.cache_hit;
  rq.strategy = a.strategy;
  rq.utilisation = a.utilisation;
  rq.headroom = a.headroom;
  rq.cores_per_server = a.cores_per_server;
  std::string error;
  if (!a.alg_mix.empty() && !plan::ParseAlgMix(a.alg_mix, &rq.alg_mix, &error)) {
    fmt::print(stderr, "error: --alg-mix: {}\n", error);
    return kExitUsage;
  }
  std::string text;
  if (!ReadFile(a.results_path, 256 << 20, &text, &error)) {
    fmt::print(stderr, "error: --results: {}\n", error);
    return kExitUsage;
  }
  plan::Results results;
  if (!plan::ParseResults(text, &results, &error)) {
    fmt::print(stderr, "error: --results {}: {}\n", a.results_path, error);
    return kExitUsage;
  }
  const plan::Plan p = plan::MakePlan(results, rq);
  if (!p.error.empty()) {
    fmt::print(stderr, "error: {} (results: {})\n", p.error, a.results_path);
    return kExitUsage;
  }
  fmt::print("{}", a.json ? plan::FormatPlanJson(p, results) : plan::FormatPlanText(p, results));
  if (!p.strategies.front().feasible) {
    fmt::print(stderr, "jwtgate plan: {} cannot meet the request within the measured data\n",
               p.headline);
    return kExitRejected;
  }
  return kExitOk;
}

}  // namespace

void RegisterPlan(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(
      app, exit_code, RunPlan, "plan",
      "Capacity plan (cores, servers, memory, expected p99, the DB-lookup alternative) from a "
      "measured strategies.json. Exit 1 when the chosen strategy cannot meet the request "
      "within the measured data; figures outside it are listed under OUTSIDE WHAT WAS MEASURED");
  cmd->add_option("--results", args->results_path,
                  "strategies.json written by scripts/bench-strategies")
      ->required();
  cmd->add_option("--rps", args->rps, "target rate, requests per second")->required();
  cmd->add_option("--p99-ms", args->p99_ms, "p99 latency objective in milliseconds")->required();
  cmd->add_option("--alg-mix", args->alg_mix,
                  "algorithm weights, e.g. \"ES256:0.7,HS256:0.3\" (default: the run's JWT "
                  "algorithm)");
  cmd->add_option("--revoked", args->revoked,
                  "revoked ids held in memory (default: the number measured)");
  cmd->add_option("--cache-hit", args->cache_hit,
                  "verified-token cache hit ratio in [0, 1]; selects S7 unless --strategy");
  cmd->add_option("--strategy", args->strategy,
                  "S1 (stateless), S2 (in-memory revocation) or S7 (cache + revocation); "
                  "default S2, or S7 with --cache-hit");
  cmd->add_option("--utilisation", args->utilisation,
                  "highest planned CPU utilisation per core, a policy (default 0.7)");
  cmd->add_option("--headroom", args->headroom,
                  "extra load planned for growth and spikes, a policy (default 0.25 = +25 %)");
  cmd->add_option("--cores-per-server", args->cores_per_server,
                  "cores of one server (default: the measured machine's cores)");
  cmd->add_flag("--json", args->json, "print the plan as JSON (schema jwtgate.plan/1)");
}

}  // namespace jwtgate::cli
