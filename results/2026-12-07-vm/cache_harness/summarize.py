#!/usr/bin/env python3
"""Summarizes run.sh's rounds: per round, the micro benchmark's ns per hit and the harness rows'
CPU per request; over the rounds, medians [min, max] and the harness / micro ratios."""
import glob
import json
import os
import statistics
import sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def micro(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        mode = "batched" if "/batch:1" in b["name"] else "single"
        out[mode] = b["ns_per_hit"]
    return out


def harness(path):
    out = {}
    for r in json.load(open(path))["strategies"]:
        mode = "batched" if r["key"].endswith(".batched") else "single"
        out[mode] = r["closed_loop"]["cpu_s_per_million"]["bench"] * 1000.0  # ns per request
    return out


def rounds():
    for m in sorted(glob.glob(os.path.join(d, "micro-*.json"))):
        r = m.rsplit("-", 1)[1][:-5]
        yield r, micro(m), {w: harness(os.path.join(d, f"harness-w{w}-{r}.json")) for w in (0, 1000)}


def fmt(xs, digits=0):
    f = f"{{:.{digits}f}}"
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}, {f.format(max(xs))}]"


data = list(rounds())
lines = ["| round | micro single | micro batched | S7, 0 watermarks: single | batched | "
         "S7, 1,000 watermarks: single | batched |", "|---|---:|---:|---:|---:|---:|---:|"]
for r, m, h in data:
    lines.append(f"| {r} | {m['single']:.0f} | {m['batched']:.0f} | {h[0]['single']:.0f} | "
                 f"{h[0]['batched']:.0f} | {h[1000]['single']:.0f} | {h[1000]['batched']:.0f} |")
lines += ["", "Medians over the rounds [min, max], ns per request, and harness / micro (the ratio of "
          "each round's figures):", "", "| | micro | S7, 0 watermarks | ratio | S7, 1,000 "
          "watermarks | ratio |", "|---|---:|---:|---:|---:|---:|"]
for mode in ("single", "batched"):
    mi = [m[mode] for _, m, _ in data]
    h0 = [h[0][mode] for _, _, h in data]
    h1 = [h[1000][mode] for _, _, h in data]
    r0 = [a / b for a, b in zip(h0, mi)]
    r1 = [a / b for a, b in zip(h1, mi)]
    lines.append(f"| {mode} | {fmt(mi)} | {fmt(h0)} | {fmt(r0, 2)} | {fmt(h1)} | {fmt(r1, 2)} |")
print("\n".join(lines))
