#!/usr/bin/python3
"""Summarise a verify_bench run: full verify against the primitive floor and against the peers.

Reads the Google Benchmark JSON written by

    verify_bench --benchmark_repetitions=N --benchmark_enable_random_interleaving=true \\
                 --benchmark_report_aggregates_only=true \\
                 --benchmark_out=BENCH_JSON --benchmark_out_format=json

and writes OUT_PREFIX.md (a table for people) and OUT_PREFIX.json (the same figures for
programs). Per algorithm it reports the median over the repetitions of

  BM_Verify/<ALG>        jwtgate full verify of a valid token
  BM_VerifyReject/<ALG>  jwtgate verify of the same token with a tampered signature
  BM_Floor/<ALG>         the primitive alone (precomputed HMAC; hash + EVP_PKEY_verify; libsodium)
  BM_Paired/<ALG>        verify and floor alternating in short chunks of the same loop; its
                         counters verify_ns, floor_ns and ratio
  BM_Peer_libjwt/<ALG>   libjwt 1.10, where it supports the algorithm
  BM_Peer_cppjwt/<ALG>   cpp-jwt 1.4, where it supports the algorithm
  BM_HeaderMix/<MIX>     16 kids over 3 algorithms, in random order against one header at a
                         time (counters single_ns, mixed_ns, ratio; target mixed / single <= 1.05)

The acceptance verdict (verify / floor against the targets below) uses the paired ratio when
the run has one: verify and floor then ran under the same machine conditions, which separate
benchmarks on a shared machine do not. The ratio of the separate BM_Verify and BM_Floor
medians is shown beside it. Peer ratios are peer / jwtgate verify: how many times longer the
peer takes. Every ratio is between figures of the same run.

Each acceptance row carries the spread of its repetitions (coefficient of variation); above 3%
the row is flagged, since a 1.03x target cannot be decided by figures that move more than that.

When the file holds no median aggregates (a run without --benchmark_report_aggregates_only, or
a single repetition), the median of the individual repetitions is used instead.

Exit status: 0 when the summary was written (1 with --fail-on-miss when a target is missed or
cannot be evaluated), 2 on a usage or input error.
"""

import argparse
import json
import sys

from jwtgate_results import (NotBenchmarkError, ResultsError, context_line, group_runs,
                             load_benchmark, repetitions, split_run_name, time_ns)

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]

# Acceptance: full verify within this factor of the floor measured in the same run.
TARGETS = {
    "HS256": (1.6, "HMAC with precomputed states"),
    "HS384": (1.5, "HMAC with precomputed states"),
    "HS512": (1.5, "HMAC with precomputed states"),
    "RS256": (1.03, "SHA-256 + EVP_PKEY_verify"),
    "PS256": (1.03, "SHA-256 + EVP_PKEY_verify"),
    "ES256": (1.03, "SHA-256 + EVP_PKEY_verify"),
    "EdDSA": (1.03, "libsodium crypto_sign_verify_detached"),
}

# Repetitions that spread more than this (stddev / mean) cannot decide a 1.03x target.
NOISY_CV = 0.03

# A full verify cannot be faster than the primitive it performs; below this, the run is suspect
# (a cache, a skipped check) rather than a success.
BELOW_FLOOR = 0.95

KINDS = {
    "BM_Verify": "verify",
    "BM_VerifyReject": "reject",
    "BM_Floor": "floor",
    "BM_Paired": "paired",
    "BM_Peer_libjwt": "libjwt",
    "BM_Peer_cppjwt": "cppjwt",
}

PAIRED_COUNTERS = ("verify_ns", "floor_ns", "ratio")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="verify_ratios.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_json", metavar="BENCH_JSON", help="Google Benchmark JSON output")
    p.add_argument("out_prefix", metavar="OUT_PREFIX",
                   help="writes OUT_PREFIX.md and OUT_PREFIX.json")
    p.add_argument("--time", choices=["cpu", "real"], default="cpu",
                   help="time of the separate benchmarks: cpu_time (default; less disturbed by "
                        "other processes) or real_time. The paired counters are wall-clock "
                        "medians over short chunks either way.")
    p.add_argument("--fail-on-miss", action="store_true",
                   help="exit 1 when an acceptance target is missed or cannot be evaluated")
    return p.parse_args(argv)


def split_name(name):
    """'BM_Verify/HS256' -> ('verify', 'HS256'), or None for benchmarks this script ignores."""
    prefix, args = split_run_name(name)
    alg = args[0] if args else ""
    if prefix not in KINDS or alg not in ALGS:
        return None
    return KINDS[prefix], alg


def value_of(b, kind, field):
    """The figure a benchmark entry contributes: its time in ns, or its paired counters."""
    if kind == "paired":
        if not all(c in b for c in PAIRED_COUNTERS):
            return None
        return {c: float(b[c]) for c in PAIRED_COUNTERS}
    return time_ns(b, field)


def collect(doc, field):
    """Returns (medians, cvs, errors, repetitions), the first three keyed by (kind, alg).

    A median is a time in ns, or for `paired` a dict of its counters; a cv is a fraction
    (for `paired`, the cv of its ratio counter).
    """
    medians = {}
    cvs = {}
    errors = {}
    for name, runs in group_runs(doc).items():
        key = split_name(name)
        if key is None:
            continue
        if runs.error is not None:
            errors[key] = runs.error
        kind = key[0]

        def value(b, kind=kind):
            return value_of(b, kind, field)

        median = runs.median_value(value)
        if median is not None:
            medians[key] = median
        # Aggregates apply to counters too: the cv entry holds stddev / mean of each.
        if kind == "paired":
            cv = runs.spread(lambda b: (value(b) or {}).get("ratio"), lambda b: b.get("ratio"))
        else:
            cv = runs.spread(value, lambda b: b.get(field))
        if cv is not None:
            cvs[key] = cv
    return medians, cvs, errors, repetitions(doc)


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def summarise(doc, field):
    medians, cvs, errors, reps = collect(doc, field)
    rows = []
    acceptance = []
    for alg in ALGS:
        get = lambda kind: medians.get((kind, alg))  # noqa: E731
        paired = get("paired") or {}
        row = {
            "alg": alg,
            "verify_ns": get("verify"),
            "reject_ns": get("reject"),
            "floor_ns": get("floor"),
            "verify_over_floor": ratio(get("verify"), get("floor")),
            "paired_verify_ns": paired.get("verify_ns"),
            "paired_floor_ns": paired.get("floor_ns"),
            "paired_ratio": paired.get("ratio"),
            "libjwt_ns": get("libjwt"),
            "libjwt_over_verify": ratio(get("libjwt"), get("verify")),
            "cppjwt_ns": get("cppjwt"),
            "cppjwt_over_verify": ratio(get("cppjwt"), get("verify")),
            "cv": {kind: cvs[(kind, alg)] for kind in KINDS.values() if (kind, alg) in cvs},
            "errors": {kind: errors[(kind, alg)] for kind in KINDS.values()
                       if (kind, alg) in errors},
        }
        if (all(row[k] is None for k in ("verify_ns", "floor_ns", "paired_ratio"))
                and not row["errors"]):
            continue
        target = TARGETS.get(alg)
        if target:
            separate_noise = [row["cv"][k] for k in ("verify", "floor") if k in row["cv"]]
            separate_cv = max(separate_noise) if separate_noise else None
            if row["paired_ratio"] is not None:
                basis, r, cv = "paired", row["paired_ratio"], row["cv"].get("paired")
            else:
                basis, r, cv = "separate", row["verify_over_floor"], separate_cv
            verdict = "n/a" if r is None else ("PASS" if r <= target[0] else "MISS")
            row["target"] = target[0]
            row["verdict"] = verdict
            acceptance.append({
                "alg": alg, "target": target[0], "floor": target[1], "basis": basis,
                "ratio": r, "cv": cv, "verdict": verdict,
                "separate_ratio": row["verify_over_floor"], "separate_cv": separate_cv,
                "noisy": cv is not None and cv > NOISY_CV,
            })
        rows.append(row)
    return rows, acceptance, reps


def fmt_ns(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e3:,.0f} µs"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_ratio(r, digits=3):
    return "—" if r is None else f"{r:.{digits}f}×"


def fmt_cv(cv):
    if cv is None:
        return "—"
    return f"{cv * 100:.1f}%" + (" ⚠" if cv > NOISY_CV else "")


# BM_HeaderMix/<MIX>: 16 kids over 3 algorithms in random order against the same tokens one
# header at a time (paired per round); mixed / single within this factor.
HEADER_MIX_TARGET = 1.05
HEADER_MIX_COUNTERS = ("single_ns", "mixed_ns", "ratio")


def header_mix(doc):
    """Per BM_HeaderMix/<MIX>: the median of its counters and the cv of its ratio."""
    out = []
    for name, runs in group_runs(doc).items():
        prefix, args = split_run_name(name)
        if prefix != "BM_HeaderMix" or not args:
            continue

        def counters(b):
            if not all(c in b for c in HEADER_MIX_COUNTERS):
                return None
            return {c: float(b[c]) for c in HEADER_MIX_COUNTERS}

        median = runs.median_value(counters)
        if median is None:
            continue
        cv = runs.spread(lambda b: (counters(b) or {}).get("ratio"), lambda b: b.get("ratio"))
        out.append({"mix": args[0], **median, "cv": cv, "target": HEADER_MIX_TARGET,
                    "verdict": "PASS" if median["ratio"] <= HEADER_MIX_TARGET else "FAIL"})
    return sorted(out, key=lambda m: m["mix"])


def markdown_header_mix(mixes):
    if not mixes:
        return []
    out = ["\n## Header mix\n",
           "16 kids over 3 algorithms (hmac: HS256, HS384, HS512; hs_es_rs: HS256, ES256, RS256), "
           "4 tokens each: the same tokens one header at a time (single) and in random order "
           "(mixed), alternating within each round; ratio = mixed / single per round, median.\n",
           "| mix | single | mixed | mixed / single | spread | target | result |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for m in mixes:
        out.append(f"| {m['mix']} | {fmt_ns(m['single_ns'])} | {fmt_ns(m['mixed_ns'])} | "
                   f"{fmt_ratio(m['ratio'])} | {fmt_cv(m['cv'])} | ≤ {m['target']:g}× | "
                   f"**{m['verdict']}** |")
    return out


def markdown(rows, acceptance, reps, field, ctx, source, mixes=()):
    out = []
    out.append("# Verify cost against the primitive floor and the peers\n")
    out.append(f"Source: `{source}` ({ctx.get('date', 'date unknown')}; "
               f"{context_line(ctx)}).  ")
    out.append(f"Medians of {reps} repetition(s); separate benchmarks by `{field}`; same token "
               f"(280-byte signing input) and same run for every column.\n")
    out.append("## Acceptance\n")
    out.append("| alg | floor | verify / floor (paired) | spread | verify / floor (separate) "
               "| spread | target | result |")
    out.append("|---|---|---:|---:|---:|---:|---:|---|")
    for a in acceptance:
        paired = fmt_ratio(a["ratio"]) if a["basis"] == "paired" else "—"
        paired_cv = fmt_cv(a["cv"]) if a["basis"] == "paired" else "—"
        out.append(f"| {a['alg']} | {a['floor']} | {paired} | {paired_cv} | "
                   f"{fmt_ratio(a['separate_ratio'])} | {fmt_cv(a['separate_cv'])} | "
                   f"≤ {a['target']:g}× | **{a['verdict']}** |")
    out.append("")
    out.append("The result is taken from the paired ratio when the run has one (verify and floor "
               "alternating in the same loop), otherwise from the separate medians. spread: "
               "coefficient of variation over the repetitions (paired: of the ratio; separate: "
               "the larger of verify's and floor's).")
    noisy = [a["alg"] for a in acceptance if a["noisy"]]
    if noisy:
        out.append(f"\n⚠ {', '.join(noisy)}: repetitions spread by more than "
                   f"{NOISY_CV * 100:g}%; the machine was disturbed during the run and these "
                   "verdicts should be confirmed by a run on a quiet machine before they are cited.")
    out.append("")
    out.append("## Per algorithm\n")
    out.append("peer / jwtgate: how many times longer the peer takes than jwtgate's full verify.\n")
    out.append("| alg | jwtgate verify | reject (bad sig) | floor | verify / floor | paired "
               "verify | paired floor | paired ratio | libjwt | libjwt / jwtgate | cpp-jwt | "
               "cpp-jwt / jwtgate |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(
            f"| {r['alg']} | {fmt_ns(r['verify_ns'])} | {fmt_ns(r['reject_ns'])} | "
            f"{fmt_ns(r['floor_ns'])} | {fmt_ratio(r['verify_over_floor'])} | "
            f"{fmt_ns(r['paired_verify_ns'])} | {fmt_ns(r['paired_floor_ns'])} | "
            f"{fmt_ratio(r['paired_ratio'])} | "
            f"{fmt_ns(r['libjwt_ns'])} | {fmt_ratio(r['libjwt_over_verify'], 1)} | "
            f"{fmt_ns(r['cppjwt_ns'])} | {fmt_ratio(r['cppjwt_over_verify'], 1)} |")
    low = [r["alg"] for r in rows
           if any(x is not None and x < BELOW_FLOOR
                  for x in (r["verify_over_floor"], r["paired_ratio"]))]
    if low:
        out.append(f"\nFull verify faster than its floor for {', '.join(low)}: the verify "
                   "cannot have done less than the primitive's work; the run was disturbed. "
                   "Check it before citing it.")
    errs = [(r["alg"], k, m) for r in rows for k, m in r["errors"].items()]
    if errs:
        out.append("\n## Benchmarks that reported an error\n")
        for alg, kind, msg in errs:
            out.append(f"- {alg} {kind}: {msg}")
    out.append("\n— means the peer does not implement the algorithm (libjwt 1.10 and cpp-jwt 1.4 "
               "have no PS* or EdDSA) or the benchmark did not run.")
    out.append("\nBoth peers take the public key as PEM text on every call and parse it there (their "
               "APIs offer no parsed-key form); with OpenSSL 3's decoder framework that parse, not "
               "the signature, is most of their RS* and ES* time.")
    out.extend(markdown_header_mix(mixes))
    return "\n".join(out) + "\n"


def main(argv):
    args = parse_args(argv)
    field = "cpu_time" if args.time == "cpu" else "real_time"
    try:
        doc = load_benchmark(args.bench_json)
    except NotBenchmarkError:
        print(f"verify_ratios.py: {args.bench_json} is not Google Benchmark JSON",
              file=sys.stderr)
        return 2
    except ResultsError as e:
        print(f"verify_ratios.py: {e}", file=sys.stderr)
        return 2
    rows, acceptance, reps = summarise(doc, field)
    if not rows:
        print(f"verify_ratios.py: no verify_bench results in {args.bench_json}", file=sys.stderr)
        return 2
    ctx = doc.get("context", {})
    summary = {
        "source": args.bench_json,
        "metric": field,
        "statistic": "median",
        "repetitions": reps,
        "context": ctx,
        "acceptance": acceptance,
        "all_pass": all(a["verdict"] == "PASS" for a in acceptance),
        "noisy": [a["alg"] for a in acceptance if a["noisy"]],
        "algorithms": rows,
        "header_mix": header_mix(doc),
    }
    try:
        with open(args.out_prefix + ".json", "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
            f.write("\n")
        with open(args.out_prefix + ".md", "w", encoding="utf-8") as f:
            f.write(markdown(rows, acceptance, reps, field, ctx, args.bench_json,
                             summary["header_mix"]))
    except OSError as e:
        print(f"verify_ratios.py: cannot write {args.out_prefix}.*: {e}", file=sys.stderr)
        return 2
    for a in acceptance:
        r = "n/a" if a["ratio"] is None else f"{a['ratio']:.3f}x"
        cv = "" if a["cv"] is None else f"  cv {a['cv'] * 100:.1f}%"
        print(f"{a['alg']:6} verify/floor {r:>8} ({a['basis']})  target <= {a['target']:g}x  "
              f"{a['verdict']}{cv}")
    for m in summary["header_mix"]:
        print(f"header mix {m['mix']:9} mixed/single {m['ratio']:.3f}x  target <= "
              f"{m['target']:g}x  {m['verdict']}")
    if args.fail_on_miss and not summary["all_pass"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
