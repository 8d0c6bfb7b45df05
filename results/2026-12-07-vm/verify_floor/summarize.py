#!/usr/bin/env python3
"""Summarizes run.sh's rounds: verify / floor (paired) per algorithm for the old and the new
build, the new build's paired verify time over the old one's, and the header-mix ratio.

Usage: summarize.py DIR > DIR/summary.md   (reads DIR/{old,new}-N_ratios.json)
"""
import glob
import json
import os
import statistics
import sys

# Issue #21's targets for verify / floor (paired), where it sets one.
TARGETS = {"HS256": 2.0, "HS384": 1.5, "HS512": 1.5, "RS256": 1.03, "PS256": 1.03}


def load(d, side):
    runs = {}
    for path in glob.glob(os.path.join(d, f"{side}-*_ratios.json")):
        r = int(os.path.basename(path).split("-")[1].split("_")[0])
        runs[r] = json.load(open(path))
    return runs


def cell(values, digits=3):
    if not values:
        return "—"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def main():
    d = sys.argv[1]
    old, new = load(d, "old"), load(d, "new")
    rounds = sorted(set(old) & set(new))
    if not rounds:
        sys.exit("no paired rounds in " + d)
    algs = [a["alg"] for a in new[rounds[0]]["algorithms"]]
    ctx = new[rounds[0]].get("context", "")
    print("# Verify against its floor: before and after this round\n")
    print(f"{len(rounds)} rounds of `run.sh` (old and new build alternating, first one switching "
          "each round; one core); machine in `../machine.json`. Per round, each build's paired "
          "ratio (BM_Paired: verify and floor alternating in one loop, median of 3 repetitions); "
          "below, the median over the rounds [min, max].\n")
    if ctx:
        print(f"First new round: {ctx.get('date')}, host {ctx.get('host_name')}, "
              f"{ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, load average "
              f"{' '.join(format(x, '.2f') for x in ctx.get('load_avg', []))}, "
              f"{ctx.get('openssl')}.\n")
    print("| alg | old verify / floor | new verify / floor | new / old verify time | "
          "#21 target | new: rounds within |")
    print("|---|---|---|---|---|---|")
    for alg in algs:
        def series(runs, key):
            out = []
            for r in rounds:
                for a in runs[r]["algorithms"]:
                    if a["alg"] == alg and a.get(key) is not None:
                        out.append(a[key])
            return out
        o, n = series(old, "paired_ratio"), series(new, "paired_ratio")
        ov, nv = series(old, "paired_verify_ns"), series(new, "paired_verify_ns")
        speed = [b / a for a, b in zip(ov, nv)] if len(ov) == len(nv) else []
        target = TARGETS.get(alg)
        within = f"{sum(1 for x in n if x <= target)} of {len(n)}" if target else ""
        print(f"| {alg} | {cell(o)} | {cell(n)} | {cell(speed)} | "
              f"{'≤ ' + format(target, 'g') + '×' if target else ''} | {within} |")
    print("\nHeader mix (mixed / single, target ≤ 1.05):\n")
    print("| mix | old | new |")
    print("|---|---|---|")
    for mix in [m["mix"] for m in new[rounds[0]]["header_mix"]]:
        def ratios(runs):
            return [m["ratio"] for r in rounds for m in runs[r]["header_mix"] if m["mix"] == mix]
        print(f"| {mix} | {cell(ratios(old))} | {cell(ratios(new))} |")


if __name__ == "__main__":
    main()
