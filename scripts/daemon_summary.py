#!/usr/bin/python3
"""Summarise jwtgated against nginx `return 200` from a results directory.

Usage: scripts/daemon_summary.py RESULTS_DIR [--out-prefix PREFIX]

Reads the end-to-end rows of RESULTS_DIR/strategies.json (its "e2e" member, written by
`jwtgate-bench strategies --mode e2e` through scripts/bench-strategies: every row through its
own server on loopback, driven by bench/loadgen, closed loop then open loop) and the ES256
primitive floor of RESULTS_DIR/verify_bench.json (the BM_Floor/ES256 median: SHA-256 +
EVP_PKEY_verify on one core), and writes PREFIX.md and PREFIX.json (default
RESULTS_DIR/daemon_summary) with the daemon's acceptance ratios:

  HS256 cached / nginx                     >= 0.8   S7.<jwt alg> req/s over S0 req/s (jwtgated
                                                    with the verified-token cache, and the
                                                    revocation state, against the HTTP floor)
  HS256 uncached / nginx                            S1.HS256 req/s over S0 req/s
  ES256 uncached / (cores x primitive)     >= 0.9   S1.ES256 req/s over what the cores could
                                                    verify doing nothing else
  ES256 primitive CPU / daemon CPU per request      1.0: every CPU microsecond the daemon
                                                    spent on a request was the signature check

Every figure is a closed-loop maximum of the same run; the load generator, the server and its
workers share the machine's cores.

Exit status: 0 when the summary was written, 2 when the results hold no end-to-end rows.
"""
import argparse
import json
import os
import sys

from jwtgate_results import (ResultsError, closed_rps, cpu_us, find_row, group_runs,
                             load_benchmark, load_json, measured, open_loop_near, time_ns)

CACHED_VS_NGINX_MIN = 0.8
ES256_VS_PRIMITIVE_MIN = 0.9


def fail(message):
    print(f"daemon_summary: {message}", file=sys.stderr)
    sys.exit(2)


def es256_floor_ns(resdir):
    """Median CPU ns of BM_Floor/ES256 in verify_bench.json, or None."""
    path = os.path.join(resdir, "verify_bench.json")
    if not os.path.exists(path):
        return None
    try:
        runs = group_runs(load_benchmark(path)).get("BM_Floor/ES256")
    except ResultsError:
        return None
    return runs.median_value(lambda b: time_ns(b, "cpu_time")) if runs else None


def server_cpu(row):
    daemon = cpu_us(row, "daemon")
    return daemon if daemon is not None else cpu_us(row, "nginx")


def server_rss_kib(row):
    mem = row.get("memory") or {}
    return (mem.get("daemon") or mem.get("nginx") or {}).get("rss_kib")


def ratio(a, b):
    return a / b if a is not None and b else None


def summarise(doc, floor_ns):
    e2e = doc["e2e"]
    cfg = e2e.get("config") or {}
    alg = cfg.get("jwt_alg") or "HS256"
    cores = (doc.get("machine") or {}).get("cores") or os.cpu_count()
    rows = {"nginx_return_200": find_row(e2e, "S0"), "hs256_cached": find_row(e2e, f"S7.{alg}"),
            "hs256_uncached": find_row(e2e, "S1.HS256"), "es256_uncached": find_row(e2e, "S1.ES256")}
    out = {}
    for name, r in rows.items():
        if not measured(r):
            out[name] = {"key": r.get("key") if r else None, "measured": False,
                         "reason": (r or {}).get("reason") or "the row did not run"}
            continue
        closed = r["closed_loop"]
        lat = closed.get("service_time_us") or {}
        half = open_loop_near(r)
        out[name] = {"key": r["key"], "measured": True, "rps": closed_rps(r),
                     "service_p50_us": lat.get("p50"), "service_p99_us": lat.get("p99"),
                     "errors": closed.get("errors"), "server_cpu_us_per_request": server_cpu(r),
                     "server_rss_kib": server_rss_kib(r),
                     "open_loop_half": None if half is None else {
                         "fraction_of_max": half.get("fraction_of_max"),
                         "offered_rps": half.get("offered_rps"),
                         "latency_us": half.get("latency_us"), "unsent": half.get("unsent")}}
    rps = {k: v.get("rps") for k, v in out.items()}
    primitive = 1e9 / floor_ns if floor_ns else None
    ratios = {
        "hs256_cached_vs_nginx": ratio(rps["hs256_cached"], rps["nginx_return_200"]),
        "hs256_uncached_vs_nginx": ratio(rps["hs256_uncached"], rps["nginx_return_200"]),
        "es256_uncached_vs_cores_x_primitive":
            ratio(rps["es256_uncached"], cores * primitive if primitive else None),
        "es256_primitive_cpu_over_daemon_cpu_per_request":
            ratio(floor_ns / 1e3 if floor_ns else None,
                  out["es256_uncached"].get("server_cpu_us_per_request")),
    }
    missing = [f"{k}: {v['reason']}" for k, v in out.items() if not v["measured"]]
    if primitive is None:
        missing.append("ES256 primitive: no BM_Floor/ES256 in verify_bench.json")
    return {
        "benchmark": "jwtgated auth checks vs nginx return 200 (strategies.json e2e rows)",
        "settings": dict((e2e.get("method") or {}).get("settings") or {}, cores=cores,
                         duration_s=cfg.get("duration_s"), jwt_alg=alg),
        "runs": out,
        "es256_primitive": {"verify_per_s_one_core": primitive, "cores": cores,
                            "source": "verify_bench.json BM_Floor/ES256 median cpu_time"},
        "ratios": ratios,
        "acceptance": {
            "hs256_cached_vs_nginx_min": CACHED_VS_NGINX_MIN,
            "hs256_cached_vs_nginx_ok": (None if ratios["hs256_cached_vs_nginx"] is None else
                                         ratios["hs256_cached_vs_nginx"] >= CACHED_VS_NGINX_MIN),
            "es256_vs_cores_x_primitive_min": ES256_VS_PRIMITIVE_MIN,
            "es256_vs_cores_x_primitive_ok": (
                None if ratios["es256_uncached_vs_cores_x_primitive"] is None else
                ratios["es256_uncached_vs_cores_x_primitive"] >= ES256_VS_PRIMITIVE_MIN),
        },
        "missing": missing,
    }


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def markdown(s):
    st = s["settings"]
    lines = ["# jwtgated vs nginx return 200 (end-to-end rows, same run)", "",
             f"bench/loadgen closed loop, {st.get('connections', '?')} keep-alive connections, "
             f"{st.get('duration_s', '?')} s per row; {st['cores']} cores shared by the load "
             "generator, the server and its workers. Service-time percentiles of the closed loop.",
             "", "| run | row | requests/s | p50 µs | p99 µs | errors | server CPU µs/req | "
             "server RSS MiB |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in s["runs"].items():
        if not r["measured"]:
            lines.append(f"| {name} | {r['key'] or '-'} | not measured: {r['reason']} "
                         "| | | | | |")
            continue
        rss = r["server_rss_kib"]
        lines.append(f"| {name} | {r['key']} | {fmt(r['rps'], '.0f')} | "
                     f"{fmt(r['service_p50_us'], '.0f')} | {fmt(r['service_p99_us'], '.0f')} | "
                     f"{fmt(r['errors'], 'd')} | {fmt(r['server_cpu_us_per_request'], '.1f')} | "
                     f"{fmt(rss / 1024 if rss else None, '.1f')} |")
    for name in ("hs256_cached", "nginx_return_200"):
        ol = s["runs"][name].get("open_loop_half")
        if ol:
            lat = ol["latency_us"] or {}
            lines.append(f"- open loop {name} at {fmt(ol['offered_rps'], '.0f')}/s "
                         f"({fmt(ol['fraction_of_max'], '.0%')} of its maximum): "
                         f"p50 {fmt(lat.get('p50'), '.0f')} µs, p99 {fmt(lat.get('p99'), '.0f')} µs, "
                         f"p99.9 {fmt(lat.get('p999'), '.0f')} µs, max {fmt(lat.get('max'), '.0f')} µs, "
                         f"unsent {fmt(ol['unsent'], 'd')}")
    p, r = s["es256_primitive"], s["ratios"]
    primitive = p["verify_per_s_one_core"]
    lines += ["", f"ES256 primitive: {fmt(primitive, '.0f')} verify/s on one core ({p['cores']} "
              f"cores: {fmt(primitive * p['cores'] if primitive else None, '.0f')}/s; "
              f"{p['source']}).", "",
              f"- HS256 cached / nginx: {fmt(r['hs256_cached_vs_nginx'], '.2f')} "
              f"(acceptance >= {CACHED_VS_NGINX_MIN})",
              f"- HS256 uncached / nginx: {fmt(r['hs256_uncached_vs_nginx'], '.2f')}",
              f"- ES256 uncached / (cores x primitive): "
              f"{fmt(r['es256_uncached_vs_cores_x_primitive'], '.2f')} "
              f"(acceptance >= {ES256_VS_PRIMITIVE_MIN})",
              f"- ES256 primitive CPU / daemon CPU per request: "
              f"{fmt(r['es256_primitive_cpu_over_daemon_cpu_per_request'], '.2f')}"]
    for m in s["missing"]:
        lines.append(f"- missing: {m}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("results_dir", help="results directory holding strategies.json")
    ap.add_argument("--out-prefix", help="writes PREFIX.md and PREFIX.json "
                    "(default: RESULTS_DIR/daemon_summary)")
    args = ap.parse_args()
    try:
        doc = load_json(os.path.join(args.results_dir, "strategies.json"))
    except ResultsError as e:
        fail(str(e))
    e2e = doc.get("e2e") if isinstance(doc, dict) else None
    if not e2e or "strategies" not in e2e:
        fail("strategies.json holds no end-to-end rows"
             + (f": {e2e['error']}" if e2e and "error" in e2e else " (run without --no-e2e)"))
    s = summarise(doc, es256_floor_ns(args.results_dir))
    prefix = args.out_prefix or os.path.join(args.results_dir, "daemon_summary")
    with open(prefix + ".json", "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
    text = markdown(s)
    with open(prefix + ".md", "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
