#include "e2e_passes.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <string>

#include "progress.h"

namespace jwtgate::bench {
namespace {

// Members that count events: summed over the passes, not their median.
const std::set<std::string> kSummed = {"errors", "non_2xx", "socket_errors", "unsent", "requests"};

bool Measured(const Json& row) {
  const std::string status = row.value("status", "");
  return (status == "ok" || status == "errors") && row.contains("closed_loop");
}

// `parts` (the same member of every measured pass) merged: numbers by their median (summed
// under a kSummed key), booleans true when any is, objects member by member, anything else
// as the first pass has it.
Json MergeValues(const std::vector<const Json*>& parts, const std::string& key) {
  const Json& first = *parts.front();
  if (first.is_number()) {
    std::vector<double> v;
    for (const Json* p : parts) {
      if (p->is_number()) v.push_back(p->get<double>());
    }
    if (kSummed.count(key) != 0) {
      double sum = 0;
      for (double x : v) sum += x;
      return first.is_number_integer() ? Json(static_cast<int64_t>(sum)) : Json(sum);
    }
    return Round(MedianWithInterval(v).median, 6);
  }
  if (first.is_boolean()) {
    bool any = false;
    for (const Json* p : parts) any = any || (p->is_boolean() && p->get<bool>());
    return any;
  }
  if (first.is_object()) {
    Json out = Json::object();
    std::set<std::string> keys;
    for (const Json* p : parts) {
      if (!p->is_object()) continue;
      for (const auto& [k, _] : p->items()) keys.insert(k);
    }
    for (const std::string& k : keys) {
      std::vector<const Json*> sub;
      for (const Json* p : parts) {
        if (p->is_object() && p->contains(k)) sub.push_back(&(*p)[k]);
      }
      // A status code no pass saw is 0 there: summed over the passes that saw it.
      out[k] = key == "statuses" ? MergeValues(sub, "requests") : MergeValues(sub, k);
    }
    return out;
  }
  return first;
}

Json IntervalJson(const MedianInterval& m) {
  return Json{{"median", Round(m.median, 6)},
              {"ci95_low", Round(m.low, 6)},
              {"ci95_high", Round(m.high, 6)},
              {"coverage", Round(m.coverage, 4)},
              {"n", m.n}};
}

// The number at `path` (members, then an array index written as a number) of each pass.
std::vector<double> Collect(const std::vector<const Json*>& passes,
                            const std::vector<Json>& path) {
  std::vector<double> out;
  for (const Json* p : passes) {
    const Json* at = p;
    for (const Json& step : path) {
      if (step.is_string() && at->is_object() && at->contains(step.get<std::string>())) {
        at = &(*at)[step.get<std::string>()];
      } else if (step.is_number() && at->is_array() && step.get<size_t>() < at->size()) {
        at = &(*at)[step.get<size_t>()];
      } else {
        at = nullptr;
        break;
      }
    }
    if (at != nullptr && at->is_number()) out.push_back(at->get<double>());
  }
  return out;
}

// repetitions.intervals: the figures the plan and the report read, each with its interval.
Json Intervals(const std::vector<const Json*>& measured) {
  Json out = Json::object();
  auto add = [&](const std::string& name, const std::vector<Json>& path) {
    const std::vector<double> v = Collect(measured, path);
    if (!v.empty()) out[name] = IntervalJson(MedianWithInterval(v));
  };
  const Json& first = *measured.front();
  add("closed_loop.throughput_rps", {"closed_loop", "throughput_rps"});
  for (const auto& [group, _] : first["closed_loop"]["cpu_s_per_million"].items()) {
    add("closed_loop.cpu_s_per_million." + group, {"closed_loop", "cpu_s_per_million", group});
  }
  const Json& open = first.value("open_loop", Json::array());
  for (size_t i = 0; i < open.size(); ++i) {
    const std::string at = "open_loop[" + std::to_string(i) + "]";
    add(at + ".latency_us.p50", {"open_loop", i, "latency_us", "p50"});
    add(at + ".latency_us.p99", {"open_loop", i, "latency_us", "p99"});
  }
  return out;
}

// repetitions.passes: per pass, what a reader checks a median against.
Json PassJson(const Json& row, size_t index) {
  Json p{{"pass", index + 1}, {"status", row.value("status", "")}};
  if (!row.contains("closed_loop")) return p;
  const Json& c = row["closed_loop"];
  p["closed_loop"] = Json{{"throughput_rps", c.value("throughput_rps", 0.0)},
                          {"cpu_s_per_million", c.value("cpu_s_per_million", Json::object())}};
  Json open = Json::array();
  for (const Json& o : row.value("open_loop", Json::array())) {
    const Json& lat = o.value("latency_us", Json::object());
    open.push_back(Json{{"fraction_of_max", o.value("fraction_of_max", 0.0)},
                        {"achieved_rps", o.value("achieved_rps", 0.0)},
                        {"p50", lat.value("p50", 0.0)},
                        {"p99", lat.value("p99", 0.0)},
                        {"saturated", o.value("saturated", false)},
                        {"noise", o.value("noise", Json(nullptr))}});
  }
  p["open_loop"] = open;
  return p;
}

}  // namespace

MedianInterval MedianWithInterval(std::vector<double> v) {
  MedianInterval m;
  m.n = v.size();
  if (v.empty()) return m;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  m.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  // P(B < k) for B ~ Binomial(n, 1/2), growing k while it stays within 2.5 %.
  size_t k = 0;
  double tail = 0;
  while (k < n) {
    const double next = tail + std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) -
                                        std::lgamma(n - k + 1.0) - n * std::log(2.0));
    if (next > 0.025) break;
    tail = next;
    ++k;
  }
  if (k == 0) {
    // Too few values for 95 %: the range, whose coverage is 1 - 2 * 2^-n.
    k = 1;
    tail = std::pow(0.5, static_cast<double>(n));
  }
  m.low = v[k - 1];
  m.high = v[n - k];
  m.coverage = 1.0 - 2 * tail;
  return m;
}

Json MergePasses(const std::vector<Json>& passes) {
  if (passes.size() == 1) return passes.front();
  std::vector<const Json*> measured;
  for (const Json& p : passes) {
    if (Measured(p)) measured.push_back(&p);
  }
  if (measured.empty()) return passes.front();
  Json out = *measured.front();
  for (const char* member : {"closed_loop", "open_loop", "memory"}) {
    std::vector<const Json*> parts;
    for (const Json* p : measured) {
      if (p->contains(member)) parts.push_back(&(*p)[member]);
    }
    if (parts.empty()) continue;
    if (std::string(member) != "open_loop") {
      out[member] = MergeValues(parts, member);
      continue;
    }
    // Open-loop runs load by load (every pass runs the same fractions in the same order).
    Json open = Json::array();
    for (size_t i = 0; i < parts.front()->size(); ++i) {
      std::vector<const Json*> at;
      for (const Json* p : parts) {
        if (p->is_array() && i < p->size()) at.push_back(&(*p)[i]);
      }
      open.push_back(MergeValues(at, "open_loop"));
    }
    out["open_loop"] = open;
  }
  // A row whose every pass answered without error is "ok"; otherwise "errors", its medians
  // taken over the passes that measured it, and the passes say which did not.
  bool all_ok = true;
  Json list = Json::array();
  for (size_t i = 0; i < passes.size(); ++i) {
    all_ok = all_ok && passes[i].value("status", "") == "ok";
    list.push_back(PassJson(passes[i], i));
  }
  out["status"] = all_ok ? "ok" : "errors";
  out["repetitions"] = Json{{"n", passes.size()},
                            {"measured", measured.size()},
                            {"method", "figures are medians over the measured passes; "
                                       "intervals: distribution-free 95 % interval of the "
                                       "median from order statistics (the range below 6 "
                                       "passes, coverage stated)"},
                            {"intervals", Intervals(measured)},
                            {"passes", list}};
  return out;
}

Json RunRotatedPasses(size_t count, unsigned passes,
                      const std::function<Json(size_t row, size_t position)>& run) {
  passes = std::max(1u, passes);
  std::vector<std::vector<Json>> by_row(count);
  const auto start = std::chrono::steady_clock::now();
  for (unsigned pass = 0; pass < passes && count > 0; ++pass) {
    if (pass > 0) {
      // Every pass runs the same rows: the passes so far estimate the rest.
      const double spent = SecondsSince(start);
      Progress("pass %u of %u (%.0f s so far, about %.0f s left)\n", pass + 1, passes, spent,
               spent / pass * (passes - pass));
    } else if (passes > 1) {
      Progress("pass 1 of %u\n", passes);
    }
    for (size_t k = 0; k < count; ++k) {
      const size_t i = (k + pass) % count;
      by_row[i].push_back(run(i, k + 1));
    }
  }
  Json rows = Json::array();
  for (const std::vector<Json>& row_passes : by_row) rows.push_back(MergePasses(row_passes));
  return rows;
}

}  // namespace jwtgate::bench
