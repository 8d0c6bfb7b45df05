#!/usr/bin/python3
"""Summarizes verify_cell.json (verify_bench BM_Cell, repeated and interleaved): per algorithm,
the median over repetitions of the paired ratio cell / direct, its range, and the medians of
the per-call times. Usage: summarize.py verify_cell.json"""
import json
import statistics
import sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    rows.setdefault(b["name"].split("/")[1], []).append(b)
print("| algorithm | reps | ratio cell/direct, median | range | direct ns | cell ns |")
print("|---|---|---|---|---|---|")
for alg, runs in rows.items():
    r = [x["ratio"] for x in runs]
    print(f"| {alg} | {len(runs)} | {statistics.median(r):.4f} | {min(r):.4f}–{max(r):.4f} | "
          f"{statistics.median(x['direct_ns'] for x in runs):.0f} | "
          f"{statistics.median(x['cell_ns'] for x in runs):.0f} |")
