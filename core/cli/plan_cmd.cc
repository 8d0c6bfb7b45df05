// jwtgate plan --results FILE --rps N --p99-ms X [--alg-mix "ES256:0.7,HS256:0.3"]
//              [--revoked N] [--cache-hit R] [--strategy S1|S2|S7] [--utilisation U]
//              [--headroom H] [--cores-per-server N] [--nodes N] [--fleet FILE
//              --revocations-per-s R [--token-lifetime-s S]] [--json]
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

// What `jwtgate plan --help` says the command does.
constexpr char kHelp[] =
    "Capacity plan (cores, servers, memory, expected p99, the DB-lookup alternative) from a "
    "measured strategies.json, and the fleet (nodes, Redis for revocation replication) with "
    "--fleet. Exit 1 when the chosen strategy, the --nodes or one Redis cannot meet the "
    "request within the measured data; figures outside it are listed under OUTSIDE WHAT WAS "
    "MEASURED";

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
  double nodes = 0;
  std::string fleet_path;
  double revocations_per_s = -1;
  double token_lifetime_s = 3600;
  bool json = false;
};

// The fleet document of --fleet; false (with the message printed) when it cannot be used.
bool ReadFleet(const std::string& path, plan::Fleet* fleet) {
  std::string text, error;
  if (!ReadFile(path, 64 << 20, &text, &error)) {
    fmt::print(stderr, "error: --fleet: {}\n", error);
    return false;
  }
  if (!plan::ParseFleet(text, fleet, &error)) {
    fmt::print(stderr, "error: --fleet {}: {}\n", path, error);
    return false;
  }
  return true;
}

bool Finite(double v) { return std::isfinite(v); }

// What a numeric option accepts: the check, and its wording for the error. An option whose
// default means "not given" (-1 or 0) accepts that default too.
struct Range {
  bool (*valid)(double);
  const char* rule;
};
constexpr Range kPositive{[](double v) { return v > 0 && Finite(v); }, "> 0"};
constexpr Range kNonNegative{[](double v) { return v >= 0 && Finite(v); }, ">= 0"};
constexpr Range kNonNegativeOrUnset{[](double v) { return v == -1 || (v >= 0 && Finite(v)); },
                                    ">= 0"};
constexpr Range kRatioOrUnset{[](double v) { return v == -1 || (v >= 0 && v <= 1); }, "in [0, 1]"};
constexpr Range kUtilisation{[](double v) { return v > 0 && v <= 1; }, "in (0, 1]"};
constexpr Range kCoresOrUnset{[](double v) { return v == 0 || (v >= 1 && Finite(v)); }, ">= 1"};
constexpr Range kNodesOrUnset{[](double v) { return v == 0 || (v >= 2 && Finite(v)); },
                              ">= 2 (one node may fail)"};

// The numeric options: one row each for the help text and the check RunPlan makes.
struct NumberOption {
  const char* name;
  double PlanArgs::*field;
  const char* help;
  bool required;
  Range range;
};

constexpr NumberOption kNumberOptions[] = {
    {"--rps", &PlanArgs::rps, "target rate, requests per second", true, kPositive},
    {"--p99-ms", &PlanArgs::p99_ms, "p99 latency objective in milliseconds", true, kPositive},
    {"--revoked", &PlanArgs::revoked,
     "revoked ids held in memory (default: rate x lifetime with --revocations-per-s, else the "
     "number measured)",
     false, kNonNegativeOrUnset},
    {"--cache-hit", &PlanArgs::cache_hit,
     "verified-token cache hit ratio in [0, 1]; selects S7 unless --strategy", false,
     kRatioOrUnset},
    {"--utilisation", &PlanArgs::utilisation,
     "highest planned CPU utilisation per core, a policy (default 0.7)", false, kUtilisation},
    {"--headroom", &PlanArgs::headroom,
     "extra load planned for growth and spikes, a policy (default 0.25 = +25 %)", false,
     kNonNegative},
    {"--cores-per-server", &PlanArgs::cores_per_server,
     "cores of one server (default: the measured machine's cores)", false, kCoresOrUnset},
    {"--nodes", &PlanArgs::nodes,
     "jwtgated nodes in the fleet: their capacity with one node down is checked against --rps "
     "(default: the nodes the plan needs)",
     false, kNodesOrUnset},
    {"--revocations-per-s", &PlanArgs::revocations_per_s,
     "revocations per second across the fleet; sets --revoked to rate x --token-lifetime-s "
     "unless given",
     false, kNonNegativeOrUnset},
    {"--token-lifetime-s", &PlanArgs::token_lifetime_s,
     "token lifetime in seconds: how long a revoked id is held (default 3600)", false, kPositive},
};

int RunPlan(const PlanArgs& a) {
  for (const NumberOption& o : kNumberOptions) {
    if (!o.range.valid(a.*o.field)) {
      fmt::print(stderr, "error: {} must be {}\n", o.name, o.range.rule);
      return kExitUsage;
    }
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
  rq.nodes = a.nodes;
  rq.revocations_per_s = a.revocations_per_s;
  rq.token_lifetime_s = a.token_lifetime_s;
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
  plan::Fleet fleet;
  if (!a.fleet_path.empty() && !ReadFleet(a.fleet_path, &fleet)) return kExitUsage;
  const plan::Plan p = plan::MakePlan(results, rq, a.fleet_path.empty() ? nullptr : &fleet);
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
  if (!p.fleet.fits) {
    fmt::print(stderr, "jwtgate plan: {:.0f} nodes cannot carry {:.0f} requests/s\n", p.fleet.nodes,
               a.rps);
    return kExitRejected;
  }
  if (p.redis_planned && !p.fleet.redis_fits) {
    fmt::print(stderr, "jwtgate plan: one Redis cannot carry the revocation traffic\n");
    return kExitRejected;
  }
  return kExitOk;
}

}  // namespace

void RegisterPlan(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(app, exit_code, RunPlan, "plan", kHelp);
  // What is asked (--rps, --p99-ms, ...) first, then the measurement it is planned from.
  for (const NumberOption& o : kNumberOptions) {
    CLI::Option* opt = cmd->add_option(o.name, (*args).*o.field, o.help);
    if (o.required) opt->required();
  }
  cmd->add_option("--results", args->results_path,
                  "strategies.json written by scripts/bench-strategies")
      ->required();
  cmd->add_option("--alg-mix", args->alg_mix,
                  "algorithm weights, e.g. \"ES256:0.7,HS256:0.3\" (default: the run's JWT "
                  "algorithm)");
  cmd->add_option("--strategy", args->strategy,
                  "S1 (stateless), S2 (in-memory revocation) or S7 (cache + revocation); "
                  "default S2, or S7 with --cache-hit");
  cmd->add_option("--fleet", args->fleet_path,
                  "fleet.json written by bench/fleet/fleet_bench.py: Redis CPU and memory, "
                  "catch-up and propagation for revocation replication (needs "
                  "--revocations-per-s)");
  cmd->add_flag("--json", args->json, "print the plan as JSON (schema jwtgate.plan/1)");
}

}  // namespace jwtgate::cli
