#!/usr/bin/python3
"""bench/loadgen against a real jwtgated: what the benchmarks report is what was answered.

  closed   closed loop, 8 connections, a token file of three valid tokens and one with a bad
           signature: every answer is counted once under its status (200 for three in four, 401
           for the rest, its body read with it), no errors, and the CPU of the client and of the
           watched daemon is reported, with the noise record (every CPU's busy time, the
           groups' involuntary context switches)
  open     open loop at 2,000 requests/s for 1 s on 4 connections: the requests due in the
           window are the ones completed (1,900 to 2,050), none late at the end
  unix     closed loop with --unix against a jwtgated whose auth listener is a Unix socket: the
           same counts as over TCP, and the socket named in the output

Usage: loadgen_test.py --daemon PATH --cli PATH --loadgen PATH
"""
import argparse
import json
import os
import subprocess
import time

from harness import (Daemon, Keys, TestFailure, check, hs256_secret, hs256_token, issuer_config,
                     log, run_test)

ISS = "https://issuer.test"


def loadgen(args, d, tokens_file, out, *extra):
    cmd = [args.loadgen, "--url", f"http://127.0.0.1:{d.auth_port}/auth", "--tokens",
           tokens_file, "--json", out, "--watch", f"daemon={d.proc.pid}", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode not in (0, 1) or not os.path.exists(out):
        raise TestFailure(f"loadgen exited {r.returncode}: {r.stderr[-800:]}")
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--loadgen", required=True)
    args = ap.parse_args()

    def body(tmp):
        keys = Keys(args.cli, tmp)
        priv, jwks = keys.keygen("HS256", "k1", "keys.jwks")
        secret = hs256_secret(priv)
        now = int(time.time())
        good = [hs256_token(secret, "k1", {"iss": ISS, "sub": f"u{i}", "iat": now,
                                            "exp": now + 600, "jti": f"lg-{i}"})
                for i in range(3)]
        bad = good[0][:-4] + ("AAAA" if not good[0].endswith("AAAA") else "BBBB")
        tokens_file = os.path.join(tmp, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(good + [bad]) + "\n")
        d = Daemon(args.daemon, tmp, lambda d: issuer_config(d, jwks, ISS))
        d.start()
        try:
            j = loadgen(args, d, tokens_file, os.path.join(tmp, "closed.json"), "--closed",
                        "--duration", "0.5", "--warmup", "0.1", "--connections", "8")
            statuses = {k: int(v) for k, v in j["statuses"].items()}
            log(f"closed: {j['completed']} completed, statuses {statuses}")
            check(j["errors"] == 0, f"closed loop: {j['errors']} errors")
            check(j["completed"] > 100, f"closed loop: only {j['completed']} completed")
            check(set(statuses) == {"200", "401"}, f"closed loop statuses {statuses}")
            check(sum(statuses.values()) == j["completed"],
                  f"statuses {statuses} do not add up to {j['completed']} completed")
            check(j["status_2xx"] == statuses["200"] and j["status_other"] == statuses["401"],
                  f"2xx {j['status_2xx']} / other {j['status_other']} against {statuses}")
            # Each connection cycles through the four tokens: a quarter of the answers are 401.
            share = statuses["401"] / j["completed"]
            check(0.2 <= share <= 0.3, f"401 share {share:.3f}, expected about 0.25")
            check(j["cpu_s"].get("client", 0) > 0 and "daemon" in j["cpu_s"],
                  f"cpu_s {j['cpu_s']} lacks the client or the watched daemon")
            noise = j["noise"]
            check(noise["system_busy_cores"] > 0 and len(noise["cpus"]) == os.cpu_count(),
                  f"noise record {noise} lacks the busy CPUs")
            check(abs(noise["measured_cores"] - sum(j["cpu_s"].values()) / j["window_s"]) < 0.01,
                  f"noise measured_cores {noise['measured_cores']} is not the groups' CPU")
            check(set(noise["nonvoluntary_switches"]) == {"client", "daemon"},
                  f"noise switches {noise['nonvoluntary_switches']}")

            j = loadgen(args, d, tokens_file, os.path.join(tmp, "open.json"), "--rate", "2000",
                        "--duration", "1", "--warmup", "0.2", "--connections", "4")
            log(f"open: {j['completed']} completed, {j['late_at_end']} late at the end, "
                f"p99 {j['latency_us']['p99']} us")
            check(j["errors"] == 0, f"open loop: {j['errors']} errors")
            check(1900 <= j["completed"] <= 2050,
                  f"open loop at 2000/s for 1 s completed {j['completed']}")
            check(j["late_at_end"] == 0, f"open loop: {j['late_at_end']} late at the end")
        finally:
            d.stop()

        # sun_path holds 107 bytes: the socket lives beside the work directory, not in it.
        sock = os.path.join("/tmp", os.path.basename(tmp) + ".auth.sock")
        os.makedirs(os.path.join(tmp, "unix"))
        u = Daemon(args.daemon, os.path.join(tmp, "unix"),
                   lambda d: issuer_config(d, jwks, ISS).replace(
                       f"listen: 127.0.0.1:{d.auth_port}", f"listen: unix:{sock}"))
        u.start()
        try:
            j = loadgen(args, u, tokens_file, os.path.join(tmp, "unix.json"), "--closed",
                        "--unix", sock, "--duration", "0.5", "--warmup", "0.1",
                        "--connections", "8")
            statuses = {k: int(v) for k, v in j["statuses"].items()}
            log(f"unix: {j['completed']} completed, statuses {statuses}")
            check(j["unix"] == sock, f"unix: the output names {j.get('unix')}")
            check(j["errors"] == 0, f"unix: {j['errors']} errors")
            check(j["completed"] > 100, f"unix: only {j['completed']} completed")
            check(set(statuses) == {"200", "401"} and sum(statuses.values()) == j["completed"],
                  f"unix: statuses {statuses} against {j['completed']} completed")
            share = statuses["401"] / j["completed"]
            check(0.2 <= share <= 0.3, f"unix: 401 share {share:.3f}, expected about 0.25")
        finally:
            u.stop()
        check(not os.path.exists(sock), f"{sock} left after the daemon stopped")

    run_test("loadgen", body)


if __name__ == "__main__":
    main()
