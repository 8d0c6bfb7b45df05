#!/usr/bin/python3
"""Summarise a pipeline_bench run: the pipeline's scaling, its overhead against direct
Verifier::Verify, and the verified-token cache's hit cost.

Reads the Google Benchmark JSON written by

    pipeline_bench --benchmark_repetitions=N --benchmark_enable_random_interleaving=true \\
                   --benchmark_report_aggregates_only=true \\
                   --benchmark_out=BENCH_JSON --benchmark_out_format=json

and writes OUT_PREFIX.md (tables for people) and OUT_PREFIX.json (the same figures for
programs).

The verdicts come from BM_PipelinePaired, which runs every contender (Verify on 1 and 2
threads, pipelines of 1 and 2 workers with each submitter) on the same tokens within each
round, in a shuffled order, and reports the median over the rounds of each per-round ratio,
with the lowest and highest round. A machine whose speed drifts (a shared VM) then moves both
sides of a ratio together. The separate BM_Direct / BM_Pipeline medians are shown beside, for
the absolute figures.

Targets:
  ES256 pipeline, 2 workers / 1 worker          >= 1.9
  pipeline overhead on one worker, ES256        <= 5%   (wall time and CPU time per token)
  pipeline overhead on one worker, HS256        <= 25%  (wall time and CPU time per token)
  cache hit, every algorithm                    <= 100 ns (BM_CacheHit median)
Each is judged for both submitters: "bulk" (SubmitBatch, Wait for many completions) and
"per-token" (one Submit per token, woken by every batch). CPU time counts every thread of the
process, the submitter included.

Exit status: 0 when the summary was written (1 with --fail-on-miss when a target is missed or
cannot be evaluated), 2 on a usage or input error.
"""

import argparse
import json
import os
import sys

from jwtgate_results import (NotBenchmarkError, ResultsError, load_benchmark, median_entries,
                             name_arg, time_ns)

ALGS = {0: "HS256", 1: "RS256", 2: "ES256", 3: "EdDSA"}
SUBMITTERS = [("bulk", "bulk"), ("pertoken", "per-token")]
SCALING_TARGET = 1.9
OVERHEAD_TARGETS = {"ES256": 0.05, "HS256": 0.25}
CACHE_HIT_TARGET_NS = 100.0


def fail(message):
    print(f"pipeline_ratios: {message}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        return load_benchmark(path)
    except NotBenchmarkError:
        fail(f"{path} is not a Google Benchmark JSON file (no 'benchmarks' list)")
    except ResultsError as e:
        fail(str(e))


def fmt_rate(x):
    return f"{x:,.0f}/s"


def fmt_pct(x):
    return f"{x * 100:+.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench_json")
    ap.add_argument("out_prefix")
    ap.add_argument("--fail-on-miss", action="store_true")
    a = ap.parse_args()
    outputs = {os.path.abspath(a.out_prefix + ext) for ext in (".md", ".json")}
    if os.path.abspath(a.bench_json) in outputs:
        fail(f"OUT_PREFIX {a.out_prefix} would overwrite the input {a.bench_json}; "
             "choose another prefix (e.g. pipeline_summary)")
    data = load(a.bench_json)
    med = median_entries(data)

    rows = []  # (criterion, submitter, value text, spread text, target text, met or None)
    verdicts = {}

    paired = {}
    for name, b in med.items():
        if name.startswith("BM_PipelinePaired/"):
            paired[ALGS.get(name_arg(name, "alg"), "?")] = b

    es = paired.get("ES256")
    for key, label in SUBMITTERS:
        c = f"scaling_{key}"
        if es is None or c not in es:
            rows.append(("ES256 2 workers / 1 worker", label, "not measured", "", f">= {SCALING_TARGET}", None))
            continue
        met = es[c] >= SCALING_TARGET
        rows.append(("ES256 2 workers / 1 worker", label, f"{es[c]:.3f}x",
                     f"{es[c + '_lo']:.2f}-{es[c + '_hi']:.2f}", f">= {SCALING_TARGET}", met))
        verdicts[f"es256_scaling_{key}"] = {"value": es[c], "low": es[c + "_lo"], "high": es[c + "_hi"], "met": met}
    if es is not None and "scaling_direct" in es:
        rows.append(("ES256 Verify on 2 threads / 1 (the machine's own)", "none",
                     f"{es['scaling_direct']:.3f}x",
                     f"{es['scaling_direct_lo']:.2f}-{es['scaling_direct_hi']:.2f}", "yardstick", None))

    for alg, target in OVERHEAD_TARGETS.items():
        b = paired.get(alg)
        for key, label in SUBMITTERS:
            for kind, what in (("overhead", "wall time"), ("cpu_overhead", "CPU time")):
                c = f"{kind}_{key}"
                crit = f"{alg} overhead, 1 worker against Verify ({what} per token)"
                if b is None or c not in b:
                    rows.append((crit, label, "not measured", "", f"<= {target:.0%}", None))
                    continue
                met = b[c] <= target
                rows.append((crit, label, fmt_pct(b[c]), f"{fmt_pct(b[c + '_lo'])} to {fmt_pct(b[c + '_hi'])}",
                             f"<= {target:.0%}", met))
                verdicts[f"{alg.lower()}_{c}"] = {"value": b[c], "low": b[c + "_lo"], "high": b[c + "_hi"], "met": met}

    worst = None
    for name, b in med.items():
        if name.startswith("BM_CacheHit/"):
            alg = ALGS.get(name_arg(name, "alg"), "?")
            ns = time_ns(b, "cpu_time")
            if ns is None:
                continue
            met = ns <= CACHE_HIT_TARGET_NS
            rows.append((f"cache hit, {alg} (exp and revocation re-checked, 1 M revoked ids)", "none",
                         f"{ns:.1f} ns", "", f"<= {CACHE_HIT_TARGET_NS:.0f} ns", met))
            verdicts[f"cache_hit_{alg.lower()}_ns"] = {"value": ns, "met": met}
            worst = ns if worst is None else max(worst, ns)

    lines = ["# Pipeline: scaling, overhead against direct Verify, cache hit", ""]
    ctx = data.get("context", {})
    lines.append(f"Run {ctx.get('date', '?')} on {ctx.get('host_name', '?')} "
                 f"({ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz). "
                 "Ratios are medians over the paired rounds of BM_PipelinePaired (range: the "
                 "lowest and highest round); every figure comes from this one run.")
    lines += ["", "## Acceptance", "",
              "| criterion | submitter | median | rounds' range | target | verdict |",
              "|---|---|---|---|---|---|"]
    for crit, sub, val, spread, target, met in rows:
        v = "yardstick" if met is None and target == "yardstick" else ("not measured" if met is None else ("met" if met else "missed"))
        lines.append(f"| {crit} | {sub} | {val} | {spread} | {target} | {v} |")

    for alg, b in sorted(paired.items()):
        lines += ["", f"### Paired rounds, {alg}: throughput medians", "",
                  f"{int(b.get('rounds', 0))} rounds of {int(b.get('tokens_per_slice', 0)):,} tokens per contender.", "",
                  "| contender | tokens/s |", "|---|---|"]
        for key, label in (("direct_per_s", "Verify, 1 thread"), ("direct2_per_s", "Verify, 2 threads"),
                           ("bulk1_per_s", "pipeline, 1 worker, bulk submitter"),
                           ("bulk2_per_s", "pipeline, 2 workers, bulk submitter"),
                           ("pertoken1_per_s", "pipeline, 1 worker, per-token submitter"),
                           ("pertoken2_per_s", "pipeline, 2 workers, per-token submitter")):
            if key in b:
                lines.append(f"| {label} | {fmt_rate(b[key])} |")

    lines += ["", "## Separate benchmarks (medians of the repetitions)", "",
              "| benchmark | tokens/s | CPU ns/token (all threads) | submitter CPU ns/token | average batch |",
              "|---|---|---|---|---|"]
    for name in sorted(med):
        b = med[name]
        if not (name.startswith("BM_Direct/") or name.startswith("BM_DirectThreads/") or name.startswith("BM_Pipeline/")):
            continue
        cpu = b.get("cpu_ns_per_token")
        sub = b.get("submitter_cpu_ns")
        batch = b.get("avg_batch")
        lines.append(f"| {name} ({b.get('label', '')}) | {fmt_rate(b.get('items_per_second', 0))} | "
                     f"{'' if cpu is None else f'{cpu:,.0f}'} | {'' if sub is None else f'{sub:,.0f}'} | "
                     f"{'' if batch is None else f'{batch:.1f}'} |")

    lat = sorted(((n, b) for n, b in med.items() if n.startswith("BM_PipelineLatency/")),
                 key=lambda nb: (name_arg(nb[0], "max_batch") or 0, name_arg(nb[0], "deadline_us") or 0))
    if lat:
        lines += ["", "## Batch size and deadline against latency (HS256, one token in flight)", "",
                  "| max_batch | deadline | p50 | p99 |", "|---|---|---|---|"]
        for name, b in lat:
            lines.append(f"| {name_arg(name, 'max_batch')} | {name_arg(name, 'deadline_us')} us | "
                         f"{b.get('p50_us', 0):.1f} us | {b.get('p99_us', 0):.1f} us |")

    lines += ["", "What limits the design on wider machines: one submission ring shared by every "
              "submitter and worker (one CAS per Submit, or per SubmitBatch run, and per batch "
              "taken); a mutex taken once per batch to read the current verifier; a futex wake-up "
              "per sleeping submitter or worker (the dearest step on a virtual machine); and a "
              "process-wide membarrier when the cache reclaims entries."]
    with open(a.out_prefix + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(a.out_prefix + ".json", "w") as f:
        json.dump({"verdicts": verdicts, "cache_hit_worst_ns": worst}, f, indent=2)
        f.write("\n")

    undecided = [r for r in rows if r[5] is None and r[4] != "yardstick"]
    missed = [r for r in rows if r[5] is False]
    if a.fail_on_miss and (missed or undecided):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
