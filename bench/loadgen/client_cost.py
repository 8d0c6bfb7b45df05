#!/usr/bin/python3
"""Client cost: bench/loadgen's CPU per request against the jwtgated it measures.

A load generator that costs more per request than the server shares the machine with a heavier
process than the one under test, and on a 2-core machine it is the client that limits the
throughput. This benchmark measures both sides in the same windows:

  servers   jwtgated pinned to --server-cpu (io_threads 1, one pipeline worker, inline default),
            HS256 tokens from one oct key: `cached` with the verified-token cache on (nearly
            every request a hit, the cheapest request jwtgated answers) and `uncached` with it
            off (every request a full HS256 verification);
  clients   bench/loadgen pinned to --client-cpu, closed loop, --connections keep-alive
            connections, one thread; with --ref-loadgen another loadgen binary (an older build)
            runs beside it in the same rounds, named `<server>_ref`.

Per round (the order rotated): one window per (server, client). CPU per request of each process
is its utime + stime over loadgen's measured window / the requests completed in it; the ratio
client / server is formed within each window; medians, ranges and 95% confidence intervals of
the median over the rounds. /proc/stat of both CPUs is recorded per window (other load, steal).

Output in --out: client_cost.json (every raw number) and summary.md.
Standard library only; imports bench/daemon_cost/daemon_cost.py (and through it
bench/policy/policy_bench.py and tests/integration/harness.py).
"""

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
# daemon_cost puts bench/policy, tests/integration and scripts on the path as it loads.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "daemon_cost"))
import daemon_cost as dc  # noqa: E402

harness, pb = dc.harness, dc.pb

SERVERS = {"cached": "", "uncached": "cache: {entries: 0}\n"}


def window(args, loadgen, node, tokens_file, tag, tmp):
    """One closed-loop window of `loadgen` against `node`: policy_bench's figures plus the
    client's CPU per request and the client / server ratio."""
    a = copy.copy(args)
    a.loadgen = loadgen
    res = pb.loadgen_window(a, node, tokens_file, args.window, 0.5, tmp, tag)
    if res["status_other"] or res["errors"] or not res["completed"]:
        raise harness.TestFailure(f"{tag}: {res['status_other']} non-2xx answers, "
                                  f"{res['errors']} errors, {res['completed']} completed")
    res["client_cpu_us_per_request"] = round(res["client_cpu_s"] / res["completed"] * 1e6, 3)
    res["client_over_server"] = round(res["client_cpu_us_per_request"] /
                                      res["server_cpu_us_per_request"], 4)
    return res


def summarise(rounds, names):
    out = {}
    for name in names:
        rows = [r[name] for r in rounds]
        out[name] = {k: pb.spread([x[k] for x in rows], 3) for k in (
            "client_cpu_us_per_request", "server_cpu_us_per_request", "client_over_server",
            "client_core_busy", "server_core_busy")}
        out[name]["rps"] = pb.spread([x["rps"] for x in rows], 0)
        out[name]["other_load_server_cpu_max"] = max(
            (x["other_load"]["server_cpu"] or 0) for x in rows)
        out[name]["other_load_client_cpu_max"] = max(
            (x["other_load"]["client_cpu"] or 0) for x in rows)
        out[name]["steal_max"] = max(
            (max((c.get("steal", 0) for c in x["cpu_stat"].values()), default=0)) for x in rows)
    return out


def summary_md(args, argv, summary, names):
    def cell(s, d=3):
        return f"{s['median']:.{d}f} [{s['min']:.{d}f}, {s['max']:.{d}f}] ({pb.interval(s, d)})"
    lines = ["# bench/loadgen's CPU per request against jwtgated's", "",
             f"{args.rounds} rounds, {args.window} s closed-loop windows, {args.connections} "
             f"connections, {args.tokens} HS256 tokens; jwtgated on CPU {args.server_cpu}, "
             f"loadgen on CPU {args.client_cpu}. Median [min, max] (95% CI of the median).", "",
             "| server / client | client CPU µs/request | server CPU µs/request | client / server "
             "| requests/s | client core busy | server core busy | other load max, server / "
             "client CPU | steal max |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for name in names:
        s = summary[name]
        lines.append(
            f"| {name} | {cell(s['client_cpu_us_per_request'])} | "
            f"{cell(s['server_cpu_us_per_request'])} | {cell(s['client_over_server'])} | "
            f"{s['rps']['median']:.0f} | {s['client_core_busy']['median']:.2f} | "
            f"{s['server_core_busy']['median']:.2f} | {s['other_load_server_cpu_max']:.3f} / "
            f"{s['other_load_client_cpu_max']:.3f} | {s['steal_max']:.3f} |")
    lines += ["", "Command: `bench/loadgen/client_cost.py " + " ".join(argv) + "`"]
    return "\n".join(lines) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(prog="client_cost.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="a Release build directory")
    ap.add_argument("--out", required=True, help="results directory (created)")
    ap.add_argument("--ref-loadgen", help="another loadgen binary, measured in the same rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    args = ap.parse_args(argv)
    b = os.path.abspath(args.build)
    daemon = os.path.join(b, "core/daemon/jwtgated")
    cli = os.path.join(b, "core/cli/jwtgate")
    loadgens = {"": os.path.join(b, "bench/loadgen/loadgen")}
    if args.ref_loadgen:
        loadgens["_ref"] = os.path.abspath(args.ref_loadgen)
    os.sched_setaffinity(0, {args.client_cpu})
    os.makedirs(args.out, exist_ok=True)
    cleanup = harness.Cleanup()
    tmp = tempfile.mkdtemp(prefix="jwtgate-client-cost-")
    try:
        tok = pb.Tokens(cli, tmp, args.tokens)
        tokens_file = os.path.join(tmp, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tok.pool) + "\n")
        nodes = {}
        for name, extra in SERVERS.items():
            node = pb.Node(daemon, os.path.join(tmp, name), name, extra, args.server_cpu)
            node.jwks = tok.jwks
            node.write_config()
            node.start()
            cleanup.add(f"jwtgated {name}", node.stop)
            nodes[name] = node
            r = pb.ask(node, tok.pool[0])
            if r.status != 200:
                raise harness.TestFailure(f"{name}: a valid HS256 token got {r.status}")
        pairs = [(s, suffix) for s in SERVERS for suffix in loadgens]
        names = [s + suffix for s, suffix in pairs]
        for s, suffix in pairs:  # warm-up, not recorded
            window(args, loadgens[suffix], nodes[s], tokens_file, f"warm-{s}{suffix}", tmp)
        rounds = []
        for r in range(args.rounds):
            k = r % len(pairs)
            rec = {"order": names[k:] + names[:k]}
            for s, suffix in pairs[k:] + pairs[:k]:
                rec[s + suffix] = window(args, loadgens[suffix], nodes[s], tokens_file,
                                         f"{s}{suffix}-{r}", tmp)
            rounds.append(rec)
            print(f"round {r + 1} of {args.rounds}: " + ", ".join(
                f"{n} client {rec[n]['client_cpu_us_per_request']:.2f} / server "
                f"{rec[n]['server_cpu_us_per_request']:.2f} us" for n in names), flush=True)
        summary = summarise(rounds, names)
        doc = {"schema": "jwtgate.client_cost/1", "machine": dc.machine_info(),
               "args": {k: dc.shown_path(v) for k, v in vars(args).items()}, "rounds": rounds,
               "summary": summary}
        dc.write_results(args.out, "client_cost", doc, summary_md(args, argv, summary, names))
    finally:
        cleanup.run()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
