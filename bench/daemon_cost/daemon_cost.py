#!/usr/bin/python3
"""Daemon cost: jwtgated's server CPU per uncached ES256 request against the ES256 primitive.

What is compared, in the same rounds on the same CPU:

  daemon     jwtgated (io_threads 1, the verified-token cache off, so that every request is a
             full verification), pinned to --server-cpu, under closed-loop load from
             bench/loadgen on --client-cpu: the daemon's CPU time (utime + stime) over a
             measured window divided by the requests completed in it. Three variants:
               pipeline  pipeline.workers 1, inline none: the I/O thread hands each token to
                         the verification pipeline and answers when its completion arrives;
               inline    pipeline.inline all: the I/O thread verifies as it parses;
               inline_unix  inline, with the auth listener on a Unix socket (auth.listen:
                         unix:PATH; loadgen --unix): the same work without the kernel's
                         loopback TCP path.
  primitive  bench/verify_bench BM_Floor/ES256 on --server-cpu: OpenSSL's ES256 verification
             of a prepared signing input with a parsed key (CPU time per verification), and
             BM_Verify/ES256, the library's full verification of a compact token.

Per round (the variant order rotated): one loadgen window per variant, then the two
micro benchmarks. Ratios are formed within a round (daemon / primitive), then their median,
range and the median's 95% confidence interval over the rounds.

Output in --out: daemon_cost.json (every raw number) and summary.md.
Standard library only; imports bench/policy/policy_bench.py and tests/integration/harness.py.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "bench", "policy"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import harness  # noqa: E402
import policy_bench as pb  # noqa: E402
from jwtgate_results import machine_info  # noqa: E402

KID = "e1"
# name: (pipeline section, auth listener on a Unix socket)
VARIANTS = {"pipeline": ("{workers: 1, inline: none}", False),
            "inline": ("{workers: 1, inline: all}", False),
            "inline_unix": ("{workers: 1, inline: all}", True)}


class Node(pb.Node):
    def __init__(self, binary, directory, name, pipeline, server_cpu, unix_path=None):
        self.pipeline = pipeline
        self.unix_path = unix_path
        super().__init__(binary, directory, name, "cache: {entries: 0}\n", server_cpu)
        self.config_text_fn = Node.config_text

    def config_text(self):
        # The policy benchmark's configuration with this variant's pipeline section and, for a
        # Unix variant, its auth listener.
        text = pb.Node.config_text(self).replace("pipeline: {workers: 1}",
                                                 f"pipeline: {self.pipeline}")
        if self.unix_path:
            text = text.replace(f"listen: 127.0.0.1:{self.auth_port}",
                                f"listen: unix:{self.unix_path}")
        return text


def ask(node, token):
    """One auth request to `node` over its transport: the answer's status."""
    if not node.unix_path:
        return pb.ask(node, token).status
    return harness.http(None, "GET", pb.AUTH_PREFIX + pb.REQUEST_URI,
                        [("Authorization", f"Bearer {token}")], unix_path=node.unix_path).status


def shown_path(v):
    """A path in the repository relative to it, another one by its file name: the results name
    no directory of the machine they ran on."""
    if not isinstance(v, str) or not os.path.isabs(v):
        return v
    return os.path.relpath(v, REPO) if v.startswith(REPO + os.sep) else os.path.basename(v)


def write_results(out, name, doc, summary):
    """`doc` as OUT/<name>.json (every raw number) and `summary` as OUT/summary.md, printed."""
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(summary)
    print(summary)


def micro(args):
    """BM_Floor/ES256 and BM_Verify/ES256 on the server CPU: CPU microseconds per call."""
    out = subprocess.run(
        ["taskset", "-c", str(args.server_cpu), args.verify_bench,
         "--benchmark_filter=BM_(Floor|Verify)/ES256$", "--benchmark_min_time=1",
         "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    times = {b["name"]: b["cpu_time"] / 1000.0 for b in json.loads(out)["benchmarks"]}
    return {"floor_us": times["BM_Floor/ES256"], "verify_us": times["BM_Verify/ES256"]}


def main(argv):
    ap = argparse.ArgumentParser(prog="daemon_cost.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="a Release build directory")
    ap.add_argument("--out", required=True, help="results directory (created)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--ref-daemon",
                    help="another jwtgated binary (an older build): its variants run as well, "
                         "named <variant>_ref, in the same rounds")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated subset of " + ", ".join(VARIANTS))
    args = ap.parse_args(argv)
    variants = {v: VARIANTS[v] for v in args.variants.split(",") if v in VARIANTS}
    if not variants:
        ap.error("--variants names none of " + ", ".join(VARIANTS))
    b = os.path.abspath(args.build)
    args.daemon = os.path.join(b, "core/daemon/jwtgated")
    args.cli = os.path.join(b, "core/cli/jwtgate")
    args.loadgen = os.path.join(b, "bench/loadgen/loadgen")
    args.verify_bench = os.path.join(b, "bench/verify_bench")
    os.sched_setaffinity(0, {args.client_cpu})
    os.makedirs(args.out, exist_ok=True)
    cleanup = harness.Cleanup()
    tmp = tempfile.mkdtemp(prefix="jwtgate-daemon-cost-")
    try:
        keys = harness.Keys(args.cli, tmp)
        priv, jwks = keys.keygen("ES256", KID, "keys.jwks")
        now = int(time.time())
        tokens = [keys.sign(priv, "ES256", KID, {"iss": pb.ISS, "sub": f"user{i}", "iat": now,
                                                  "exp": now + 7200, "jti": f"cost-{now}-{i}"})
                  for i in range(args.tokens)]
        tokens_file = os.path.join(tmp, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        nodes = {}
        binaries = {name: (args.daemon, v) for name, v in variants.items()}
        if args.ref_daemon:
            binaries.update({f"{name}_ref": (os.path.abspath(args.ref_daemon), v)
                             for name, v in variants.items()})
        for name, (binary, (pipeline, unix)) in binaries.items():
            # sun_path holds 107 bytes: the socket sits beside the work directory.
            unix_path = f"{tmp}.{name}.sock" if unix else None
            node = Node(binary, os.path.join(tmp, name), name, pipeline, args.server_cpu,
                        unix_path)
            node.jwks = jwks
            node.write_config()
            node.start()
            cleanup.add(f"jwtgated {name}", node.stop)
            nodes[name] = node
            status = ask(node, tokens[0])
            if status != 200:
                raise harness.TestFailure(f"{name}: a valid ES256 token got {status}")
            pb.loadgen_window(args, node, tokens_file, 1.0, 0.3, tmp, f"warm-{name}")
        names = list(binaries)
        rounds = []
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            rec = {"order": order}
            for name in order:
                rec[name] = pb.loadgen_window(args, nodes[name], tokens_file, args.window, 0.5,
                                              tmp, f"{name}-{r}")
            rec.update(micro(args))
            rounds.append(rec)
            print(f"round {r + 1} of {args.rounds}: " + ", ".join(
                f"{n} {rec[n]['server_cpu_us_per_request']:.1f} us/req" for n in names) +
                f", floor {rec['floor_us']:.1f} us, verify {rec['verify_us']:.1f} us",
                flush=True)
        summary = {}
        for name in names:
            per_req = [x[name]["server_cpu_us_per_request"] for x in rounds]
            summary[name] = {
                "server_cpu_us_per_request": pb.spread(per_req, 2),
                "over_floor": pb.spread([x[name]["server_cpu_us_per_request"] / x["floor_us"]
                                         for x in rounds], 3),
                "over_verify": pb.spread([x[name]["server_cpu_us_per_request"] / x["verify_us"]
                                          for x in rounds], 3),
                "rps": pb.spread([x[name]["rps"] for x in rounds], 0),
                "client_core_busy": pb.spread([x[name]["client_core_busy"] for x in rounds], 3),
                "server_core_busy": pb.spread([x[name]["server_core_busy"] for x in rounds], 3),
                "other_load_server_cpu": pb.spread(
                    [x[name]["other_load"]["server_cpu"] for x in rounds], 3)}
        summary["floor_us"] = pb.spread([x["floor_us"] for x in rounds], 2)
        summary["verify_us"] = pb.spread([x["verify_us"] for x in rounds], 2)
        doc = {"schema": "jwtgate.daemon_cost/1", "machine": machine_info(),
               "args": {k: shown_path(v) for k, v in vars(args).items()}, "rounds": rounds,
               "summary": summary}
        lines = ["# jwtgated ES256 uncached: server CPU per request against the primitive", "",
                 f"{args.rounds} rounds, {args.window} s windows, {args.connections} closed-loop "
                 f"connections, {args.tokens} tokens, cache off; jwtgated on CPU "
                 f"{args.server_cpu}, loadgen on CPU {args.client_cpu}. Median [min, max] "
                 "(95% CI of the median).", "",
                 "| variant | server CPU µs/request | / BM_Floor/ES256 | / BM_Verify/ES256 "
                 "| requests/s | server core busy | client core busy |",
                 "|---|---|---|---|---|---|---|"]

        def cell(s, d=2):
            ci = pb.interval(s, d)
            return f"{s['median']:.{d}f} [{s['min']:.{d}f}, {s['max']:.{d}f}] ({ci})"
        for name in names:
            s = summary[name]
            lines.append(f"| {name} | {cell(s['server_cpu_us_per_request'])} | "
                         f"{cell(s['over_floor'], 3)} | {cell(s['over_verify'], 3)} | "
                         f"{s['rps']['median']:.0f} | {s['server_core_busy']['median']:.3f} | "
                         f"{s['client_core_busy']['median']:.3f} |")
        lines += ["", f"BM_Floor/ES256: {cell(summary['floor_us'])} µs; BM_Verify/ES256: "
                  f"{cell(summary['verify_us'])} µs (same CPU, same rounds).", "",
                  "Command: `bench/daemon_cost/daemon_cost.py " + " ".join(argv) + "`"]
        write_results(args.out, "daemon_cost", doc, "\n".join(lines) + "\n")
    finally:
        cleanup.run()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
