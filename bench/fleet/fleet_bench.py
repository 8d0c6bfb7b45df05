#!/usr/bin/python3
"""Fleet benchmark: jwtgated nodes sharing revocations over Redis Streams.

Everything runs on this machine on 127.0.0.1 ephemeral ports, in a temporary directory: one
redis-server (no persistence) and jwtgated nodes whose configuration carries

    revocation:
      dir: <node dir>/state
      replication: {redis: 127.0.0.1:PORT, node_id: node-a, key_prefix: "jwtgate-bench:",
                    snapshot_every_entries: 10000}

Parts (each figure goes to fleet.json with its raw numbers and to fleet_summary.md with its
method):

1 propagation  Nodes A, B, C. An open-loop schedule revokes distinct jtis on A
               (POST /revoke {"jti","iss"} on its admin port) at --rate per second for
               --duration seconds, over --admin-connections keep-alive connections; a
               revocation that finds every connection busy waits, and its lateness (send time
               minus scheduled time) is recorded. Each jti is that of an HS256 token signed
               before the run. When A's 200 arrives the token is sent to B and C (GET /auth,
               keep-alive connections, --poll-connections per node) and sent again after each
               200 once --poll-interval-ms has passed (5 ms once the revocation is 50 ms old),
               until the node answers 401 with error_description="revoked"; after
               --propagation-timeout seconds it counts as never propagated. Latency = arrival
               of that 401 minus arrival of A's 200 (an upper bound; the send time of the
               node's last 200 poll gives the lower bound, kept in fleet.json). All the client
               work is one thread with select(2) (microsecond timeouts), so it does not
               contend for the GIL; its CPU time is reported with every process's.
2 catchup      C is stopped (SIGTERM). --catchup-entries entries in the daemon's layout
               (v=1 k=jti id=<jti> iss=<iss> t=<keep-until> n=bench q=<seq>) are appended to
               <prefix>stream with pipelined XADD over a raw RESP socket. C is launched again;
               its /metrics and /readyz are read every 100 ms from the launch, and a token
               whose jti is the last entry injected is sent to it every 10 ms. The metrics say
               caught up at the first sample with jwtgate_replication_entries_behind 0 (after
               it was above 0, or with jwtgate_replication_ready 1) or with
               jwtgate_replication_applied_total >= the injected count, whichever comes
               first. C is caught up at the later of that and the denial of that last token
               (it applies entries in order; either signal alone can be early). Catch-up rate
               = entries injected / seconds from the launch to caught up. Also reported: the
               rate by the metrics alone, the replay rate (applied_total's growth while it
               grew), and the time to /readyz 200. A and B keep running and apply the
               entries too.
3 memory       (a) A probe stream under a key no node reads: INFO memory used_memory before and
               after appending --memory-entries entries of the same layout, over the count;
               and MEMORY USAGE of that key over the count. (b) The fleet's own snapshot, once
               <prefix>snapshot:id exists: MEMORY USAGE <prefix>snapshot over the revocations
               it holds = the stream's entries-added (XINFO STREAM) minus the entries after
               <prefix>snapshot:id (every entry of this run is a distinct, unexpired jti).
4 hotpath      A and B of parts 1-3 are stopped first. Two fresh nodes with the same keys and
               settings: "on" with replication (its own key prefix, --hotpath-revocations
               entries XADDed before it starts, so its initial sync applies them) and "off"
               without (the same number of jtis revoked through its POST /revoke, or none with
               --hotpath-off-state none). --rounds rounds of --round-seconds on each, the
               order alternating between rounds: a closed loop of HS256 auth requests over
               --hotpath-connections keep-alive connections cycling through 1,000 valid
               tokens (the Python client, or bench/loadgen --closed with --loadgen). Per
               round: throughput and the daemon's CPU time per request; reported: the per-round
               ratio on/off, its median and range.

--selftest runs what works without replication in jwtgated: redis-server, the RESP client
(pipelined XADD of 100,000 entries, INFO, MEMORY USAGE), three jwtgated without
`replication:`, the keep-alive HTTP client, the rate-controlled revoke loop against A with its
latency measured on A itself, and part 4 with two nodes both without replication (the
harness's own noise). Each step checks its outcome; exit status 0 only when all passed.

Output in --out: fleet.json (schema jwtgate.fleet/1, every raw number), fleet_summary.md
(a table per part with its method, the machine and the command) and machine.json
(scripts/machine-info). Files are written under a temporary name and renamed. Every process
started here is stopped at the end, on failure and on Ctrl-C / SIGTERM as well.

Standard library only (Debian's /usr/bin/python3); imports tests/integration/harness.py and
scripts/jwtgate_results.py from this repository.
"""

import argparse
import heapq
import json
import math
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the imports below
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import harness  # noqa: E402
from harness import TestFailure, check, free_port, hs256_secret, hs256_token, metric_value  # noqa: E402
from jwtgate_results import cpu_seconds  # noqa: E402

SCHEMA = "jwtgate.fleet/1"
ISS = "https://issuer.bench"
KID = "h1"
PREFIX = "jwtgate-bench:"            # the fleet of parts 1-3
HOTPATH_PREFIX = "jwtgate-bench-hot:"  # the "on" node of part 4: a stream of its own
PROBE_KEY = "jwtgate-bench-probe:stream"  # part 3a: a key no node reads
BENCH_NODE = "bench"                 # the `n` field of the entries this script XADDs
METRICS = ("jwtgate_replication_applied_total", "jwtgate_replication_entries_behind",
           "jwtgate_replication_ready", "jwtgate_replication_lag_seconds")
REVOKED_MARK = b'error_description="revoked"'
LATE_POLL_AGE_S = 0.05   # a revocation older than this is polled every LATE_POLL_INTERVAL_S
LATE_POLL_INTERVAL_S = 0.005


def log(msg):
    harness.log(msg)


# ---------------------------------------------------------------------------------------------
# Figures


def pct(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def distribution(values, digits=3):
    """n, min, p50, p90, p99, p99.9, max, mean of a list of numbers (None fields when empty)."""
    s = sorted(values)

    def r(v):
        return None if v is None else round(v, digits)
    return {"n": len(s), "min": r(s[0] if s else None), "p50": r(pct(s, 50)),
            "p90": r(pct(s, 90)), "p99": r(pct(s, 99)), "p99_9": r(pct(s, 99.9)),
            "max": r(s[-1] if s else None), "mean": r(statistics.fmean(s) if s else None)}


def median_range(values, digits=4):
    """median, min, max, and the interquartile range of repeated measurements."""
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None}
    s = sorted(values)
    q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0], s[0], s[0]]
    return {"n": len(s), "median": round(statistics.median(s), digits),
            "min": round(s[0], digits), "max": round(s[-1], digits),
            "q1": round(q[0], digits), "q3": round(q[2], digits)}


def fmt(v, spec=".2f", none="–"):
    return none if v is None else format(v, spec)


class CpuMeter:
    """CPU seconds of this process (getrusage) and of named child processes over an interval."""

    def __init__(self, procs):
        self.procs = {name: p for name, p in procs.items() if p is not None}

    def __enter__(self):
        self.t0 = time.perf_counter()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.self0 = ru.ru_utime + ru.ru_stime
        self.c0 = {n: cpu_seconds(p.pid) for n, p in self.procs.items()}
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.self_s = ru.ru_utime + ru.ru_stime - self.self0
        self.c1 = {n: cpu_seconds(p.pid) for n, p in self.procs.items()}

    def result(self):
        out = {"wall_s": round(self.wall, 3),
               "cpu_s": {"bench_client": round(self.self_s, 3)}}
        for n in self.procs:
            a, b = self.c0.get(n), self.c1.get(n)
            out["cpu_s"][n] = round(b - a, 3) if a is not None and b is not None else None
        out["cpu_fraction_of_one_core"] = {
            n: (round(v / self.wall, 3) if v is not None and self.wall > 0 else None)
            for n, v in out["cpu_s"].items()}
        return out


# ---------------------------------------------------------------------------------------------
# Processes, and stopping them whatever happens


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


class RedisServer:
    """redis-server on a free loopback port, no persistence, its files in `directory`."""

    def __init__(self, binary, directory):
        self.binary = binary
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(directory, "redis.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", self.log_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"redis-server exited with {self.proc.returncode}: "
                                  f"{self.log_tail()}")
            try:
                with Resp(self.port, timeout=1) as r:
                    if r.command("PING") == "PONG":
                        return
            except OSError:
                time.sleep(0.02)
        raise TestFailure(f"redis-server not answering PING after 10 s: {self.log_tail()}")

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        harness.stop_process(self.proc)


class Node(harness.Daemon):
    """A jwtgated of the fleet: HS256 keys from `jwks`, revocation state in its directory,
    replication when `redis_port` is given."""

    def __init__(self, binary, directory, name, jwks, redis_port=None, prefix=PREFIX,
                 snapshot_every=10000):
        os.makedirs(directory, exist_ok=True)
        self.name = name
        self.jwks = jwks
        self.redis_port = redis_port
        self.prefix = prefix
        self.snapshot_every = snapshot_every
        super().__init__(binary, directory, Node.config_text)

    def config_text(self):
        replication = ""
        if self.redis_port is not None:
            replication = f"""  replication:
    redis: 127.0.0.1:{self.redis_port}
    node_id: {self.name}
    key_prefix: "{self.prefix}"
    snapshot_every_entries: {self.snapshot_every}
"""
        return f"""# written by bench/fleet/fleet_bench.py
auth:
  listen: 127.0.0.1:{self.auth_port}
  path_prefix: /auth
admin:
  listen: 127.0.0.1:{self.admin_port}
  idle_timeout_ms: 600000
issuers:
  - issuer: {ISS}
    jwks_file: {self.jwks}
verify:
  leeway_seconds: 5
  max_lifetime_seconds: 86400
revocation:
  dir: {os.path.join(self.dir, "state")}
{replication}http:
  idle_timeout_ms: 600000
"""

    def launch(self):
        """Starts the process without waiting for /readyz (part 2 times that itself)."""
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path],
                                     stdout=self.log, stderr=self.log, env=env)


# ---------------------------------------------------------------------------------------------
# RESP2 over a raw socket


class RespError(Exception):
    pass


def resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """A minimal Redis client: one command at a time, or many pipelined."""

    def __init__(self, port, timeout=60.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _fill(self):
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise RespError("connection closed by redis-server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _reply(self):
        """One reply; an error reply is returned as a RespError instance (not raised)."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            v = bytes(self.buf[self.pos:self.pos + n])
            self.pos += n + 2
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError(f"unexpected reply line {line[:80]!r}")

    def command(self, *args):
        self.sock.sendall(resp_encode(args))
        r = self._reply()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, encoded):
        """Sends pre-encoded commands in one write, reads as many replies; raises the first
        error reply after reading them all (the connection stays in step)."""
        self.sock.sendall(b"".join(encoded))
        replies = [self._reply() for _ in range(len(encoded))]
        for r in replies:
            if isinstance(r, RespError):
                raise r
        return replies

    def info(self, section):
        text = self.command("INFO", section).decode()
        out = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def used_memory(self):
        return int(self.info("memory")["used_memory"])

    def xinfo_stream(self, key):
        """XINFO STREAM as a dict ({} when the key does not exist)."""
        if self.command("EXISTS", key) == 0:
            return {}
        r = self.command("XINFO", "STREAM", key)
        return {r[i].decode() if isinstance(r[i], bytes) else r[i]: r[i + 1]
                for i in range(0, len(r), 2)}

    def count_after(self, key, stream_id, page=10000):
        """Entries of a stream with an ID greater than `stream_id`."""
        n = 0
        start = b"(" + stream_id
        while True:
            got = self.command("XRANGE", key, start, "+", "COUNT", page)
            n += len(got)
            if len(got) < page:
                return n
            start = b"(" + got[-1][0]


def xadd_commands(key, jti_fmt, first, count, keep_until, iss=ISS, node=BENCH_NODE):
    """Encoded XADD commands for entries first..first+count-1 in the daemon's layout:
    v=1 k=jti id=<jti_fmt % i> iss=<iss> t=<keep_until> n=<node> q=<i>."""
    head = resp_encode([b"XADD", key.encode(), b"*", b"v", b"1", b"k", b"jti", b"id"])
    # XADD key * and 7 field-value pairs: 17 arguments; the array header says so.
    head = b"*17" + head[head.index(b"\r\n"):]
    middle = resp_encode([b"iss", iss.encode(), b"t", str(keep_until).encode(), b"n",
                          node.encode(), b"q"])
    middle = middle[middle.index(b"\r\n") + 2:]  # without its own array header
    out = []
    for i in range(first, first + count):
        jti = (jti_fmt % i).encode()
        q = b"%d" % i
        out.append(b"%s$%d\r\n%s\r\n%s$%d\r\n%s\r\n" % (head, len(jti), jti, middle, len(q), q))
    return out


def inject(port, key, jti_fmt, count, keep_until, label, batch=2000):
    """Appends `count` entries with pipelined XADD; returns the timing and the last ID."""
    t0 = time.perf_counter()
    last_report = t0
    last_id = None
    with Resp(port) as r:
        done = 0
        while done < count:
            n = min(batch, count - done)
            replies = r.pipeline(xadd_commands(key, jti_fmt, done, n, keep_until))
            last_id = replies[-1]
            done += n
            now = time.perf_counter()
            if now - last_report >= 2.0:
                last_report = now
                log(f"  {label}: {done:,}/{count:,} entries appended "
                    f"({done / (now - t0):,.0f}/s)")
    secs = time.perf_counter() - t0
    return {"entries": count, "seconds": round(secs, 3), "rate_per_s": round(count / secs, 1),
            "pipeline_batch": batch, "last_id": last_id.decode() if last_id else None}


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 keep-alive client on an event loop (one thread, select(2))


def auth_request(token):
    return (b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
            % token.encode())


def revoke_request(jti, iss=ISS):
    body = json.dumps({"jti": jti, "iss": iss}, separators=(",", ":")).encode()
    return (b"POST /revoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


class Loop:
    """Timers and readable sockets. select(2) rather than epoll: its timeout has microsecond
    resolution (epoll_wait's is a millisecond), which the 0.5 ms poll interval needs."""

    def __init__(self):
        self.sel = selectors.SelectSelector()
        self.timers = []
        self.seq = 0
        self.conns = []

    def at(self, t, fn):
        self.seq += 1
        heapq.heappush(self.timers, (t, self.seq, fn))

    def run(self, done, deadline):
        """Runs until done() is true (True) or perf_counter() passes deadline (False)."""
        timers, sel = self.timers, self.sel
        while True:
            now = time.perf_counter()
            while timers and timers[0][0] <= now:
                heapq.heappop(timers)[2]()
            if done():
                return True
            now = time.perf_counter()
            if now >= deadline:
                return False
            timeout = min(0.05, deadline - now)
            if timers:
                timeout = max(0.0, min(timeout, timers[0][0] - now))
            for key, _ in sel.select(timeout):
                key.data.readable()

    def close(self):
        for c in self.conns:
            c.close()
        self.conns = []
        self.sel.close()


class HttpConn:
    """One keep-alive connection carrying one request at a time. The callback gets
    (conn, status, head bytes, body bytes, arrival perf_counter). A connection the server
    closed is reopened and the request in flight sent again (counted in `reconnects`)."""

    def __init__(self, loop, port):
        self.loop = loop
        self.port = port
        self.sock = None
        self.cb = None
        self.req = None
        self.t_sent = 0.0
        self.buf = b""
        self.reconnects = 0
        self.connect()
        loop.conns.append(self)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        if s.fileno() >= 1000:
            s.close()
            raise TestFailure("file descriptor above select(2)'s limit; use fewer connections")
        self.sock = s
        self.loop.sel.register(s, selectors.EVENT_READ, self)

    def close(self):
        if self.sock is not None:
            try:
                self.loop.sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()
            self.sock = None

    def send(self, req, cb):
        self.req, self.cb, self.buf = req, cb, b""
        self.t_sent = time.perf_counter()
        try:
            n = self.sock.send(req)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            self.reopen()
            return
        if n < len(req):  # never with requests this small on an idle connection
            self.sock.setblocking(True)
            self.sock.sendall(req[n:])
            self.sock.setblocking(False)

    def reopen(self):
        self.close()
        self.reconnects += 1
        self.connect()
        if self.cb is not None:
            self.send(self.req, self.cb)

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        t = time.perf_counter()
        if not data:
            self.reopen()
            return
        buf = self.buf + data
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            self.buf = buf
            return
        head = buf[:i]
        length = 0
        j = head.lower().find(b"\r\ncontent-length:")
        if j >= 0:
            k = head.find(b"\r\n", j + 2)
            length = int(head[j + 17:k if k >= 0 else len(head)])
        end = i + 4 + length
        if len(buf) < end:
            self.buf = buf
            return
        self.buf = buf[end:]
        cb, self.cb = self.cb, None
        if cb is not None:
            cb(self, int(head[9:12]), head, buf[i + 4:end], t)


# ---------------------------------------------------------------------------------------------
# Part 1 (and the self-test's revoke loop): open-loop revocations, polled on other nodes


class Poller:
    """Polls one node for the revocations acknowledged by the revoking node."""

    def __init__(self, loop, name, port, nconn, reqs, t_ack, interval, timeout):
        self.loop, self.name = loop, name
        self.reqs, self.t_ack = reqs, t_ack
        self.interval, self.timeout = interval, timeout
        self.conns = [HttpConn(loop, port) for _ in range(nconn)]
        self.idle = list(self.conns)
        self.ready = deque()
        n = len(reqs)
        nan = float("nan")
        self.first_poll = [nan] * n
        self.last_ok_sent = [nan] * n
        self.deny_sent = [nan] * n
        self.deny_recv = [nan] * n
        self.polls = [0] * n
        self.outcome = [None] * n   # "denied", "timeout", "status <n>"
        self.transient = {}         # 5xx / 429 answers to polls, by status (polled again)
        self.pending = 0
        self.max_waiting = 0

    def start(self, i):
        self.pending += 1
        self.want(i)

    def want(self, i):
        if self.idle:
            self.poll(self.idle.pop(), i)
        else:
            self.ready.append(i)
            if len(self.ready) > self.max_waiting:
                self.max_waiting = len(self.ready)

    def poll(self, c, i):
        self.polls[i] += 1
        c.send(self.reqs[i], lambda c, st, head, body, t, i=i: self.answered(c, i, st, head, t))
        if self.polls[i] == 1:
            self.first_poll[i] = c.t_sent

    def answered(self, c, i, status, head, t):
        if status == 401 and REVOKED_MARK in head:
            self.deny_sent[i], self.deny_recv[i] = c.t_sent, t
            self.outcome[i] = "denied"
            self.pending -= 1
        elif status == 200 or status >= 500 or status == 429:
            if status == 200:
                self.last_ok_sent[i] = c.t_sent
            else:
                self.transient[status] = self.transient.get(status, 0) + 1
            age = t - self.t_ack[i]
            if age > self.timeout:
                self.outcome[i] = "timeout"
                self.pending -= 1
            else:
                gap = self.interval if age < LATE_POLL_AGE_S else LATE_POLL_INTERVAL_S
                self.loop.at(t + gap, lambda i=i: self.want(i))
        else:
            self.outcome[i] = f"status {status}"
            self.pending -= 1
        if self.ready:
            self.poll(c, self.ready.popleft())
        else:
            self.idle.append(c)

    def result(self, acked):
        """Figures over the revocations A acknowledged (indices `acked`)."""
        lat, low, delay, polls = [], [], [], []
        outcomes = {}
        raw = []
        for i in acked:
            o = self.outcome[i] or "unresolved"
            outcomes[o] = outcomes.get(o, 0) + 1
            if o == "denied":
                ms = (self.deny_recv[i] - self.t_ack[i]) * 1e3
                lat.append(ms)
                lo = self.last_ok_sent[i]
                low.append(max(0.0, (lo - self.t_ack[i]) * 1e3) if lo == lo else 0.0)
                raw.append(round(ms * 1e3))
            else:
                raw.append(None)
            if self.first_poll[i] == self.first_poll[i]:
                delay.append((self.first_poll[i] - self.t_ack[i]) * 1e3)
            polls.append(self.polls[i])
        return {
            "latency_ms": distribution(lat),
            "lower_bound_ms": distribution(low),
            "first_poll_delay_ms": distribution(delay),
            "polls_per_revocation": distribution(polls, 2),
            "outcomes": outcomes,
            "never_propagated": len(acked) - outcomes.get("denied", 0),
            "max_waiting_for_a_connection": self.max_waiting,
            "transient_poll_errors": {str(k): v for k, v in self.transient.items()},
            "reconnects": sum(c.reconnects for c in self.conns),
            "raw_latency_us": raw,
        }, lat


def propagation_run(revoker, targets, tokens, jtis, rate, duration, opts, label, procs):
    """Revokes jtis[i] on `revoker` at `rate`/s for `duration` s; polls every node of
    `targets` until it denies tokens[i]. Returns the figures (see the module docstring)."""
    n = len(jtis)
    loop = Loop()
    try:
        rev_reqs = [revoke_request(j) for j in jtis]
        auth_reqs = [auth_request(t) for t in tokens]
        t_ack = [float("nan")] * n
        t_sent = [float("nan")] * n
        t_due = [float("nan")] * n
        status = [None] * n
        replicated = {"true": 0, "false": 0, "absent": 0}
        admin = [HttpConn(loop, revoker.admin_port) for _ in range(opts.admin_connections)]
        admin_idle = list(admin)
        backlog = deque()
        pollers = [Poller(loop, t.name, t.auth_port, opts.poll_connections, auth_reqs, t_ack,
                          opts.poll_interval_ms / 1e3, opts.propagation_timeout)
                   for t in targets]
        st = {"issued": 0, "answered": 0, "stopped": False, "last_ack": None, "dropped": 0}
        interval = 1.0 / rate
        t0 = time.perf_counter() + 0.2
        t_stop = t0 + duration

        def send_revoke(c, i):
            t_sent[i] = time.perf_counter()
            c.send(rev_reqs[i], lambda c, s, head, body, t, i=i: revoked(c, i, s, body, t))

        def revoked(c, i, s, body, t):
            status[i] = s
            st["answered"] += 1
            if s == 200:
                t_ack[i] = t
                st["last_ack"] = t
                if b'"replicated":true' in body:
                    replicated["true"] += 1
                elif b'"replicated":false' in body:
                    replicated["false"] += 1
                else:
                    replicated["absent"] += 1
                for p in pollers:
                    p.start(i)
            if backlog:
                st["issued"] += 1
                send_revoke(c, backlog.popleft())
            else:
                admin_idle.append(c)

        def due(k):
            if st["stopped"]:
                return
            t_due[k] = t0 + k * interval
            if admin_idle:
                st["issued"] += 1
                send_revoke(admin_idle.pop(), k)
            else:
                backlog.append(k)
            if k + 1 < n:
                loop.at(t0 + (k + 1) * interval, lambda: due(k + 1))

        def stop():
            # The end of the run: what still waits for a connection is never sent.
            st["stopped"] = True
            st["dropped"] = len(backlog)
            backlog.clear()

        def progress():
            if finished():
                return
            el = time.perf_counter() - t0
            pend = ", ".join(f"{p.name} {p.pending}" for p in pollers)
            log(f"  {label}: {el:5.1f} s, {st['answered']:,} revocations answered "
                f"({st['answered'] / max(el, 1e-9):,.0f}/s), waiting for a connection "
                f"{len(backlog)}, polls in progress: {pend}")
            loop.at(time.perf_counter() + 5.0, progress)

        def finished():
            return (st["stopped"] and not backlog and st["answered"] == st["issued"]
                    and all(p.pending == 0 for p in pollers))

        loop.at(t0, lambda: due(0))
        loop.at(t_stop, stop)
        loop.at(t0 + 5.0, progress)
        with CpuMeter(procs) as cpu:
            ok = loop.run(finished, t_stop + opts.propagation_timeout + 30)
        if not ok:
            raise TestFailure(f"{label}: not finished {opts.propagation_timeout + 30:.0f} s "
                              f"after the schedule's end")
        # Whatever was still waiting for an admin connection at the end was never sent.
        issued = [i for i in range(n) if t_sent[i] == t_sent[i]]
        acked = [i for i in issued if status[i] == 200]
        errors = {}
        for i in issued:
            if status[i] != 200:
                errors[str(status[i])] = errors.get(str(status[i]), 0) + 1
        lateness = [(t_sent[i] - t_due[i]) * 1e3 for i in issued]
        ack_ms = [(t_ack[i] - t_sent[i]) * 1e3 for i in acked]
        span = (st["last_ack"] - t0) if st["last_ack"] else 0
        out = {
            "target_rate_per_s": rate,
            "duration_s": duration,
            "scheduled": min(n, int(duration * rate)),
            "sent": len(issued),
            "not_sent_by_the_end": st["dropped"],
            "acknowledged": len(acked),
            "revoke_errors": errors,
            "replicated_field": replicated,
            "achieved_rate_per_s": round(len(acked) / span, 1) if span > 0 else None,
            "rate_sustained": bool(span > 0 and len(acked) / span >= 0.98 * rate),
            "send_lateness_ms": distribution(lateness),
            "revoke_ack_ms": distribution(ack_ms),
            "admin_connections": opts.admin_connections,
            "poll_connections_per_node": opts.poll_connections,
            "poll_interval_ms": opts.poll_interval_ms,
            "propagation_timeout_s": opts.propagation_timeout,
            "admin_reconnects": sum(c.reconnects for c in admin),
            "nodes": {},
            "cpu": cpu.result(),
        }
        all_lat = []
        for p in pollers:
            res, lat = p.result(acked)
            out["nodes"][p.name] = res
            all_lat.extend(lat)
        out["overall_latency_ms"] = distribution(all_lat)
        out["never_propagated"] = sum(v["never_propagated"] for v in out["nodes"].values())
        return out
    finally:
        loop.close()


# ---------------------------------------------------------------------------------------------
# Part 4 (and the self-test's noise run): closed-loop rounds, and bulk revocation


def closed_loop(loop, conns, reqs, seconds, proc):
    """Every connection sends its next request as soon as the previous one is answered, for
    `seconds`; returns throughput and the daemon's CPU time per request."""
    st = {"ok": 0, "other": 0, "done": 0, "k": 0, "ok_all": 0}
    kreqs = len(reqs)
    t_end = [0.0]

    def fire(c):
        st["k"] += 1
        c.send(reqs[st["k"] % kreqs], answered)

    def answered(c, status, head, body, t):
        if status == 200:
            st["ok_all"] += 1  # with the answers that arrive after the end
        if t <= t_end[0]:
            if status == 200:
                st["ok"] += 1
            else:
                st["other"] += 1
        if t < t_end[0]:
            fire(c)
        else:
            st["done"] += 1

    cpu0 = cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    t_end[0] = t0 + seconds
    for c in conns:
        fire(c)
    if not loop.run(lambda: st["done"] == len(conns), t_end[0] + 10):
        raise TestFailure("closed loop: requests unanswered 10 s after the round")
    cpu1 = cpu_seconds(proc.pid)
    completed = st["ok"] + st["other"]
    cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    return {"seconds": seconds, "completed": completed, "ok": st["ok"], "other": st["other"],
            "ok_including_after_the_end": st["ok_all"],
            "rps": round(completed / seconds, 1),
            "daemon_cpu_s": round(cpu, 3) if cpu is not None else None,
            "daemon_cpu_us_per_request": (round(cpu / completed * 1e6, 2)
                                          if cpu is not None and completed else None)}


def loadgen_round(path, node, tokens_file, seconds, connections, tmp):
    out = os.path.join(tmp, f"loadgen-{node.name}.json")
    cmd = [path, "--closed", "--url", f"http://127.0.0.1:{node.auth_port}/auth",
           "--duration", str(seconds), "--warmup", "0.2", "--connections", str(connections),
           "--tokens", tokens_file, "--json", out, "--watch", f"daemon={node.proc.pid}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode not in (0, 1) or not os.path.exists(out):
        raise TestFailure(f"loadgen exited {r.returncode}: {r.stderr[-500:]}")
    with open(out) as f:
        doc = json.load(f)
    completed = doc.get("completed", 0)
    cpu = (doc.get("cpu_s") or {}).get("daemon")
    return {"seconds": seconds, "completed": completed, "ok": doc.get("status_2xx"),
            "other": doc.get("status_other", 0) + doc.get("errors", 0),
            "rps": round(doc.get("achieved_rate", 0.0), 1),
            "daemon_cpu_s": cpu,
            "daemon_cpu_us_per_request": (round(cpu / completed * 1e6, 2)
                                          if cpu is not None and completed else None),
            "latency_us": doc.get("latency_us")}


def revoke_bulk(node, jtis, connections, label):
    """Revokes every jti on `node` as fast as `connections` keep-alive connections allow."""
    loop = Loop()
    try:
        reqs = [revoke_request(j) for j in jtis]
        st = {"next": 0, "ok": 0, "errors": 0, "done": 0}
        t0 = time.perf_counter()
        last = [t0]

        def fire(c):
            i = st["next"]
            if i >= len(reqs):
                st["done"] += 1
                return
            st["next"] += 1
            c.send(reqs[i], answered)

        def answered(c, status, head, body, t):
            st["ok" if status == 200 else "errors"] += 1
            if t - last[0] >= 2.0:
                last[0] = t
                log(f"  {label}: {st['ok']:,}/{len(reqs):,} revoked "
                    f"({st['ok'] / (t - t0):,.0f}/s)")
            fire(c)

        conns = [HttpConn(loop, node.admin_port) for _ in range(min(connections, len(reqs)))]
        for c in conns:
            fire(c)
        if not loop.run(lambda: st["done"] == len(conns), t0 + 600):
            raise TestFailure(f"{label}: not finished within 600 s")
        secs = time.perf_counter() - t0
        return {"revocations": len(reqs), "ok": st["ok"], "errors": st["errors"],
                "seconds": round(secs, 3), "rate_per_s": round(len(reqs) / secs, 1),
                "connections": len(conns)}
    finally:
        loop.close()


def paired_rounds(nodes, tokens, opts, tmp, label):
    """Interleaved closed-loop rounds on nodes ("on", "off"), the order alternating."""
    on, off = nodes
    reqs = [auth_request(t) for t in tokens]
    tokens_file = os.path.join(tmp, "hotpath-tokens.txt")
    with open(tokens_file, "w") as f:
        f.write("\n".join(tokens) + "\n")
    loop = Loop()
    try:
        conns = {n.name: [HttpConn(loop, n.auth_port) for _ in range(opts.hotpath_connections)]
                 for n in nodes}

        def one(node, seconds):
            if opts.loadgen:
                return loadgen_round(opts.loadgen, node, tokens_file, seconds,
                                     opts.hotpath_connections, tmp)
            return closed_loop(loop, conns[node.name], reqs, seconds, node.proc)

        warmup = {node.name: one(node, min(1.0, opts.round_seconds))  # not in the figures
                  for node in nodes}
        rounds = []
        for r in range(opts.rounds):
            order = (on, off) if r % 2 == 0 else (off, on)
            res = {}
            for node in order:
                res[node.name] = one(node, opts.round_seconds)
            a, b = res[on.name], res[off.name]
            ratio = a["rps"] / b["rps"] if b["rps"] else None
            cpu_ratio = (a["daemon_cpu_us_per_request"] / b["daemon_cpu_us_per_request"]
                         if a["daemon_cpu_us_per_request"] and b["daemon_cpu_us_per_request"]
                         else None)
            rounds.append({"round": r + 1, "order": [n.name for n in order],
                           on.name: a, off.name: b,
                           "throughput_ratio": round(ratio, 4) if ratio else None,
                           "cpu_per_request_ratio": round(cpu_ratio, 4) if cpu_ratio else None})
            log(f"  {label}: round {r + 1}/{opts.rounds} ({order[0].name} first): "
                f"{on.name} {a['rps']:,.0f}/s, {off.name} {b['rps']:,.0f}/s, ratio "
                f"{fmt(ratio, '.3f')}, CPU/request ratio {fmt(cpu_ratio, '.3f')}")
        errors = sum(r[n.name]["other"] for r in rounds for n in nodes)
        return {
            "client": ("bench/loadgen --closed (" + opts.loadgen + ")" if opts.loadgen
                       else "Python event loop in this script (closed loop)"),
            "connections": opts.hotpath_connections,
            "rounds": opts.rounds, "round_seconds": opts.round_seconds,
            "tokens": len(tokens),
            "non_200_responses": errors,
            "client_200_count": (None if opts.loadgen else {
                n.name: sum(x[n.name]["ok_including_after_the_end"] for x in rounds + [warmup])
                for n in nodes}),
            "throughput_ratio": median_range([r["throughput_ratio"] for r in rounds
                                              if r["throughput_ratio"]]),
            "cpu_per_request_ratio": median_range([r["cpu_per_request_ratio"] for r in rounds
                                                   if r["cpu_per_request_ratio"]]),
            "rps": {n.name: median_range([r[n.name]["rps"] for r in rounds], 1) for n in nodes},
            "cpu_us_per_request": {n.name: median_range(
                [r[n.name]["daemon_cpu_us_per_request"] for r in rounds
                 if r[n.name]["daemon_cpu_us_per_request"]], 2) for n in nodes},
            "per_round": rounds,
        }
    finally:
        loop.close()


# ---------------------------------------------------------------------------------------------
# The world: keys, tokens, nodes


class World:
    def __init__(self, args, tmp, cleanup):
        self.args, self.tmp, self.cleanup = args, tmp, cleanup
        keys = harness.Keys(args.cli, tmp)
        priv, self.jwks = keys.keygen("HS256", KID, "keys.jwks")
        self.secret = hs256_secret(priv)
        self.now = int(time.time())
        self.run_id = f"{os.getpid():x}{self.now:x}"
        self.redis = None

    def token(self, jti, lifetime=7200):
        return hs256_token(self.secret, KID, {"iss": ISS, "sub": "bench", "iat": self.now,
                                              "exp": self.now + lifetime, "jti": jti})

    def start_redis(self):
        self.redis = RedisServer(self.args.redis_server, os.path.join(self.tmp, "redis"))
        self.cleanup.add("redis-server", self.redis.stop)
        self.redis.start()
        log(f"redis-server on 127.0.0.1:{self.redis.port}")
        return self.redis

    def node(self, name, replication, prefix=PREFIX, start=True):
        n = Node(self.args.daemon, os.path.join(self.tmp, name), name, self.jwks,
                 redis_port=self.redis.port if replication else None, prefix=prefix,
                 snapshot_every=self.args.snapshot_every)
        self.cleanup.add(f"jwtgated {name}", n.stop)
        if start:
            n.start(timeout=60)
            log(f"jwtgated {name}: auth 127.0.0.1:{n.auth_port}, admin 127.0.0.1:{n.admin_port}"
                f"{', replication on' if replication else ''}")
        return n


def accepts(node, token):
    return harness.http(node.auth_port, "GET", "/auth",
                        [("Authorization", f"Bearer {token}")])


def check_accepted(nodes, tokens):
    for n in nodes:
        for t in tokens:
            r = accepts(n, t)
            check(r.status == 200, f"{n.name} does not accept a fresh token: {r}")


def allowed(node):
    """jwtgate_auth_requests_total{decision="allow"} of a node."""
    return metric_value(metrics_of(node) or "", "jwtgate_auth_requests_total",
                        {"decision": "allow", "reason": "ok"})


def metrics_of(node):
    try:
        r = harness.http(node.admin_port, "GET", "/metrics", timeout=2.0)
    except (OSError, TestFailure):
        return None
    return r.body.decode() if r.status == 200 else None


def readyz(node):
    try:
        return harness.http(node.admin_port, "GET", "/readyz", timeout=2.0).status
    except (OSError, TestFailure):
        return None


# ---------------------------------------------------------------------------------------------
# Parts


def part_propagation(w, fleet, procs):
    a, b, c = fleet
    n = int(w.args.rate * w.args.duration)
    log(f"part 1: propagation: {n:,} revocations on {a.name} at {w.args.rate:g}/s for "
        f"{w.args.duration:g} s, polled on {b.name} and {c.name}")
    missing = [m for m in METRICS if metric_value(metrics_of(b) or "", m) is None]
    jtis = [f"prop-{w.run_id}-{i}" for i in range(n)]
    tokens = [w.token(j) for j in jtis]
    check_accepted([b, c], tokens[:3])
    res = propagation_run(a, [b, c], tokens, jtis, w.args.rate, w.args.duration, w.args,
                          "part 1", procs)
    res["missing_metrics"] = missing
    res["method"] = (
        f"open-loop POST /revoke on {a.name} (distinct jtis, HS256 tokens signed beforehand); "
        f"after {a.name}'s 200 the token is polled on {b.name} and {c.name} (GET /auth, "
        f"keep-alive) every {w.args.poll_interval_ms:g} ms (5 ms after 50 ms) until 401 "
        f"error_description=\"revoked\"; latency = that 401's arrival - {a.name}'s 200's "
        f"arrival")
    o = res["overall_latency_ms"]
    log(f"part 1: {res['acknowledged']:,} revocations at {fmt(res['achieved_rate_per_s'], ',.0f')}"
        f"/s; latency p50 {fmt(o['p50'], '.3f')} ms, p99 {fmt(o['p99'], '.3f')} ms, max "
        f"{fmt(o['max'], '.3f')} ms; never propagated {res['never_propagated']}")
    return res


def part_catchup(w, fleet, procs):
    a, b, c = fleet
    count = w.args.catchup_entries
    key = PREFIX + "stream"
    log(f"part 2: catch-up: stopping {c.name}, appending {count:,} entries, starting it again")
    c.stop()
    with Resp(w.redis.port) as r:
        before = {"used_memory": r.used_memory(), "xinfo": r.xinfo_stream(key),
                  "snapshot_id": r.command("GET", PREFIX + "snapshot:id")}
    jti_fmt = f"catchup-{w.run_id}-%d"
    keep_until = w.now + 86400
    inj = inject(w.redis.port, key, jti_fmt, count, keep_until, "part 2")
    with Resp(w.redis.port) as r:
        after = {"used_memory": r.used_memory(), "xinfo": r.xinfo_stream(key),
                 "snapshot_id": r.command("GET", PREFIX + "snapshot:id")}
    log(f"part 2: appended {count:,} entries in {inj['seconds']:.1f} s "
        f"({inj['rate_per_s']:,.0f}/s); starting {c.name}")
    sentinel = w.token(jti_fmt % (count - 1))
    sentinel_req = [("Authorization", f"Bearer {sentinel}")]
    series = []
    marks = {"ready_200": None, "behind_zero": None, "applied_reached": None,
             "sentinel_denied": None}
    seen_behind = False  # entries_behind reads 0 before the node has looked at the stream
    first_applied = None
    timeout = w.args.catchup_timeout
    t_launch = time.perf_counter()
    c.launch()
    next_metrics = t_launch
    last_log = t_launch
    while True:
        now = time.perf_counter()
        el = now - t_launch
        if c.proc.poll() is not None:
            raise TestFailure(f"{c.name} exited with {c.proc.returncode} during catch-up:\n"
                              f"{c.log_text()}")
        if marks["sentinel_denied"] is None:
            try:
                r = harness.http(c.auth_port, "GET", "/auth", sentinel_req, timeout=2.0)
                if r.status == 401 and "revoked" in (r.header("WWW-Authenticate") or ""):
                    marks["sentinel_denied"] = time.perf_counter() - t_launch
            except (OSError, TestFailure):
                pass
        if now >= next_metrics:
            next_metrics += 0.1
            text = metrics_of(c)
            rz = readyz(c)
            if rz == 200 and marks["ready_200"] is None:
                marks["ready_200"] = el
            if text is not None:
                applied = metric_value(text, "jwtgate_replication_applied_total")
                behind = metric_value(text, "jwtgate_replication_entries_behind")
                ready = metric_value(text, "jwtgate_replication_ready")
                lag = metric_value(text, "jwtgate_replication_lag_seconds")
                series.append({"t_s": round(el, 3), "applied_total": applied,
                               "entries_behind": behind, "ready": ready, "lag_s": lag,
                               "readyz": rz})
                if applied and first_applied is None:
                    first_applied = (el, applied)
                if behind:
                    seen_behind = True
                if (marks["behind_zero"] is None and behind == 0 and (seen_behind or ready == 1)):
                    marks["behind_zero"] = el
                if marks["applied_reached"] is None and applied is not None and applied >= count:
                    marks["applied_reached"] = el
                if now - last_log >= 1.0:
                    last_log = now
                    log(f"  part 2: {el:5.1f} s: applied {fmt(applied, ',.0f')}, behind "
                        f"{fmt(behind, ',.0f')}, ready {fmt(ready, 'g')}, /readyz {rz}")
        if all(v is not None for v in marks.values()):
            break

        if el > timeout:
            break  # whatever never came stays None
        time.sleep(0.01)
    # Caught up: the metrics say so (entries_behind 0, or applied_total grown by the injected
    # count: a new process counts from 0; whichever first) AND the node denies the last entry
    # injected (it applies in order); the later of the two. Either alone can be wrong.
    cands = [v for v in (marks["behind_zero"], marks["applied_reached"]) if v is not None]
    t_metrics = min(cands) if cands else None
    t_caught = (max(t_metrics, marks["sentinel_denied"])
                if t_metrics is not None and marks["sentinel_denied"] is not None else None)
    rate = count / t_caught if t_caught else None
    # Replay rate: applied_total's growth over the samples where it grew (start-up excluded).
    replay_rate = None
    last = series[-1] if series else {}
    final = last.get("applied_total")
    if first_applied and final:
        t_final = next(x["t_s"] for x in series if x["applied_total"] == final)
        if t_final > first_applied[0]:
            replay_rate = (final - first_applied[1]) / (t_final - first_applied[0])
    notes = []
    if t_metrics and marks["sentinel_denied"] and marks["sentinel_denied"] > t_metrics + 0.15:
        notes.append(f"the metrics said caught up at {t_metrics:.2f} s but the last entry was "
                     f"denied only at {marks['sentinel_denied']:.2f} s")
    if t_metrics is None:
        notes.append("the metrics never said caught up (entries_behind 0 / applied_total ≥ "
                     "injected)")
    if marks["sentinel_denied"] is None:
        notes.append("the last injected entry was never denied")
    if marks["ready_200"] and marks["sentinel_denied"] and \
            marks["ready_200"] > marks["sentinel_denied"] + 0.15:
        notes.append(f"/readyz turned 200 {marks['ready_200'] - marks['sentinel_denied']:.2f} s "
                     "after the last entry was denied")
    behinds = [x["entries_behind"] for x in series if x["entries_behind"] is not None]
    if len(behinds) > 3 and len(set(behinds[:-1])) == 1 and behinds[0] > 0:
        notes.append(f"entries_behind stayed at {behinds[0]:,.0f} until the end, then 0 "
                     "(not updated during the catch-up)")
    res = {
        "entries_injected": count,
        "injection": inj,
        "stream_before": before, "stream_after": after,
        "seconds_from_launch": {k: (round(v, 3) if v is not None else None)
                                for k, v in marks.items()},
        "caught_up_s": round(t_caught, 3) if t_caught else None,
        "metrics_caught_up_s": round(t_metrics, 3) if t_metrics else None,
        "catchup_rate_by_metrics_per_s": round(count / t_metrics, 1) if t_metrics else None,
        "notes": notes,
        "catchup_rate_per_s": round(rate, 1) if rate else None,
        "replay_rate_per_s": round(replay_rate, 1) if replay_rate else None,
        "applied_total_at_end": last.get("applied_total"),
        "timed_out": t_caught is None,
        "timeout_s": timeout,
        "series": series,
        "method": (f"{c.name} stopped; {count:,} entries appended with pipelined XADD; "
                   f"{c.name} launched; /metrics and /readyz read every 100 ms, the token of "
                   "the last injected jti every 10 ms; caught up = the later of (the metrics: "
                   "entries_behind 0 or applied_total ≥ the injected count, whichever first) "
                   "and (the last entry denied); rate = injected / seconds from launch to "
                   "caught up"),
    }
    for key_ in ("stream_before", "stream_after"):
        sid = res[key_]["snapshot_id"]
        res[key_]["snapshot_id"] = sid.decode(errors="replace") if isinstance(sid, bytes) else sid
        res[key_]["xinfo"] = {k: (v.decode(errors="replace") if isinstance(v, bytes) else v)
                              for k, v in res[key_]["xinfo"].items()
                              if not isinstance(v, list)}
    log(f"part 2: caught up after {fmt(t_caught, '.2f')} s ({fmt(rate, ',.0f')} entries/s; "
        f"replay {fmt(replay_rate, ',.0f')}/s), /readyz 200 after "
        f"{fmt(marks['ready_200'], '.2f')} s, last entry denied after "
        f"{fmt(marks['sentinel_denied'], '.2f')} s")
    for note in notes:
        log(f"part 2: note: {note}")
    return res


def memory_probe(port, entries, label):
    """Part 3a: used_memory and MEMORY USAGE of a stream of `entries` entries no node reads."""
    keep_until = int(time.time()) + 86400
    with Resp(port) as r:
        r.command("DEL", PROBE_KEY)
        before = r.used_memory()
    inj = inject(port, PROBE_KEY, "probe-%d", entries, keep_until, label)
    with Resp(port) as r:
        after = r.used_memory()
        usage = r.command("MEMORY", "USAGE", PROBE_KEY, "SAMPLES", "0")
        xlen = r.command("XLEN", PROBE_KEY)
        r.command("DEL", PROBE_KEY)
    return {"entries": entries, "xlen": xlen, "injection": inj,
            "used_memory_before": before, "used_memory_after": after,
            "used_memory_bytes_per_entry": round((after - before) / entries, 1),
            "memory_usage_key_bytes": usage,
            "memory_usage_bytes_per_entry": round(usage / entries, 1) if usage else None,
            "method": (f"INFO memory used_memory before and after XADDing {entries:,} entries "
                       f"(the daemon's field layout) to {PROBE_KEY}, over the count; MEMORY "
                       "USAGE of the key (SAMPLES 0: every node) over the count")}


def snapshot_memory(port, timeout):
    """Part 3b: MEMORY USAGE <prefix>snapshot over the revocations it holds."""
    key, snap, snap_id = PREFIX + "stream", PREFIX + "snapshot", PREFIX + "snapshot:id"
    deadline = time.monotonic() + timeout
    with Resp(port) as r:
        while r.command("EXISTS", snap_id) == 0:
            if time.monotonic() > deadline:
                return {"error": f"{snap_id} not written within {timeout} s"}
            time.sleep(0.2)
        for _ in range(5):
            sid = r.command("GET", snap_id)
            usage = r.command("MEMORY", "USAGE", snap, "SAMPLES", "0")
            typ = r.command("TYPE", snap)
            xi = r.xinfo_stream(key)
            added = xi.get("entries-added", xi.get("length"))
            try:
                after = r.count_after(key, sid)
                held = added - after
            except RespError as e:
                after, held = None, None
                note = f"{snap_id} is not a stream ID ({e})"
            else:
                note = None
            card = None
            card_cmd = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "list": "LLEN",
                        "string": "STRLEN"}.get(typ)
            if card_cmd:
                card = r.command(card_cmd, snap)
            if r.command("GET", snap_id) == sid:
                break
            time.sleep(0.1)  # a snapshot was written meanwhile: read again
        return {"snapshot_id": sid.decode(errors="replace") if sid else None,
                "type": typ, card_cmd or "cardinality": card,
                "memory_usage_bytes": usage,
                "stream_entries_added": added, "stream_entries_after_snapshot": after,
                "revocations_held": held,
                "bytes_per_revocation": round(usage / held, 1) if usage and held else None,
                "note": note,
                "method": (f"MEMORY USAGE {snap} SAMPLES 0 over (XINFO STREAM entries-added - "
                           f"entries after {snap_id}); every entry of this run is a distinct "
                           "unexpired jti revocation")}


def part_hotpath(w, opts_tmp, replicated):
    """Part 4. replicated=False: the self-test (both nodes without replication)."""
    args = w.args
    count = args.hotpath_revocations
    if replicated:
        log(f"part 4: hot path: {count:,} revocations, 'on' replicated from its own stream, "
            f"'off' {'through POST /revoke' if args.hotpath_off_state == 'revoke' else 'none'}")
        inj = inject(w.redis.port, HOTPATH_PREFIX + "stream", f"hot-{w.run_id}-%d", count,
                     w.now + 86400, "part 4 'on' stream")
        on = w.node("on", True, prefix=HOTPATH_PREFIX)
        sentinel = w.token(f"hot-{w.run_id}-{count - 1}")
        t0 = time.monotonic()
        while accepts(on, sentinel).status != 401:
            check(time.monotonic() - t0 < 60,
                  "'on' does not deny the last replicated revocation 60 s after /readyz 200")
            time.sleep(0.05)
        on_state = {"how": "XADD to its stream before it started; applied by its initial sync",
                    "injection": inj,
                    "last_entry_denied_s_after_ready": round(time.monotonic() - t0, 3)}
    else:
        on = w.node("on", False)
        on_state = None
    off = w.node("off", False)
    if not replicated or args.hotpath_off_state == "revoke":
        jtis = [f"hot-local-{w.run_id}-{i}" for i in range(count)]
        bulk_nodes = [off] if replicated else [on, off]
        loaded = {}
        for n in bulk_nodes:
            loaded[n.name] = revoke_bulk(n, jtis, args.admin_connections,
                                         f"part 4 '{n.name}' POST /revoke")
            log(f"part 4: '{n.name}': {count:,} revocations through POST /revoke in "
                f"{loaded[n.name]['seconds']:.1f} s ({loaded[n.name]['rate_per_s']:,.0f}/s)")
            check(loaded[n.name]["errors"] == 0, f"POST /revoke errors on {n.name}")
        off_state = {"how": "POST /revoke of as many distinct jtis", "load": loaded[off.name]}
        if not replicated:
            on_state = {"how": "POST /revoke of as many distinct jtis (self-test: no "
                        "replication on either node)", "load": loaded[on.name]}
    else:
        off_state = {"how": "none (--hotpath-off-state none)"}
    tokens = [w.token(f"load-{w.run_id}-{i}") for i in range(1000)]
    check_accepted([on, off], tokens[:3])
    allow0 = {n.name: allowed(n) for n in (on, off)}
    res = paired_rounds((on, off), tokens, args, opts_tmp, "part 4")
    # The daemons' own count of what the client counted (a check on the client).
    res["daemon_allow_count"] = {n.name: allowed(n) - allow0[n.name] for n in (on, off)}
    res["revocations"] = count
    res["on_state"], res["off_state"] = on_state, off_state
    res["replication_on"] = replicated
    res["method"] = (
        f"two jwtgated with the same keys and settings; {args.rounds} interleaved rounds of "
        f"{args.round_seconds:g} s on each, the order alternating; closed loop of HS256 "
        f"GET /auth over {args.hotpath_connections} keep-alive connections cycling through "
        "1,000 valid tokens; ratio on/off taken within each round")
    tr, cr = res["throughput_ratio"], res["cpu_per_request_ratio"]
    log(f"part 4: throughput on/off median {fmt(tr['median'], '.3f')} "
        f"[{fmt(tr['min'], '.3f')}-{fmt(tr['max'], '.3f')}], CPU per request on/off median "
        f"{fmt(cr['median'], '.3f')} [{fmt(cr['min'], '.3f')}-{fmt(cr['max'], '.3f')}]")
    for n in (on, off):
        n.stop()
    return res


# ---------------------------------------------------------------------------------------------
# The summary


def machine_line(m):
    if not m:
        return "machine: unknown (scripts/machine-info failed)"
    v = (m.get("versions") or {}).get("redis") or "redis ?"
    return (f"{m.get('host')}: {m.get('cpu_model')}, {m.get('cores')} cores, "
            f"{m.get('memory_gib')} GiB, {m.get('os')}, kernel {m.get('kernel')}; {v}; "
            f"commit {str(m.get('git_commit'))[:10]}{' (dirty)' if m.get('git_dirty') else ''}; "
            f"{m.get('date_utc')}")


def summary_md(doc):
    p = doc["parts"]
    out = [f"# Fleet revocation replication ({doc['mode']})", ""]
    out.append(f"- Command: `{doc['command']}`")
    out.append(f"- Machine: {machine_line(doc.get('machine'))} (machine.json)")
    out.append("- Everything on 127.0.0.1: one redis-server (no persistence), jwtgated nodes "
               "with HS256 keys; the client is this Python script (one thread, select(2)).")
    if doc["mode"] == "selftest":
        out.append("- Self-test: jwtgated without `replication:`; the revoke loop is measured "
                   "against the node that revoked, and part 4 compares two nodes without "
                   "replication (the harness's noise). Not figures about replication.")
    out.append("")

    if "propagation" in p:
        r = p["propagation"]
        out += ["## 1. Propagation latency" if doc["mode"] != "selftest" else
                "## 1. Revoke loop (self-test: the latency is measured on the revoking node)",
                ""]
        if "error" in r:
            out += [f"FAILED: {r['error']}", ""]
        else:
            out.append(f"Method: {r['method']}." + ("" if doc["mode"] == "selftest" else
                                                     " Target: p99 ≤ 10 ms on loopback."))
            out.append("")
            out.append("| node | revocations | p50 ms | p90 ms | p99 ms | max ms | never "
                       "propagated | polls/revocation (mean) | first-poll delay p99 ms |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name, nr in r["nodes"].items():
                lat = nr["latency_ms"]
                out.append(f"| {name} | {lat['n']:,} | {fmt(lat['p50'], '.3f')} | "
                           f"{fmt(lat['p90'], '.3f')} | {fmt(lat['p99'], '.3f')} | "
                           f"{fmt(lat['max'], '.3f')} | {nr['never_propagated']} | "
                           f"{fmt(nr['polls_per_revocation']['mean'], '.2f')} | "
                           f"{fmt(nr['first_poll_delay_ms']['p99'], '.3f')} |")
            o = r["overall_latency_ms"]
            out.append(f"| all | {o['n']:,} | {fmt(o['p50'], '.3f')} | {fmt(o['p90'], '.3f')} | "
                       f"{fmt(o['p99'], '.3f')} | {fmt(o['max'], '.3f')} | "
                       f"{r['never_propagated']} | | |")
            out.append("")
            sustained = ("sustained" if r["rate_sustained"] else
                         "NOT sustained: the figure above is the rate this client reached")
            cpu = r["cpu"]["cpu_fraction_of_one_core"]
            out.append(f"- Revocations: {r['acknowledged']:,} acknowledged of {r['sent']:,} "
                       f"sent ({r['scheduled']:,} scheduled); rate "
                       f"{fmt(r['achieved_rate_per_s'], ',.0f')}/s against a target of "
                       f"{r['target_rate_per_s']:,g}/s ({sustained}); errors "
                       f"{r['revoke_errors'] or 'none'}; `replicated` in the answers: "
                       f"{r['replicated_field']}.")
            out.append(f"- POST /revoke answered in p50 {fmt(r['revoke_ack_ms']['p50'], '.3f')} "
                       f"/ p99 {fmt(r['revoke_ack_ms']['p99'], '.3f')} / max "
                       f"{fmt(r['revoke_ack_ms']['max'], '.3f')} ms. Send minus schedule (a "
                       f"revocation waits while all {r['admin_connections']} connections are "
                       f"busy): p50 {fmt(r['send_lateness_ms']['p50'], '.3f')} / p99 "
                       f"{fmt(r['send_lateness_ms']['p99'], '.3f')} ms; "
                       f"{r['not_sent_by_the_end']:,} still waiting at the end were not sent.")
            lb = [f"{n} p50 {fmt(v['lower_bound_ms']['p50'], '.3f')} / p99 "
                  f"{fmt(v['lower_bound_ms']['p99'], '.3f')} ms" for n, v in r["nodes"].items()]
            out.append(f"- Lower bound (send of the last 200 poll - A's 200): {'; '.join(lb)}. "
                       "The truth is between it and the figure in the table.")
            tr = {n: v["transient_poll_errors"] for n, v in r["nodes"].items()
                  if v["transient_poll_errors"]}
            if tr:
                out.append(f"- Polls answered 5xx/429 (polled again): {tr}.")
            out.append("- CPU over the run, fraction of one core: " +
                       ", ".join(f"{k} {fmt(v, '.2f')}" for k, v in cpu.items()) + ".")
            if r.get("missing_metrics"):
                out.append(f"- Metrics missing on the nodes: {', '.join(r['missing_metrics'])}.")
            verdict = ("met" if o["p99"] is not None and o["p99"] <= 10 and
                       r["never_propagated"] == 0 else "NOT met")
            if doc["mode"] != "selftest":
                out.append(f"- Target p99 ≤ 10 ms and none lost: {verdict}.")
            out.append("")

    if "catchup" in p:
        r = p["catchup"]
        out += ["## 2. Catch-up", ""]
        if "error" in r:
            out += [f"FAILED: {r['error']}", ""]
        else:
            s = r["seconds_from_launch"]
            out.append(f"Method: {r['method']}. Target: ≥ 200,000 entries/s.")
            out.append("")
            out.append("| entries injected | XADD rate /s | caught up s | **catch-up rate /s** "
                       "| rate by the metrics alone /s | replay rate /s | entries_behind 0 s | "
                       "applied ≥ injected s | last entry denied s | /readyz 200 s |")
            out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            out.append(f"| {r['entries_injected']:,} | {r['injection']['rate_per_s']:,.0f} | "
                       f"{fmt(r['caught_up_s'], '.2f')} | "
                       f"**{fmt(r['catchup_rate_per_s'], ',.0f')}** | "
                       f"{fmt(r['catchup_rate_by_metrics_per_s'], ',.0f')} | "
                       f"{fmt(r['replay_rate_per_s'], ',.0f')} | "
                       f"{fmt(s['behind_zero'], '.2f')} | "
                       f"{fmt(s['applied_reached'], '.2f')} | "
                       f"{fmt(s['sentinel_denied'], '.2f')} | {fmt(s['ready_200'], '.2f')} |")
            out.append("")
            out.append("- Times are seconds from C's launch. Replay rate: applied_total's growth "
                       "over the samples where it grew (excludes start-up). applied_total at "
                       f"the end: {fmt(r['applied_total_at_end'], ',.0f')} (for "
                       f"{r['entries_injected']:,} injected).")
            for note in r.get("notes") or []:
                out.append(f"- Note: {note}.")
            out.append("- Snapshot ID before / after "
                       f"the injection: {r['stream_before']['snapshot_id']} / "
                       f"{r['stream_after']['snapshot_id']} (a node starting may load it rather "
                       "than replay every entry).")
            if r["timed_out"]:
                out.append(f"- TIMED OUT after {r['timeout_s']} s.")
            elif doc["mode"] != "selftest":
                verdict = "met" if (r["catchup_rate_per_s"] or 0) >= 200000 else "NOT met"
                out.append(f"- Target ≥ 200,000 entries/s: {verdict}.")
            out.append("")

    if "memory" in p:
        r = p["memory"]
        out += ["## 3. Redis memory per revocation", ""]
        if "error" in r:
            out += [f"FAILED: {r['error']}", ""]
        else:
            out.append("| what | entries | bytes | bytes per entry | method |")
            out.append("|---|---:|---:|---:|---|")
            pr = r.get("probe")
            if pr:
                out.append(f"| stream, used_memory delta | {pr['entries']:,} | "
                           f"{pr['used_memory_after'] - pr['used_memory_before']:,} | "
                           f"{pr['used_memory_bytes_per_entry']} | INFO memory before/after |")
                out.append(f"| stream, MEMORY USAGE | {pr['entries']:,} | "
                           f"{pr['memory_usage_key_bytes']:,} | "
                           f"{pr['memory_usage_bytes_per_entry']} | MEMORY USAGE SAMPLES 0 |")
            sn = r.get("snapshot")
            if sn and "error" not in sn:
                out.append(f"| snapshot ({sn['type']}) | {fmt(sn['revocations_held'], ',')} | "
                           f"{fmt(sn['memory_usage_bytes'], ',')} | "
                           f"{fmt(sn['bytes_per_revocation'], 'g')} | MEMORY USAGE over the "
                           "revocations up to snapshot:id |")
            elif sn:
                out.append(f"| snapshot | | | | {sn['error']} |")
            out.append("")
            if pr:
                out.append(f"- Probe: {pr['method']}; XADD pipelined at "
                           f"{pr['injection']['rate_per_s']:,.0f} entries/s.")
            if sn and "error" not in sn:
                out.append(f"- Snapshot: {sn['method']}.")
            out.append("")

    if "hotpath" in p:
        r = p["hotpath"]
        out += ["## 4. Hot path, replication on against off (paired)", ""]
        if "error" in r:
            out += [f"FAILED: {r['error']}", ""]
        else:
            out.append(f"Method: {r['method']}. Client: {r['client']}.")
            out.append("")
            out.append("| figure | median | range | IQR | rounds |")
            out.append("|---|---:|---|---|---:|")
            for label, key in (("throughput on/off", "throughput_ratio"),
                               ("daemon CPU per request on/off", "cpu_per_request_ratio")):
                m = r[key]
                out.append(f"| {label} | {fmt(m['median'], '.4f')} | {fmt(m['min'], '.4f')}–"
                           f"{fmt(m['max'], '.4f')} | {fmt(m['q1'], '.4f')}–"
                           f"{fmt(m['q3'], '.4f')} | {m['n']} |")
            for name in r["rps"]:
                m, c = r["rps"][name], r["cpu_us_per_request"][name]
                out.append(f"| {name}: requests/s | {fmt(m['median'], ',.0f')} | "
                           f"{fmt(m['min'], ',.0f')}–{fmt(m['max'], ',.0f')} | | {m['n']} |")
                out.append(f"| {name}: daemon CPU µs/request | {fmt(c['median'], '.2f')} | "
                           f"{fmt(c['min'], '.2f')}–{fmt(c['max'], '.2f')} | | {c['n']} |")
            out.append("")
            out.append(f"- Revocations held: {r['revocations']:,}. on: {r['on_state']['how']}; "
                       f"off: {r['off_state']['how']}. Non-200 answers: "
                       f"{r['non_200_responses']}.")
            if not r["client"].startswith("bench/loadgen"):
                out.append("- With the Python client the throughput is mostly the client's; "
                           "the daemon CPU per request is the figure that shows a cost on the "
                           "request path (run with --loadgen for daemon-bound throughput).")
            out.append("")

    if doc.get("checks"):
        out += ["## Self-test checks", ""]
        for c in doc["checks"]:
            out.append(f"- {'PASS' if c['ok'] else 'FAIL'}: {c['what']}")
        out.append("")
    if doc.get("errors"):
        out += ["## Errors", ""] + [f"- {e}" for e in doc["errors"]] + [""]
    return "\n".join(out)


def write_machine(out_dir, command):
    path = os.path.join(out_dir, "machine.json")
    r = subprocess.run([os.path.join(REPO, "scripts", "machine-info"), "--command", command],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log(f"warning: scripts/machine-info failed: {r.stderr.strip()[-300:]}")
        return None
    harness.write_atomic(path, r.stdout)
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------------------------
# Main


def run_part(doc, name, fn):
    started = time.monotonic()
    try:
        res = fn()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        traceback.print_exc()
        doc["parts"][name] = {"error": f"{type(e).__name__}: {e}"}
        doc["errors"].append(f"{name}: {type(e).__name__}: {e}")
        log(f"{name}: FAILED: {e}")
        return None
    res["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["parts"][name] = res
    return res


def run_full(w, doc, tmp):
    args = w.args
    w.start_redis()
    fleet = [w.node(n, True) for n in ("A", "B", "C")]
    procs = {f"jwtgated_{n.name}": n.proc for n in fleet}
    procs["redis"] = w.redis.proc
    run_part(doc, "propagation", lambda: part_propagation(w, fleet, procs))
    run_part(doc, "catchup", lambda: part_catchup(w, fleet, procs))

    def memory():
        log(f"part 3: memory: probe stream of {args.memory_entries:,} entries; the fleet's "
            "snapshot")
        res = {"probe": memory_probe(w.redis.port, args.memory_entries, "part 3")}
        res["snapshot"] = snapshot_memory(w.redis.port, args.snapshot_timeout)
        pr, sn = res["probe"], res["snapshot"]
        log(f"part 3: stream {pr['used_memory_bytes_per_entry']} B/entry (used_memory), "
            f"{pr['memory_usage_bytes_per_entry']} B/entry (MEMORY USAGE); snapshot "
            f"{sn.get('bytes_per_revocation', sn.get('error'))} B/revocation")
        return res
    run_part(doc, "memory", memory)
    for n in fleet:
        n.stop()
    run_part(doc, "hotpath", lambda: part_hotpath(w, tmp, True))


def run_selftest(w, doc, tmp):
    """What works without replication in jwtgated; each step checked."""
    args = w.args
    checks = doc["checks"] = []

    def ok(cond, what):
        checks.append({"ok": bool(cond), "what": what})
        log(f"selftest: {'PASS' if cond else 'FAIL'}: {what}")
        if not cond:
            raise TestFailure(what)

    def step(name, fn):
        if run_part(doc, name, fn) is None and (not checks or checks[-1]["ok"]):
            checks.append({"ok": False, "what": f"{name}: {doc['parts'][name]['error']}"})

    redis = w.start_redis()

    def resp():
        with Resp(redis.port) as r:
            ok(r.command("PING") == "PONG", "redis-server answers PING over the RESP client")
        res = memory_probe(redis.port, args.memory_entries, "selftest RESP")
        ok(res["xlen"] == args.memory_entries,
           f"pipelined XADD of {args.memory_entries:,} entries: XLEN {res['xlen']:,} "
           f"({res['injection']['rate_per_s']:,.0f} entries/s)")
        ok(res["used_memory_after"] > res["used_memory_before"] and
           res["memory_usage_key_bytes"] and res["memory_usage_key_bytes"] > 0,
           f"INFO memory and MEMORY USAGE: {res['used_memory_bytes_per_entry']} and "
           f"{res['memory_usage_bytes_per_entry']} bytes per entry")
        with Resp(redis.port) as r:
            ok(r.command("EXISTS", PROBE_KEY) == 0, "the probe key is deleted afterwards")
            try:
                r.command("XADD")
                ok(False, "an error reply raises RespError")
            except RespError:
                ok(r.command("PING") == "PONG", "an error reply raises RespError, the "
                   "connection stays in step")
        return {"probe": res}
    step("memory", resp)

    fleet = []

    def three_nodes():
        for name in ("A", "B", "C"):
            fleet.append(w.node(name, False))
        for n in fleet:
            ok(readyz(n) == 200, f"jwtgated {n.name} without replication: /readyz 200")
            ok(metrics_of(n) is not None, f"jwtgated {n.name}: /metrics readable")
        t = w.token(f"selftest-{w.run_id}")
        check_accepted(fleet, [t])
        ok(True, "a fresh HS256 token is accepted by all three")
        loop = Loop()
        try:
            c = HttpConn(loop, fleet[0].auth_port)
            got = []
            req = auth_request(t)
            before = allowed(fleet[0])
            for k in range(200):
                c.send(req, lambda c, s, h, b, tt: got.append(s))
                loop.run(lambda: len(got) > k, time.perf_counter() + 5)
            ok(len(got) == 200 and set(got) == {200} and c.reconnects == 0 and
               allowed(fleet[0]) - before == 200,
               "keep-alive event-loop client: 200 requests on one connection, all 200, and "
               "the daemon counted 200 allowed")
        finally:
            loop.close()
        return {"nodes": [n.name for n in fleet]}
    step("nodes", three_nodes)
    if len(fleet) != 3:
        return

    def revoke_loop():
        a, b = fleet[0], fleet[1]
        n = int(args.rate * args.duration)
        log(f"selftest: revoke loop: {n:,} revocations on {a.name} at {args.rate:g}/s for "
            f"{args.duration:g} s, latency polled on {a.name} itself")
        jtis = [f"self-{w.run_id}-{i}" for i in range(n)]
        tokens = [w.token(j) for j in jtis]
        procs = {f"jwtgated_{x.name}": x.proc for x in fleet}
        res = propagation_run(a, [a], tokens, jtis, args.rate, args.duration, args,
                              "selftest revoke loop", procs)
        res["method"] = (f"self-test: open-loop POST /revoke on {a.name}; after its 200 the "
                         f"token is polled on {a.name} itself (no replication)")
        ok(res["acknowledged"] == res["sent"] and res["acknowledged"] > 0,
           f"revoke loop: {res['acknowledged']:,} of {res['sent']:,} revocations answered 200 "
           f"at {fmt(res['achieved_rate_per_s'], ',.0f')}/s (target {args.rate:g}/s)")
        ok(res["never_propagated"] == 0,
           f"every revoked token is denied by {a.name} (p50 "
           f"{fmt(res['overall_latency_ms']['p50'], '.3f')} ms, p99 "
           f"{fmt(res['overall_latency_ms']['p99'], '.3f')} ms after its 200)")
        sample = [tokens[0], tokens[n // 2], tokens[-1]]
        ok(all(accepts(b, t).status == 200 for t in sample),
           f"{b.name} (no replication) still accepts tokens revoked on {a.name}")
        if not res["rate_sustained"]:
            log(f"selftest: note: {fmt(res['achieved_rate_per_s'], ',.0f')}/s reached of "
                f"{args.rate:g}/s")
        return res
    step("propagation", revoke_loop)

    def restart():
        c = fleet[2]
        c.stop()
        t_launch = time.perf_counter()
        c.launch()
        ready = None
        while time.perf_counter() - t_launch < 30:
            if c.proc.poll() is not None:
                break
            if readyz(c) == 200:
                ready = time.perf_counter() - t_launch
                break
            time.sleep(0.01)
        ok(ready is not None, f"{c.name} stopped and launched again on its ports (part 2's "
           f"path): /readyz 200 after {fmt(ready, '.3f')} s")
        t = w.token(f"selftest-{w.run_id}-{2}")
        ok(accepts(c, t).status == 200, f"{c.name} accepts a fresh token after the restart")
        return {"node": c.name, "ready_s_after_launch": round(ready, 3)}
    step("restart", restart)
    for n in fleet:
        n.stop()

    def noise():
        res = part_hotpath(w, tmp, False)
        tr = res["throughput_ratio"]
        ok(tr["n"] == args.rounds and res["non_200_responses"] == 0,
           f"paired rounds: {tr['n']} ratios, no non-200 answer; throughput on/off median "
           f"{fmt(tr['median'], '.3f')} [{fmt(tr['min'], '.3f')}-{fmt(tr['max'], '.3f')}]")
        ok(0.5 < tr["median"] < 2.0, "two identical nodes: the median ratio is within 0.5-2")
        ok(args.loadgen or res["client_200_count"] == res["daemon_allow_count"],
           f"the client's 200s {res['client_200_count']} equal the daemons' allowed counts "
           f"{res['daemon_allow_count']}")
        return res
    step("hotpath", noise)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="fleet_bench.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n", 2)[2] + """
Examples:
  bench/fleet/fleet_bench.py --daemon build-release/core/daemon/jwtgated \\
      --cli build-release/core/cli/jwtgate --out results/$(date -u +%F)-$(hostname -s)/fleet
  bench/fleet/fleet_bench.py --daemon ... --cli ... --out /tmp/fleet --quick
  bench/fleet/fleet_bench.py --daemon ... --cli ... --selftest
""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", required=True, help="the jwtgated binary")
    ap.add_argument("--cli", required=True, help="the jwtgate binary (keygen)")
    ap.add_argument("--out", help="results directory (created; required but for --selftest)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run of every part in about a minute (figures not for "
                         "reporting)")
    ap.add_argument("--selftest", action="store_true",
                    help="check the harness against jwtgated without replication (see below)")
    ap.add_argument("--duration", type=float,
                    help="part 1: seconds of revocations (default 60; --quick and --selftest 5)")
    ap.add_argument("--rate", type=float, default=1000.0,
                    help="part 1: target revocations per second (default 1000)")
    ap.add_argument("--catchup-entries", type=int,
                    help="part 2: stream entries C misses (default 1,000,000; --quick 100,000)")
    ap.add_argument("--memory-entries", type=int,
                    help="part 3: entries of the probe stream (default 100,000)")
    ap.add_argument("--hotpath-revocations", type=int,
                    help="part 4: revocations both nodes hold (default 100,000; --quick 10,000; "
                         "--selftest 2,000)")
    ap.add_argument("--hotpath-off-state", choices=("revoke", "none"), default="revoke",
                    help="part 4: the 'off' node gets as many revocations through POST /revoke "
                         "(default) or none")
    ap.add_argument("--rounds", type=int, help="part 4: paired rounds (default 20; --quick, "
                    "--selftest 4)")
    ap.add_argument("--round-seconds", type=float,
                    help="part 4: seconds per node per round (default 2; --quick, --selftest 1)")
    ap.add_argument("--hotpath-connections", type=int, default=8,
                    help="part 4: keep-alive connections of the load (default 8)")
    ap.add_argument("--loadgen", help="part 4: use this bench/loadgen binary (closed loop) "
                    "instead of the Python client")
    ap.add_argument("--snapshot-every", type=int, default=10000,
                    help="replication.snapshot_every_entries of the nodes (default 10000)")
    ap.add_argument("--admin-connections", type=int, default=32,
                    help="keep-alive connections carrying POST /revoke (default 32)")
    ap.add_argument("--poll-connections", type=int, default=32,
                    help="part 1: keep-alive connections per polled node (default 32)")
    ap.add_argument("--poll-interval-ms", type=float, default=0.5,
                    help="part 1: pause between a 200 and the next poll (default 0.5)")
    ap.add_argument("--propagation-timeout", type=float, default=5.0,
                    help="part 1: seconds after which a revocation counts as never "
                         "propagated (default 5)")
    ap.add_argument("--catchup-timeout", type=float, default=300.0,
                    help="part 2: seconds to wait for C to catch up (default 300)")
    ap.add_argument("--snapshot-timeout", type=float, default=60.0,
                    help="part 3: seconds to wait for <prefix>snapshot:id (default 60)")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server",
                    help="the redis-server binary (default: from PATH)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (configurations, logs, state)")
    args = ap.parse_args(argv)
    if not args.selftest and not args.out:
        ap.error("--out is required (except with --selftest)")
    short = args.quick or args.selftest
    defaults = {"duration": 5.0 if short else 60.0,
                "catchup_entries": 100_000 if short else 1_000_000,
                "memory_entries": 100_000,
                "hotpath_revocations": (2_000 if args.selftest else
                                        10_000 if args.quick else 100_000),
                "rounds": 4 if short else 20,
                "round_seconds": 1.0 if short else 2.0}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    for path, what in ((args.daemon, "--daemon"), (args.cli, "--cli")):
        if not os.access(path, os.X_OK):
            ap.error(f"{what} {path} is not an executable file")
    if args.loadgen and not os.access(args.loadgen, os.X_OK):
        ap.error(f"--loadgen {args.loadgen} is not an executable file")
    if not shutil.which(args.redis_server):
        ap.error(f"redis-server not found ({args.redis_server}); Debian package redis-server")
    if args.rate <= 0 or args.duration <= 0 or args.rounds < 1 or args.catchup_entries < 1:
        ap.error("--rate, --duration, --rounds and --catchup-entries must be positive")
    args.daemon, args.cli = os.path.abspath(args.daemon), os.path.abspath(args.cli)
    if args.loadgen:
        args.loadgen = os.path.abspath(args.loadgen)
    return args


def main(argv):
    args = parse_args(argv)
    mode = "selftest" if args.selftest else "quick" if args.quick else "full"
    command = "bench/fleet/fleet_bench.py " + " ".join(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)  # also when started with SIGINT ignored (`cmd &`)
    harness.raise_nofile(4096)
    tmp = tempfile.mkdtemp(prefix="jwtgate-fleet-")
    out = args.out or os.path.join(tmp, "results")
    os.makedirs(out, exist_ok=True)
    cleanup = harness.Cleanup()
    ok = False
    started = time.monotonic()
    try:
        log(f"fleet_bench ({mode}): work in {tmp}, results to {out}")
        machine = write_machine(out, command)
        doc = {"schema": SCHEMA, "mode": mode, "command": command, "machine": machine,
               "parameters": {k: v for k, v in vars(args).items()},
               "parts": {}, "errors": []}
        w = World(args, tmp, cleanup)
        if args.selftest:
            run_selftest(w, doc, tmp)
            failed = [c["what"] for c in doc["checks"] if not c["ok"]]
            ok = not failed and not doc["errors"]
        else:
            try:
                run_full(w, doc, tmp)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # e.g. a node that refuses its configuration
                traceback.print_exc()
                doc["errors"].append(f"{type(e).__name__}: {e}")
                log(f"FAILED: {e}")
            ok = not doc["errors"]
        doc["elapsed_s"] = round(time.monotonic() - started, 1)
        doc["ok"] = ok
        harness.write_atomic(os.path.join(out, "fleet.json"), json.dumps(doc, indent=1) + "\n")
        harness.write_atomic(os.path.join(out, "fleet_summary.md"), summary_md(doc))
        log(f"results: {os.path.join(out, 'fleet.json')}, "
            f"{os.path.join(out, 'fleet_summary.md')}")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): stopping every process; no results written")
        ok = False
    except TestFailure as e:
        log(f"FAILED: {e}")
        ok = False
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup.run()
        if ok and not args.keep and args.out:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"temporary directory kept: {tmp}")
    log(f"{'PASS' if ok else 'FAIL'} fleet_bench {mode} in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
