#!/usr/bin/env python3
"""Ratios of the revocation store's negative check to the bare filter, per round of run.sh,
with their median and range over the rounds. Writes summary.md beside the JSON files."""
import json
import pathlib
import statistics
import sys

DIR = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent)
MODES = [  # (label, store benchmark, its per-check divisor)
    ("independent calls", "BM_StoreNegative/10000000", "BM_FilterNegative/10000000",
     "BM_FilterNegativeJti/10000000", 1),
    ("dependent chain (latency)", "BM_StoreNegativeLatency/10000000",
     "BM_FilterNegativeLatency/10000000", "BM_FilterNegativeJtiLatency/10000000", 1),
    ("batches of 256", "BM_StoreNegativeBatch/10000000", "BM_FilterNegativeBatch/10000000",
     "BM_FilterNegativeJtiBatch/10000000", 256),
]


def times(path):
    doc = json.loads(path.read_text())
    return {b["name"]: b["cpu_time"] for b in doc["benchmarks"]}, doc["context"]


def main():
    rounds = sorted({int(p.name.split(".")[1]) for p in DIR.glob("store.*.json")})
    per_round = []
    context = None
    for r in rounds:
        store, context = times(DIR / f"store.{r}.json")
        filt, _ = times(DIR / f"filter.{r}.json")
        per_round.append({**store, **filt})
    lines = [
        "# Revocation store check against the bare filter, 10 M revoked ids",
        "",
        f"{len(rounds)} rounds of `run.sh` (filter and store processes in alternating order, "
        f"one core); host {context['host_name']}, {context['num_cpus']} CPUs at "
        f"{context['mhz_per_cpu']} MHz, machine in `../machine.json`. Nanoseconds per check "
        "(CPU time), median over the rounds [min, max]; ratios are taken per round, then the "
        "median [min, max].",
        "",
        "- *filter (16 B id)*: `BM_FilterNegative*`, a 16-byte binary id hashed and probed.",
        "- *filter (same input)*: `BM_FilterNegativeJti*`, the store benchmarks' own loop (a "
        "stamped 36-character jti in a Claims) and the same keyed hash of (iss, jti), then the "
        "probe: everything but the store.",
        "",
        "| mode | store | filter (16 B id) | filter (same input) | store / filter (16 B id) "
        "| store / filter (same input) |",
        "|---|---|---|---|---|---|",
    ]

    def fmt(values):
        return (f"{statistics.median(values):.1f} [{min(values):.1f}, {max(values):.1f}]")

    def fmt_ratio(values):
        return (f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]")

    for label, store, bare, same, div in MODES:
        s = [r[store] / div for r in per_round]
        b = [r[bare] / div for r in per_round]
        m = [r[same] / div for r in per_round]
        lines.append(f"| {label} | {fmt(s)} | {fmt(b)} | {fmt(m)} | "
                     f"{fmt_ratio([x / y for x, y in zip(s, b)])} | "
                     f"{fmt_ratio([x / y for x, y in zip(s, m)])} |")
    prep = [r["BM_StoreInput/10000000/0"] / 256 for r in per_round]
    prep_hash = [r["BM_StoreInput/10000000/1"] / 256 for r in per_round]
    lines += [
        "",
        f"The store benchmarks' loop alone (`BM_StoreInput`, no probe): {fmt(prep)} ns per "
        f"check to stamp the jti and build the Claims, {fmt(prep_hash)} ns with the (iss, jti) "
        "hash as well.",
    ]
    (DIR / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
