#!/usr/bin/python3
"""scripts/pipeline_ratios.py on small synthetic pipeline_bench results: the verdicts follow the
targets (>= 1.9 scaling, <= 5% ES256 and <= 25% HS256 overhead, <= 100 ns cache hit), a
missed target shows as missed and fails --fail-on-miss, and bad input is refused with exit
status 2. Usage: pipeline_ratios_test.py PATH_TO_pipeline_ratios.py
"""

import json
import os
import subprocess
import sys
import tempfile


def paired(alg, scaling, overhead, cpu_overhead):
    counters = {"rounds": 31, "tokens_per_slice": 2048, "direct_per_s": 19000.0,
                "direct2_per_s": 38000.0, "bulk1_per_s": 18900.0, "bulk2_per_s": 37000.0,
                "pertoken1_per_s": 18500.0, "pertoken2_per_s": 36000.0,
                "scaling_direct": 2.0, "scaling_direct_lo": 1.8, "scaling_direct_hi": 2.1}
    for sub in ("bulk", "pertoken"):
        for name, value in (("scaling", scaling[sub]), ("overhead", overhead[sub]),
                            ("cpu_overhead", cpu_overhead[sub])):
            counters[f"{name}_{sub}"] = value
            counters[f"{name}_{sub}_lo"] = value - 0.05
            counters[f"{name}_{sub}_hi"] = value + 0.05
    name = f"BM_PipelinePaired/alg:{alg}/rounds:31"
    return dict(name=name, run_name=name, run_type="iteration", iterations=1, real_time=10.0,
                cpu_time=10.0, time_unit="s", **counters)


def cache_hit(alg, ns):
    name = f"BM_CacheHit/alg:{alg}"
    return {"name": name + "_median", "run_name": name, "run_type": "aggregate",
            "aggregate_name": "median", "iterations": 5, "real_time": ns, "cpu_time": ns,
            "time_unit": "ns"}


def run(script, bench, prefix, *extra):
    return subprocess.run([sys.executable, script, bench, prefix, *extra], capture_output=True,
                          text=True, timeout=60)


def main():
    script = sys.argv[1]
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as d:
        bench = os.path.join(d, "pipeline_bench.json")
        prefix = os.path.join(d, "pipeline_summary")
        data = {"context": {"date": "2026-11-29", "host_name": "test", "num_cpus": 2,
                            "mhz_per_cpu": 2000},
                "benchmarks": [
                    # ES256: bulk meets every target; per-token misses scaling (1.85) and the
                    # CPU overhead (6%).
                    paired(2, {"bulk": 1.95, "pertoken": 1.85}, {"bulk": 0.01, "pertoken": 0.04},
                           {"bulk": 0.02, "pertoken": 0.06}),
                    # HS256: 25% exactly is met, 26% is not.
                    paired(0, {"bulk": 1.9, "pertoken": 1.5}, {"bulk": 0.25, "pertoken": 0.2},
                           {"bulk": 0.1, "pertoken": 0.26}),
                    cache_hit(0, 64.0), cache_hit(2, 101.0)]}
        with open(bench, "w") as f:
            json.dump(data, f)

        r = run(script, bench, prefix)
        check(r.returncode == 0, f"plain run exit {r.returncode}: {r.stderr}")
        with open(prefix + ".json") as f:
            v = json.load(f)["verdicts"]
        expect = {"es256_scaling_bulk": True, "es256_scaling_pertoken": False,
                  "es256_overhead_bulk": True, "es256_cpu_overhead_bulk": True,
                  "es256_overhead_pertoken": True, "es256_cpu_overhead_pertoken": False,
                  "hs256_overhead_bulk": True, "hs256_cpu_overhead_pertoken": False,
                  "hs256_overhead_pertoken": True, "cache_hit_hs256_ns": True,
                  "cache_hit_es256_ns": False}
        for key, met in expect.items():
            check(key in v and v[key]["met"] is met, f"{key}: expected met={met}, got {v.get(key)}")
        check(abs(v["es256_scaling_bulk"]["low"] - 1.90) < 1e-9, "range low not carried")
        with open(prefix + ".md") as f:
            md = f.read()
        check("| ES256 2 workers / 1 worker | per-token | 1.850x | 1.80-1.90 | >= 1.9 | missed |" in md,
              "per-token scaling row missing or wrong:\n" + md)
        check("| cache hit, ES256 (exp and revocation re-checked, 1 M revoked ids) | none | 101.0 ns |  | <= 100 ns | missed |" in md,
              "cache-hit row missing or wrong")

        r = run(script, bench, prefix, "--fail-on-miss")
        check(r.returncode == 1, f"--fail-on-miss with misses: exit {r.returncode}, want 1")

        # A prefix that names the input itself is refused before anything is written.
        with open(bench) as f:
            before = f.read()
        r = run(script, bench, bench[:-len(".json")])
        with open(bench) as f:
            check(f.read() == before, "the input was overwritten")
        check(r.returncode == 2 and "would overwrite" in r.stderr,
              f"prefix equal to the input: exit {r.returncode}, stderr {r.stderr!r}")

        # A run without the paired benchmark cannot decide: --fail-on-miss fails.
        data["benchmarks"] = [cache_hit(0, 64.0)]
        with open(bench, "w") as f:
            json.dump(data, f)
        r = run(script, bench, prefix, "--fail-on-miss")
        check(r.returncode == 1, f"--fail-on-miss without paired rounds: exit {r.returncode}, want 1")
        with open(prefix + ".md") as f:
            check("| not measured |" in f.read(), "undecided rows not marked 'not measured'")

        for content, what in (("{not json", "malformed JSON"), ('{"context": {}}', "no benchmarks")):
            with open(bench, "w") as f:
                f.write(content)
            r = run(script, bench, prefix)
            check(r.returncode == 2 and "pipeline_ratios:" in r.stderr,
                  f"{what}: exit {r.returncode}, stderr {r.stderr!r}")
        r = run(script, os.path.join(d, "missing.json"), prefix)
        check(r.returncode == 2 and "cannot read" in r.stderr, f"missing file: exit {r.returncode}")

    for f in failures:
        print("FAIL:", f)
    print(f"pipeline_ratios_test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
