#!/usr/bin/python3
"""jwtgated listening on Unix sockets (auth.listen and admin.listen: unix:/PATH).

Checks:
  - both socket files exist once jwtgated is ready: the auth socket mode 0666 (any local process
    may ask, as it may connect to a loopback port), the admin socket 0660;
  - the auth socket answers 200 with X-Auth-Sub for a valid token, 401 without one and for a
    forged one, on one keep-alive connection; the admin socket answers /readyz and /revoke;
  - nginx's auth_request reaches jwtgated through `server unix:...` (200 and 401 at the front);
  - a second jwtgated on the same auth socket is refused (exit 6, "is in use") and the first
    keeps serving; a regular file at the path is refused (exit 6) and left as it was;
  - a stale socket file (its process gone) is replaced;
  - an abstract socket (unix:@name) is a configuration error (exit 3); --check-config refuses
    a missing socket directory or a regular file at the path (exit 6, as a start does) and
    warns about a directory every user may write to;
  - SIGTERM: exit 0 and both socket files removed.

Usage: unix_socket_test.py --daemon PATH --cli PATH
"""
import argparse
import os
import signal
import socket
import stat
import subprocess
import time

from harness import (Conn, Daemon, Keys, Nginx, TestFailure, auth_request_conf, check, free_port,
                     http, log, run_test)

ISS = "https://issuer.test"
EXIT_CONFIG = 3
EXIT_SYSTEM = 6


def config_text(sock_dir, jwks, state, name=""):
    return f"""
auth:
  listen: unix:{sock_dir}/auth{name}.sock
  path_prefix: /auth
admin:
  listen: unix:{sock_dir}/admin{name}.sock
issuers:
  - issuer: {ISS}
    jwks_file: {jwks}
verify:
  audiences: [api]
  leeway_seconds: 5
revocation:
  dir: {state}
pipeline: {{workers: 1}}
"""


def unix_daemon(args, tmp, socks, jwks, name, auth_path=None):
    """A jwtgated of its own directory with both listeners on Unix sockets in `socks`
    (auth{name}.sock, admin{name}.sock; the auth one at `auth_path` when given)."""
    directory = os.path.join(tmp, f"daemon{name}")
    os.makedirs(directory)
    text = config_text(socks, jwks, os.path.join(directory, "rev"), name)
    if auth_path:
        text = text.replace(f"unix:{socks}/auth{name}.sock", f"unix:{auth_path}")
    return Daemon(args.daemon, directory, lambda d: text,
                  admin_unix=f"{socks}/admin{name}.sock")


def mode_of(path):
    st = os.lstat(path)
    check(stat.S_ISSOCK(st.st_mode), f"{path} is not a socket")
    return stat.S_IMODE(st.st_mode)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    run_test("unix_socket", lambda tmp: scenario(tmp, args))


def scenario(tmp, args):
    keys = Keys(args.cli, tmp)
    priv, jwks = keys.keygen("ES256", "k1", "keys.jwks")
    other_priv, _ = keys.keygen("ES256", "k1", "other.jwks")
    now = int(time.time())

    def token(sub, key=priv, jti=None):
        claims = {"iss": ISS, "aud": "api", "sub": sub, "iat": now - 10, "exp": now + 600}
        if jti:
            claims["jti"] = jti
        return keys.sign(key, "ES256", "k1", claims)

    valid = token("alice")
    forged = token("alice", key=other_priv)
    to_revoke = token("carol", jti="j-unix-revoke")
    # sun_path holds 107 bytes: the sockets live in a short directory of their own.
    socks = os.path.join("/tmp", os.path.basename(tmp) + ".s")
    os.makedirs(socks)
    auth_sock, admin_sock = f"{socks}/auth.sock", f"{socks}/admin.sock"
    d = unix_daemon(args, tmp, socks, jwks, "")
    # A stale socket file at the auth path, as a killed process leaves it.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(auth_sock)
    stale.close()
    check(os.path.exists(auth_sock), "the stale socket file was not left behind")
    d.start()
    front, upstream = free_port(), free_port()
    ngx = Nginx(tmp, auth_request_conf(front, upstream, 0, claim_headers=(),
                                       auth_server=f"unix:{auth_sock}"))
    try:
        log("jwtgated ready on Unix sockets; the stale socket file was replaced")
        check(mode_of(auth_sock) == 0o666, f"auth socket mode {oct(mode_of(auth_sock))}")
        check(mode_of(admin_sock) == 0o660, f"admin socket mode {oct(mode_of(admin_sock))}")
        log("socket modes: auth 0666, admin 0660")

        c = Conn(None, unix_path=auth_sock)
        try:
            r = c.request("GET", "/auth", [("Authorization", f"Bearer {valid}")])
            check(r.status == 200, f"valid token: {r.status}")
            check(r.header("X-Auth-Sub") == "alice", f"X-Auth-Sub: {r.header('X-Auth-Sub')}")
            r = c.request("GET", "/auth")
            check(r.status == 401, f"no token: {r.status}")
            r = c.request("GET", "/auth", [("Authorization", f"Bearer {forged}")])
            check(r.status == 401, f"forged token: {r.status}")
            check('error="invalid_token"' in (r.header("WWW-Authenticate") or ""),
                  f"forged token: {r.header('WWW-Authenticate')}")
        finally:
            c.close()
        log("auth socket: 200 with identity, 401 without a token and for a forged one, "
            "on one keep-alive connection")

        r = http(None, "GET", "/auth", [("Authorization", f"Bearer {to_revoke}")], unix_path=auth_sock)
        check(r.status == 200, f"token before revocation: {r.status}")
        body = b'{"jti": "j-unix-revoke", "iss": "' + ISS.encode() + b'", "exp": ' + \
            str(now + 600).encode() + b"}"
        r = http(None, "POST", "/revoke", [("Content-Type", "application/json")], body,
                 unix_path=admin_sock)
        check(r.status == 200, f"POST /revoke over the admin socket: {r.status} {r.body!r}")
        r = http(None, "GET", "/auth", [("Authorization", f"Bearer {to_revoke}")], unix_path=auth_sock)
        check(r.status == 401, f"revoked token: {r.status}")
        log("admin socket: /revoke takes effect on the auth socket")

        ngx.start([front, upstream])
        r = http(front, "GET", "/", [("Authorization", f"Bearer {valid}")])
        check(r.status == 200 and b"sub=[alice]" in r.body,
              f"nginx front, valid token: {r.status} {r.body!r}")
        r = http(front, "GET", "/")
        check(r.status == 401, f"nginx front, no token: {r.status}")
        log("nginx auth_request through `server unix:...`: 200 with identity, 401 without")

        # A second daemon on the same auth socket (its own admin socket and state).
        second = unix_daemon(args, tmp, socks, jwks, "2", auth_path=auth_sock)
        rc, text = second.refused_start()
        check(rc == EXIT_SYSTEM, f"second daemon on a live socket exited {rc}:\n{text}")
        check(f"auth.listen unix:{auth_sock}: {auth_sock} is in use" in text,
              f"second daemon's message:\n{text}")
        r = http(None, "GET", "/auth", [("Authorization", f"Bearer {valid}")], unix_path=auth_sock)
        check(r.status == 200, f"the first daemon after the refused second: {r.status}")
        log("a second daemon on a live socket exits 6 and names it; the first still serves")

        # A regular file where the socket should go.
        plain = f"{socks}/plain.sock"
        with open(plain, "w") as f:
            f.write("not a socket\n")
        third = unix_daemon(args, tmp, socks, jwks, "3", auth_path=plain)
        rc, text = third.refused_start()
        check(rc == EXIT_SYSTEM, f"a regular file at the path: exit {rc}:\n{text}")
        check(f"{plain} exists and is not a socket" in text, f"message:\n{text}")
        with open(plain) as f:
            check(f.read() == "not a socket\n", "the regular file was changed")
        log("a regular file at the path: exit 6, named, left as it was")

        # An abstract socket: no file permissions guard it; refused as a configuration error.
        abstract = os.path.join(tmp, "abstract.yaml")
        with open(abstract, "w") as f:
            f.write(config_text(socks, jwks, os.path.join(tmp, "rev4"), "4")
                    .replace(f"unix:{socks}/admin4.sock", "unix:@jwtgate-admin"))
        p = subprocess.run([args.daemon, "--check-config", "--config", abstract],
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == EXIT_CONFIG, f"abstract socket: --check-config exit {p.returncode}")
        check("admin.listen: abstract Unix sockets are refused" in p.stderr,
              f"abstract socket: {p.stderr}")
        log("an abstract socket: --check-config exit 3, named")

        def check_config(listen, name):
            path = os.path.join(tmp, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(config_text(socks, jwks, os.path.join(tmp, f"rev-{name}"), name)
                        .replace(f"unix:{socks}/auth{name}.sock", listen))
            p = subprocess.run([args.daemon, "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=10)
            return p.returncode, p.stderr

        rc, err = check_config(f"unix:{socks}/absent/auth.sock", "5")
        check(rc == EXIT_SYSTEM and f"auth.listen unix:{socks}/absent/auth.sock: the directory "
              f"{socks}/absent does not exist" in err, f"missing directory: {rc} {err}")
        rc, err = check_config(f"unix:{plain}", "6")
        check(rc == EXIT_SYSTEM and f"{plain} exists and is not a socket" in err,
              f"--check-config, a regular file: {rc} {err}")
        shared = os.path.join(socks, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        rc, err = check_config(f"unix:{shared}/auth.sock", "7")
        check(rc == 0 and "is writable by every user (mode 0777) without the sticky bit" in err,
              f"--check-config, a world-writable directory: {rc} {err}")
        os.rmdir(shared)
        log("--check-config: a missing directory or a regular file at the path exit 6 as a "
            "start would; a world-writable directory is warned about")

        rc = d.stop()
        check(rc == 0, f"SIGTERM: exit {rc}")
        check(not os.path.exists(auth_sock) and not os.path.exists(admin_sock),
              f"socket files left after shutdown: {os.listdir(socks)}")
        log("SIGTERM: exit 0, both socket files removed")
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        log("nginx error log:\n" + ngx.error_log())
        raise
    finally:
        ngx.stop()
        d.stop(signal.SIGKILL)
        for name in os.listdir(socks):
            os.unlink(os.path.join(socks, name))
        os.rmdir(socks)


if __name__ == "__main__":
    main()
