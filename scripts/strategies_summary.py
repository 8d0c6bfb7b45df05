#!/usr/bin/python3
"""Writes the strategies summary (summary.md next to the strategies.json) from a strategies.json.

Usage: scripts/strategies_summary.py RESULTS/strategies.json [--out PATH] [--print]

The table gives, for every row of the run, its closed-loop throughput, its per-request cost and
that cost relative to S1 HS256 (a stateless JWT with the cheapest algorithm) and to S4 (an
opaque session id looked up in Redis, one round trip per request), then the open-loop latency
at the middle offered rate, then the cross-checks against redis-benchmark and pgbench, then
the end-to-end rows (the "e2e" member: jwtgated over HTTP, nginx `return 200` as the floor) with
their maximum throughput, CPU per request of the load generator and of the server, server RSS
and open-loop latency at about half of each row's maximum; the rows jwtgated cannot serve (S3-S6)
are listed with the reason.

Per-request cost = CPU time of every process involved (the benchmark process, redis-server,
the PostgreSQL server's processes) per request, at maximum throughput: CPU seconds per million
requests, which is CPU microseconds per request. CPU time is what a request costs the machine;
on a shared machine it is also far less disturbed by other tenants than wall-clock throughput.

The summary goes to summary.md in the folder of the strategies.json (a results/<run>/
folder), or to --out; with --print to stdout instead. It never edits a tracked file outside the
run's folder (the README links to the runs' summaries).
"""
import argparse
import os
import sys

from jwtgate_results import ResultsError, cpu_us, find_row, load_json, open_loop_near

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt_num(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def fmt_cost(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(v):
    if v is None:
        return "–"
    if v >= 10:
        return f"{v:,.0f}×"
    if v >= 1:
        return f"{v:.1f}×"
    return f"{v:.2g}×"


def cost(row):
    """CPU us per request, all processes, closed loop; None when the row did not run."""
    return cpu_us(row)


def rel_path(path):
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def summary(doc, path):
    rows = doc.get("strategies", [])
    cfg = doc.get("config", {})
    machine = doc.get("machine", {})
    threads = cfg.get("threads")
    s1 = find_row(rows, "S1.HS256")
    s4 = find_row(rows, "S4.redis.sync")
    base_s1, base_s4 = cost(s1) if s1 else None, cost(s4) if s4 else None

    out = []
    la0, la1 = doc.get("loadavg_at_start"), doc.get("loadavg_at_end")
    cpu = machine.get("cpu_model") or "unknown CPU"
    cores = machine.get("cores")
    out.append(f"Strategies run of {doc.get('date_utc', '?')} on {doc.get('host', '?')} "
               f"({cpu}, {cores} cores), {threads} threads, "
               f"{cfg.get('duration_s')} s per row{' (quick: smoke figures only)' if cfg.get('quick') else ''}; "
               f"from `{rel_path(path)}`. Load average (1 min) {la0[0] if la0 else '?'} at the "
               f"start and {la1[0] if la1 else '?'} at the end: the machine is shared, so "
               "throughput and latency vary from run to run; CPU time per request much less.")
    out.append("")
    out.append("Cost = CPU µs per request of every process involved (benchmark, redis-server, "
               "PostgreSQL), at maximum throughput. Latency: open loop at about half of each "
               "row's maximum, from the intended send time.")
    out.append("")
    out.append("| row | strategy | variant | req/s | cost µs/req | vs S1 HS256 | vs S4 (sync) | "
               "p50 µs | p99 µs |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        key, name, variant = r.get("key"), r.get("name"), r.get("variant") or ""
        if r.get("status") in ("skipped", "failed"):
            reason = (r.get("reason") or "").replace("|", "/").replace("\n", " ")[:90]
            out.append(f"| {key} | {name} | {variant} | {r['status']}: {reason} | | | | | |")
            continue
        c = cost(r)
        thr = r.get("closed_loop", {}).get("throughput_rps")
        o = open_loop_near(r)
        lat = (o or {}).get("latency_us", {})
        flag = ""
        if r.get("status") == "errors":
            flag = " (errors)"
        if o and o.get("saturated"):
            flag += " (sat.)"
        out.append(
            f"| {key} | {name} | {variant} | {fmt_num(thr)} | {fmt_cost(c)} | "
            f"{fmt_ratio(c / base_s1) if c is not None and base_s1 else '–'} | "
            f"{fmt_ratio(c / base_s4) if c is not None and base_s4 else '–'} | "
            f"{fmt_num(lat.get('p50'), 1) if lat else '–'} | "
            f"{fmt_num(lat.get('p99'), 1) if lat else '–'}{flag} |")
    # What the table says, in words, from the same figures.
    alg = cfg.get("jwt_alg") or "HS256"
    base = cost(find_row(rows, f"S1.{alg}") or {})
    said = []
    s2, s3 = cost(find_row(rows, f"S2.{alg}") or {}), cost(find_row(rows, "S3.redis.sync") or {})
    if base is not None and s2 is not None:
        said.append(f"in-memory revocation (S2) adds {fmt_cost(max(0.0, s2 - base))} µs of CPU "
                    f"per request to verification with {alg}")
    if base is not None and s3 is not None:
        said.append(f"a Redis denylist check (S3, sync) adds {fmt_cost(max(0.0, s3 - base))} µs")
    es = cost(find_row(rows, "S1.ES256") or {})
    if base_s4 and es is not None:
        said.append(f"a session lookup in Redis (S4, sync) costs {fmt_ratio(base_s4 / es)} the "
                    f"CPU of an ES256 verification and {fmt_ratio(base_s4 / base_s1) if base_s1 else '–'} "
                    "that of an HS256 one")
    if said:
        out.append("")
        out.append("Per request, on this machine: " + "; ".join(said) + ".")
    xc = doc.get("cross_check", {}).get("comparisons", {})
    if xc:
        out.append("")
        out.append("Cross-check against the servers' own tools, same run, same data, same "
                   "connections and pipelining. Each tool run sits between two re-runs of our "
                   "row; ours = the mean of those two, ratio = ours / the tool's, closed-loop "
                   "req/s:")
        out.append("")
        out.append("| row | tool | ours req/s (adjacent) | theirs req/s | ratio | within 2× | "
                   "ours in the main run |")
        out.append("|---|---|---:|---:|---:|---|---:|")
        for key, c in xc.items():
            within = {True: "yes", False: "no", None: "–"}[c.get("within_2x")]
            out.append(f"| {key} | {c.get('tool')} | {fmt_num(c.get('ours'))} | "
                       f"{fmt_num(c.get('theirs'))} | {fmt_ratio(c.get('ratio')) if c.get('ratio') else '–'} "
                       f"| {within} | {fmt_num(c.get('ours_main_run'))} |")
        out.append("")
        out.append("Where a ratio is outside 2×, or for what differs between the tools, see "
                   "`cross_check.comparisons.*.explanation` in the JSON.")
    out += e2e_summary(doc)
    return "\n".join(out) + "\n"


def e2e_cpu(row, who=None):
    """CPU us per request at maximum throughput: one process group, or all (total)."""
    if who is None:
        return cpu_us(row)
    if who == "server":
        daemon = cpu_us(row, "daemon")
        return daemon if daemon is not None else cpu_us(row, "nginx")
    return cpu_us(row, who)


def e2e_summary(doc):
    e2e = doc.get("e2e")
    if e2e is None:
        return []
    out = ["", "End to end: the rows jwtgated serves, through the daemon over HTTP on loopback "
           "(`e2e` in the JSON)."]
    if "error" in e2e:
        out.append("")
        out.append(f"Not measured in this run: {e2e['error']}.")
        return out
    rows = e2e.get("strategies", [])
    cfg = e2e.get("config", {})
    settings = e2e.get("method", {}).get("settings", {})
    rev = e2e.get("setup", {}).get("revocation", {})
    out[-1] += (f" One server per row: nginx `return 200` for S0 (the HTTP floor), jwtgated "
                f"(io_threads {settings.get('daemon_io_threads', '?')}, workers "
                f"{settings.get('daemon_workers', '?')}) for the others, S2 and S7 with "
                f"{fmt_num(rev.get('revoked_jtis'))} revoked jtis recovered from disk. "
                f"bench/loadgen on {settings.get('connections', '?')} keep-alive connections: "
                f"closed loop for {cfg.get('duration_s')} s (maximum), then open loop at "
                f"{', '.join(f'{f:.0%}' for f in cfg.get('rate_fractions', []))} of it for "
                f"{cfg.get('open_duration_s')} s each. Client and server share the cores"
                f"{' (quick: smoke figures only)' if cfg.get('quick') else ''}; load average "
                f"(1 min) {e2e.get('loadavg_1m_at_start', '?')} at the start and "
                f"{e2e.get('loadavg_1m_at_end', '?')} at the end.")
    out.append("")
    out.append("Cost = CPU µs per request of the load generator (client) and of the server, at "
               "maximum throughput; latency at about half of the row's maximum, from the "
               "intended send time.")
    out.append("")
    base = find_row(rows, "S1.HS256")
    base_cost = e2e_cpu(base) if base else None
    out.append("| row | strategy | variant | req/s | client µs/req | server µs/req | "
               "total vs S1 HS256 | server RSS MiB | p50 µs | p99 µs | p99.9 µs |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    not_measured = {}
    for r in rows:
        key, name, variant = r.get("key"), r.get("name"), r.get("variant") or ""
        if r.get("measured") is False:
            not_measured.setdefault(r.get("reason") or "?", []).append(key)
            continue
        if r.get("status") not in ("ok", "errors"):
            reason = (r.get("reason") or "").replace("|", "/").replace("\n", " ")[:110]
            out.append(f"| {key} | {name} | {variant} | {r.get('status')}: {reason} "
                       "| | | | | | | |")
            continue
        thr = r.get("closed_loop", {}).get("throughput_rps")
        total = e2e_cpu(r)
        mem = r.get("memory", {})
        rss = (mem.get("daemon") or mem.get("nginx") or {}).get("rss_kib")
        o = open_loop_near(r)
        lat = (o or {}).get("latency_us", {})
        flag = " (errors)" if r.get("status") == "errors" else ""
        if o and o.get("saturated"):
            flag += " (sat.)"
        out.append(
            f"| {key} | {name} | {variant} | {fmt_num(thr)} | {fmt_cost(e2e_cpu(r, 'client'))} | "
            f"{fmt_cost(e2e_cpu(r, 'server'))} | "
            f"{fmt_ratio(total / base_cost) if total is not None and base_cost else '–'} | "
            f"{fmt_num(rss / 1024, 1) if rss else '–'} | "
            f"{fmt_num(lat.get('p50'), 1) if lat else '–'} | "
            f"{fmt_num(lat.get('p99'), 1) if lat else '–'} | "
            f"{fmt_num(lat.get('p999'), 1) if lat else '–'}{flag} |")
    if not_measured:
        out.append("")
        out.append("Not measured end to end: " + "; ".join(
            f"{', '.join(keys)}: {reason}" for reason, keys in not_measured.items()) + ".")
    said = []
    s0 = find_row(rows, "S0")
    floor = e2e_cpu(s0) if s0 else None
    if floor is not None and base_cost is not None:
        said.append(f"an HTTP request answered by nginx `return 200` costs {fmt_cost(floor)} µs "
                    f"of CPU (client and server), one answered by jwtgated with an HS256 "
                    f"verification {fmt_cost(base_cost)} µs")
    alg = cfg.get("jwt_alg") or "HS256"
    s1, s2 = find_row(rows, f"S1.{alg}"), find_row(rows, f"S2.{alg}")
    c1, c2 = (e2e_cpu(s1) if s1 else None), (e2e_cpu(s2) if s2 else None)
    if c1 is not None and c2 is not None:
        d = c2 - c1
        said.append(f"the revocation check (S2, {alg}) adds {fmt_cost(d)} µs" if d >= 0 else
                    f"with the revocation check (S2, {alg}) it measured {fmt_cost(-d)} µs less "
                    "than without (run-to-run noise)")
    if said:
        out.append("")
        out.append("End to end, on this machine: " + "; ".join(said) + ".")
    return out


def write_summary(path, text, source):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# Strategies: what trusting a JWT costs against a session lookup\n\n")
        f.write(f"Generated by `scripts/strategies_summary.py {source}`.\n\n")
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("json", help="strategies.json of a run")
    ap.add_argument("--out", help="where to write the summary (default: summary.md next to JSON)")
    ap.add_argument("--print", dest="print_", action="store_true",
                    help="print the summary to stdout instead (written too when --out is given)")
    args = ap.parse_args()
    try:
        doc = load_json(args.json)
    except ResultsError as e:
        print(f"strategies_summary: {args.json}: {e.__cause__}", file=sys.stderr)
        return 2
    if "strategies" not in doc:
        print(f"strategies_summary: {args.json} holds no strategies"
              f"{': ' + doc['error'] if 'error' in doc else ''}", file=sys.stderr)
        return 1
    text = summary(doc, args.json)
    if args.print_:
        sys.stdout.write(text)
    if not args.print_ or args.out:
        out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.json)), "summary.md")
        write_summary(out, text, args.json)
        print(f"strategies_summary: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
