#!/usr/bin/python3
"""Key rotation under load through nginx auth_request, systemd notifications, --check-config,
and the graceful drain on SIGTERM.

Load: client threads on keep-alive connections to nginx send tokens signed by key A (trusted at
first), key B (added, then the only one) and key C (never trusted) while the key set goes
  {A} --SIGHUP--> {A, B} --POST /reload (broken JWKS)--> unchanged --POST /reload--> {B}.
No request may fail (anything but 200/401), none may be wrongly allowed (C never; A only before
the switch to {B}; B only after the switch to {A, B}), and the valid ones must pass in between.
Then SIGTERM under load: jwtgated drains and exits 0; nginx answers errors, never an allow.

Usage: reload_test.py --daemon PATH --cli PATH
"""
import argparse
import os
import signal
import socket
import subprocess
import threading
import time

from harness import (Conn, Daemon, Keys, Nginx, TestFailure, auth_request_conf, check, free_port,
                     http, issuer_config, log, merge_jwks, metric_value, run_test, write_atomic)

ISS = "https://issuer.test"


def config_text(d, jwks, extra="", inline=False):
    # Default: pipeline verification with the verified-token cache. --inline: every token
    # verified on the I/O thread, no cache (the other path through a reload).
    verify_path = ("cache: {entries: 0}\npipeline: {workers: 2, inline: all}" if inline else
                   "cache: {entries: 4096}\npipeline: {workers: 2, inline: none}")
    return issuer_config(d, jwks, ISS,
                         extra=f"{verify_path}\nshutdown: {{drain_timeout_ms: 5000}}\n{extra}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--inline", action="store_true",
                    help="verify on the I/O threads without cache instead of the pipeline")
    args = ap.parse_args()
    run_test("reload_inline" if args.inline else "reload", lambda tmp: scenario(tmp, args))


class Load:
    """Client threads; every answer is recorded as (kind, sent, received, status)."""

    def __init__(self, port, tokens, threads=4):
        self.port = port
        self.tokens = tokens  # kind -> list of tokens
        self.records = []
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, n):
        kinds = sorted(self.tokens)
        i = n
        conn = None
        local = []
        while not self.stop.is_set():
            kind = kinds[i % len(kinds)]
            tok = self.tokens[kind][(i // len(kinds)) % len(self.tokens[kind])]
            i += 1
            try:
                if conn is None:
                    conn = Conn(self.port, timeout=5)
                sent = time.monotonic()
                r = conn.request("GET", "/api", [("Authorization", f"Bearer {tok}")])
                got = time.monotonic()
                if r is None:
                    raise OSError("connection closed")
                local.append((kind, sent, got, r.status))
                if r.header("Connection") == "close":
                    conn.close()
                    conn = None
            except (OSError, TestFailure) as e:
                local.append((kind, time.monotonic(), time.monotonic(), f"error: {e}"))
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn:
            conn.close()
        with self.lock:
            self.records.extend(local)


def notify_socket(tmp):
    path = os.path.join(tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.1)
    return s, path


def drain_notifications(s):
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except socket.timeout:
            return out


def scenario(tmp, args):
    keys = Keys(args.cli, tmp)
    priv_a, jwks_a = keys.keygen("ES256", "ka", "a.jwks")
    priv_b, jwks_b = keys.keygen("ES256", "kb", "b.jwks")
    priv_c, _ = keys.keygen("ES256", "kc", "c.jwks")
    live = os.path.join(tmp, "live.jwks")
    merge_jwks([jwks_a], live)
    now = int(time.time())

    def tokens(priv, kid, n):
        return [keys.sign(priv, "ES256", kid, {"iss": ISS, "sub": f"{kid}-{i}", "iat": now,
                                               "exp": now + 600, "jti": f"{kid}{i}"})
                for i in range(n)]

    toks = {"A": tokens(priv_a, "ka", 3), "B": tokens(priv_b, "kb", 3), "C": tokens(priv_c, "kc", 2)}

    # --check-config: 0 for a valid file; 3 (configuration) or 4 (key material) with a message.
    d = Daemon(args.daemon, tmp, lambda d, extra="": config_text(d, live, extra, args.inline))
    r = subprocess.run([args.daemon, "--check-config", "--config", d.config_path],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"--check-config on a valid file: {r.returncode} {r.stderr}")
    d.write_config(extra="bogus_key: 1")
    r = subprocess.run([args.daemon, "--check-config", "--config", d.config_path],
                       capture_output=True, text=True)
    check(r.returncode == 3 and "bogus_key (line" in r.stderr and "unknown key" in r.stderr,
          f"--check-config on an unknown key: {r.returncode} {r.stderr}")
    broken = os.path.join(tmp, "broken.jwks")
    write_atomic(broken, '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}')
    bad_cfg = os.path.join(tmp, "bad.yaml")
    write_atomic(bad_cfg, config_text(d, broken, inline=args.inline))
    r = subprocess.run([args.daemon, "--check-config", "--config", bad_cfg],
                       capture_output=True, text=True)
    check(r.returncode == 4 and "broken.jwks" in r.stderr,
          f"--check-config on a bad JWKS: {r.returncode} {r.stderr}")
    d.write_config()
    log("--check-config: valid 0; unknown key 3, bad JWKS 4, with the file and line")

    sock, sock_path = notify_socket(tmp)
    d.env = {"NOTIFY_SOCKET": sock_path}
    front, upstream = free_port(), free_port()
    ngx = Nginx(tmp, auth_request_conf(front, upstream, d.auth_port, claim_headers=()))
    d.start()
    try:
        ngx.start([front, upstream])
        notes = drain_notifications(sock)
        check(any("READY=1" in n for n in notes), f"no READY=1 notification: {notes}")
        rotate(d, front, toks, live, jwks_a, jwks_b, broken, sock)
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        log("nginx error log:\n" + ngx.error_log())
        raise
    finally:
        ngx.stop()
        if d.alive():
            d.stop(signal.SIGKILL)
        sock.close()


def rotate(d, front, toks, live, jwks_a, jwks_b, broken, sock):
    load = Load(front, toks)
    load.start()
    time.sleep(0.7)

    # {A} -> {A, B} by SIGHUP (asynchronous: wait for the reload counter).
    t_ab_start = time.monotonic()
    merge_jwks([jwks_a, jwks_b], live)
    d.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while True:
        ok = metric_value(d.metrics(), "jwtgate_config_reloads_total", {"result": "success"})
        if ok and ok >= 1:
            break
        check(time.monotonic() < deadline, "SIGHUP reload did not happen")
        time.sleep(0.02)
    t_ab_done = time.monotonic()
    notes = drain_notifications(sock)
    check(any("RELOADING=1" in n and "MONOTONIC_USEC=" in n for n in notes),
          f"no RELOADING=1 notification: {notes}")
    time.sleep(0.7)

    # A broken key set: refused, the running keys stay.
    merge_jwks([broken], live)
    r = http(d.admin_port, "POST", "/reload")
    check(r.status == 500, f"reload with a broken JWKS: {r}")
    text = d.metrics()
    check(metric_value(text, "jwtgate_config_last_reload_successful") == 0, "reload failure not reported")
    time.sleep(0.5)

    # {A, B} -> {B} by POST /reload (synchronous).
    merge_jwks([jwks_b], live)
    t_b_start = time.monotonic()
    r = http(d.admin_port, "POST", "/reload")
    t_b_done = time.monotonic()
    check(r.status == 200, f"reload to {{B}}: {r}")
    check(metric_value(d.metrics(), "jwtgate_config_last_reload_successful") == 1, "reload success not reported")
    time.sleep(0.7)

    # SIGTERM under load: graceful drain, exit 0.
    t_term = time.monotonic()
    rc = d.stop(signal.SIGTERM, timeout=10)
    t_exit = time.monotonic()
    time.sleep(0.2)
    load.finish()
    check(rc == 0, f"jwtgated exited with {rc} after SIGTERM")
    notes = drain_notifications(sock)
    check(any("STOPPING=1" in n for n in notes), f"no STOPPING=1 notification: {notes}")

    # Judge every answer.
    records = load.records
    before_term = [r for r in records if r[2] < t_term]
    check(len(before_term) > 300, f"too little load: {len(before_term)} requests")
    problems = []
    for kind, sent, got, status in records:
        if kind == "C" and status == 200:
            problems.append(f"C allowed at {sent:.3f}")
        if got >= t_term:
            # Draining or gone: nginx may answer 5xx or close; never a wrongful allow.
            if status == 200 and kind == "A":
                problems.append("A allowed after the switch to {B}")
            continue
        if status not in (200, 401):
            problems.append(f"{kind} got {status} at {sent - t_ab_start:+.3f} s")
            continue
        if kind == "A":
            if got < t_b_start and status != 200:
                problems.append(f"A refused before the switch to {{B}} ({sent - t_b_start:+.3f} s)")
            if sent > t_b_done and status == 200:
                problems.append(f"A allowed after the switch to {{B}} ({sent - t_b_done:+.3f} s)")
        if kind == "B":
            if got < t_ab_start and status == 200:
                problems.append(f"B allowed before it was trusted ({sent - t_ab_start:+.3f} s)")
            if sent > t_ab_done and status != 200:
                problems.append(f"B refused after it was trusted ({sent - t_ab_done:+.3f} s)")
    check(not problems, f"{len(problems)} wrong answers, e.g. {problems[:5]}")
    # The phases really happened under load (the checks above are not vacuous).
    def count(kind, status, lo, hi):
        return sum(1 for k, s, g, st in records if k == kind and st == status and lo <= s and g <= hi)
    phases = {
        "B refused before {A,B}": count("B", 401, 0, t_ab_start),
        "B allowed under {A,B}": count("B", 200, t_ab_done, t_b_start),
        "A allowed under {A,B}": count("A", 200, t_ab_done, t_b_start),
        "A refused under {B}": count("A", 401, t_b_done, t_term),
        "B allowed under {B}": count("B", 200, t_b_done, t_term),
    }
    for name, n in phases.items():
        check(n >= 20, f"phase '{name}' saw only {n} requests")
    after_term = [r for r in records if r[2] >= t_term]
    log(f"{len(before_term)} requests through 3 reloads (1 refused): none failed, none wrongly "
        f"allowed; SIGTERM drained in {t_exit - t_term:.2f} s with exit 0 "
        f"({len(after_term)} requests during the drain, none allowed wrongly); per phase {phases}")


if __name__ == "__main__":
    main()
