#!/usr/bin/python3
"""Regressions of a black-box attack on jwtgated, each against the real daemon:

  admin_flood        1,000 idle connections on the admin listener: POST /revoke still gets
                     200 within a second (the oldest idle connections are evicted)
  admin_off_loopback an admin listener off loopback without admin.token_file is refused
                     (exit 3, by --check-config and by a start, before anything is bound); with a
                     token file it starts with a warning
  token_size         verify.max_token_bytes above 8 KiB raises the decoded caps with it: a
                     correctly signed 12 KiB token is accepted
  check_config       --check-config fails exactly where a start fails, with the same exit code
                     per class of error (3 configuration, 4 key material, 5 revocation state)
                     and a message naming the file and what is wrong with it
  revoke_by_jti      a jti revocation holds whatever exp it is given (or none); an exp that has
                     passed is refused with 400, not acknowledged as a no-op
  protect_metrics    admin.protect_metrics puts /metrics behind the admin token; probes stay open

Every scenario runs and the failures are listed together at the end.
Usage: hardening_test.py --daemon PATH --cli PATH
"""
import argparse
import json
import os
import socket
import subprocess
import time

from harness import (Daemon, Keys, TestFailure, check, hs256_secret, hs256_token, http, log,
                     raise_nofile, run_test)

ISS = "https://issuer.test"
ADMIN_TOKEN = "flood-proof-admin-token"
FLOOD_CONNECTIONS = 1000


def write_private(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)  # exact, whatever the umask


def config_text(d, jwks, state, extra_admin="", extra_verify="", extra_revocation="",
                admin_listen=None, http_max_header=16384):
    return f"""
auth:
  listen: 127.0.0.1:{d.auth_port}
  path_prefix: /auth
admin:
  listen: {admin_listen or f"127.0.0.1:{d.admin_port}"}
{extra_admin}
issuers:
  - issuer: {ISS}
    jwks_file: {jwks}
verify:
  leeway_seconds: 5
  max_lifetime_seconds: 3600
{extra_verify}
revocation:
  dir: {state}
{extra_revocation}
cache: {{entries: 1024}}
pipeline: {{workers: 1}}
http:
  max_header_bytes: {http_max_header}
"""


def run(cmd, timeout=20):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def auth(port, token):
    return http(port, "GET", "/auth", [("Authorization", f"Bearer {token}")])


class World:
    def __init__(self, tmp, args):
        self.tmp = tmp
        self.args = args
        keys = Keys(args.cli, tmp)
        priv, self.jwks = keys.keygen("HS256", "h1", "keys.jwks")
        self.secret = hs256_secret(priv)
        self.now = int(time.time())
        self.token_file = os.path.join(tmp, "admin.token")
        write_private(self.token_file, ADMIN_TOKEN + "\n")

    def token(self, jti, **claims):
        c = {"iss": ISS, "sub": "alice", "iat": self.now, "exp": self.now + 600, "jti": jti}
        c.update(claims)
        return hs256_token(self.secret, "h1", c)

    def daemon(self, name, **kw):
        d_dir = os.path.join(self.tmp, name)
        os.makedirs(d_dir, exist_ok=True)
        state = kw.pop("state", os.path.join(d_dir, "state"))
        return Daemon(self.args.daemon, d_dir, lambda d: config_text(d, self.jwks, state, **kw))


def admin_flood(w):
    d = w.daemon("flood", extra_admin=f"  token_file: {w.token_file}")
    d.start()
    idle = []
    try:
        for _ in range(FLOOD_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", d.admin_port), timeout=5)
            idle.append(s)
        time.sleep(0.2)  # let the daemon accept (and evict) them all
        body = json.dumps({"jti": "flooded"}).encode()
        started = time.monotonic()
        r = http(d.admin_port, "POST", "/revoke",
                 [("Authorization", f"Bearer {ADMIN_TOKEN}")], body, timeout=5)
        took = time.monotonic() - started
        check(r is not None and r.status == 200,
              f"POST /revoke behind {FLOOD_CONNECTIONS} idle connections: {r}")
        check(took < 1.0, f"POST /revoke took {took:.3f} s behind {FLOOD_CONNECTIONS} idle connections")
        live = http(d.admin_port, "GET", "/livez", timeout=5)
        check(live is not None and live.status == 200, f"/livez during the flood: {live}")
        evicted = None
        for line in http(d.admin_port, "GET", "/metrics").body.decode().splitlines():
            if line.startswith('jwtgate_connections_evicted_total{listener="admin"}'):
                evicted = float(line.split()[1])
        check(evicted is not None and evicted >= FLOOD_CONNECTIONS - 256,
              f"jwtgate_connections_evicted_total{{listener=\"admin\"}}: {evicted}")
        log(f"admin_flood: 200 in {took * 1000:.1f} ms behind {FLOOD_CONNECTIONS} idle "
            f"connections, {evicted:.0f} evicted")
    finally:
        for s in idle:
            s.close()
        d.stop()


def admin_off_loopback(w):
    d = w.daemon("exposed", admin_listen="0.0.0.0:0")
    for cmd in ([w.args.daemon, "--check-config", "--config", d.config_path],
                [w.args.daemon, "--config", d.config_path]):
        r = run(cmd)
        check(r.returncode == 3 and "0.0.0.0:0 is not a loopback address and admin.token_file "
              "is not set" in r.stderr, f"{' '.join(cmd[1:])}: {r.returncode} {r.stderr}")
    d = w.daemon("exposed-token", admin_listen="0.0.0.0:0",
                 extra_admin=f"  token_file: {w.token_file}")
    r = run([w.args.daemon, "--check-config", "--config", d.config_path])
    check(r.returncode == 0 and "is not a loopback address: the admin API speaks plain HTTP"
          in r.stderr, f"--check-config with a token off loopback: {r.returncode} {r.stderr}")
    log("admin_off_loopback: refused without a token (exit 3), warned with one")


def token_size(w):
    d = w.daemon("large", extra_verify="  max_token_bytes: 16384", http_max_header=32768)
    d.start()
    try:
        big = w.token("big", pad="x" * 9000)
        check(12000 <= len(big) <= 16384, f"token size {len(big)}")
        r = auth(d.auth_port, big)
        check(r.status == 200, f"a correctly signed {len(big)}-byte token with max_token_bytes "
              f"16384: {r.status} {r.header('WWW-Authenticate')}")
        too_big = w.token("too-big", pad="x" * 12500)
        r = auth(d.auth_port, too_big)
        check(r.status == 401 and "token_too_large" in (r.header("WWW-Authenticate") or ""),
              f"a {len(too_big)}-byte token: {r.status} {r.header('WWW-Authenticate')}")
        log(f"token_size: {len(big)} bytes accepted, {len(too_big)} bytes token_too_large")
    finally:
        d.stop()


def check_config(w):
    tmp = w.tmp
    empty = os.path.join(tmp, "empty.token")
    write_private(empty, "")
    readable = os.path.join(tmp, "readable.token")
    write_private(readable, ADMIN_TOKEN, mode=0o644)
    a_file = os.path.join(tmp, "a-file")
    write_private(a_file, "not a directory")
    deep = os.path.join(tmp, "deep.yaml")
    with open(deep, "w") as f:
        f.write("[" * 20000 + "]" * 20000 + "\n")
    jwks_dir = os.path.join(tmp, "jwks-dir")
    os.makedirs(jwks_dir, exist_ok=True)
    cases = [
        # name, config overrides, expected code, expected message part
        ("admin.token_file missing", {"extra_admin": "  token_file: /nonexistent/admin.token"},
         4, "admin.token_file: /nonexistent/admin.token: cannot open: No such file"),
        ("admin.token_file empty", {"extra_admin": f"  token_file: {empty}"}, 4,
         f"admin.token_file: {empty}: empty"),
        ("admin.token_file readable by everyone", {"extra_admin": f"  token_file: {readable}"},
         4, "readable by every user of this host (mode 0644)"),
        ("revocation.dir without a parent", {"state": "/nonexistent/parent/state"}, 5,
         "revocation.dir /nonexistent/parent/state"),
        ("revocation.dir is a file", {"state": a_file}, 5, "not a directory"),
        ("jwks_file is a directory", {"jwks": jwks_dir}, 4, f"{jwks_dir}: is a directory"),
        ("jwks_file missing", {"jwks": "/nonexistent.jwks"}, 4, "/nonexistent.jwks"),
    ]
    failures = []
    for name, kw, code, message in cases:
        jwks = kw.pop("jwks", w.jwks)
        d_dir = os.path.join(tmp, "cc-" + name.replace(" ", "-").replace(".", "_"))
        os.makedirs(d_dir, exist_ok=True)
        state = kw.pop("state", os.path.join(d_dir, "state"))
        d = Daemon(w.args.daemon, d_dir, lambda d: config_text(d, jwks, state, **kw))
        for what, cmd in (("--check-config", ["--check-config", "--config", d.config_path]),
                          ("a start", ["--config", d.config_path])):
            try:
                r = run([w.args.daemon] + cmd, timeout=10)
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: {what} did not fail (still running after 10 s)")
                continue
            if r.returncode != code or message not in r.stderr:
                failures.append(f"{name}: {what} exited {r.returncode} (expected {code} with "
                                f"'{message}'): {r.stderr.strip()[-300:]}")
    for path, code, message in ((deep, 3, "nested"), (tmp, 3, "is a directory")):
        r = run([w.args.daemon, "--check-config", "--config", path])
        if r.returncode != code or message not in r.stderr:
            failures.append(f"--config {path}: exited {r.returncode} (expected {code} with "
                            f"'{message}'): {r.stderr.strip()[-300:]}")
    check(not failures, "\n  ".join(failures))
    log(f"check_config: {len(cases)} broken configurations: --check-config and a start agree")


def revoke_by_jti(w):
    d = w.daemon("revoke", extra_admin=f"  token_file: {w.token_file}")
    d.start()
    admin = [("Authorization", f"Bearer {ADMIN_TOKEN}")]
    try:
        def revoke(body):
            return http(d.admin_port, "POST", "/revoke", admin, json.dumps(body).encode())

        stolen = w.token("stolen")  # exp now + 600
        check(auth(d.auth_port, stolen).status == 200, "the token before its revocation")
        check(auth(d.auth_port, stolen).status == 200, "the token, cached")
        # The operator does not know the exp and guesses one: the jti is revoked all the same.
        r = revoke({"jti": "stolen", "exp": w.now + 86400})
        check(r.status == 200, f"revoke with a wrong exp: {r}")
        r = auth(d.auth_port, stolen)
        check(r.status == 401 and "revoked" in (r.header("WWW-Authenticate") or ""),
              f"the token after a revocation with the wrong exp: {r.status} "
              f"{r.header('WWW-Authenticate')}")
        # Without exp: kept for verify.max_lifetime_seconds + verify.leeway_seconds.
        other = w.token("no-exp-given")
        check(auth(d.auth_port, other).status == 200, "the second token before its revocation")
        before = int(time.time())
        r = revoke({"jti": "no-exp-given"})
        kept = json.loads(r.body)
        check(r.status == 200 and before + 3605 <= kept["kept_until"] <= int(time.time()) + 3605,
              f"revoke without exp: {r} (expected kept_until now + 3605)")
        check(auth(d.auth_port, other).status == 401, "the second token after its revocation")
        # Scoped to an issuer: that issuer's token is revoked, another issuer's is not.
        fourth = w.token("this-issuer")
        r = revoke({"jti": "this-issuer", "iss": ISS, "exp": w.now + 60})
        check(r.status == 200, f"revoke within this issuer: {r}")
        check(auth(d.auth_port, fourth).status == 401, "a token revoked within its issuer")
        third = w.token("other-issuer")
        r = revoke({"jti": "other-issuer", "iss": "https://someone.else"})
        check(r.status == 200, f"revoke within another issuer: {r}")
        check(auth(d.auth_port, third).status == 200, "a token of this issuer after a "
              "revocation of the same jti within another issuer")
        # An exp that has passed: nothing would be revoked, and the answer says so.
        r = revoke({"jti": "late", "exp": w.now - 3600})
        check(r.status == 400 and "has passed" in r.body.decode(), f"revoke with a past exp: {r}")
        log("revoke_by_jti: revoked with a wrong exp and without one; a past exp is a 400")
    finally:
        d.stop()


def protect_metrics(w):
    d = w.daemon("metrics", extra_admin=f"  token_file: {w.token_file}\n  protect_metrics: true")
    d.start()
    try:
        r = http(d.admin_port, "GET", "/metrics")
        check(r.status == 401, f"/metrics without the token: {r.status}")
        r = http(d.admin_port, "GET", "/metrics", [("Authorization", f"Bearer {ADMIN_TOKEN}")])
        check(r.status == 200 and b"jwtgate_ready 1" in r.body, f"/metrics with the token: {r}")
        check(http(d.admin_port, "GET", "/livez").status == 200, "/livez without a token")
        check(http(d.admin_port, "GET", "/readyz").status == 200, "/readyz without a token")
        log("protect_metrics: /metrics 401 without the token, 200 with it; probes open")
    finally:
        d.stop()


SCENARIOS = [admin_flood, admin_off_loopback, token_size, check_config, revoke_by_jti,
             protect_metrics]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--only", help="run one scenario")
    args = ap.parse_args()

    def scenario(tmp):
        raise_nofile(FLOOD_CONNECTIONS + 512)
        w = World(tmp, args)
        failed = []
        for fn in SCENARIOS:
            if args.only and fn.__name__ != args.only:
                continue
            try:
                fn(w)
            except (TestFailure, OSError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                log(f"FAIL {fn.__name__}: {e}")
                failed.append(fn.__name__)
        check(not failed, f"failed: {', '.join(failed)}")

    run_test("hardening", scenario)


if __name__ == "__main__":
    main()
