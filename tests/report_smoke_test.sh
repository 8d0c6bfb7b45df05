#!/usr/bin/env bash
# Builds a report from a tiny synthetic results directory (the schema of
# bench/strategies/in_process.cc and scripts/bench-strategies) and checks that report.md and its
# SVG plots exist and carry the key figures, and that the report's hand-worked example agrees
# with the `jwtgate plan --json` figures it is built from. Usage: tests/report_smoke_test.sh
# [JWTGATE_CLI] (the jwtgate binary; default: the one scripts/report finds).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
def ol(mx, pts):
    return [dict(offered_rps=f * mx, achieved_rps=f * mx, saturated=False, errors=0, fraction_of_max=f,
                 latency_us=dict(p50=m, p90=p, p99=p, p999=p * 2, mean=m))
            for f, (p, m) in zip((0.25, 0.5, 0.75), pts)]
def row(key, id_, alg, backend, cpu, mem, open_loop, mean=1.0, batch=1):
    return dict(key=key, id=id_, name=id_ + " row", alg=alg, backend=backend, batch=batch, status="ok",
                closed_loop=dict(throughput_rps=400000.0, service_time_us=dict(mean=mean),
                                 cpu_s_per_million=cpu), memory=mem, open_loop=open_loop)
fast = ol(400000, [(100, 50), (200, 80), (1000, 300)])
hs_passes = {"n": 5, "intervals": {"closed_loop.throughput_rps": {
    "median": 400000.0, "ci95_low": 380000.0, "ci95_high": 420000.0, "coverage": 0.9375, "n": 5}}}
rows = [
    row("S0", "S0", None, None, dict(bench=0.05, total=0.05), dict(bench=dict(rss_kib=10240)), fast),
    dict(row("S1.HS256", "S1", "HS256", None, dict(bench=1.0, total=1.0), dict(bench=dict(rss_kib=10240)),
             fast), repetitions=hs_passes),
    row("S1.ES256", "S1", "ES256", None, dict(bench=20.0, total=20.0), dict(bench=dict(rss_kib=10240)),
        ol(20000, [(300, 100), (500, 200), (5000, 900)])),
    row("S2.HS256", "S2", "HS256", None, dict(bench=1.5, total=1.5), dict(bench=dict(rss_kib=20480)), fast),
    dict(row("S7.HS256", "S7", "HS256", None, dict(bench=0.5, total=0.5), dict(bench=dict(rss_kib=20480)), fast),
         stats=dict(cache_hit_ratio_closed_loop=0.8)),
    # An in-process variant of a family (S7 with FindBatch): reported as a row of its own, and
    # not what the plan reads for S7.
    row("S7.HS256.batched", "S7", "HS256", None, dict(bench=0.2, total=0.2),
        dict(bench=dict(rss_kib=20480)), fast, batch=32),
    row("S4.redis.sync", "S4", None, "redis", {"bench": 10.0, "redis-server": 5.0, "total": 15.0},
        {"bench": dict(rss_kib=8192), "redis-server": dict(rss_kib=102400)},
        ol(40000, [(400, 100), (800, 200), (3000, 900)]), mean=50.0),
    dict(key="S5.postgresql.sync", id="S5", name="session id + PostgreSQL", status="skipped",
         reason="PostgreSQL (pg_ctl) is not installed"),
]
doc = {"schema": "jwtgate.strategies/1", "title": "synthetic", "date_utc": "2026-01-01T00:00:00Z",
       "host": "testhost", "script": {"command": "scripts/bench-strategies --build b --out r --quick",
                                      "bench_command": "jwtgate-bench strategies --out /tmp/x.1/bench.json"},
       "machine": {"cpu_model": "Synthetic CPU 9000", "cores": 4, "kernel": "6.1.0", "os": "Debian 12"},
       "config": {"threads": 4, "jwt_alg": "HS256", "duration_s": 1, "open_duration_s": 1,
                  "rate_fractions": [0.25, 0.5, 0.75], "quick": True},
       "setup": {"revocation": {"revoked_jtis": 1000, "filter_bytes": 4000, "exact_bytes": 6000,
                                "watermark_bytes": 100, "expected_fpr": 0.001},
                 "tokens": {"HS256": {"example_payload": {"iat": 0, "exp": 3600}}}},
       "strategies": rows}
json.dump(doc, open(f"{d}/strategies.json", "w"), indent=1)
PY
cli=()
[[ $# -ge 1 ]] && cli=(--jwtgate "$1")
"$root/scripts/report" "$dir" --rps 100000 --p99-ms 0.5 "${cli[@]}"
md="$dir/report.md"
fail() { echo "report_smoke_test: FAIL: $*" >&2; exit 1; }
[[ -s $md ]] || fail "no report.md"
for svg in throughput latency cores revocation sensitivity; do
  f="$dir/report-$svg.svg"
  [[ -s $f ]] || fail "no $f"
  grep -q '<svg' "$f" || fail "$f is not SVG"
  grep -q "report-$svg.svg" "$md" || fail "report.md does not show report-$svg.svg"
done
# Key figures, worked out by hand (tests/unit/plan_model_test.cc has the same document):
# S2: 1.5 us -> 666,667/s per core, u = 0.5, 1 core, 2 servers, p99 0.100 ms; S4 at 0.5 ms is
# infeasible (best p99 0.4 ms is fine, but 0.25 is the only load under 0.5 ms -> u 0.25):
# cores = ceil(125000 / (100000 * 0.25)) = 5. The worked example's per-row limits and operating
# points are plan's u_lat_by_row and operating_points.
need=(
  "scripts/bench-strategies --build b --out r --quick"
  "Synthetic CPU 9000"
  "| S2 | 1.5000 | 666,667 | 0.50 | 0.50 | 1 | 2 |"
  "| S4.redis.sync | 10.0000 | 100,000 | 0.25 | 0.25 | 5 | 3 |"
  "expected p99 **0.100 ms**"
  "S1.HS256 up to 0.5, S2.HS256 up to 0.5 -> u_lat = **0.5**"
  "S1.HS256 at 0.25: p99 0.100 ms, mean 0.050 ms, S2.HS256 at 0.25: p99 0.100 ms, mean 0.050 ms"
  "Little's law"
  "| 1,000 | 10.00 |"
  "PostgreSQL (pg_ctl) is not installed"
)
for s in "${need[@]}"; do grep -qF -- "$s" "$md" || fail "report.md lacks: $s"; done
grep -q "the figures agree" "$md" || fail "the worked example disagrees with jwtgate plan"
grep -qF "planned from the in-process rows" "$md" || fail "the in-process source is not said"
grep -qF "p99 rises with the offered load in every row" "$md" || fail "monotone p99 not said"
grep -qF -- "- Benchmark process: \`jwtgate-bench strategies --out <tmp>/bench.json\`" "$md" ||
  fail "the benchmark command's temporary directory is not replaced"
# An in-process row measured in five passes: its throughput with the interval.
grep -qF "| S1.HS256 | ok | 5 | 400,000 [380,000, 420,000] | 1.000 | 1.000 | 1,000,000 |" "$md" ||
  fail "the in-process row's passes and interval are not shown"

# The same document with rows jwtgated served end to end (as in plan_model_test.cc): S1.HS256
# 5 us and 20 MiB, S2.HS256 6 us and 52 MiB holding 1 Mi revoked ids -> 32 B per id; the
# client costs 8 us per request, more than the server on every row.
/usr/bin/python3 - "$dir/strategies.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
rows = {r["key"]: r for r in d["strategies"]}
def served(key, cpu, rss):
    r = json.loads(json.dumps(rows[key]))
    r["closed_loop"]["cpu_s_per_million"] = {"client": 8.0, "daemon": cpu, "total": cpu + 8.0}
    r["memory"] = {"client": {"rss_kib": 7000}, "daemon": {"rss_kib": rss}}
    r["server"] = {"program": "jwtgated"}
    return r
hs = served("S1.HS256", 5.0, 20480)
# Five passes whose CPU medians carry an interval 40 % of the median wide.
hs["repetitions"] = {"n": 5, "intervals": {"closed_loop.cpu_s_per_million.daemon": {
    "median": 5.0, "ci95_low": 4.0, "ci95_high": 6.0, "coverage": 0.9375, "n": 5}}}
es = served("S1.ES256", 24.0, 22528)
# A tail that falls as the load rises, with the noise record of its window.
es["open_loop"][0]["latency_us"]["p99"] = 9000
es["open_loop"][0]["noise"] = {"steal_cores": 0.02, "unmeasured_cores": 0.4,
                               "nonvoluntary_switches": {"client": 5, "daemon": 900}}
es["open_loop"][1]["noise"] = {"steal_cores": 0.0, "unmeasured_cores": 0.0,
                               "nonvoluntary_switches": {"client": 5, "daemon": 5}}
d["e2e"] = {"setup": {"revocation": {"revoked_jtis": 1048576}},
            "strategies": [hs, es, served("S2.HS256", 6.0, 53248)]}
json.dump(d, open(p, "w"))
PY
"$root/scripts/report" "$dir" --rps 100000 --p99-ms 0.5 "${cli[@]}" >/dev/null 2>&1 ||
  fail "report with served rows failed"
need=(
  "This plan: **served**"
  "From \`e2e.strategies[].closed_loop.cpu_s_per_million.daemon\`: 1 x 5 (S1 mix) + (6 - 5)"
  "| S2 | 6.0000 | 166,667 |"
  "20.0 MiB (stateless jwtgated) + 1,048,576 ids x 32.00 B/id"
  "= **52.0 MiB** per server"
  "| S1.HS256 | jwtgated | 5 | 400,000 | 5.000 [4.000, 6.000] | 8.000 | 1.60 | 20.0 | no: the client costs 1.60x the server |"
  "- S1.HS256: closed_loop.cpu_s_per_million.daemon 5.000, interval [4.000, 6.000] (40% of the median)"
  "HTTP path (4.000 us)"
  "Why a row is marked: on loopback a client's send carries"
  "- S1.ES256 (served): p99 9.000 ms at 0.25 of the maximum, 0.500 ms at 0.5. Cause: the hypervisor took 0.020 cores more at the lower load (steal); processes outside the measurement were busier by 0.40 cores; the measured processes were preempted 905 times, against 10 at the higher load. At 0.25: steal 0.020 cores, system busy - measured processes +0.40 cores, involuntary switches client 5, daemon 900; at 0.5: steal 0.000 cores, system busy - measured processes +0.00 cores, involuntary switches client 5, daemon 5."
)
for s in "${need[@]}"; do grep -qF -- "$s" "$md" || fail "served report.md lacks: $s"; done
grep -q "the figures agree (steps 1, 2, 5, 7 and 8" "$md" ||
  fail "the served worked example disagrees with jwtgate plan"
if grep -qF "$dir" "$md"; then fail "report.md names the machine's path $dir"; fi

# The fleet: plan's exit status and the report's fleet section on a fleet document
# (tests/unit/plan_model_test.cc works the same figures by hand).
mkdir -p "$dir/fleet"
/usr/bin/python3 - "$dir/fleet/fleet.json" <<'PY'
import json, sys
cpu = {"bench_client": 5.0, "jwtgated_A": 9.0, "jwtgated_B": 3.0, "jwtgated_C": 3.0, "redis": 12.0}
json.dump({"schema": "jwtgate.fleet/1", "parameters": {"snapshot_every": 10000},
           "parts": {"propagation": {"acknowledged": 60000, "achieved_rate_per_s": 1000.0,
                                     "overall_latency_ms": {"p99": 1.2}, "cpu": {"cpu_s": cpu}},
                     "catchup": {"catchup_rate_per_s": 200000.0},
                     "memory": {"probe": {"used_memory_bytes_per_entry": 70.0},
                                "snapshot": {"bytes_per_revocation": 80.0}}}}, open(sys.argv[1], "w"))
PY
jwtgate=${1:-$(command -v jwtgate || true)}
if [[ -n $jwtgate ]]; then
  plan=("$jwtgate" plan --results "$dir/strategies.json" --p99-ms 0.5 --fleet "$dir/fleet/fleet.json")
  rc=0; "${plan[@]}" --rps 100000 --revocations-per-s 100 >/dev/null || rc=$?
  [[ $rc -eq 0 ]] || fail "plan with a fleet that fits exited $rc, expected 0"
  rc=0; "${plan[@]}" --rps 300000 --nodes 2 --revocations-per-s 100 >/dev/null 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "plan with too few nodes exited $rc, expected 1"
  rc=0; "${plan[@]}" --rps 100000 --revocations-per-s 10000 >/dev/null 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "plan with more than one Redis can carry exited $rc, expected 1"
  echo '{"schema":"jwtgate.fleet/1"}' > "$dir/fleet/bad.json"
  rc=0; "$jwtgate" plan --results "$dir/strategies.json" --rps 1 --p99-ms 1 \
    --fleet "$dir/fleet/bad.json" >/dev/null 2>"$dir/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "plan with a fleet document lacking figures exited $rc, expected 2"
  grep -qF "parts.propagation.cpu.cpu_s.jwtgated_* is missing" "$dir/err" ||
    fail "the bad fleet document's error does not name the figure: $(cat "$dir/err")"
  rm "$dir/fleet/bad.json"
fi
"$root/scripts/report" "$dir" --rps 100000 --p99-ms 0.5 --revocations-per-s 100 "${cli[@]}" \
  >/dev/null 2>&1 || fail "report with a fleet failed"
need=(
  "2 jwtgated nodes carry 266,667 requests/s at the objective with one node down"
  "every node holds 360,000 revoked ids (11.0 MiB)"
  "| Redis CPU | 0.0133 of a core | 66.7 us per revocation per node, measured with 3 nodes |"
  "| Redis memory | 28.1 MiB (peak 55.6) |"
  "| catch-up of a node that reloads the set | 1.8 s |"
)
for s in "${need[@]}"; do grep -qF -- "$s" "$md" || fail "fleet report.md lacks: $s"; done
# No revocation figures anywhere: the report says so.
/usr/bin/python3 - "$dir/strategies.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); del d["setup"]["revocation"]; json.dump(d, open(p, "w"))
PY
"$root/scripts/report" "$dir" "${cli[@]}" >/dev/null 2>&1 || fail "report without revocation figures failed"
grep -q "Not measured in this run" "$md" || fail "missing revocation data not reported"
echo "report_smoke_test: OK"
