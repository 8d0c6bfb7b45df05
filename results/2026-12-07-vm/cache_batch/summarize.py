#!/usr/bin/env python3
"""Table of BM_CacheHitWorkingSet from default.json and thp.json: ns per hit, median of the
repetitions [min, max], one lookup at a time (batch:0) and FindBatch (batch:1).

Usage: summarize.py DIR
"""
import json
import os
import statistics
import sys


def load(path):
    rows = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        parts = dict(p.split(":") for p in b["run_name"].split("/")[1:3])
        rows.setdefault((int(parts["tokens"]), int(parts["batch"])), []).append(b["ns_per_hit"])
    return rows


def cell(v):
    return f"{statistics.median(v):.0f} [{min(v):.0f}, {max(v):.0f}]"


def main():
    d = sys.argv[1]
    modes = {m: load(os.path.join(d, m + ".json")) for m in ("default", "thp")}
    print("| working set | mode | one at a time (Find) | FindBatch | one at a time / batch |")
    print("|---:|---|---|---|---:|")
    for tokens in sorted({k[0] for k in modes["default"]}):
        for mode, rows in modes.items():
            one, batch = rows.get((tokens, 0)), rows.get((tokens, 1))
            if not one or not batch:
                continue
            speedup = statistics.median(one) / statistics.median(batch)
            print(f"| {tokens:,} | {mode} | {cell(one)} | {cell(batch)} | {speedup:.2f} |")


if __name__ == "__main__":
    main()
