#!/usr/bin/python3
"""Policy benchmark: what the decision log and 50 routes cost on jwtgated's HS256 cached path.

Two acceptance points, measured side by side in the same run:

  (a) decision log   `decision_log: {path: <file in the work directory>, sample_allows: 0.01}`
                     costs < 5% of the HS256 cached throughput (variant decision_log against
                     the two without it, see "bases" below);
  (b) routes         50 `routes:` entries, the request matching the LAST one, whose `require:`
                     block (scopes_all [read] and two claims) the token satisfies, while the 49
                     before it are distinct prefixes that do not match, add no measurable cost
                     (variant routes50 against "bases").

Variants: four jwtgated processes started once and kept running, one per variant, with the
same HS256 key (a jwks_file holding one oct key), the verified-token cache on (its default
size), io_threads 1 and pipeline workers 1:

  base          no routes, no decision log
  decision_log  base + decision_log (sample_allows 0.01, a file in the work directory)
  routes50      base + 50 routes
  base_again    the same configuration as base in a second process: the comparison
                base_again/base is what this harness reads when nothing differs (its noise)

(a) and (b) are compared with "bases": within each round, the geometric mean of the base and
base_again figures, so that one unlucky window, or one process slower than another of the same
configuration, weighs half as much in the reference.

Load: bench/loadgen --closed (every connection sends its next request as soon as the previous
one is answered) over --connections keep-alive connections, cycling through --tokens valid
HS256 tokens (64), so nearly every request is a cache hit. The request is
GET /auth/api/items/42: loadgen sends no header but Authorization, so the URI the client asked
for reaches jwtgated as the auth request's path below auth.path_prefix (Envoy ext_authz's form)
rather than as X-Original-URI (nginx's); the checks before the measurement show both forms
select the same route. Every variant gets the same request and tokens.

CPUs: every jwtgated runs under `taskset -c <--server-cpu>` (0), loadgen under
`taskset -c <--client-cpu>` (1), and this script pins itself to the client CPU (it only waits
while a window runs).

Rounds: after a warm-up run on each variant (not counted), --rounds rounds (10); in each,
every variant gets one loadgen run of --window seconds (3) measured after --window-warmup
seconds (0.5) of load, the order rotated by one variant per round (round 1: A B C D, round 2:
B C D A, ...). Per window: throughput (completed requests / window) and the daemon's CPU time
over the window (utime + stime of /proc/<pid>/stat, sampled by loadgen --watch at the window's
edges) per request. Per comparison (X/bases, base_again/base), the ratio within each round,
then the median of those ratios, their range, their 25-75% range and the 95% confidence
interval of the median (order statistics; distribution-free).

A round in which other processes took more than --interference (0.15) of the server or the
client CPU in one of its windows (/proc/stat, against the daemon's and loadgen's own CPU time)
is discarded and run again with the same order, at most --max-reruns (4) times.

Before the rounds, each variant is checked with single requests (statuses,
WWW-Authenticate, X-Original-URI against the path form; listed in the summary); a variant
that answers otherwise stops the run before anything is measured. After them, the decision log
is read: its lines are counted by decision and compared with the daemon's own allow count
(about 1% of allows expected) and with jwtgate_decision_log_lines_total, and no token may
appear in it.

Output in --out: policy.json (schema jwtgate.policy/1, every raw number), summary.md (the
tables, the verdicts, the method, the machine and the command) and machine.json. Files are
written under a temporary name and renamed. Every process started here is stopped at the end,
also on failure, Ctrl-C and SIGTERM.

Standard library only (Debian's /usr/bin/python3); imports tests/integration/harness.py and
scripts/jwtgate_results.py from this repository.
"""

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the imports below
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import harness  # noqa: E402
from harness import TestFailure, free_port, hs256_secret, hs256_token  # noqa: E402
from jwtgate_results import machine_info  # noqa: E402

SCHEMA = "jwtgate.policy/1"
ISS = "https://issuer.bench"
KID = "h1"
REQUEST_URI = "/api/items/42"    # what "the client asked for"; matches only the last route
AUTH_PREFIX = "/auth"
VARIANTS = ("base", "decision_log", "routes50", "base_again")
# "bases": the geometric mean of base and base_again in the same round (two processes of the
# same configuration: one unlucky window, or one slower process, weighs half as much).
COMPARISONS = (("decision_log", "bases", "(a) decision log, sample_allows 0.01"),
               ("routes50", "bases", "(b) 50 routes, the last one matching"),
               ("base_again", "base", "noise: the same configuration in two processes"))
DLOG_TARGET = 0.05   # (a): the decision log costs less than 5%
SERVER_CPU = [0]     # set from --server-cpu in main()


def log(msg):
    harness.log(msg)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


# ---------------------------------------------------------------------------------------------
# Figures


def median_ci(sorted_values, level=0.95):
    """Distribution-free confidence interval of the median from order statistics: the widest k
    with P(Binomial(n, 1/2) < k) <= (1 - level) / 2 gives [x(k), x(n-k+1)] (1-based). Returns
    (low, high, coverage) or (None, None, None) when n is too small for the level."""
    n = len(sorted_values)
    alpha = (1.0 - level) / 2
    k, tail = 0, 0.0
    while k < n:
        nxt = tail + math.comb(n, k) / 2 ** n
        if nxt > alpha:
            break
        tail = nxt
        k += 1
    if k == 0:
        return None, None, None
    return sorted_values[k - 1], sorted_values[n - k], 1.0 - 2 * tail


def spread(values, digits=4):
    """median, min, max, 25-75% range and the median's 95% interval of repeated measurements."""
    s = sorted(v for v in values if v is not None)
    if not s:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None,
                "ci95_low": None, "ci95_high": None, "ci_coverage": None}
    q = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else [s[0]] * 3
    lo, hi, cov = median_ci(s)

    def r(v):
        return None if v is None else round(v, digits)
    return {"n": len(s), "median": r(statistics.median(s)), "min": r(s[0]), "max": r(s[-1]),
            "q1": r(q[0]), "q3": r(q[2]), "ci95_low": r(lo), "ci95_high": r(hi),
            "ci_coverage": None if cov is None else round(cov, 4)}


def fmt(v, spec=".3f", none="–"):
    return none if v is None else format(v, spec)


def interval(s, digits=4):
    """The 95% CI of the median of a spread() as text."""
    if s["ci95_low"] is None:
        return "n/a (too few rounds)"
    return f"{s['ci95_low']:.{digits}f}–{s['ci95_high']:.{digits}f}"


def pct(ratio):
    """A ratio as a signed percentage change (1.012 -> +1.2%)."""
    return "–" if ratio is None else f"{(ratio - 1) * 100:+.1f}%"


# ---------------------------------------------------------------------------------------------
# Processes


class Node(harness.Daemon):
    """One jwtgated of a variant, pinned to the server CPU with taskset."""

    def __init__(self, binary, directory, name, extra, server_cpu):
        os.makedirs(directory, exist_ok=True)
        self.name = name
        self.extra = extra
        self.server_cpu = server_cpu
        self.jwks = os.path.join(os.path.dirname(directory), "keys.jwks")
        super().__init__(binary, directory, Node.config_text)

    def config_text(self):
        return f"""# written by bench/policy/policy_bench.py (variant {self.name})
auth:
  listen: 127.0.0.1:{self.auth_port}
  path_prefix: {AUTH_PREFIX}
admin:
  listen: 127.0.0.1:{self.admin_port}
  idle_timeout_ms: 600000
issuers:
  - issuer: {ISS}
    jwks_file: {self.jwks}
verify:
  leeway_seconds: 5
  max_lifetime_seconds: 86400
io_threads: 1
pipeline: {{workers: 1}}
http:
  idle_timeout_ms: 600000
{self.extra}"""

    def check_config(self):
        """jwtgated --check-config: (exit status, stderr)."""
        r = subprocess.run([self.binary, "--check-config", "--config", self.config_path],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stderr + r.stdout).strip()

    def start(self, timeout=30.0):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        self.log = open(self.log_path, "ab")
        # taskset execs the daemon: the child's pid is jwtgated's.
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(self.server_cpu), self.binary, "--config", self.config_path],
            stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"jwtgated {self.name} exited with {self.proc.returncode}:\n"
                                  f"{self.log_text()}")
            try:
                if harness.http(self.admin_port, "GET", "/readyz", timeout=1.0).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        else:
            raise TestFailure(f"jwtgated {self.name} not ready after {timeout} s:\n"
                              f"{self.log_text()}")
        cpus = sorted(os.sched_getaffinity(self.proc.pid))
        if cpus != [self.server_cpu]:
            raise TestFailure(f"jwtgated {self.name} runs on CPUs {cpus}, not "
                              f"[{self.server_cpu}]")

    def metrics_text(self):
        r = harness.http(self.admin_port, "GET", "/metrics", timeout=5.0)
        if r.status != 200:
            raise TestFailure(f"{self.name}: /metrics answered {r.status}")
        return r.body.decode()


def metric_samples(text, name):
    """Every sample of `name` in a text exposition: [(labels dict, value)]."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name):]
        if not rest or rest[0] not in " {":
            continue
        labels = {}
        if rest.startswith("{"):
            inner, rest = rest[1:].split("}", 1)
            for part in inner.split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    labels[k.strip()] = v.strip().strip('"')
        try:
            out.append((labels, float(rest.split()[0])))
        except (ValueError, IndexError):
            pass
    return out


def auth_counts(text):
    """jwtgate_auth_requests_total summed by decision label, and in all."""
    by = {}
    for labels, v in metric_samples(text, "jwtgate_auth_requests_total"):
        d = labels.get("decision", "?")
        by[d] = by.get(d, 0) + v
    return {"by_decision": {k: int(v) for k, v in sorted(by.items())},
            "total": int(sum(by.values()))}


def metric_sum(text, name, **labels):
    got = [v for lab, v in metric_samples(text, name)
           if all(lab.get(k) == want for k, want in labels.items())]
    return int(sum(got)) if got else None


# ---------------------------------------------------------------------------------------------
# Configurations and tokens


def routes_yaml(n):
    """n routes: n-1 distinct prefixes /api/vNN (GET, each requiring a scope no token has)
    that the request does not match, then /api (GET; scopes_all [read] and two claims)."""
    lines = ["routes:"]
    for i in range(n - 1):
        lines += [f"  - name: v{i:02d}",
                  f"    path_prefix: /api/v{i:02d}",
                  "    methods: [GET]",
                  "    require:",
                  f"      scopes_all: [admin-{i:02d}]"]
    lines += ["  - name: api",
              "    path_prefix: /api",
              "    methods: [GET]",
              "    require:",
              "      scopes_all: [read]",
              "      claims:",
              "        /realm_access/roles: [user]",
              "        email_verified: [true]"]
    return "\n".join(lines) + "\n"


def decision_log_yaml(path, sample):
    return f"decision_log:\n  path: {path}\n  sample_allows: {sample:g}\n"


class Tokens:
    def __init__(self, cli, tmp, count):
        keys = harness.Keys(cli, tmp)
        priv, self.jwks = keys.keygen("HS256", KID, "keys.jwks")
        self.secret = hs256_secret(priv)
        self.now = int(time.time())
        run = f"{os.getpid():x}{self.now:x}"
        self.pool = [self.token(f"pool-{run}-{i}", sub=f"user{i}") for i in range(count)]
        self.no_read = self.token(f"noread-{run}", scope="write")
        self.no_role = self.token(f"norole-{run}", roles=["viewer"])
        good = self.pool[0]
        self.bad_signature = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")

    def token(self, jti, sub="bench", scope="read write", roles=("user", "viewer")):
        return hs256_token(self.secret, KID, {
            "iss": ISS, "sub": sub, "iat": self.now, "exp": self.now + 7200, "jti": jti,
            "scope": scope, "realm_access": {"roles": list(roles)}, "email_verified": True})


# ---------------------------------------------------------------------------------------------
# Checks before the measurement


def ask(node, token, path=AUTH_PREFIX + REQUEST_URI, original_uri=None):
    headers = [("Authorization", f"Bearer {token}")]
    if original_uri is not None:
        headers.append(("X-Original-URI", original_uri))
    return harness.http(node.auth_port, "GET", path, headers, timeout=5.0)


def run_checks(nodes, tok):
    """Single requests whose answers the measurement relies on. Returns the list of checks,
    each {"ok", "variant", "what", "got"}; every one is run (not stopped at the first)."""
    checks = []

    def expect(variant, what, resp, status, description=None):
        www = resp.header("WWW-Authenticate") or ""
        ok = resp.status == status
        if description is not None:
            ok = ok and f'error_description="{description}"' in www
            if description.startswith("route_") and description != "route_denied":
                ok = ok and 'error="insufficient_scope"' in www
        got = f"{resp.status}" + (f" WWW-Authenticate: {www}" if www else "")
        checks.append({"ok": ok, "variant": variant, "what": what, "got": got,
                       "expected": f"{status}" + (f" {description}" if description else "")})
        log(f"check {variant}: {'PASS' if ok else 'FAIL'}: {what}: {got}")

    path_form = AUTH_PREFIX + REQUEST_URI
    for name, node in nodes.items():
        expect(name, f"pool token, GET {path_form} (the benchmark's request) -> 200",
               ask(node, tok.pool[0]), 200)
        expect(name, f"pool token, GET {AUTH_PREFIX} with X-Original-URI {REQUEST_URI} -> 200",
               ask(node, tok.pool[1], AUTH_PREFIX, REQUEST_URI), 200)
    base, routed, dlog = nodes["base"], nodes["routes50"], nodes["decision_log"]
    expect("base", "token without scope `read`, no routes -> 200", ask(base, tok.no_read), 200)
    expect("routes50", f"token without scope `read`, GET {path_form} -> 403 route_scope_missing "
           "(the path form reaches the last route)", ask(routed, tok.no_read), 403,
           "route_scope_missing")
    expect("routes50", f"token without scope `read`, X-Original-URI {REQUEST_URI} -> 403 "
           "route_scope_missing", ask(routed, tok.no_read, AUTH_PREFIX, REQUEST_URI), 403,
           "route_scope_missing")
    expect("routes50", "token whose roles lack `user`, X-Original-URI -> 403 "
           "route_claim_not_accepted", ask(routed, tok.no_role, AUTH_PREFIX, REQUEST_URI), 403,
           "route_claim_not_accepted")
    expect("routes50", "pool token, X-Original-URI /api/v07/x (route 8 of 50 requires "
           "admin-07) -> 403 route_scope_missing",
           ask(routed, tok.pool[2], AUTH_PREFIX, "/api/v07/x"), 403, "route_scope_missing")
    expect("routes50", "pool token, X-Original-URI /api/v070 (no segment boundary: the last "
           "route) -> 200", ask(routed, tok.pool[3], AUTH_PREFIX, "/api/v070"), 200)
    expect("decision_log", "token with a bad signature -> 401 (a deny line in the log)",
           ask(dlog, tok.bad_signature), 401)
    return checks


# ---------------------------------------------------------------------------------------------
# Load


def cpu_times():
    """{cpu number: (busy ticks, steal ticks, total ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:9]]
                total = sum(v)
                out[int(parts[0][3:])] = (total - v[3] - v[4], v[7], total)
    return out


def cpu_use(before, after, cpus):
    """Busy and steal fraction of each CPU in `cpus` between two cpu_times()."""
    out = {}
    for c in cpus:
        if c in before and c in after:
            dt = after[c][2] - before[c][2]
            if dt > 0:
                out[str(c)] = {"busy": round((after[c][0] - before[c][0]) / dt, 3),
                               "steal": round((after[c][1] - before[c][1]) / dt, 3)}
    return out


def loadgen_window(args, node, tokens_file, seconds, warmup, tmp, tag):
    """One closed-loop loadgen run on the client CPU; its figures over the measured window, and
    what every process did on the two CPUs over (nearly) the same window."""
    out = os.path.join(tmp, f"loadgen-{tag}.json")
    cmd = ["taskset", "-c", str(args.client_cpu), args.loadgen, "--closed",
           "--url", f"http://127.0.0.1:{node.auth_port}{AUTH_PREFIX}{REQUEST_URI}",
           "--duration", str(seconds), "--warmup", str(warmup),
           "--connections", str(args.connections), "--tokens", tokens_file,
           "--json", out, "--watch", f"daemon={node.proc.pid}"]
    if getattr(node, "unix_path", None):  # an auth listener on a Unix socket
        cmd += ["--unix", node.unix_path]
    launched = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # loadgen starts its schedule 50 ms after it is up, measures after `warmup`: /proc/stat is
    # read 0.1 s into the window and 0.1 s before its end (this process sleeps in between).
    inner = seconds > 0.4
    if inner:
        time.sleep(max(0.0, launched + 0.15 + warmup - time.monotonic()))
        c0 = cpu_times()
        time.sleep(max(0.0, launched + 0.05 + warmup + seconds - 0.1 - time.monotonic()))
        c1 = cpu_times()
    try:
        _, err = proc.communicate(timeout=seconds + warmup + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TestFailure(f"loadgen did not finish within {seconds + warmup + 60:.0f} s")
    if proc.returncode not in (0, 1) or not os.path.exists(out):
        raise TestFailure(f"loadgen exited {proc.returncode}: {(err or '')[-800:]}")
    with open(out) as f:
        doc = json.load(f)
    os.unlink(out)
    completed = doc.get("completed", 0)
    window = doc.get("window_s") or seconds
    cpu = (doc.get("cpu_s") or {}).get("daemon")
    client_cpu = (doc.get("cpu_s") or {}).get("client")
    lat = doc.get("latency_us") or {}
    res = {"completed": completed, "status_2xx": doc.get("status_2xx"),
           "status_other": doc.get("status_other", 0), "errors": doc.get("errors", 0),
           "statuses": doc.get("statuses"),
           "rps": round(completed / window, 1),
           "server_cpu_s": cpu, "client_cpu_s": client_cpu, "window_s": window,
           "server_cpu_us_per_request": (round(cpu / completed * 1e6, 3)
                                         if cpu is not None and completed else None),
           "server_core_busy": round(cpu / window, 3) if cpu is not None else None,
           "client_core_busy": round(client_cpu / window, 3) if client_cpu is not None else None,
           "latency_p50_us": lat.get("p50"), "latency_p99_us": lat.get("p99")}
    if inner:
        # Every process on the two CPUs: beyond the daemon's and loadgen's own busy fraction it
        # is another process's load (or the hypervisor's steal).
        res["cpu_stat"] = cpu_use(c0, c1, (args.server_cpu, args.client_cpu))
        srv = res["cpu_stat"].get(str(args.server_cpu), {})
        cli = res["cpu_stat"].get(str(args.client_cpu), {})
        res["other_load"] = {
            "server_cpu": (round(max(0.0, srv["busy"] - (res["server_core_busy"] or 0)), 3)
                           if srv else None),
            "client_cpu": (round(max(0.0, cli["busy"] - (res["client_core_busy"] or 0)), 3)
                           if cli else None)}
    else:
        res["cpu_stat"], res["other_load"] = {}, {"server_cpu": None, "client_cpu": None}
    return res


def figure(res, name, key):
    """A window's figure of a variant, or of "bases" (the geometric mean of the two bases)."""
    if name != "bases":
        return res[name][key]
    a, b = res["base"][key], res["base_again"][key]
    return math.sqrt(a * b) if a and b else None


def ratio(a, b):
    return round(a / b, 5) if a and b else None


def other_load(res):
    """The largest share of a CPU other processes took in any window of a round."""
    vals = [v for x in res.values() for v in x["other_load"].values() if v is not None]
    return max(vals) if vals else 0.0


def measure(args, nodes, tokens_file, tmp):
    order0 = list(VARIANTS)
    log(f"warm-up: {args.warmup:g} s of load on each variant (not counted)")
    warm = {}
    for name in order0:
        warm[name] = loadgen_window(args, nodes[name], tokens_file, args.warmup, 0.2, tmp,
                                    f"warmup-{name}")
        log(f"  warm-up {name}: {warm[name]['rps']:,.0f} req/s")
    rounds, discarded = [], []
    t0 = time.monotonic()
    tries = 0
    while len(rounds) < args.rounds:
        tries += 1
        k = len(rounds) % len(order0)  # a round run again keeps its order
        order = order0[k:] + order0[:k]
        res = {}
        for name in order:
            res[name] = loadgen_window(args, nodes[name], tokens_file, args.window,
                                       args.window_warmup, tmp, f"t{tries}-{name}")
        row = {"round": len(rounds) + 1, "try": tries, "order": order, "variants": res,
               "other_load_max": round(other_load(res), 3), "throughput_ratio": {},
               "cpu_per_request_ratio": {}}
        for x, y, _ in COMPARISONS:
            row["throughput_ratio"][f"{x}/{y}"] = ratio(figure(res, x, "rps"),
                                                        figure(res, y, "rps"))
            row["cpu_per_request_ratio"][f"{x}/{y}"] = ratio(
                figure(res, x, "server_cpu_us_per_request"),
                figure(res, y, "server_cpu_us_per_request"))
        figs = ", ".join(f"{n} {res[n]['rps']:,.0f}/s "
                         f"{fmt(res[n]['server_cpu_us_per_request'], '.2f')} µs" for n in order0)
        ratios = ", ".join(f"{k_} {fmt(v, '.3f')}" for k_, v in row["throughput_ratio"].items())
        el = time.monotonic() - t0
        if row["other_load_max"] > args.interference and len(discarded) < args.max_reruns:
            discarded.append(row)
            log(f"round {len(rounds) + 1}/{args.rounds} DISCARDED, run again: other processes "
                f"took {row['other_load_max']:.2f} of a CPU in a window (limit "
                f"{args.interference:g}; rerun {len(discarded)}/{args.max_reruns}): {figs}")
            continue
        row["interference_accepted"] = row["other_load_max"] > args.interference
        rounds.append(row)
        eta = el / tries * (args.rounds - len(rounds))
        log(f"round {len(rounds)}/{args.rounds} (first: {order[0]}): {figs}; {ratios}; other "
            f"load ≤ {row['other_load_max']:.2f}"
            f"{' (ACCEPTED: no reruns left)' if row['interference_accepted'] else ''} "
            f"[{el:.0f} s, ~{eta:.0f} s left]")
    return warm, rounds, discarded


def summarise(rounds):
    per_variant = {}
    for name in VARIANTS:
        rows = [r["variants"][name] for r in rounds]
        per_variant[name] = {
            "rps": spread([x["rps"] for x in rows], 1),
            "server_cpu_us_per_request": spread([x["server_cpu_us_per_request"] for x in rows],
                                                3),
            "server_core_busy": spread([x["server_core_busy"] for x in rows], 3),
            "client_core_busy": spread([x["client_core_busy"] for x in rows], 3),
            "latency_p50_us": spread([x["latency_p50_us"] for x in rows], 1),
            "latency_p99_us": spread([x["latency_p99_us"] for x in rows], 1),
            "other_load_server_cpu": spread([x["other_load"]["server_cpu"] for x in rows], 3),
            "other_load_client_cpu": spread([x["other_load"]["client_cpu"] for x in rows], 3),
            "steal_server_cpu": spread([x["cpu_stat"].get(str(SERVER_CPU[0]), {}).get("steal")
                                        for x in rows], 3),
            "non_2xx": sum((x["status_other"] or 0) + (x["errors"] or 0) for x in rows),
            "requests": sum(x["completed"] for x in rows),
        }
    comparisons = {}
    for x, y, label in COMPARISONS:
        key = f"{x}/{y}"
        comparisons[key] = {
            "label": label,
            "throughput_ratio": spread([r["throughput_ratio"][key] for r in rounds]),
            "cpu_per_request_ratio": spread([r["cpu_per_request_ratio"][key] for r in rounds]),
        }
    return per_variant, comparisons


def verdicts(comparisons):
    """The two acceptance points, from the paired ratios."""
    out = {}
    t = comparisons["decision_log/bases"]["throughput_ratio"]
    c = comparisons["decision_log/bases"]["cpu_per_request_ratio"]
    if t["median"] is None:
        out["decision_log"] = {"met": None, "text": "not measured"}
    else:
        cost = 1 - t["median"]
        # What the extra CPU per request would cost a daemon-bound run: 1 - 1/ratio.
        cap = 1 - 1 / c["median"] if c["median"] else None
        met_t = cost < DLOG_TARGET
        met_c = cap is None or cap < DLOG_TARGET
        sure_t = t["ci95_low"] is not None and 1 - t["ci95_low"] < DLOG_TARGET
        sure_c = c["ci95_high"] is not None and 1 - 1 / c["ci95_high"] < DLOG_TARGET
        text = (f"throughput ratio decision_log/bases {t['median']:.4f}, a cost of "
                f"{cost * 100:.1f}% (25–75% {t['q1']:.4f}–{t['q3']:.4f}, range "
                f"{t['min']:.4f}–{t['max']:.4f}, 95% CI of the median {interval(t)}); server "
                f"CPU per request ratio {fmt(c['median'], '.4f')} (25–75% {fmt(c['q1'], '.4f')}–"
                f"{fmt(c['q3'], '.4f')}, CI {interval(c)}), i.e. "
                f"{fmt(cap and cap * 100, '.1f')}% of the capacity of a daemon-bound core. "
                "Target < 5%: ")
        if met_t and met_c:
            text += "MET by both figures"
            text += (" (and by the whole 95% interval of each)." if sure_t and sure_c else
                     "; the 95% interval of the median reaches beyond 5% for "
                     f"{'throughput' if not sure_t else 'CPU per request'}.")
        elif met_t:
            text += ("met by throughput, NOT by the server CPU per request (the throughput is "
                     "partly bound by the client; see core busy).")
        else:
            text += "NOT MET."
        out["decision_log"] = {"met": met_t and met_c, "met_by_throughput": met_t,
                               "met_by_cpu_per_request": met_c,
                               "met_with_interval": met_t and met_c and sure_t and sure_c,
                               "throughput_cost": round(cost, 4),
                               "cpu_capacity_cost": None if cap is None else round(cap, 4),
                               "text": text}
    t = comparisons["routes50/bases"]["throughput_ratio"]
    c = comparisons["routes50/bases"]["cpu_per_request_ratio"]
    n = comparisons["base_again/base"]["throughput_ratio"]
    if t["median"] is None:
        out["routes"] = {"no_measurable_cost": None, "text": "not measured"}
    else:
        def includes_one(s):
            if s["ci95_low"] is None:
                return s["min"] <= 1.0 <= s["max"]
            return s["ci95_low"] <= 1.0 <= s["ci95_high"]
        t_one, c_one = includes_one(t), includes_one(c) if c["median"] is not None else None
        iqr_one = t["q1"] <= 1.0 <= t["q3"]
        text = (f"throughput ratio routes50/bases {t['median']:.4f} ({pct(t['median'])}; "
                f"25–75% {t['q1']:.4f}–{t['q3']:.4f} {'includes' if iqr_one else 'excludes'} 1.0; "
                f"range {t['min']:.4f}–{t['max']:.4f}; 95% CI of the median {interval(t)} "
                f"{'includes' if t_one else 'EXCLUDES'} 1.0); server CPU per request ratio "
                f"{fmt(c['median'], '.4f')} ({pct(c['median'])}; 25–75% {fmt(c['q1'], '.4f')}–"
                f"{fmt(c['q3'], '.4f')}; CI {interval(c)} "
                f"{'includes' if c_one else 'EXCLUDES'} 1.0). "
                f"Noise reference base_again/base: {fmt(n['median'], '.4f')} "
                f"(range {fmt(n['min'], '.4f')}–{fmt(n['max'], '.4f')}). Target no measurable "
                "cost: ")
        if t_one and c_one:
            text += "MET (both intervals include 1.0)"
            # What the run can resolve: the costs beyond the intervals' ends are excluded.
            if t["ci95_low"] is not None and c["ci95_high"] is not None:
                text += (f"; this run excludes a throughput loss above "
                         f"{(1 - t['ci95_low']) * 100:.1f}% and a CPU per request cost above "
                         f"{(c['ci95_high'] - 1) * 100:.1f}%, not smaller ones")
                if c["median"] > 1.01 or t["median"] < 0.99:
                    text += (f" (the medians, {pct(t['median'])} throughput and "
                             f"{pct(c['median'])} CPU per request, are within that)")
            text += "."
        else:
            text += "NOT MET: a cost is measurable (an interval excludes 1.0)."
        out["routes"] = {"no_measurable_cost": bool(t_one and c_one),
                         "throughput_interval_includes_1": t_one,
                         "cpu_interval_includes_1": c_one,
                         "excluded_throughput_loss_above": (None if t["ci95_low"] is None else
                                                            round(1 - t["ci95_low"], 4)),
                         "excluded_cpu_cost_above": (None if c["ci95_high"] is None else
                                                     round(c["ci95_high"] - 1, 4)),
                         "text": text}
    return out


# ---------------------------------------------------------------------------------------------
# The decision log afterwards


def mount_of(path):
    """(mount point, filesystem type) holding `path`, from /proc/mounts."""
    best = ("?", "?")
    path = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mp = parts[1].replace("\\040", " ")
                    if (path == mp or path.startswith(mp.rstrip("/") + "/")) and \
                            len(mp) >= len(best[0] if best[0] != "?" else ""):
                        best = (mp, parts[2])
    except OSError:
        pass
    return best


def read_decision_log(path, metrics_before_stop, tokens, sample):
    res = {"path_in_work_dir": os.path.basename(path)}
    mp, fstype = mount_of(os.path.dirname(path))
    res["filesystem"] = {"mount_point": mp, "type": fstype}
    if not os.path.exists(path):
        res["error"] = "the decision log file does not exist"
        return res
    with open(path, "rb") as f:
        data = f.read()
    lines = data.splitlines()
    res["bytes"] = len(data)
    res["lines"] = len(lines)
    res["ends_with_newline"] = data.endswith(b"\n") if data else None
    by_decision, bad, routes, cache = {}, [], {}, {"true": 0, "false": 0, "other": 0}
    first = None
    for i, line in enumerate(lines):
        try:
            o = json.loads(line)
        except ValueError:
            if len(bad) < 3:
                bad.append(line[:200].decode(errors="replace"))
            continue
        if first is None:
            first = o
        d = str(o.get("decision"))
        by_decision[d] = by_decision.get(d, 0) + 1
        rt = json.dumps(o.get("route"))
        routes[rt] = routes.get(rt, 0) + 1
        cv = o.get("cache")
        cache["true" if cv is True else "false" if cv is False else "other"] += 1
    res["by_decision"] = by_decision
    res["route_field"] = routes
    res["cache_field"] = cache
    res["unparsable_lines"] = len(lines) - sum(by_decision.values())
    res["unparsable_examples"] = bad
    res["first_line"] = first
    res["bytes_per_line"] = round(len(data) / len(lines), 1) if lines else None
    # No token, nor its signature, may be written.
    sigs = {t.rsplit(".", 1)[1].encode() for t in tokens}
    res["token_signatures_found"] = sum(1 for s in sigs if s in data)
    counts = auth_counts(metrics_before_stop)
    allows = counts["by_decision"].get("allow")
    res["daemon_decisions"] = counts
    res["metric_lines_total"] = metric_sum(metrics_before_stop,
                                           "jwtgate_decision_log_lines_total")
    res["metric_dropped"] = {w: metric_sum(metrics_before_stop,
                                           "jwtgate_decision_log_dropped_total", why=w)
                             for w in ("deny_rate", "write_error")}
    allow_lines = by_decision.get("allow", 0)
    res["allow_lines"] = allow_lines
    res["allow_fraction"] = round(allow_lines / allows, 5) if allows else None
    res["expected_fraction"] = sample
    if allows:
        sd = math.sqrt(allows * sample * (1 - sample))
        res["expected_allow_lines"] = round(allows * sample)
        res["binomial_sd_lines"] = round(sd, 1)
        res["roughly_one_percent"] = abs(allow_lines - allows * sample) <= max(5 * sd,
                                                                                0.1 * allows * sample)
    return res


# ---------------------------------------------------------------------------------------------
# The summary


def machine_line(m):
    if not m:
        return "machine: unknown"
    return (f"{m.get('host')}: {m.get('cpu_model')}, {m.get('cores')} cores, "
            f"{m.get('memory_gib')} GiB, {m.get('os')}, kernel {m.get('kernel')}, "
            f"{m.get('compiler')}; commit {str(m.get('git_commit'))[:10]}"
            f"{' (dirty)' if m.get('git_dirty') else ''}; {m.get('date_utc')}")


def coverage(s):
    return "" if s["ci_coverage"] is None else f" ({s['ci_coverage'] * 100:.1f}%)"


def summary_md(doc):
    p = doc["parameters"]
    fs_type = (doc.get("decision_log") or {}).get("filesystem", {}).get("type", "?")
    out = [f"# Per-route policy and decision log on the HS256 cached path ({doc['mode']})", ""]
    out.append(f"- Command: `{doc['command']}`")
    out.append(f"- Machine: {machine_line(doc.get('machine'))} (machine.json)")
    out.append(f"- jwtgated: `{p['daemon']}`; loadgen: `{p['loadgen']}`.")
    if doc.get("cpu_before_start"):
        out.append("- CPUs busy over 2 s before the start (other processes): " +
                   ", ".join(f"CPU {c} {v['busy']:.2f}"
                             for c, v in doc["cpu_before_start"].items()) + ".")
    out.append(f"- CPUs: every jwtgated pinned to CPU {p['server_cpu']} (`taskset -c "
               f"{p['server_cpu']}`), io_threads 1, pipeline workers 1 (inline default), "
               f"verified-token cache on (default size); bench/loadgen pinned to CPU "
               f"{p['client_cpu']} (`taskset -c {p['client_cpu']}`), closed loop, "
               f"{p['connections']} keep-alive connections, one thread, no pipelining; this "
               "script on the client CPU, waiting while a window runs.")
    out.append(f"- Load: GET {AUTH_PREFIX}{REQUEST_URI} with `Authorization: Bearer` cycling "
               f"through {p['tokens']} valid HS256 tokens (one oct key in a jwks_file), so nearly "
               "every request is a cache hit. loadgen sends no other header, so the URI the client "
               f"asked for ({REQUEST_URI}) reaches jwtgated as the auth request's path below "
               f"`path_prefix: {AUTH_PREFIX}` (Envoy ext_authz's form), not as `X-Original-URI` "
               "(nginx's); the checks below show both forms select the same route.")
    out.append(f"- Rounds: {p['rounds']} after a {p['warmup']:g} s warm-up per variant; in each "
               f"round every variant gets one loadgen run, {p['window']:g} s measured after "
               f"{p['window_warmup']:g} s of load, the order rotated by one variant per round. "
               "Throughput = completed / window; server CPU = utime+stime of /proc/<pid>/stat "
               "over the window (loadgen --watch) / completed. Ratios are taken within a round "
               "(decision_log and routes50 against `bases`, the geometric mean of base and "
               "base_again in that round; base_again against base), then summarised: median, "
               "25–75% range, range, and the 95% confidence interval of the median from order "
               "statistics (distribution-free). A round in which other "
               f"processes took more than {p['interference']:g} of either CPU in a window "
               f"(/proc/stat) is run again, at most {p['max_reruns']} times; those rounds are "
               "listed under Rounds and kept in policy.json.")
    if doc["mode"] == "quick":
        out.append("- QUICK run: a smoke test of the harness; the figures are not for reporting.")
    out.append("")
    out += ["## Variants", "", "| variant | configuration beyond the shared one |", "|---|---|",
            "| base | none: no `routes:`, no `decision_log:` |",
            f"| decision_log | `decision_log: {{path: <work dir>/decisions.log, sample_allows: "
            f"{p['sample_allows']:g}}}` (file on {fs_type}) |",
            f"| routes50 | {p['routes']} `routes:`: {p['routes'] - 1} × `{{path_prefix: /api/vNN, "
            "methods: [GET], require: {scopes_all: [admin-NN]}}`, which the request does not "
            "match, then `{name: api, path_prefix: /api, methods: [GET], require: {scopes_all: "
            "[read], claims: {/realm_access/roles: [user], email_verified: [true]}}}`, which it "
            "matches and the token satisfies |",
            "| base_again | the configuration of base, in a second process (the harness's noise) |",
            ""]
    if doc.get("checks"):
        out += ["## Checks before the measurement", ""]
        for c in doc["checks"]:
            out.append(f"- {'PASS' if c['ok'] else 'FAIL'} ({c['variant']}): {c['what']}; got "
                       f"{c['got']}")
        out.append("")
    if doc.get("config_check"):
        bad = {k: v for k, v in doc["config_check"].items() if v["exit"] != 0}
        if bad:
            out += ["## Configurations rejected", ""]
            for k, v in bad.items():
                out.append(f"- {k}: `jwtgated --check-config` exit {v['exit']}: {v['output']}")
            out.append("")
    pv = doc.get("per_variant")
    if pv:
        out += ["## Per variant", "",
                "| variant | req/s median | req/s range | server CPU µs/request median | range | "
                "server core busy | client core busy | other load, server / client CPU | "
                "steal | p50 µs | p99 µs | non-2xx |",
                "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in VARIANTS:
            v = pv[name]
            out.append(f"| {name} | {fmt(v['rps']['median'], ',.0f')} | "
                       f"{fmt(v['rps']['min'], ',.0f')}–{fmt(v['rps']['max'], ',.0f')} | "
                       f"{fmt(v['server_cpu_us_per_request']['median'], '.3f')} | "
                       f"{fmt(v['server_cpu_us_per_request']['min'], '.3f')}–"
                       f"{fmt(v['server_cpu_us_per_request']['max'], '.3f')} | "
                       f"{fmt(v['server_core_busy']['median'], '.2f')} | "
                       f"{fmt(v['client_core_busy']['median'], '.2f')} | "
                       f"{fmt(v['other_load_server_cpu']['max'], '.2f')} / "
                       f"{fmt(v['other_load_client_cpu']['max'], '.2f')} | "
                       f"{fmt(v['steal_server_cpu']['median'], '.3f')} | "
                       f"{fmt(v['latency_p50_us']['median'], '.0f')} | "
                       f"{fmt(v['latency_p99_us']['median'], '.0f')} | {v['non_2xx']} |")
        out.append("")
        out.append("Core busy: the process's CPU time over the window / the window (1.00: the "
                   "core was never idle). A server core near 1.00 means throughput is bound by "
                   "the daemon, so a cost on its path shows in req/s; otherwise the CPU per "
                   "request is the figure that shows it. Other load: the CPU's busy fraction in "
                   "/proc/stat over the window minus the daemon's (server CPU) or loadgen's "
                   "(client CPU) own, i.e. other processes; the largest over the rounds kept. "
                   "Steal: the server CPU's time given by the hypervisor to another guest. "
                   "Medians over the rounds unless said otherwise.")
        out.append("")
    cmp_ = doc.get("comparisons")
    if cmp_:
        out += ["## Paired ratios (per round, then summarised)", "",
                "| comparison | figure | median | change | 25–75% | range | 95% CI of the median | "
                "rounds |", "|---|---|---:|---:|---|---|---|---:|"]
        for key, c in cmp_.items():
            for label, fk in (("throughput", "throughput_ratio"),
                              ("server CPU / request", "cpu_per_request_ratio")):
                s = c[fk]
                out.append(f"| {key}: {c['label']} | {label} | {fmt(s['median'], '.4f')} | "
                           f"{pct(s['median'])} | {fmt(s['q1'], '.4f')}–{fmt(s['q3'], '.4f')} | "
                           f"{fmt(s['min'], '.4f')}–{fmt(s['max'], '.4f')} | "
                           f"{interval(s)}{coverage(s)} | {s['n']} |")
        out.append("")
        out.append("The CI column: [x(k), x(n−k+1)] of the sorted ratios, the widest k whose "
                   "coverage (in parentheses) is at least 95%; with fewer than 6 rounds there is "
                   "none.")
        out.append("")
    v = doc.get("verdicts")
    if v:
        out += ["## Verdicts", "",
                f"- (a) Decision log costs < 5% of HS256 cached throughput: {v['decision_log']['text']}",
                f"- (b) 50 routes add no measurable cost: {v['routes']['text']}", ""]
        if doc["mode"] == "quick":
            out += ["(Quick run: too few and too short rounds for these verdicts to mean "
                    "anything.)", ""]
    d = doc.get("decision_log")
    if d and "lines" in d:
        out += ["## The decision log file", ""]
        dd = d.get("daemon_decisions", {})
        out.append(f"- {d['lines']:,} lines ({d['bytes']:,} bytes, {fmt(d['bytes_per_line'], '.0f')} "
                   f"bytes/line) on {d['filesystem']['type']} ({d['filesystem']['mount_point']}); by "
                   f"decision: {d['by_decision']}; unparsable: {d['unparsable_lines']}.")
        out.append(f"- The daemon decided {dd.get('total', 0):,} requests "
                   f"({dd.get('by_decision')}) over its life (warm-up, checks and windows): "
                   f"{d['allow_lines']:,} allow lines = {fmt(d['allow_fraction'] and d['allow_fraction'] * 100, '.3f')}% "
                   f"of allows (sample_allows {d['expected_fraction']:g}: expected "
                   f"{fmt(d.get('expected_allow_lines'), ',')} ± {fmt(d.get('binomial_sd_lines'), '.0f')}); "
                   f"roughly 1%: {'yes' if d.get('roughly_one_percent') else 'NO'}.")
        out.append(f"- jwtgate_decision_log_lines_total {fmt(d['metric_lines_total'], ',')} "
                   f"(file: {d['lines']:,}); dropped {d['metric_dropped']}; `route` field: "
                   f"{d['route_field']}; `cache` field: {d['cache_field']}; token signatures "
                   f"found in the file: {d['token_signatures_found']}.")
        if d.get("first_line"):
            out.append(f"- First line: `{json.dumps(d['first_line'], separators=(',', ':'))}`")
        out.append("")
    elif d and "error" in d:
        out += ["## The decision log file", "", f"- {d['error']}", ""]
    if doc.get("rounds"):
        out += ["## Rounds", "", "| round | order | " +
                " | ".join(f"{n} req/s" for n in VARIANTS) + " | " +
                " | ".join(f"{n} µs/req" for n in VARIANTS) + " | dlog/bases | routes/bases | "
                "again/base | other load |", "|" + "---|" * (2 + 2 * len(VARIANTS) + 4)]
        for r in doc["rounds"]:
            vs = r["variants"]
            tr = r["throughput_ratio"]
            out.append(f"| {r['round']} | {' '.join(r['order'])} | " +
                       " | ".join(f"{vs[n]['rps']:,.0f}" for n in VARIANTS) + " | " +
                       " | ".join(fmt(vs[n]['server_cpu_us_per_request'], '.3f')
                                  for n in VARIANTS) + " | " +
                       " | ".join(fmt(tr[f'{x}/{y}'], '.4f') for x, y, _ in COMPARISONS) +
                       f" | {r['other_load_max']:.2f}"
                       f"{' (kept: no reruns left)' if r.get('interference_accepted') else ''} |")
        out.append("")
        out.append("Other load: the largest share of the server or the client CPU that other "
                   "processes took in any window of the round.")
        out.append("")
    if doc.get("rounds") is not None:
        disc = doc.get("discarded_rounds") or []
        out.append(f"Rounds run again because other processes took more than "
                   f"{p['interference']:g} of a CPU in one of their windows (at most "
                   f"{p['max_reruns']}): {len(disc)}" + (":" if disc else "."))
        for r in disc:
            out.append(f"- try {r['try']} (for round {r['round']}), other load "
                       f"{r['other_load_max']:.2f}: " +
                       ", ".join(f"{n} {r['variants'][n]['rps']:,.0f}/s" for n in VARIANTS) +
                       "; ratios " + ", ".join(f"{k} {fmt(v, '.4f')}"
                                               for k, v in r["throughput_ratio"].items()))
        out.append("")
    if doc.get("errors"):
        out += ["## Errors", ""] + [f"- {e}" for e in doc["errors"]] + [""]
    out.append(f"Elapsed: {doc.get('elapsed_s')} s. Every raw number: policy.json.")
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Main


def run(args, doc, tmp, cleanup):
    c0 = cpu_times()
    time.sleep(2.0)
    doc["cpu_before_start"] = cpu_use(c0, cpu_times(), sorted(c0))
    busy = {c: v["busy"] for c, v in doc["cpu_before_start"].items()}
    log(f"CPUs busy over 2 s before the start (other processes): {busy}")
    if any(b > 0.1 for b in busy.values()):
        log("WARNING: the machine is not idle; the figures will carry that load (see "
            "'server CPU busy, all processes' in the summary)")
    tok = Tokens(args.cli, tmp, args.tokens)
    tokens_file = os.path.join(tmp, "tokens.txt")
    with open(tokens_file, "w") as f:
        f.write("\n".join(tok.pool) + "\n")
    dlog_path = os.path.join(tmp, "decisions.log")
    extra = {"base": "", "decision_log": decision_log_yaml(dlog_path, args.sample_allows),
             "routes50": routes_yaml(args.routes), "base_again": ""}
    nodes = {name: Node(args.daemon, os.path.join(tmp, name), name, extra[name],
                        args.server_cpu) for name in VARIANTS}
    doc["config_check"] = {}
    for name, n in nodes.items():
        rc, text = n.check_config()
        doc["config_check"][name] = {"exit": rc, "output": text[-1000:]}
        if rc != 0:
            log(f"jwtgated --check-config rejects the {name} configuration (exit {rc}): {text}")
    if any(v["exit"] != 0 for v in doc["config_check"].values()):
        raise TestFailure("a configuration is rejected by jwtgated --check-config (see above)")
    for name, n in nodes.items():
        cleanup.add(f"jwtgated {name}", n.stop)
        n.start()
        log(f"jwtgated {name}: pid {n.proc.pid} on CPU {args.server_cpu}, auth "
            f"127.0.0.1:{n.auth_port}, admin 127.0.0.1:{n.admin_port}")
    doc["checks"] = run_checks(nodes, tok)
    failed = [c for c in doc["checks"] if not c["ok"]]
    if failed:
        raise TestFailure(f"{len(failed)} check(s) failed before the measurement: " +
                          "; ".join(f"{c['variant']}: {c['what']}: expected {c['expected']}, "
                                    f"got {c['got']}" for c in failed))
    warm, rounds, discarded = measure(args, nodes, tokens_file, tmp)
    doc["warmup"] = warm
    doc["rounds"] = rounds
    doc["discarded_rounds"] = discarded
    doc["per_variant"], doc["comparisons"] = summarise(rounds)
    doc["verdicts"] = verdicts(doc["comparisons"])
    non2xx = {n: v["non_2xx"] for n, v in doc["per_variant"].items() if v["non_2xx"]}
    if non2xx:
        doc["errors"].append(f"non-2xx answers or connection errors in the windows: {non2xx}")
    doc["daemon_decisions"] = {}
    metrics = {}
    for name, n in nodes.items():
        metrics[name] = n.metrics_text()
        doc["daemon_decisions"][name] = auth_counts(metrics[name])
    for name, n in nodes.items():
        rc = n.stop()
        if rc not in (0, None):
            doc["errors"].append(f"jwtgated {name} exited with {rc} after SIGTERM")
    doc["decision_log"] = read_decision_log(dlog_path, metrics["decision_log"],
                                            tok.pool + [tok.bad_signature],
                                            args.sample_allows)
    d = doc["decision_log"]
    if "error" in d:
        doc["errors"].append(f"decision log: {d['error']}")
    else:
        log(f"decision log: {d['lines']:,} lines, {d['allow_lines']:,} allow lines for "
            f"{d['daemon_decisions']['by_decision'].get('allow', 0):,} allows = "
            f"{fmt(d['allow_fraction'] and d['allow_fraction'] * 100, '.3f')}% "
            f"(sample_allows {args.sample_allows:g}); by decision {d['by_decision']}; "
            f"jwtgate_decision_log_lines_total {d['metric_lines_total']}")
        if d["token_signatures_found"]:
            doc["errors"].append(f"decision log: {d['token_signatures_found']} token "
                                 "signatures found in the file")
        if not d.get("roughly_one_percent"):
            doc["errors"].append(f"decision log: allow lines are "
                                 f"{fmt(d['allow_fraction'], '.5f')} of allows, not about "
                                 f"{args.sample_allows:g}")
        if d["by_decision"].get("deny", 0) < 1:
            doc["errors"].append("decision log: the deny of the bad-signature check is not in it")
        if d["unparsable_lines"]:
            doc["errors"].append(f"decision log: {d['unparsable_lines']} lines are not JSON")
    for key, v in doc["verdicts"].items():
        log(f"verdict {key}: {v['text']}")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="policy_bench.py", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n", 2)[2] + """
Examples:
  bench/policy/policy_bench.py --daemon build-release/core/daemon/jwtgated \\
      --cli build-release/core/cli/jwtgate --loadgen build-release/bench/loadgen/loadgen \\
      --out results/$(date -u +%F)-$(hostname -s)/policy
  bench/policy/policy_bench.py --daemon ... --cli ... --loadgen ... --out /tmp/policy --quick
""", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", required=True, help="the jwtgated binary")
    ap.add_argument("--cli", required=True, help="the jwtgate binary (keygen)")
    ap.add_argument("--loadgen", required=True, help="the bench/loadgen binary")
    ap.add_argument("--out", required=True, help="results directory (created)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run in about 20 s (2 rounds of 0.5 s; figures not for "
                         "reporting)")
    ap.add_argument("--rounds", type=int, help="rounds (default 10; --quick 2)")
    ap.add_argument("--window", type=float,
                    help="measured seconds per variant per round (default 3; --quick 0.5)")
    ap.add_argument("--window-warmup", type=float,
                    help="seconds of load before each window, not measured (default 0.5; "
                         "--quick 0.2)")
    ap.add_argument("--warmup", type=float,
                    help="seconds of load on each variant before round 1 (default 2; --quick "
                         "0.3)")
    ap.add_argument("--connections", type=int, default=64,
                    help="loadgen keep-alive connections (default 64)")
    ap.add_argument("--tokens", type=int, default=64,
                    help="distinct valid tokens the load cycles through (default 64)")
    ap.add_argument("--routes", type=int, default=50, help="routes of routes50 (default 50)")
    ap.add_argument("--sample-allows", type=float, default=0.01,
                    help="decision_log.sample_allows (default 0.01)")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU of jwtgated (default 0)")
    ap.add_argument("--client-cpu", type=int, default=1,
                    help="CPU of loadgen and this script (default 1)")
    ap.add_argument("--interference", type=float, default=0.15,
                    help="a round in which other processes took more than this share of the "
                         "server or the client CPU in any window is run again (default 0.15)")
    ap.add_argument("--max-reruns", type=int,
                    help="rounds run again for interference at most (default 4; --quick 0); "
                         "after that they are kept and marked")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (configurations, logs, the decision log)")
    args = ap.parse_args(argv)
    defaults = {"rounds": 2 if args.quick else 10, "window": 0.5 if args.quick else 3.0,
                "window_warmup": 0.2 if args.quick else 0.5,
                "warmup": 0.3 if args.quick else 2.0, "max_reruns": 0 if args.quick else 4}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    for path, what in ((args.daemon, "--daemon"), (args.cli, "--cli"),
                       (args.loadgen, "--loadgen")):
        if not os.access(path, os.X_OK):
            ap.error(f"{what} {path} is not an executable file")
    if not shutil.which("taskset"):
        ap.error("taskset not found (Debian package util-linux)")
    cpus = os.sched_getaffinity(0)
    if args.server_cpu == args.client_cpu or not {args.server_cpu, args.client_cpu} <= cpus:
        ap.error(f"--server-cpu and --client-cpu must be two different CPUs of {sorted(cpus)}")
    if args.rounds < 1 or args.window <= 0 or args.routes < 1 or args.tokens < 4 or \
            not 0 < args.sample_allows <= 1:
        ap.error("--rounds, --window, --routes must be positive, --tokens >= 4, "
                 "0 < --sample-allows <= 1")
    args.daemon, args.cli, args.loadgen = (os.path.abspath(args.daemon),
                                           os.path.abspath(args.cli),
                                           os.path.abspath(args.loadgen))
    return args


def main(argv):
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    command = "bench/policy/policy_bench.py " + " ".join(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    os.sched_setaffinity(0, {args.client_cpu})
    SERVER_CPU[0] = args.server_cpu
    tmp = tempfile.mkdtemp(prefix="jwtgate-policy-")
    os.makedirs(args.out, exist_ok=True)
    cleanup = harness.Cleanup()
    started = time.monotonic()
    ok = False
    per_window = args.window + args.window_warmup + 0.15
    log(f"policy_bench ({mode}): work in {tmp}, results to {args.out}; {args.rounds} rounds x "
        f"{len(VARIANTS)} variants x {per_window:.1f} s, about "
        f"{(args.rounds * len(VARIANTS) * per_window + len(VARIANTS) * (args.warmup + 0.4) + 5) / 60:.1f} min")
    doc = {"schema": SCHEMA, "mode": mode, "command": command, "machine": None,
           "parameters": dict(vars(args)), "errors": []}
    try:
        machine = machine_info(command)
        doc["machine"] = machine
        harness.write_atomic(os.path.join(args.out, "machine.json"), json.dumps(machine, indent=2) + "\n")
        try:
            run(args, doc, tmp, cleanup)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a configuration rejected, a check failed, a daemon gone
            if not isinstance(e, TestFailure):
                traceback.print_exc()
            doc["errors"].append(f"{type(e).__name__}: {e}")
            log(f"FAILED: {e}")
        ok = not doc["errors"]
        doc["elapsed_s"] = round(time.monotonic() - started, 1)
        doc["ok"] = ok
        harness.write_atomic(os.path.join(args.out, "policy.json"), json.dumps(doc, indent=1) + "\n")
        harness.write_atomic(os.path.join(args.out, "summary.md"), summary_md(doc))
        log(f"results: {os.path.join(args.out, 'policy.json')}, "
            f"{os.path.join(args.out, 'summary.md')}")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): stopping every process; no results written")
        ok = False
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup.run()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"work directory kept: {tmp}")
    log(f"{'PASS' if ok else 'FAIL'} policy_bench {mode} in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
