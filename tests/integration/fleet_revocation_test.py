#!/usr/bin/python3
"""Fleet-wide revocation: jwtgated nodes replicate POST /revoke to each other through a Redis
stream, and no acknowledged revocation is ever lost, whatever stops or crashes meanwhile.

A revocation answered on one node only helps if every node denies the token: a fleet behind a
load balancer is as weak as its last node to learn it. Replication must survive what happens to
real fleets: a node killed and restarted later (catch-up from the stream, or from the snapshot
once the stream was trimmed past it), Redis down (the node acknowledges with 202, keeps the entry
in a durable outbox and publishes it later), Redis coming back empty (the nodes re-seed it from
their local state), a node killed between its local write and its XADD (re-published at
restart), and entries in the stream that no node wrote (skipped, counted, never a crash). Each
check runs a real redis-server (Debian's /usr/bin/redis-server, AOF on, no RDB) and three (at
times four) jwtgated on loopback, each with its own revocation dir, ports and node_id, the same
HS256 key and issuer. Redis is spoken to by a small RESP client over a raw socket.

Every revocation acknowledged (200 or 202) is written in a ledger with a token it must deny; the
last scenario of each part (audit) checks every one of them on every node, and the part ends by
printing how many were acknowledged and how many were lost (must be 0).

Part `basic` (nodes a and c reach Redis over TCP, b over its unix socket; c has
on_disconnected: fail_closed with max_disconnected_seconds 3):
  propagate_jti      POST /revoke {jti, iss, exp} on a: 200 {"revoked":true,"replicated":true};
                     401 revoked on a at once, on b and c within 2 s (their verified-token cache
                     held the token); published_total rises on a, applied_total on b and c; the
                     stream holds one entry v=1 k=jti id iss t=kept_until n=node-a q=<int>
  propagate_subject  POST /revoke {sub, not_before T} on b: 200 replicated; a token of the
                     subject issued before T is denied on b at once, on a and c within 2 s; one
                     issued after T still gets 200 everywhere (the watermark, not the subject);
                     the stream entry is k=sub id=SUB t=T n=node-b
  malformed_entries  entries XADDed straight into the stream: missing t, missing id, t not a
                     number, t beyond int64, q not a number, unknown kind, a 1 MiB id, no known
                     field; then a valid one: every node stays up and serves 200,
                     skipped_total rises by at least the number of bad entries on each node, the
                     tokens the bad entries name are not revoked, the valid entry after them is
                     applied everywhere within 2 s
  redis_down         Redis stopped (SIGTERM; AOF keeps its data): 5 revocations on a answer 202
                     {"replicated":false}, each denied on a at once, outbox_entries 5 and
                     connected 0 on a, b does not know them yet; c (fail_closed) answers 503
                     revocation_stale 1 to 3 + 5 s after the stop (the reason counted) while a
                     and b still serve 200 (on_disconnected: serve); Redis started
                     again on the same port and dir (the stream survived): all 5 denied on b and c
                     within 10 s, outbox 0 on a, c serves 200 again
Part `recovery` (snapshot_every_entries 10000, then 10 from snapshot_resync on):
  catch_up           c killed (SIGKILL); 1,000 jti revoked on a over 4 keep-alive connections, all
                     200 replicated; c restarted: at its first /readyz 200, every one of the 1,000
                     is denied on c (all checked, none sampled), applied_total >= 1000; b denies
                     all 1,000 too
  snapshot_resync    c applies 5 entries and is stopped (SIGTERM); a and b restarted with
                     snapshot_every_entries 10; 50 jti revoked on a (more, 50 at a time up to
                     400, until the stream's first entry is past the first entry c has not
                     applied): snapshots_written_total >= 1 on a + b, <prefix>snapshot exists;
                     c restarted: every one denied at its first /readyz 200, resyncs_total >= 1
  redis_flushed      FLUSHALL while a, b, c run: a re-seed is counted (reseeds_total) and
                     <prefix>snapshot and <prefix>epoch exist again within 15 s; then a new node d
                     (empty state dir) denies every revocation of the ledger at its first /readyz
                     200. Again with Redis restarted on an empty dir, and a new node e.
  crash_before_publish  3 times: a restarted with JWTGATE_TEST_CRASH_BEFORE_PUBLISH=1; POST
                     /revoke gets no answer (the connection drops) and a dies of SIGKILL;
                     restarted normally, a denies the token (durable locally) and b and c deny it
                     within 5 s (the outbox was published at restart); outbox 0 on a
Both parts end with:
  audit              every node of the fleet up (restarted if a failed scenario left it down),
                     connected 1, ready 1, entries_behind 0, outbox 0; every ledger entry denied
                     (401 revoked) on every node; a fresh token 200 on every node

Every scenario of a part runs (--only NAME: that one, then the audit) and the failures are listed
together at the end, with the logs of the daemons and of redis. Every process started here is
stopped at the end and the temporary directory removed (--keep keeps it).
Usage: fleet_revocation_test.py --daemon PATH --cli PATH --part basic|recovery [--only NAME]
       fleet_revocation_test.py --selftest --daemon PATH --cli PATH
         (redis-server and the RESP client, and three jwtgated without replication: runs with
         a daemon built before the replication feature)
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from harness import file_tail
from harness import (Conn, Daemon, Keys, TestFailure, check, exit_on_sigterm, free_port,
                     hs256_secret, hs256_token, http, log, metric_value, removing_tmp, run_test)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
ISS = "https://fleet.test"
PREFIX = "jwtgate-test:"
STREAM = PREFIX + "stream"
SNAPSHOT = PREFIX + "snapshot"
EPOCH = PREFIX + "epoch"
CRASH_ENV = "JWTGATE_TEST_CRASH_BEFORE_PUBLISH"
PROPAGATE_S = 2.0        # a revocation reaches every connected node within this
RECONNECT_S = 10.0       # Redis back: the outbox is published and applied within this
RESEED_S = 15.0          # Redis lost its data: a re-seed within this
READY_S = 30.0           # a (re)started node's first /readyz 200 within this
FAIL_CLOSED_AFTER = 3    # max_disconnected_seconds of the fail_closed node in part basic
CATCH_UP_IDS = 1000
RESYNC_IDS = 50
CRASH_ROUNDS = 3


_taken_ports = set()


def ready_lines(node, status, line):
    """GET /readyz?verbose on `node`: the status and one line of the body, exactly."""
    r = http(node.admin_port, "GET", "/readyz?verbose", timeout=2)
    lines = r.body.decode(errors="replace").splitlines()
    check(r.status == status and line in lines,
          f"/readyz?verbose on {node.name}: expected {status} with {line!r}, got {r.status} "
          f"{lines}")


def stable_port():
    """A free loopback port below the kernel's ephemeral range (ip_local_port_range): no
    outgoing connection (of this test or of anything else on the host) is given it as its source
    port while its server is down between a stop and a restart on the same port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(500):
        port = random.randrange(max(1024, low - 12000), low)
        if port in _taken_ports:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        _taken_ports.add(port)
        return port
    return free_port()


# ---------------------------------------------------------------------------------------------
# Redis: the server, and a RESP2 client over a raw socket

class RedisError(Exception):
    """An error reply (-ERR ...) of Redis."""


class Resp:
    """A minimal RESP2 client on 127.0.0.1:port or a unix socket."""

    def __init__(self, port=None, path=None, timeout=5.0):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(path)
            except OSError:
                self.sock.close()
                raise
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def command(self, *args):
        """Sends one command (str, bytes or int arguments); returns its reply (bytes for bulk
        strings, str for simple strings, int, list, None); raises RedisError on an error reply."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        reply = self._reply()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise TestFailure(f"unexpected RESP reply line {line[:80]!r}")


def stream_entries(reply):
    """[(id, {field: value})] of an XRANGE / XREVRANGE reply (values decoded, lossy)."""
    out = []
    for entry_id, flat in reply or []:
        fields = {}
        for i in range(0, len(flat) - 1, 2):
            fields[flat[i].decode(errors="replace")] = flat[i + 1].decode(errors="replace")
        out.append((entry_id.decode(), fields))
    return out


def id_key(entry_id):
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Redis:
    """redis-server on 127.0.0.1:port and a unix socket, data (AOF only) in `data`, its log in
    redis.log; stopped and started again on the same port and dir."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "redis")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        self.port = stable_port()  # the same port over restarts
        self.sock_path = os.path.join(self.dir, "redis.sock")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        if not os.path.exists(REDIS_SERVER):
            raise TestFailure(f"{REDIS_SERVER} is missing (Debian package redis-server)")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--unixsocket", self.sock_path, "--unixsocketperm", "700",
                 "--dir", self.data, "--save", "", "--appendonly", "yes",
                 "--daemonize", "no", "--logfile", ""],
                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"redis-server exited with {self.proc.returncode}:\n"
                                  f"{self.log_text()}")
            try:
                if self.cmd("PING") == "PONG":
                    return
            except (OSError, RedisError) as e:  # refused, or -LOADING while it reads the AOF
                last = e
            time.sleep(0.02)
        raise TestFailure(f"redis-server did not answer PING within {timeout} s ({last}):\n"
                          f"{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops it (SIGTERM: a clean shutdown, the AOF flushed); returns its exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"redis-server did not exit within {timeout} s after signal {sig}")

    def wipe(self):
        """Removes its data (stopped first): the next start is an empty Redis."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)

    def cmd(self, *args):
        c = Resp(self.port, timeout=5.0)
        try:
            return c.command(*args)
        finally:
            c.close()

    def stream(self):
        return stream_entries(self.cmd("XRANGE", STREAM, "-", "+"))

    def first_id(self):
        e = stream_entries(self.cmd("XRANGE", STREAM, "-", "+", "COUNT", 1))
        return e[0][0] if e else None

    def last_id(self):
        e = stream_entries(self.cmd("XREVRANGE", STREAM, "+", "-", "COUNT", 1))
        return e[0][0] if e else None

    def log_text(self):
        return file_tail(self.log_path, 3000)


# ---------------------------------------------------------------------------------------------
# jwtgated nodes

def node_config(n):
    w = n.world
    repl = ""
    if n.replication:
        redis = (f"unix:{w.redis.sock_path}" if n.via_unix else f"127.0.0.1:{w.redis.port}")
        repl = f"""  replication:
    redis: {json.dumps(redis)}
    node_id: {json.dumps(n.node_id)}
    key_prefix: {json.dumps(PREFIX)}
    snapshot_every_entries: {w.snapshot_every}
    snapshot_min_age_seconds: 0
    max_disconnected_seconds: {n.max_disconnected}
    on_disconnected: {n.on_disconnected}
"""
    return f"""
auth:
  listen: 127.0.0.1:{n.auth_port}
  path_prefix: /auth
admin:
  listen: 127.0.0.1:{n.admin_port}
issuers:
  - issuer: {ISS}
    jwks_file: {json.dumps(w.jwks)}
verify:
  leeway_seconds: 5
  max_lifetime_seconds: 3600
revocation:
  dir: {json.dumps(n.state)}
{repl}cache: {{entries: 4096}}
pipeline: {{workers: 1}}
"""


class Node(Daemon):
    """A jwtgated of the fleet: its own dir, revocation state, ports and node_id (node-NAME);
    restarted on the same ports."""

    def __init__(self, world, name, via_unix=False, on_disconnected="serve",
                 max_disconnected=60, replication=True):
        self.world = world
        self.name = name
        self.node_id = f"node-{name}"
        self.via_unix = via_unix
        self.on_disconnected = on_disconnected
        self.max_disconnected = max_disconnected
        self.replication = replication
        d_dir = os.path.join(world.tmp, f"node-{name}")
        os.makedirs(d_dir, exist_ok=True)
        self.state = os.path.join(d_dir, "state")
        super().__init__(world.args.daemon, d_dir, node_config)
        # The same ports over restarts, out of the ephemeral range.
        self.auth_port = stable_port()
        self.admin_port = stable_port()
        self.write_config()

    def restart(self, sig=signal.SIGTERM, timeout=READY_S):
        rc = self.stop(sig)
        if sig == signal.SIGTERM:
            check(rc in (0, None), f"{self.name}: exit status on SIGTERM: expected 0, got {rc}")
        self.write_config()
        self.start(timeout)


def reason_of(r):
    m = re.search(r'error_description="([^"]*)"', r.header("WWW-Authenticate") or "")
    return m.group(1) if m else None


def show(r):
    if r is None:
        return "no answer (connection closed)"
    if not hasattr(r, "status"):
        return str(r)
    return f"{r.status} {r.header('WWW-Authenticate') or r.body[:200].decode(errors='replace')}"


def auth(n, token):
    return http(n.auth_port, "GET", "/auth", [("Authorization", f"Bearer {token}")])


def is_revoked(r):
    return r is not None and r.status == 401 and reason_of(r) == "revoked"


def expect_status(n, token, status, what, reason=None):
    r = auth(n, token)
    check(r is not None and r.status == status and (reason is None or reason_of(r) == reason),
          f"{what} on {n.name}: expected {status}{' ' + reason if reason else ''}, "
          f"got {show(r)}")
    return r


def expect_revoked(n, token, what):
    return expect_status(n, token, 401, what, "revoked")


def wait_until(what, fn, timeout, interval=0.05):
    """Polls fn() -> (done, observed) until done; fails naming the last observation."""
    deadline = time.monotonic() + timeout
    while True:
        done, seen = fn()
        if done:
            return seen
        if time.monotonic() > deadline:
            raise TestFailure(f"{what}: not within {timeout} s (last seen: {show(seen)})")
        time.sleep(interval)


def wait_revoked(n, token, what, timeout=PROPAGATE_S):
    """Seconds until `token` is 401 revoked on n (fails after timeout)."""
    started = time.monotonic()
    wait_until(f"{what}: 401 revoked on {n.name}",
               lambda: (is_revoked(r := auth(n, token)), r), timeout)
    return time.monotonic() - started


def gauge(n, name):
    v = metric_value(n.metrics(), name)
    check(v is not None, f"{name} missing from /metrics of {n.name}")
    return v


def wait_gauge(n, name, pred, want, timeout):
    return wait_until(f"{name} on {n.name} {want}",
                      lambda: (pred(v := gauge(n, name)), f"{name} {v}"), timeout)


def reason_count(n, reason):
    return metric_value(n.metrics(), "jwtgate_auth_requests_total", {"reason": reason}) or 0.0


class Prober:
    """Auth requests to one node over a keep-alive connection (reconnects if it closes)."""

    def __init__(self, n):
        self.n = n
        self.conn = None

    def get(self, token):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = Conn(self.n.auth_port, timeout=5.0)
            try:
                r = self.conn.request("GET", "/auth", [("Authorization", f"Bearer {token}")])
            except (OSError, TestFailure):
                r = None
                if attempt:
                    raise
            if r is not None:
                return r
            self.conn.close()
            self.conn = None
        raise TestFailure(f"{self.n.name}: the auth connection closed twice without an answer")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def sweep(n, items, want_revoked=True):
    """Checks every (label, token) on n; returns [(label, what came)] of those that were not
    401 revoked (want_revoked) or not 200 (otherwise)."""
    p = Prober(n)
    bad = []
    try:
        for label, token in items:
            r = p.get(token)
            ok = is_revoked(r) if want_revoked else r.status == 200
            if not ok:
                bad.append((label, show(r)))
    finally:
        p.close()
    return bad


def sweep_settled(n, items, settle=PROPAGATE_S):
    """sweep(), then, after `settle` seconds, again over those not denied the first time."""
    bad = sweep(n, items)
    if bad:
        time.sleep(settle)
        again = {label for label, _ in bad}
        bad = sweep(n, [(label, tok) for label, tok in items if label in again])
    return bad


def first_of(bad, k=5):
    return "; ".join(f"{label}: {what}" for label, what in bad[:k])


def revoke(n, body, timeout=10.0):
    """POST /revoke on n's admin port: (response, its JSON body or {})."""
    r = http(n.admin_port, "POST", "/revoke", [("Content-Type", "application/json")],
             json.dumps(body).encode(), timeout=timeout)
    try:
        doc = json.loads(r.body) if r is not None else {}
    except ValueError:
        doc = {}
    return r, doc if isinstance(doc, dict) else {}


def revoke_many(n, bodies, connections=4):
    """POST /revoke of every body on `connections` keep-alive connections in parallel; returns
    [(response or exception, JSON body or {})] in the order of `bodies`."""
    results = [None] * len(bodies)

    def worker(k):
        c = None
        for i in range(k, len(bodies), connections):
            try:
                if c is None:
                    c = Conn(n.admin_port, timeout=10.0)
                r = c.request("POST", "/revoke", [("Content-Type", "application/json")],
                              json.dumps(bodies[i]).encode())
                try:
                    doc = json.loads(r.body) if r is not None else {}
                except ValueError:
                    doc = {}
                results[i] = (r, doc if isinstance(doc, dict) else {})
                if r is None:
                    c.close()
                    c = None
            except (OSError, TestFailure) as e:
                results[i] = (e, {})
                if c is not None:
                    c.close()
                    c = None
        if c is not None:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def replicated_ok(r, doc):
    return (hasattr(r, "status") and r.status == 200 and doc.get("revoked") is True and
            doc.get("replicated") is True)


class World:
    """Redis, the nodes (a, b, c: the fleet; d, e: started late), the HS256 key and the ledger of
    every revocation that must be denied everywhere."""

    def __init__(self, tmp, args, part):
        self.tmp = tmp
        self.args = args
        self.part = part
        keys = Keys(args.cli, tmp)
        priv, self.jwks = keys.keygen("HS256", "h1", "keys.jwks")
        self.secret = hs256_secret(priv)
        self.now = int(time.time())
        self.exp = self.now + 900
        self.redis = Redis(tmp)
        self.snapshot_every = 10000
        self.nodes = {}
        self.fleet_names = ("a", "b", "c")
        self.ledger = []   # (label, token, node name, how: 200 | 202 | "crash" | "injected")
        self.lost = None   # set by the audit
        self.seq = 0
        self.marks = {}
        replication = part != "selftest"
        if part == "basic":
            self.add_node("a")
            self.add_node("b", via_unix=True)
            self.add_node("c", on_disconnected="fail_closed", max_disconnected=FAIL_CLOSED_AFTER)
        else:
            for name in self.fleet_names:
                self.add_node(name, replication=replication)

    def add_node(self, name, **kw):
        self.nodes[name] = Node(self, name, **kw)
        return self.nodes[name]

    def fleet(self):
        return [self.nodes[x] for x in self.fleet_names]

    def new_id(self, what):
        self.seq += 1
        return f"{what}-{self.seq}-{os.getpid()}"

    def token(self, jti, **claims):
        c = {"iss": ISS, "sub": "alice", "iat": self.now, "exp": self.exp, "jti": jti}
        c.update(claims)
        return hs256_token(self.secret, "h1", c)

    def jti_body(self, jti):
        return {"jti": jti, "iss": ISS, "exp": self.exp}

    def record(self, label, token, n, how):
        self.ledger.append((label, token, n.name if n else "-", how))

    def fleet_up(self):
        """Redis and a, b, c running, each connected to Redis (a failed scenario may have left
        something down)."""
        if not self.redis.alive():
            self.redis.start()
        for n in self.fleet():
            if not n.alive():
                n.env = None
                n.start(READY_S)
        for n in self.fleet():
            wait_gauge(n, "jwtgate_replication_connected", lambda v: v == 1, "== 1", RECONNECT_S)

    def close(self):
        for n in self.nodes.values():
            if n.alive():
                n.stop(signal.SIGKILL)
        if self.redis.alive():
            self.redis.stop(signal.SIGKILL)

    def mark(self):
        """Remembers where the logs end: diagnostics() prints what came after."""
        self.marks = {path: os.path.getsize(path) for path in self.log_paths()
                      if os.path.exists(path)}

    def log_paths(self):
        return [n.log_path for n in self.nodes.values()] + [self.redis.log_path]

    def since_mark(self, path):
        try:
            with open(path, "rb") as f:
                f.seek(self.marks.get(path, 0))
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def diagnostics(self):
        for n in self.nodes.values():
            if n.proc is not None:
                state = "running" if n.alive() else f"exited {n.proc.returncode}"
                log(f"{n.node_id} ({state}) log since the scenario started:\n"
                    f"{self.since_mark(n.log_path)}")
        log(f"redis ({'running' if self.redis.alive() else 'stopped'}) log since the scenario "
            f"started:\n{self.since_mark(self.redis.log_path)}")

    def report(self):
        count = {how: sum(1 for e in self.ledger if e[3] == how)
                 for how in (200, 202, "crash", "injected")}
        acked = count[200] + count[202]
        lost = "not audited" if self.lost is None else str(self.lost)
        log(f"fleet revocation, part {self.part}: {acked} revocations acknowledged ({count[200]} "
            f"with 200, {count[202]} with 202 while Redis was down), {count['crash']} written "
            f"before a crash without an answer, {count['injected']} injected into the stream; "
            f"acknowledged and lost: {lost}")


# ---------------------------------------------------------------------------------------------
# Part basic

def propagate_jti(w):
    w.fleet_up()
    a, b, c = w.fleet()
    jti = w.new_id("jti")
    tok = w.token(jti)
    for n in (a, b, c):
        expect_status(n, tok, 200, f"{jti} before its revocation")  # now in the token cache
    published = gauge(a, "jwtgate_replication_published_total")
    applied = {n.name: gauge(n, "jwtgate_replication_applied_total") for n in (b, c)}
    r, doc = revoke(a, w.jti_body(jti))
    check(replicated_ok(r, doc), f"POST /revoke on a with Redis up: expected 200 "
          f'{{"revoked":true,...,"replicated":true}}, got {show(r)}')
    w.record(jti, tok, a, 200)
    expect_revoked(a, tok, f"{jti} just after its revocation")
    took = {n.name: wait_revoked(n, tok, f"{jti} revoked on a") for n in (b, c)}
    # Counters may trail the store a moment (the journal is flushed after the store is updated).
    wait_gauge(a, "jwtgate_replication_published_total", lambda v: v >= published + 1,
               f">= {published + 1:.0f} (it was {published:.0f})", PROPAGATE_S)
    for n in (b, c):
        wait_gauge(n, "jwtgate_replication_applied_total", lambda v: v >= applied[n.name] + 1,
                   f">= {applied[n.name] + 1:.0f} (it was {applied[n.name]:.0f})", PROPAGATE_S)
    # The wire format the other scenarios write by hand.
    mine = [(i, f) for i, f in w.redis.stream() if f.get("id") == jti]
    check(len(mine) == 1, f"stream {STREAM}: expected one entry with id={jti}, got {mine}")
    fields = mine[0][1]
    kept = doc.get("kept_until")
    want = {"v": "1", "k": "jti", "id": jti, "iss": ISS, "n": a.node_id,
            "t": "forever" if kept is None else str(kept)}
    wrong = {k: fields.get(k) for k, v in want.items() if fields.get(k) != v}
    check(not wrong and re.fullmatch(r"[0-9]+", fields.get("q", "")),
          f"stream entry of {jti}: expected {want} and a decimal q, got {fields}")
    log(f"propagate_jti: 200 replicated on a; denied on b in {took['b']:.2f} s, on c in "
        f"{took['c']:.2f} s; entry {mine[0][0]} {sorted(fields)}")


def propagate_subject(w):
    w.fleet_up()
    a, b, c = w.fleet()
    sub = w.new_id("bob")
    wm = int(time.time()) - 10
    old = w.token(w.new_id("sub-old"), sub=sub, iat=wm - 20)
    newer = w.token(w.new_id("sub-new"), sub=sub, iat=wm + 5)
    for n in (a, b, c):
        expect_status(n, old, 200, f"a token of {sub} issued before T, before the revocation")
        expect_status(n, newer, 200, f"a token of {sub} issued after T")
    r, doc = revoke(b, {"sub": sub, "not_before": wm})
    check(replicated_ok(r, doc), f"POST /revoke {{sub, not_before}} on b: expected 200 "
          f"replicated, got {show(r)}")
    w.record(f"sub {sub} <= {wm}", old, b, 200)
    expect_revoked(b, old, f"a token of {sub} issued before T, just after the revocation")
    took = {n.name: wait_revoked(n, old, f"subject {sub} revoked on b") for n in (a, c)}
    for n in (a, b, c):
        expect_status(n, newer, 200, f"a token of {sub} issued after the watermark T")
    mine = [(i, f) for i, f in w.redis.stream() if f.get("k") == "sub" and f.get("id") == sub]
    check(len(mine) == 1 and mine[0][1].get("t") == str(wm) and
          mine[0][1].get("n") == b.node_id,
          f"stream {STREAM}: expected one entry k=sub id={sub} t={wm} n={b.node_id}, got {mine}")
    log(f"propagate_subject: watermark on b; denied on a in {took['a']:.2f} s, on c in "
        f"{took['c']:.2f} s; a token issued after it still 200")


def malformed_entries(w):
    w.fleet_up()
    nodes = w.fleet()
    control = w.token(w.new_id("control"))
    skipped = {n.name: gauge(n, "jwtgate_replication_skipped_total") for n in nodes}
    q = [0]

    def entry(jti, **change):
        q[0] += 1
        f = {"v": "1", "k": "jti", "id": jti, "iss": ISS, "t": str(w.exp), "n": "injector",
             "q": str(q[0])}
        for k, v in change.items():
            if v is None:
                f.pop(k)
            else:
                f[k] = v
        return f

    named = []  # (case, token of the jti the bad entry names)
    cases = []
    for case, change in (("missing t", {"t": None}),
                         ("t not a number", {"t": "12abc"}),
                         ("t beyond int64", {"t": "9223372036854775808"}),
                         ("q not a number", {"q": "seven"}),
                         ("unknown kind", {"k": "bogus"})):
        jti = w.new_id("bad")
        named.append((case, w.token(jti)))
        cases.append((case, entry(jti, **change)))
    cases.append(("missing id", entry(w.new_id("bad"), id=None)))
    cases.append(("1 MiB id", entry("x" * (1 << 20))))
    cases.append(("no known field", {"garbage": "1"}))
    for case, tok in named:
        for n in nodes:
            expect_status(n, tok, 200, f"the token named by the bad entry ({case}), before it")
    for case, fields in cases:
        args = [x for kv in fields.items() for x in kv]
        w.redis.cmd("XADD", STREAM, "*", *args)
    jti = w.new_id("injected")
    tok = w.token(jti)
    w.redis.cmd("XADD", STREAM, "*", *[x for kv in entry(jti, q="100").items() for x in kv])
    w.record(jti, tok, None, "injected")
    took = {n.name: wait_revoked(n, tok, f"a valid entry ({jti}) XADDed after "
                                         f"{len(cases)} bad ones") for n in nodes}
    failures = []
    for n in nodes:
        if not n.alive():
            failures.append(f"{n.name} exited ({n.proc.returncode}) after the bad entries")
            continue
        r = auth(n, control)
        if r.status != 200:
            failures.append(f"{n.name}: a valid token after the bad entries: expected 200, got "
                            f"{show(r)}")
        for case, t in named:
            r = auth(n, t)
            if r.status != 200:
                failures.append(f"{n.name}: the token named by the bad entry ({case}): expected "
                                f"200 (the entry skipped, not applied), got {show(r)}")
        try:
            wait_gauge(n, "jwtgate_replication_skipped_total",
                       lambda v: v >= skipped[n.name] + len(cases),
                       f">= {skipped[n.name] + len(cases):.0f} ({len(cases)} bad entries; it was "
                       f"{skipped[n.name]:.0f})", PROPAGATE_S)
        except TestFailure as e:
            failures.append(str(e))
    check(not failures, "\n  ".join(failures))
    log(f"malformed_entries: {len(cases)} bad entries skipped and counted on every node "
        f"({', '.join(c for c, _ in cases)}); the valid one after them applied within "
        f"{max(took.values()):.2f} s")


def redis_down(w):
    w.fleet_up()
    a, b, c = w.fleet()
    control = w.token(w.new_id("control"))
    for n in (a, b, c):
        expect_status(n, control, 200, "a valid token before Redis stops")
    stale = reason_count(c, "revocation_stale")
    xlen = w.redis.cmd("XLEN", STREAM)
    rc = w.redis.stop()
    check(rc == 0, f"redis-server exit status on SIGTERM: expected 0, got {rc}")
    down = time.monotonic()
    wait_gauge(a, "jwtgate_replication_connected", lambda v: v == 0, "== 0 with Redis down", 5)
    items = []
    for _ in range(5):
        jti = w.new_id("offline")
        tok = w.token(jti)
        r, doc = revoke(a, w.jti_body(jti))
        check(r.status == 202 and doc.get("revoked") is True and doc.get("replicated") is False,
              f"POST /revoke on a with Redis down: expected 202 "
              f'{{"revoked":true,...,"replicated":false}}, got {show(r)}')
        w.record(jti, tok, a, 202)
        expect_revoked(a, tok, f"{jti} at once after its 202")
        items.append((jti, tok))
    v = gauge(a, "jwtgate_replication_outbox_entries")
    check(v == len(items), f"jwtgate_replication_outbox_entries on a with Redis down: expected "
          f"{len(items)}, got {v}")
    expect_status(b, items[0][1], 200, "a revocation of a while Redis is down (b cannot know)")
    r = wait_until(f"c (fail_closed, max_disconnected_seconds {FAIL_CLOSED_AFTER}) refusing a "
                   "valid token", lambda: ((r := auth(c, control)).status != 200, r),
                   FAIL_CLOSED_AFTER + 5, 0.2)
    closed_after = time.monotonic() - down
    check(r.status == 503, f"a valid token on c cut off from Redis: expected 503, got {show(r)}")
    check(closed_after >= 1.0, f"c failed closed {closed_after:.1f} s after Redis stopped: "
          f"expected after about max_disconnected_seconds {FAIL_CLOSED_AFTER}, not at once")
    # A 503 names no reason (no challenge): the reason is in the counter.
    wait_until(f'jwtgate_auth_requests_total{{reason="revocation_stale"}} on c after a 503: '
               f"above {stale:.0f}",
               lambda: ((v := reason_count(c, "revocation_stale")) >= stale + 1, v), PROPAGATE_S)
    for n in (a, b):
        expect_status(n, control, 200, "a valid token on a node with on_disconnected: serve, "
                      f"{time.monotonic() - down:.1f} s after Redis stopped")
    # Readiness says the same, one line for the replication state.
    ready_lines(c, 503, "[-]replication: cut off past max_disconnected_seconds (failing closed)")
    ready_lines(a, 200, "[+]replication: synced, reconnecting (serving what it has)")
    w.redis.start()
    back = time.monotonic()
    check(w.redis.cmd("XLEN", STREAM) >= xlen, f"the stream after a restart of Redis: expected "
          f">= {xlen} entries (AOF), got {w.redis.cmd('XLEN', STREAM)}")
    for n in (b, c):
        for jti, tok in items:
            wait_revoked(n, tok, f"{jti}, acknowledged with 202, once Redis is back",
                         RECONNECT_S - (time.monotonic() - back))
    took = time.monotonic() - back
    wait_gauge(a, "jwtgate_replication_outbox_entries", lambda v: v == 0, "== 0", 5)
    wait_until("c serving a valid token again with Redis back",
               lambda: ((r := auth(c, control)).status == 200, r), 5)
    ready_lines(c, 200, "[+]replication: synced")
    published = {f.get("id") for _, f in w.redis.stream() if f.get("n") == a.node_id}
    missing = [jti for jti, _ in items if jti not in published]
    check(not missing, f"entries of node-a in the stream after Redis came back: missing {missing}")
    log(f"redis_down: 5 x 202 replicated:false, denied on a at once; c failed closed after "
        f"{closed_after:.1f} s; Redis back: all 5 on b and c within {took:.2f} s, outbox 0")


# ---------------------------------------------------------------------------------------------
# Part recovery

def revoke_batch(w, n, prefix, count):
    """`count` jti revoked on n, all 200 replicated (recorded); returns [(jti, token)]."""
    items = [(jti, w.token(jti)) for jti in (w.new_id(prefix) for _ in range(count))]
    started = time.monotonic()
    results = revoke_many(n, [w.jti_body(jti) for jti, _ in items])
    took = time.monotonic() - started
    bad = []
    for (jti, tok), (r, doc) in zip(items, results):
        if replicated_ok(r, doc):
            w.record(jti, tok, n, 200)
        else:
            if hasattr(r, "status") and r.status in (200, 202):
                w.record(jti, tok, n, r.status)  # acknowledged all the same
            bad.append((jti, show(r)))
    check(not bad, f"{len(bad)} of {count} POST /revoke on {n.name} not answered 200 "
          f"replicated:true; first: {first_of(bad)}")
    return items, took


def catch_up(w):
    w.fleet_up()
    a, b, c = w.fleet()
    rc = c.stop(signal.SIGKILL)
    check(rc == -signal.SIGKILL, f"c after SIGKILL: exit status {rc}")
    items, took = revoke_batch(w, a, "catch-up", CATCH_UP_IDS)
    log(f"catch_up: {CATCH_UP_IDS} revocations acknowledged by a in {took:.2f} s "
        f"({CATCH_UP_IDS / took:.0f}/s) with c down")
    started = time.monotonic()
    c.start(READY_S)  # returns at the first /readyz 200
    ready = time.monotonic() - started
    bad = sweep(c, items)
    check(not bad, f"{len(bad)} of {CATCH_UP_IDS} revocations made while c was down not denied "
          f"on c at its first /readyz 200 ({ready:.2f} s after its start); first: "
          f"{first_of(bad)}")
    wait_gauge(c, "jwtgate_replication_applied_total", lambda v: v >= CATCH_UP_IDS,
               f">= {CATCH_UP_IDS} after the catch-up", PROPAGATE_S)
    bad = sweep_settled(b, items)
    check(not bad, f"{len(bad)} of {CATCH_UP_IDS} revocations of a not denied on b (within "
          f"{PROPAGATE_S} s after a first check); first: "
          f"{first_of(bad)}")
    log(f"catch_up: c ready {ready:.2f} s after its start with all {CATCH_UP_IDS} denied; b "
        f"denies them all")


def snapshot_resync(w):
    w.fleet_up()
    a, b, c = w.fleet()
    # c applies a few entries first: it has a last id, which the trim must then pass.
    before, _ = revoke_batch(w, a, "before-resync", 5)
    wait_revoked(c, before[-1][1], "the last entry before c stops")
    wait_gauge(c, "jwtgate_replication_entries_behind", lambda v: v == 0, "== 0", 5)
    rc = c.stop()
    check(rc == 0, f"c exit status on SIGTERM: expected 0, got {rc}")
    seen = w.redis.last_id()  # c cannot have applied anything after this
    w.snapshot_every = 10
    for n in (a, b):
        n.restart()
    c.write_config()
    for n in (a, b):
        wait_gauge(n, "jwtgate_replication_connected", lambda v: v == 1, "== 1", RECONNECT_S)

    # The first entry c has not applied: once the stream's first entry is past it, c cannot
    # catch up from the stream alone.
    items, _ = revoke_batch(w, a, "resync", 1)
    after = stream_entries(w.redis.cmd("XRANGE", STREAM, f"({seen}" if seen else "-", "+",
                                       "COUNT", 1))
    unseen = after[0][0] if after else None  # None: trimmed already

    def trimmed():
        first = w.redis.first_id()
        return unseen is None or first is None or id_key(first) > id_key(unseen), first

    while True:
        batch, _ = revoke_batch(w, a, "resync", RESYNC_IDS - (len(items) == 1))
        items += batch
        if len(items) >= 400:
            break
        try:  # a snapshot written and the stream trimmed past c's first missing entry
            wait_until("trimmed", trimmed, 1.0)
            break
        except TestFailure:
            pass  # trimmed approximately (whole stream nodes): more entries
    first = wait_until(f"stream {STREAM} after {len(items)} entries with snapshot_every_entries "
                       f"10: its first entry after {unseen} (the first c has not applied)",
                       trimmed, 5.0)
    written = wait_until(
        f"jwtgate_replication_snapshots_written_total on a + b >= 1 after {len(items)} entries "
        "with snapshot_every_entries 10",
        lambda: ((v := sum(gauge(n, "jwtgate_replication_snapshots_written_total")
                           for n in (a, b))) >= 1, v), PROPAGATE_S)
    check(w.redis.cmd("EXISTS", SNAPSHOT) == 1, f"{SNAPSHOT} missing after snapshots were written")
    started = time.monotonic()
    c.start(READY_S)
    ready = time.monotonic() - started
    bad = sweep(c, items)
    check(not bad, f"{len(bad)} of {len(items)} revocations not denied on c at its first /readyz "
          f"200 after a resync from the snapshot; first: {first_of(bad)}")
    wait_gauge(c, "jwtgate_replication_resyncs_total", lambda v: v >= 1, ">= 1", PROPAGATE_S)
    log(f"snapshot_resync: {len(items)} revocations, {written:.0f} snapshot(s), stream trimmed "
        f"past {unseen} (first {first}); c ready in {ready:.2f} s after a resync, all denied")


def reseeds(w):
    return sum(gauge(n, "jwtgate_replication_reseeds_total") for n in w.fleet())


def late_node_denies_all(w, name, how, before):
    """After Redis lost its data (`how`; reseeds_total summed over the fleet was `before`):
    waits for a re-seed, then a new node (empty state dir) denies every revocation of the ledger
    at its first /readyz 200."""
    def reseeded():
        s = reseeds(w)
        snap, epoch = w.redis.cmd("EXISTS", SNAPSHOT), w.redis.cmd("EXISTS", EPOCH)
        return (s > before and snap == 1 and epoch == 1,
                f"reseeds_total (a + b + c) {before:.0f} -> {s:.0f}, EXISTS {SNAPSHOT} {snap}, "
                f"EXISTS {EPOCH} {epoch}")

    started = time.monotonic()
    wait_until(f"a re-seed after {how}", reseeded, RESEED_S, 0.1)
    took = time.monotonic() - started
    d = w.nodes.get(name) or w.add_node(name)
    started = time.monotonic()
    d.start(READY_S)
    ready = time.monotonic() - started
    items = [(e[0], e[1]) for e in w.ledger]
    try:
        bad = sweep(d, items)
        check(not bad, f"{len(bad)} of {len(items)} revocations of the ledger not denied on the "
              f"new node {name} (started after {how} and a re-seed) at its first /readyz 200; "
              f"first: {first_of(bad)}")
        expect_status(d, w.token(w.new_id("control")), 200, "a valid token on the new node")
    finally:
        rc = d.stop()
    check(rc == 0, f"{name}: exit status on SIGTERM: expected 0, got {rc}")
    log(f"redis_flushed: {how}: re-seeded within {took:.2f} s; new node {name} ready in "
        f"{ready:.2f} s, denies all {len(items)} revocations of the ledger")


def redis_flushed(w):
    w.fleet_up()
    before = reseeds(w)
    check(w.redis.cmd("FLUSHALL") == "OK", "FLUSHALL: expected OK")
    late_node_denies_all(w, "d", "FLUSHALL", before)
    before = reseeds(w)
    w.redis.wipe()
    w.redis.start()
    late_node_denies_all(w, "e", "a restart of Redis on an empty dir", before)


def crash_before_publish(w):
    w.fleet_up()
    a, b, c = w.fleet()
    times = []
    for i in range(CRASH_ROUNDS):
        rc = a.stop()
        check(rc == 0, f"a exit status on SIGTERM: expected 0, got {rc}")
        a.env = {CRASH_ENV: "1"}
        try:
            a.start(READY_S)
        finally:
            a.env = None
        jti = w.new_id("crash")
        tok = w.token(jti)
        expect_status(b, tok, 200, f"{jti} before its revocation")
        try:
            r, _ = revoke(a, w.jti_body(jti))
        except (OSError, TestFailure) as e:
            r = e
        check(r is None or not hasattr(r, "status"), f"round {i + 1}: POST /revoke on a with "
              f"{CRASH_ENV}=1: expected the connection to drop, got {show(r)}")
        try:
            rc = a.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"round {i + 1}: a still running 5 s after the POST /revoke that "
                              f"should have killed it")
        check(rc == -signal.SIGKILL, f"round {i + 1}: a exit status: expected -9 (SIGKILL), "
              f"got {rc}")
        w.record(jti, tok, a, "crash")
        a.start(READY_S)
        expect_revoked(a, tok, f"round {i + 1}: {jti}, durable before the crash, after a restart")
        t = max(wait_revoked(n, tok, f"round {i + 1}: {jti} written before a crash of a", 5.0)
                for n in (b, c))
        times.append(t)
        wait_gauge(a, "jwtgate_replication_outbox_entries", lambda v: v == 0, "== 0", 5)
    log(f"crash_before_publish: {CRASH_ROUNDS} rounds: a killed before its XADD, restarted, the "
        f"revocation reached b and c within {max(times):.2f} s")


# ---------------------------------------------------------------------------------------------
# Both parts: every revocation of the ledger on every node

def audit(w):
    w.fleet_up()
    nodes = w.fleet()
    failures = []
    for n in nodes:
        try:
            wait_gauge(n, "jwtgate_replication_entries_behind", lambda v: v == 0, "== 0", 5)
            wait_gauge(n, "jwtgate_replication_outbox_entries", lambda v: v == 0, "== 0", 5)
            for name in ("jwtgate_replication_connected", "jwtgate_replication_ready"):
                v = gauge(n, name)
                if v != 1:
                    failures.append(f"{n.name}: {name}: expected 1, got {v}")
            v = gauge(n, "jwtgate_replication_lag_seconds")
            if v < 0:
                failures.append(f"{n.name}: jwtgate_replication_lag_seconds {v}")
        except TestFailure as e:
            failures.append(str(e))
    if w.ledger:
        for n in nodes:
            try:
                wait_revoked(n, w.ledger[-1][1], "the last revocation of the ledger", 5)
            except TestFailure as e:
                failures.append(str(e))
    items = [(e[0], e[1]) for e in w.ledger]
    how = {e[0]: e[3] for e in w.ledger}
    lost = set()
    for n in nodes:
        bad = sweep(n, items)
        for label, _ in bad:
            if how[label] in (200, 202):
                lost.add(label)
        if bad:
            failures.append(f"{n.name}: {len(bad)} of {len(items)} revocations not denied; "
                            f"first: {first_of(bad)}")
        r = auth(n, w.token(w.new_id("control")))
        if r.status != 200:
            failures.append(f"{n.name}: a token never revoked: expected 200, got {show(r)}")
    w.lost = len(lost)
    check(not failures, "\n  ".join(failures))
    log(f"audit: {len(items)} revocations of the ledger denied on {len(nodes)} nodes; "
        f"acknowledged and lost: 0")


PARTS = {
    "basic": [propagate_jti, propagate_subject, malformed_entries, redis_down],
    "recovery": [catch_up, snapshot_resync, redis_flushed, crash_before_publish],
}


# ---------------------------------------------------------------------------------------------
# --selftest: redis-server and the RESP client, and three jwtgated without replication

def selftest_redis(w):
    r = w.redis
    check(r.cmd("PING") == "PONG", "PING over TCP")
    u = Resp(path=r.sock_path)
    try:
        check(u.command("PING") == "PONG", f"PING over {r.sock_path}")
    finally:
        u.close()
    big = "y" * (1 << 20)
    ids = [r.cmd("XADD", STREAM, "*", "v", "1", "k", "jti", "id", "j1", "iss", ISS, "t", "123",
                 "n", "node-x", "q", "1").decode(),
           r.cmd("XADD", STREAM, "*", "v", "1", "k", "jti", "id", big, "t", "forever").decode()]
    check(id_key(ids[0]) < id_key(ids[1]), f"XADD ids in order: {ids}")
    entries = r.stream()
    check([i for i, _ in entries] == ids, f"XRANGE ids: {[i for i, _ in entries]} vs {ids}")
    check(entries[0][1] == {"v": "1", "k": "jti", "id": "j1", "iss": ISS, "t": "123",
                            "n": "node-x", "q": "1"}, f"XRANGE fields: {entries[0][1]}")
    check(len(entries[1][1]["id"]) == len(big), "XRANGE of a 1 MiB field")
    check(r.cmd("XLEN", STREAM) == 2, "XLEN")
    check(r.first_id() == ids[0] and r.last_id() == ids[1],
          f"first/last id: {r.first_id()} {r.last_id()}")
    r.cmd("XTRIM", STREAM, "MINID", ids[1])
    check(r.first_id() == ids[1] and id_key(r.first_id()) > id_key(ids[0]),
          f"XTRIM MINID: first id {r.first_id()}")
    try:
        r.cmd("XADD", STREAM, "*", "odd")
        raise TestFailure("XADD with an odd field count was accepted")
    except RedisError as e:
        check("wrong number" in str(e), f"error reply: {e}")
    r.cmd("SET", EPOCH, "e1")
    check(r.cmd("GET", EPOCH) == b"e1" and r.cmd("EXISTS", EPOCH, STREAM) == 2, "SET/EXISTS")
    rc = r.stop()
    check(rc == 0, f"redis-server exit status on SIGTERM: {rc}")
    try:
        r.cmd("PING")
        raise TestFailure("redis answers after stop")
    except ConnectionRefusedError:
        pass
    r.start()
    check(r.cmd("XLEN", STREAM) == 1 and r.cmd("GET", EPOCH) == b"e1",
          "data kept over a restart (AOF)")
    check(r.cmd("FLUSHALL") == "OK" and r.cmd("DBSIZE") == 0, "FLUSHALL")
    r.cmd("SET", EPOCH, "e2")
    r.wipe()
    r.start()
    check(r.cmd("DBSIZE") == 0, f"after a wipe and a restart: DBSIZE {r.cmd('DBSIZE')}")
    log(f"selftest: redis-server on {r.port} and {r.sock_path}: PING, XADD (1 MiB field), "
        "XRANGE, XREVRANGE, XTRIM, error reply, restart with AOF data, FLUSHALL, empty restart")


def selftest_nodes(w):
    a, b, c = w.fleet()
    for n in (a, b, c):
        n.start()
    control = w.token(w.new_id("control"))
    for n in (a, b, c):
        expect_status(n, control, 200, "a valid token")
    items = [(jti, w.token(jti)) for jti in (w.new_id("local") for _ in range(100))]
    results = revoke_many(a, [w.jti_body(jti) for jti, _ in items])
    bad = [(jti, show(r)) for (jti, _), (r, doc) in zip(items, results)
           if not (hasattr(r, "status") and r.status == 200 and doc.get("revoked") is True)]
    check(not bad, f"local revocations on a: {first_of(bad)}")
    bad = sweep(a, items)
    check(not bad, f"local revocations not denied on a: {first_of(bad)}")
    bad = sweep(b, items, want_revoked=False)
    check(not bad, f"a's local revocations on b (no replication): {first_of(bad)}")
    wm = int(time.time()) - 10
    old = w.token(w.new_id("o"), sub="bob", iat=wm - 20)
    newer = w.token(w.new_id("n"), sub="bob", iat=wm + 5)
    r, doc = revoke(a, {"sub": "bob", "not_before": wm})
    check(r.status == 200 and doc.get("revoked") is True, f"subject revocation: {show(r)}")
    expect_revoked(a, old, "a token of bob issued before the watermark")
    expect_status(a, newer, 200, "a token of bob issued after the watermark")
    check(reason_count(a, "revoked") >= 101, "jwtgate_auth_requests_total{reason=\"revoked\"}")
    rc = a.stop(signal.SIGKILL)
    check(rc == -signal.SIGKILL, f"a after SIGKILL: {rc}")
    a.start()
    bad = sweep(a, items)
    check(not bad, f"local revocations after kill -9 and a restart: {first_of(bad)}")
    supported = metric_value(a.metrics(), "jwtgate_replication_connected") is not None
    for n in (a, b, c):
        rc = n.stop()
        check(rc == 0, f"{n.name}: exit status on SIGTERM: {rc}")
    log(f"selftest: 3 jwtgated without replication: 100 revocations over 4 keep-alive "
        f"connections, keep-alive sweeps, a subject watermark, kill -9 and restart; "
        f"replication metrics {'present' if supported else 'absent (daemon predates them)'}")
    # Whether this daemon knows revocation.replication yet (informational).
    probe = Node(w, "probe")
    r = subprocess.run([w.args.daemon, "--check-config", "--config", probe.config_path],
                       capture_output=True, text=True, timeout=10)
    log(f"selftest: --check-config of a replication configuration: exit {r.returncode} "
        f"{r.stderr.strip()[-200:]}")


def selftest(tmp, args):
    w = World(tmp, args, "selftest")
    w.mark()
    try:
        w.redis.start()
        selftest_redis(w)
        selftest_nodes(w)
    except BaseException:
        w.diagnostics()
        raise
    finally:
        w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--part", choices=sorted(PARTS))
    ap.add_argument("--only", help="run one scenario of the part (then the audit)")
    ap.add_argument("--selftest", action="store_true",
                    help="check redis-server, the RESP client and plain jwtgated nodes")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if not args.selftest and not args.part:
        ap.error("--part is required (or --selftest)")
    if args.part and args.only and args.only != "audit" and args.only not in {
            fn.__name__ for fn in PARTS[args.part]}:
        ap.error(f"--only: no scenario {args.only} in part {args.part}")
    exit_on_sigterm()  # the finally clauses below stop redis and the daemons

    def guarded(fn):
        return removing_tmp(fn, args.keep)

    if args.selftest:
        run_test("fleet_revocation_selftest", guarded(lambda tmp: selftest(tmp, args)))

    def part(tmp):
        w = World(tmp, args, args.part)
        failed = []
        try:
            scenarios = [fn for fn in PARTS[args.part] if not args.only or fn.__name__ == args.only]
            for fn in scenarios + [audit]:
                started = time.monotonic()
                w.mark()
                try:
                    fn(w)
                except (TestFailure, OSError, subprocess.SubprocessError, RedisError, ValueError,
                        KeyError) as e:
                    log(f"FAIL {fn.__name__} after {time.monotonic() - started:.1f} s: {e}")
                    failed.append(fn.__name__)
                    w.diagnostics()
        finally:
            w.close()
            w.report()
        check(not failed, f"failed: {', '.join(failed)}")

    run_test(f"fleet_revocation_{args.part}", guarded(part))


if __name__ == "__main__":
    main()
