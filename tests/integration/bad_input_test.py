#!/usr/bin/python3
"""jwtgated under bad input, straight on its auth listener (no proxy in between):
oversized heads, malformed requests, pipelining, byte-by-byte and slow clients, thousands of
idle connections and the connection limit, abrupt disconnects mid-request and mid-verification.
The daemon must stay up, keep its memory bounded and keep answering correctly.

Usage: bad_input_test.py --daemon PATH --cli PATH
"""
import argparse
import os
import signal
import socket
import struct
import threading
import time

from harness import (Conn, Daemon, Keys, TestFailure, build_request, check, hs256_secret,
                     hs256_token, http, issuer_config, log, metric_value, raise_nofile, read_response, run_test,
                     send_raw)

ISS = "https://issuer.test"
MAX_CONNECTIONS = 2500
IDLE_CONNECTIONS = 2000


def config_text(d, jwks):
    return issuer_config(d, jwks, ISS, verify="  max_token_bytes: 4096", extra=f"""
cache: {{entries: 1024}}
# Every token goes through the pipeline (not verified on the I/O thread), so that abrupt
# disconnects race verifications in flight on the worker.
pipeline: {{workers: 1, inline: none}}
http:
  max_connections: {MAX_CONNECTIONS}
  header_timeout_ms: 1000
  idle_timeout_ms: 60000
  max_header_bytes: 8192
  max_request_line_bytes: 2048
  max_headers: 32
  max_body_bytes: 65536
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    run_test("bad_input", lambda tmp: scenario(tmp, args))


def scenario(tmp, args):
    raise_nofile(MAX_CONNECTIONS + 1000)
    keys = Keys(args.cli, tmp)
    priv, jwks = keys.keygen("HS256", "h1", "keys.jwks")
    secret = hs256_secret(priv)
    now = int(time.time())

    def tok(i=0, **claims):
        c = {"iss": ISS, "sub": f"user{i}", "iat": now, "exp": now + 600, "jti": f"j{i}"}
        c.update(claims)
        return hs256_token(secret, "h1", c)

    d = Daemon(args.daemon, tmp, lambda d: config_text(d, jwks))
    d.start()
    try:
        checks(d, tok)
        rc = d.stop(signal.SIGTERM)
        check(rc == 0, f"jwtgated exited with {rc} after SIGTERM")
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        raise
    finally:
        if d.alive():
            d.stop(signal.SIGKILL)


def valid_ok(d, token):
    r = http(d.auth_port, "GET", "/auth", [("Authorization", f"Bearer {token}")])
    check(r.status == 200, f"valid request after bad input: {r}")
    check(d.alive(), "jwtgated died")


def checks(d, tok):
    port = d.auth_port
    good = tok()
    valid_ok(d, good)
    rss_start = d.rss()

    # --- Oversized and malformed requests: the right status, then the connection closes.
    cases = [
        ("oversized header", build_request("GET", "/auth", [("X-Big", "a" * 20000)]), 431),
        ("request line too long", build_request("GET", "/auth/" + "a" * 5000), 414),
        ("too many headers", build_request("GET", "/auth", [(f"X-H{i}", "v") for i in range(100)]), 431),
        ("bare LF", b"GET /auth HTTP/1.1\nHost: a\n\n", 400),
        ("NUL in a header", b"GET /auth HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
        ("space before colon", b"GET /auth HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("obs-fold", b"GET /auth HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
        ("chunked body", b"POST /auth HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        ("two Content-Length", b"POST /auth HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("no Host", b"GET /auth HTTP/1.1\r\n\r\n", 400),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        ("HTTP/2.0 line", b"GET /auth HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("binary garbage", bytes(range(1, 200)), 400),
        ("TLS hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64), 400),
        ("body too large", b"POST /auth HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n", 413),
    ]
    for name, data, status in cases:
        resp, closed = send_raw(port, data)
        check(resp is not None and resp.status == status, f"{name}: expected {status}, got {resp}")
        check(closed, f"{name}: the connection stayed open after a {status}")
    valid_ok(d, good)
    log(f"{len(cases)} kinds of malformed or oversized requests: right status, connection closed")

    # A token problem is never a 400: garbled credentials are a 401.
    r = http(port, "GET", "/auth", [("Authorization", "Bearer a b")])
    check(r.status == 401 and 'error="invalid_request"' in r.header("WWW-Authenticate"), f"garbled bearer: {r}")
    r = http(port, "GET", "/auth", [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {good}")])
    check(r.status == 401 and 'error_description="authorization_duplicate"' in r.header("WWW-Authenticate"),
          f"two Authorization headers: {r}")
    r = http(port, "GET", "/auth", [("Authorization", "Bearer a.b." + "c" * 5000)])
    check(r.status == 401 and "token_too_large" in r.header("WWW-Authenticate"), f"huge token: {r}")
    r = http(port, "GET", "/elsewhere", [("Authorization", f"Bearer {good}")])
    check(r.status == 404, f"path outside the prefix: {r}")
    for method in ("HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        r = http(port, method, "/auth/x/y", [("Authorization", f"Bearer {good}")], b"body" if method != "HEAD" else b"")
        check(r.status == 200, f"{method}: {r}")

    # --- Pipelining: answers come back in request order; bodies are skipped.
    bad = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    reqs = [
        build_request("GET", "/auth", [("Authorization", f"Bearer {good}")]),
        build_request("GET", "/auth"),
        build_request("POST", "/auth", [("Authorization", f"Bearer {bad}")], b"x" * 3000),
        build_request("GET", "/auth", [("Authorization", f"Bearer {tok(1)}")]),
        build_request("GET", "/auth", [("Authorization", f"Bearer {tok(2, exp=1)}")]),
        build_request("HEAD", "/auth", [("Authorization", f"Bearer {tok(3)}")]),
    ]
    expected = [200, 401, 401, 200, 401, 200]
    for round_ in range(20):
        c = Conn(port)
        c.sock.sendall(b"".join(reqs))
        got = []
        for i in range(len(reqs)):
            resp = c.read(head_request=(i == 5))
            check(resp is not None, f"pipelined response {i} missing")
            got.append(resp.status)
        c.close()
        check(got == expected, f"pipelined answers {got}, want {expected}")
    log("pipelined requests: answers in order, bodies skipped")

    # --- Byte-by-byte arrival.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in build_request("GET", "/auth", [("Authorization", f"Bearer {good}")]):
        s.send(bytes([b]))
    r = read_response(s)
    s.close()
    check(r.status == 200, f"byte-by-byte request: {r}")

    # --- Slow clients (slowloris): cut at the header timeout; others are not slowed down.
    slow = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /auth HTTP/1.1\r\nHost: a\r\n")
        slow.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for s in slow:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            time.sleep(0.15)

    t = threading.Thread(target=trickle)
    t.start()
    started = time.monotonic()
    latencies = []
    while time.monotonic() - started < 0.6:
        t0 = time.monotonic()
        valid_ok(d, good)
        latencies.append(time.monotonic() - t0)
    time.sleep(1.2)
    stop.set()
    t.join()
    timed_out = 0
    for s in slow:
        s.settimeout(3)
        try:
            data = s.recv(4096)
            if data.startswith(b"HTTP/1.1 408") or data == b"":
                timed_out += 1
        except ConnectionResetError:
            timed_out += 1
        except socket.timeout:
            pass
        s.close()
    check(timed_out == len(slow), f"only {timed_out}/{len(slow)} slow clients were cut")
    check(max(latencies) < 0.5, f"normal requests slowed down by slow clients: {max(latencies):.3f} s")
    log(f"50 slow clients cut after the header timeout; normal requests meanwhile "
        f"max {max(latencies) * 1000:.1f} ms")

    # --- Thousands of idle connections, and the connection limit.
    rss_before_idle = d.rss()
    idle = []
    for _ in range(IDLE_CONNECTIONS):
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    time.sleep(0.3)
    t0 = time.monotonic()
    valid_ok(d, good)
    busy_latency = time.monotonic() - t0
    rss_idle = d.rss()
    text = d.metrics()
    active = metric_value(text, "jwtgate_connections_active", {"listener": "auth"})
    check(active is not None and active >= IDLE_CONNECTIONS, f"active connections {active}")
    # Beyond the limit: the oldest idle connections are closed to make room (as nginx reuses
    # keep-alive connections), never more than the limit stay open, and a new client is served.
    extra = []
    for _ in range(MAX_CONNECTIONS - IDLE_CONNECTIONS + 200):
        extra.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    time.sleep(0.5)
    text = d.metrics()
    evicted = metric_value(text, "jwtgate_connections_evicted_total", {"listener": "auth"})
    active = metric_value(text, "jwtgate_connections_active", {"listener": "auth"})
    check(evicted is not None and evicted >= 150, f"connections over the limit: {evicted} evicted")
    check(active is not None and active <= MAX_CONNECTIONS, f"active connections {active}")
    t0 = time.monotonic()
    valid_ok(d, good)
    full_latency = time.monotonic() - t0
    check(full_latency < 1.0, f"a request at the connection limit took {full_latency:.3f} s")
    for s in idle + extra:
        s.close()
    time.sleep(0.5)
    valid_ok(d, good)
    grown = rss_idle - rss_before_idle
    check(grown < 48 << 20, f"{IDLE_CONNECTIONS} idle connections grew RSS by {grown >> 20} MiB")
    log(f"{IDLE_CONNECTIONS} idle connections: RSS +{grown / 1048576:.1f} MiB, a request "
        f"meanwhile {busy_latency * 1000:.1f} ms; {int(evicted)} idle ones evicted for newer "
        f"ones at the limit, a request there {full_latency * 1000:.1f} ms")

    # --- Abrupt disconnects: mid-head, mid-body, and while the token is being verified.
    rss_before = d.rss()
    linger = struct.pack("ii", 1, 0)  # close() sends RST
    for i in range(1500):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        kind = i % 3
        if kind == 0:
            s.sendall(b"GET /auth HTTP/1.1\r\nHost: a\r\nAuthorization: Bear")
        elif kind == 1:
            s.sendall(build_request("POST", "/auth", [("Authorization", f"Bearer {good}")]) [:-4] +
                      b"\r\nContent-Length: 50000\r\n\r\n" + b"y" * 1000)
        else:
            # A distinct token per request: a cache miss, so the close races the verification.
            s.sendall(build_request("GET", "/auth", [("Authorization", f"Bearer {tok(100 + i)}")]) * 4)
        s.close()
    # The resets are processed as they arrive; on a loaded machine that takes a moment.
    deadline = time.monotonic() + 5.0
    while True:
        time.sleep(0.25)
        valid_ok(d, good)
        text = d.metrics()
        active = metric_value(text, "jwtgate_connections_active", {"listener": "auth"})
        if (active is not None and active <= 2) or time.monotonic() > deadline:
            break
    check(active is not None and active <= 2, f"connections left after abrupt disconnects: {active}")
    in_flight = metric_value(text, "jwtgate_verify_in_flight")
    check(in_flight == 0, f"verifications left in flight: {in_flight}")
    grown = d.rss() - rss_before
    check(grown < 16 << 20, f"1500 abrupt disconnects grew RSS by {grown >> 20} MiB")
    total_grown = d.rss() - rss_start
    check(total_grown < 64 << 20, f"RSS grew by {total_grown >> 20} MiB over the whole test")
    log(f"1500 abrupt disconnects: nothing left open, RSS +{grown / 1048576:.1f} MiB "
        f"(whole test +{total_grown / 1048576:.1f} MiB)")

    # Still answering right.
    r = http(port, "GET", "/auth", [("Authorization", f"Bearer {bad}")])
    check(r.status == 401 and "signature_invalid" in r.header("WWW-Authenticate"), f"after all: {r}")
    valid_ok(d, good)


if __name__ == "__main__":
    main()
