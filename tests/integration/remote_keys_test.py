#!/usr/bin/python3
"""Remote keys: jwtgated and `jwtgate verify` fetch an issuer's JWKS over HTTPS (OpenID Connect
discovery or a configured jwks_uri), keep it current, and fail safe when the server misbehaves.

An identity provider rotates its keys by publishing a new JWKS; a verifier that reads a file
needs an operator for each rotation, one that fetches must not trust whatever comes back, must
not hammer the provider when tokens name random kids, and must neither fail open nor drop a good
key set because the provider is down. Each check runs against a real nginx serving TLS (a CA and
a certificate for 127.0.0.1 made here with the openssl CLI) on loopback, whose access log (with
$status and $request_uri) shows what the daemon really fetched.

Part `keys`:
  discovery        `discovery: true`: the openid-configuration, then its jwks_uri, are fetched;
                   a token of the issuer gets 200 with X-Auth-Iss
  jwks_uri         a direct https jwks_uri, and an http one to loopback with allow_http: 200
  rotation         the JWKS file is replaced by one with a new key: the first token signed by it
                   gets 200 with no reload (one unknown-kid refetch, counted)
  binding          two remote issuers on one server: A's key claiming iss B is iss_not_allowed
  refresh_clamp    refresh_min 1 / refresh_max 2: Cache-Control max-age=0 gives a fetch about
                   every second, max-age=100000 one about every 2 s (not never); the unchanged
                   file comes back as 304 (ETag) and outcome="not_modified" counts them
  cli              `jwtgate verify --jwks-uri` and `--discovery`: exit 0 for a good token, 1 for a
                   rejected one, 2+ naming the URL for a refused issuer, an untrusted
                   certificate, a dead server, http without --allow-http
Part `failures` (refresh every second, so every switch is seen within a second or two):
  bad_documents    the server answers garbage, 100 KB over max_jwks_bytes, a body slower than
                   fetch_timeout_ms (nginx limit_rate; and trickled a few bytes every 0.1 s, which
                   only a total timeout ends), a redirect to another host, HTTP 500, a JWKS with
                   a private key, a 1024-bit RSA key, an oct key, a kid of another issuer: each
                   time the right outcome counter rises, the good key keeps verifying (200), the
                   bad key verifies nothing; then a good document is accepted again
  untrusted_ca     the server's certificate is not signed by ca_file: not ready, network_error
  discovery_mismatch  the discovery document names another issuer: not ready, issuer_mismatch,
                   and its jwks_uri is never fetched
  server_down      nginx stops: the last good set serves, then after max_stale_seconds tokens
                   (also one already verified and cached) get 503, reason issuer_keys_stale,
                   jwtgate_jwks_stale 1; nginx back: 200 again within seconds
  cache_restart    a daemon writes key_cache_dir; nginx stops; a new daemon is ready from the
                   cache (jwtgate_jwks_from_cache 1) and serves 200; nginx back: from_cache 0
  no_cache_down    nginx down, no cache: /readyz stays 503 and no token is allowed
Part `storm`:
  storm            10,000 tokens with random kids within about a second on pipelined keep-alive
                   connections: at most 1 + ceil(duration / cooldown) JWKS requests reach nginx,
                   every answer is 401 unknown_kid, cooldown rejections are counted; a second
                   wave is refused from the cooldown alone; a valid token still gets 200

Every scenario of a part runs and the failures are listed together at the end. Every process
started here is stopped at the end and the temporary directory removed (--keep keeps it).
Usage: remote_keys_test.py --daemon PATH --cli PATH --part keys|failures|storm [--only NAME]
       remote_keys_test.py --selftest [--cli PATH] [--daemon PATH]   (the TLS nginx alone)
"""
import argparse
import collections
import http.client as httpclient
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from harness import (Daemon, Keys, Nginx, TestFailure, b64url, b64url_decode, check,
                     exit_on_sigterm, free_port, hs256_secret, hs256_token, http, log,
                     metric_value, removing_tmp, run_test, wait_port, write_atomic)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DISCOVERY_PATH = "/realms/test"            # issuer https://127.0.0.1:PORT/realms/test
CERTS_PATH = DISCOVERY_PATH + "/protocol/openid-connect/certs"
LIAR_PATH = "/realms/liar"                 # its discovery document names /realms/test
WELL_KNOWN = "/.well-known/openid-configuration"
ISS_URI = "https://uri.test"
ISS_HTTP = "https://http-sidecar.test"
ISS_ROTATION = "https://rotation.test"
ISS_R0 = "https://max-age-0.test"
ISS_R100K = "https://max-age-100000.test"
ISS_FAIL = "https://failing.test"
ISS_FILE = "https://file.test"
ISS_STORM = "https://storm.test"
SUCCESS = ("updated", "unchanged", "not_modified")


# ---------------------------------------------------------------------------------------------
# TLS: a CA and a server certificate, nginx serving a docroot over https (and http)

def openssl(*args, stdin=None):
    r = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, timeout=30)
    check(r.returncode == 0, f"openssl {' '.join(args)} exited {r.returncode}: "
          f"{r.stderr.decode(errors='replace')}")
    return r.stdout


class Pki:
    """A self-signed CA (ca.pem) and, with server=True, a key and certificate it signed for
    IP:127.0.0.1 and DNS:localhost (server.key, server.pem). EC P-256: quick to make."""

    def __init__(self, directory, name, server=True):
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.pem")
        ca_key = os.path.join(self.dir, "ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", ca_key, "-out", self.ca, "-days", "2", "-subj", f"/CN=jwtgate {name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        if not server:
            return
        self.key = os.path.join(self.dir, "server.key")
        self.cert = os.path.join(self.dir, "server.pem")
        csr = os.path.join(self.dir, "server.csr")
        ext = os.path.join(self.dir, "server.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-set_serial",
                str(secrets.randbits(63)), "-days", "2", "-extfile", ext, "-out", self.cert)


# Per served file F, a flag file next to it changes the answer: F.fail -> 500, F.redirect ->
# 302 to the same path on https://localhost (another host for a client that asked 127.0.0.1),
# F.slow -> the first ~1 KB (head included) at once, then 500 bytes/s (nginx's limit_rate: a
# burst about every second), F.trickle -> F through the Trickle upstream (unbuffered): a few
# bytes every 0.1 s, so that only a total timeout, not an idle one, ends the request.
FLAGS = """
      if (-f $request_filename.fail) { return 500; }
      if (-f $request_filename.redirect) { return 302 https://localhost:$server_port$uri; }
      if (-f $request_filename.slow) { limit_rate 500; limit_rate_after 1024; }
      if (-f $request_filename.trickle) { proxy_pass http://127.0.0.1:%d; }"""


class Trickle:
    """A loopback HTTP/1.0 upstream for nginx: answers GET /path with the docroot's file, its
    head at once, then the body PIECE bytes every INTERVAL seconds (threads, stdlib only)."""

    PIECE = 32
    INTERVAL = 0.1

    def __init__(self, docroot):
        self.docroot = docroot
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        try:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
            with open(self.docroot + path, "rb") as f:
                body = f.read()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), self.PIECE):
                if self.closed.wait(self.INTERVAL):
                    return
                conn.sendall(body[i:i + self.PIECE])
        except OSError:
            pass  # the client gave up: what a trickle is for
        finally:
            conn.close()

    def close(self):
        self.closed.set()
        self.sock.close()


class TlsNginx(Nginx):
    """nginx serving `docroot` on https://127.0.0.1:port (and http://127.0.0.1:http_port), with
    an access log of every request. /r0/ answers Cache-Control: max-age=0, /r100k/ max-age=100000,
    elsewhere no Cache-Control. Static files: ETag, and 304 for a matching If-None-Match."""

    def __init__(self, directory, pki):
        self.port = free_port()
        self.http_port = free_port()
        self.docroot = os.path.join(directory, "www")
        os.makedirs(self.docroot, exist_ok=True)
        self.access_log_path = os.path.join(directory, "nginx", "logs", "fetches.log")
        self.trickle = Trickle(self.docroot)
        flags = FLAGS % self.trickle.port
        body = f"""
  log_format fetches '$msec $status $request_method $request_uri $bytes_sent "$http_if_none_match"';
  server {{
    listen 127.0.0.1:{self.port} ssl;
    listen 127.0.0.1:{self.http_port};
    ssl_certificate {pki.cert};
    ssl_certificate_key {pki.key};
    access_log {self.access_log_path} fetches;
    root {self.docroot};
    default_type application/json;
    keepalive_timeout 30s;
    proxy_buffering off;
    location / {{{flags}
    }}
    location /r0/ {{
      add_header Cache-Control "max-age=0" always;{flags}
    }}
    location /r100k/ {{
      add_header Cache-Control "max-age=100000" always;{flags}
    }}
  }}
"""
        super().__init__(directory, body)
        if os.geteuid() == 0:
            # A master started by root runs its workers as nobody, who cannot read the docroot
            # in the private (0700) temporary directory: run them as root.
            with open(self.conf) as f:
                text = f.read()
            with open(self.conf, "w") as f:
                f.write("user root;\n" + text)

    @property
    def base(self):
        return f"https://127.0.0.1:{self.port}"

    def up(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        super().start([self.port, self.http_port])

    def stop(self, fast=False):
        """fast: SIGTERM (connections cut, as a crash would); else a graceful SIGQUIT."""
        if self.up() and fast:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        super().stop()

    def serve(self, path, content):
        """Puts `content` (str, or a dict written as JSON) at URL path `path`, atomically."""
        full = self.docroot + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        write_atomic(full, content if isinstance(content, str) else json.dumps(content))

    def flag(self, path, kind, on=True):
        full = f"{self.docroot}{path}.{kind}"
        if on:
            with open(full, "w"):
                pass
        elif os.path.exists(full):
            os.unlink(full)

    def clear_flags(self, path):
        for kind in ("fail", "redirect", "slow", "trickle"):
            self.flag(path, kind, False)

    def requests(self, uri, since=0.0, until=float("inf")):
        """[(time, status)] of the requests for `uri` logged in [since, until] (epoch seconds)."""
        out = []
        try:
            with open(self.access_log_path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 4 and parts[3] == uri and since <= float(parts[0]) <= until:
                        out.append((float(parts[0]), int(parts[1])))
        except FileNotFoundError:
            pass
        return out


# ---------------------------------------------------------------------------------------------
# Key material that must be refused, and tokens

def jwks_keys(path):
    with open(path) as f:
        return json.load(f)["keys"]


def private_ec_jwk(public_jwk, pem_path):
    """The private JWK (with `d`) of an EC P-256 key: the public JWK plus d from the PEM."""
    text = openssl("pkey", "-in", pem_path, "-noout", "-text").decode()
    m = re.search(r"priv:\s*((?:[0-9a-f]{2}:?\s*)+)pub:", text)
    check(m is not None, f"no private scalar in openssl's dump of {pem_path}")
    d = bytes.fromhex(re.sub(r"[:\s]", "", m.group(1)))[-32:].rjust(32, b"\0")
    return dict(public_jwk, d=b64url(d))


def weak_rsa_key(directory, kid):
    """A 1024-bit RSA key made by openssl: (private PEM path, its public JWK)."""
    pem = os.path.join(directory, f"{kid}.rsa1024.pem")
    openssl("genrsa", "-out", pem, "1024")
    modulus = openssl("rsa", "-in", pem, "-noout", "-modulus").decode().strip()
    n = bytes.fromhex(modulus.split("=", 1)[1])
    check(len(n) == 128, f"openssl genrsa 1024 made a {len(n) * 8}-bit modulus")
    return pem, {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64url(n),
                 "e": "AQAB"}


def compact(header, claims):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}"


def rs256_token(pem, kid, claims):
    signing_input = compact({"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
    sig = openssl("dgst", "-sha256", "-sign", pem, stdin=signing_input.encode())
    return f"{signing_input}.{b64url(sig)}"


def random_kid_token(iss, now):
    """A token naming a random kid, with a well-formed but meaningless ES256 signature."""
    kid = secrets.token_hex(8)
    signing_input = compact({"alg": "ES256", "typ": "JWT", "kid": kid},
                            {"iss": iss, "sub": "storm", "iat": now, "exp": now + 600, "jti": kid})
    return f"{signing_input}.{b64url(secrets.token_bytes(64))}"


# ---------------------------------------------------------------------------------------------
# jwtgated

def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)  # a YAML double-quoted string


def config_text(d, issuers, extra=""):
    lines = [
        "auth:", f"  listen: 127.0.0.1:{d.auth_port}", "  path_prefix: /auth",
        "admin:", f"  listen: 127.0.0.1:{d.admin_port}",
        "issuers:",
    ]
    for entry in issuers:
        for i, (k, v) in enumerate(entry.items()):
            lines.append(("  - " if i == 0 else "    ") + f"{k}: {yaml_value(v)}")
    return "\n".join(lines) + "\n" + extra + "\n"


def launch(d):
    """Starts jwtgated without waiting for /readyz (its issuers may have no keys yet)."""
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    d.log = open(d.log_path, "ab")
    d.proc = subprocess.Popen([d.binary, "--config", d.config_path], stdout=d.log, stderr=d.log,
                              env=env)
    wait_port(d.admin_port, proc=d.proc)


def auth(d, token):
    return http(d.auth_port, "GET", "/auth", [("Authorization", f"Bearer {token}")])


def reason_of(r):
    m = re.search(r'error_description="([^"]*)"', r.header("WWW-Authenticate") or "")
    return m.group(1) if m else None


def show(r):
    return f"{r.status} {r.header('WWW-Authenticate') or ''}".strip()


def expect_status(d, token, status, what, reason=None):
    r = auth(d, token)
    check(r.status == status and (reason is None or reason_of(r) == reason),
          f"{what}: expected {status}{' ' + reason if reason else ''}, got {show(r)}")
    return r


def counter(d, name, iss, **labels):
    """A counter of one issuer; 0 while it has no sample yet."""
    return metric_value(d.metrics(), name, dict(issuer=iss, **labels)) or 0.0


def outcome(d, iss, what):
    return counter(d, "jwtgate_jwks_fetches_total", iss, outcome=what)


def successes(d, iss):
    text = d.metrics()
    return sum(metric_value(text, "jwtgate_jwks_fetches_total",
                            {"issuer": iss, "outcome": o}) or 0.0 for o in SUCCESS)


def gauge(d, name, iss):
    v = metric_value(d.metrics(), name, {"issuer": iss})
    check(v is not None, f'{name}{{issuer="{iss}"}} missing from /metrics')
    return v


def reason_count(d, reason):
    return metric_value(d.metrics(), "jwtgate_auth_requests_total", {"reason": reason}) or 0.0


def wait_until(what, fn, timeout, interval=0.1):
    """Polls fn() -> (done, observed) until done; fails naming the last observation."""
    deadline = time.monotonic() + timeout
    while True:
        done, seen = fn()
        if done:
            return seen
        if time.monotonic() > deadline:
            if hasattr(seen, "status"):
                seen = show(seen)
            raise TestFailure(f"{what}: not within {timeout} s (last seen: {seen})")
        time.sleep(interval)


def settle(d, *issuers):
    """Waits until a fetch of each issuer is counted (/readyz can turn 200 when the keys are
    published, a moment before the fetch's outcome is counted): baselines taken after this are
    not moved by the first fetch."""
    for iss in issuers:
        wait_until(f"a successful fetch of {iss} counted in jwtgate_jwks_fetches_total",
                   lambda: ((v := successes(d, iss)) >= 1, v), 3)


def readyz(d):
    try:
        return http(d.admin_port, "GET", "/readyz", timeout=2).status
    except OSError as e:
        return f"error {e}"


def stays_unready(d, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = readyz(d)
        check(s == 503, f"{what}: /readyz expected 503 (no keys), got {s}")
        time.sleep(0.2)


def run(cmd, timeout=30):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class World:
    """The TLS nginx, keys, and every daemon started (stopped by close())."""

    def __init__(self, tmp, args):
        self.tmp = tmp
        self.args = args
        self.pki = Pki(tmp, "pki")
        self.other_pki = Pki(tmp, "other-pki", server=False)
        self.nginx = TlsNginx(tmp, self.pki)
        self.keys = Keys(args.cli, os.path.join(tmp, "keys")) if args.cli else None
        if self.keys:
            os.makedirs(self.keys.dir, exist_ok=True)
        self.daemons = []
        self.made = {}
        self.now = int(time.time())
        self.jti = 0
        self.iss_discovery = self.nginx.base + DISCOVERY_PATH
        self.iss_liar = self.nginx.base + LIAR_PATH
        self.nginx.serve(DISCOVERY_PATH + WELL_KNOWN, self.discovery_doc(self.iss_discovery))
        # The liar's document names the /realms/test issuer, and a jwks_uri of its own.
        self.nginx.serve(LIAR_PATH + WELL_KNOWN, dict(self.discovery_doc(self.iss_discovery),
                                                      jwks_uri=self.iss_liar + "/certs"))
        try:
            self.nginx.start()
        except BaseException:
            self.nginx.stop(fast=True)
            self.nginx.trickle.close()
            raise

    def discovery_doc(self, issuer):
        return {"issuer": issuer, "jwks_uri": self.nginx.base + CERTS_PATH,
                "authorization_endpoint": issuer + "/protocol/openid-connect/auth",
                "token_endpoint": issuer + "/protocol/openid-connect/token",
                "id_token_signing_alg_values_supported": ["ES256"],
                "response_types_supported": ["code"], "subject_types_supported": ["public"]}

    def key(self, kid, alg="ES256"):
        """(private key path, public JWKs) of the key `kid`, made on first use (kid.jwks holds
        its public JWK alone)."""
        if kid not in self.made:
            priv, jwks = self.keys.keygen(alg, kid, f"{kid}.jwks")
            self.made[kid] = (priv, jwks_keys(jwks))
        return self.made[kid]

    def token(self, priv, kid, iss, alg="ES256"):
        self.jti += 1
        return self.keys.sign(priv, alg, kid, {"iss": iss, "sub": "alice", "iat": self.now,
                                               "exp": self.now + 900, "jti": f"t{self.jti}"})

    def claims(self, iss):
        self.jti += 1
        return {"iss": iss, "sub": "alice", "iat": self.now, "exp": self.now + 900,
                "jti": f"t{self.jti}"}

    def daemon(self, name, issuers, extra=""):
        d_dir = os.path.join(self.tmp, name)
        os.makedirs(d_dir, exist_ok=True)
        d = Daemon(self.args.daemon, d_dir, lambda d: config_text(d, issuers, extra))
        self.daemons.append(d)
        return d

    def remote(self, issuer, path=None, **opts):
        """An issuer entry for the https server: jwks_uri `path`, or discovery without one."""
        e = {"issuer": issuer}
        if path is None:
            e["discovery"] = True
        else:
            e["jwks_uri"] = self.nginx.base + path
        e["ca_file"] = self.pki.ca
        e.update(opts)
        return e

    def nginx_up(self):
        if not self.nginx.up():
            self.nginx.start()

    def close(self):
        for d in self.daemons:
            if d.alive():
                d.stop(signal.SIGKILL)
        self.nginx.stop(fast=True)
        self.nginx.trickle.close()

    def diagnostics(self, d=None):
        text = ""
        if d is not None:
            text += f"jwtgated log:\n{d.log_text()}\n"
        text += f"nginx error log:\n{self.nginx.error_log()}\n"
        try:
            with open(self.nginx.access_log_path) as f:
                text += "nginx access log (tail):\n" + "".join(f.readlines()[-15:])
        except OSError:
            pass
        return text


def scenario_daemon(w, d, fn, *more):
    """Runs fn(), which starts d (and the daemons in `more`); on failure prints their logs; stops
    them in every case."""
    try:
        fn()
    except Exception:
        for x in (d,) + more:
            log(f"{os.path.basename(x.dir)}: " + w.diagnostics(x))
        raise
    finally:
        for x in (d,) + more:
            if x.alive():
                x.stop(signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Part keys

def discovery(w):
    w.nginx_up()
    priv, jwks = w.key("kd1")
    w.nginx.serve(CERTS_PATH, {"keys": jwks})
    since = time.time()
    d = w.daemon("discovery", [w.remote(w.iss_discovery)])

    def body():
        d.start()
        r = expect_status(d, w.token(priv, "kd1", w.iss_discovery), 200, "a token of the "
                          "issuer found by discovery")
        check(r.header("X-Auth-Iss") == w.iss_discovery,
              f"X-Auth-Iss: expected {w.iss_discovery}, got {r.header('X-Auth-Iss')}")
        doc = w.nginx.requests(DISCOVERY_PATH + WELL_KNOWN, since)
        certs = w.nginx.requests(CERTS_PATH, since)
        check(doc and doc[0][1] == 200, f"GET {DISCOVERY_PATH + WELL_KNOWN}: expected one 200 in "
              f"nginx's log, got {doc}")
        check(certs and certs[0][1] == 200 and certs[0][0] >= doc[0][0],
              f"GET {CERTS_PATH} (the document's jwks_uri) after the document: expected 200, got "
              f"{certs} (document {doc})")
        settle(d, w.iss_discovery)
        for name, want in (("jwtgate_jwks_keys", 1), ("jwtgate_jwks_stale", 0),
                           ("jwtgate_jwks_from_cache", 0)):
            v = gauge(d, name, w.iss_discovery)
            check(v == want, f"{name}: expected {want}, got {v}")
        v = outcome(d, w.iss_discovery, "updated")
        check(v >= 1, f'jwtgate_jwks_fetches_total{{outcome="updated"}}: expected >= 1 after the '
              f"first fetch, got {v}")
        rc = d.stop()
        check(rc == 0, f"jwtgated exit status on SIGTERM: expected 0, got {rc}")
    scenario_daemon(w, d, body)
    log("discovery: openid-configuration then jwks_uri fetched over TLS; token 200, X-Auth-Iss set")


def jwks_uri(w):
    w.nginx_up()
    priv_u, jwks_u = w.key("ku1")
    priv_h, jwks_h = w.key("kh1")
    w.nginx.serve("/u/jwks.json", {"keys": jwks_u})
    w.nginx.serve("/h/jwks.json", {"keys": jwks_h})
    http_entry = {"issuer": ISS_HTTP,
                  "jwks_uri": f"http://127.0.0.1:{w.nginx.http_port}/h/jwks.json",
                  "allow_http": True}
    d = w.daemon("jwks-uri", [w.remote(ISS_URI, "/u/jwks.json"), http_entry])

    def body():
        d.start()
        for iss, priv, kid, how in ((ISS_URI, priv_u, "ku1", "https jwks_uri"),
                                    (ISS_HTTP, priv_h, "kh1", "http jwks_uri with allow_http")):
            r = expect_status(d, w.token(priv, kid, iss), 200, f"a token of the {how} issuer")
            check(r.header("X-Auth-Iss") == iss,
                  f"X-Auth-Iss: expected {iss}, got {r.header('X-Auth-Iss')}")
            v = gauge(d, "jwtgate_jwks_keys", iss)
            check(v == 1, f"jwtgate_jwks_keys of {iss}: expected 1, got {v}")
    scenario_daemon(w, d, body)
    log("jwks_uri: https jwks_uri and http (loopback, allow_http) jwks_uri: tokens 200")


def rotation(w):
    w.nginx_up()
    priv1, jwks1 = w.key("kr1")
    priv2, jwks2 = w.key("kr2")
    w.nginx.serve("/rot/jwks.json", {"keys": jwks1})
    # Default refresh interval (no max-age: refresh_max 3600): only the unknown kid can fetch.
    d = w.daemon("rotation", [w.remote(ISS_ROTATION, "/rot/jwks.json")])

    def body():
        d.start()
        expect_status(d, w.token(priv1, "kr1", ISS_ROTATION), 200, "a token of the first key")
        settle(d, ISS_ROTATION)
        refetches = counter(d, "jwtgate_jwks_unknown_kid_refetches_total", ISS_ROTATION)
        updated = outcome(d, ISS_ROTATION, "updated")
        fetched = len(w.nginx.requests("/rot/jwks.json"))
        w.nginx.serve("/rot/jwks.json", {"keys": jwks1 + jwks2})  # the IdP rotates
        r = auth(d, w.token(priv2, "kr2", ISS_ROTATION))
        check(r.status == 200, f"the first token of the new key kr2, no reload: expected 200 "
              f"(after one unknown-kid refetch), got {show(r)}")
        # The answer may leave a moment before the fetch is counted.
        wait_until("the refetch counted", lambda: (
            (v := outcome(d, ISS_ROTATION, "updated")) > updated, v), 2)
        after = counter(d, "jwtgate_jwks_unknown_kid_refetches_total", ISS_ROTATION)
        check(after == refetches + 1, f"jwtgate_jwks_unknown_kid_refetches_total: expected "
              f"{refetches:.0f} + 1, got {after:.0f}")
        u = outcome(d, ISS_ROTATION, "updated")
        check(u == updated + 1, f'outcome="updated": expected {updated:.0f} + 1, got {u:.0f}')
        n = len(w.nginx.requests("/rot/jwks.json")) - fetched
        check(n == 1, f"JWKS requests for the rotation: expected 1, nginx logged {n}")
        v = gauge(d, "jwtgate_jwks_keys", ISS_ROTATION)
        check(v == 2, f"jwtgate_jwks_keys after the rotation: expected 2, got {v}")
        expect_status(d, w.token(priv2, "kr2", ISS_ROTATION), 200, "a second token of kr2")
        expect_status(d, w.token(priv1, "kr1", ISS_ROTATION), 200, "kr1, kept in the new set")
    scenario_daemon(w, d, body)
    log("rotation: the first token of the new key got 200 with no reload (one refetch)")


def binding(w):
    w.nginx_up()
    priv_a, jwks_a = w.key("kba")
    priv_b, jwks_b = w.key("kbb")
    w.nginx.serve("/issuer-a/jwks.json", {"keys": jwks_a})
    w.nginx.serve("/issuer-b/jwks.json", {"keys": jwks_b})
    iss_a, iss_b = w.nginx.base + "/issuer-a", w.nginx.base + "/issuer-b"
    d = w.daemon("binding", [w.remote(iss_a, "/issuer-a/jwks.json"),
                             w.remote(iss_b, "/issuer-b/jwks.json")])

    def body():
        d.start()
        expect_status(d, w.token(priv_a, "kba", iss_a), 200, "A's key for A")
        expect_status(d, w.token(priv_b, "kbb", iss_b), 200, "B's key for B")
        expect_status(d, w.token(priv_a, "kba", iss_b), 401, "A's key claiming iss B",
                      "iss_not_allowed")
        expect_status(d, w.token(priv_b, "kbb", iss_a), 401, "B's key claiming iss A",
                      "iss_not_allowed")
    scenario_daemon(w, d, body)
    log("binding: two remote issuers on one server; a key speaks only for its own issuer")


def refresh_clamp(w):
    w.nginx_up()
    priv0, jwks0 = w.key("k0")
    priv1, jwks1 = w.key("k100k")
    w.nginx.serve("/r0/jwks.json", {"keys": jwks0})
    w.nginx.serve("/r100k/jwks.json", {"keys": jwks1})
    fast = {"refresh_min_seconds": 1, "refresh_max_seconds": 2}
    d = w.daemon("refresh", [w.remote(ISS_R0, "/r0/jwks.json", **fast),
                             w.remote(ISS_R100K, "/r100k/jwks.json", **fast)])
    window = 6.0

    def body():
        d.start()
        settle(d, ISS_R0, ISS_R100K)
        time.sleep(0.3)
        nm0, nm1 = outcome(d, ISS_R0, "not_modified"), outcome(d, ISS_R100K, "not_modified")
        start = time.time()
        time.sleep(window)
        end = time.time()
        nm0_after = outcome(d, ISS_R0, "not_modified")
        nm1_after = outcome(d, ISS_R100K, "not_modified")
        r0 = w.nginx.requests("/r0/jwks.json", start, end)
        r1 = w.nginx.requests("/r100k/jwks.json", start, end)
        # max-age=0 -> refresh_min (1 s), refreshed ahead of expiry: ~6 to ~7 in 6 s.
        check(4 <= len(r0) <= 10, f"max-age=0 clamped to refresh_min 1: expected 4..10 fetches "
              f"in {window:.0f} s, nginx logged {len(r0)}")
        # max-age=100000 -> refresh_max (2 s): ~3 in 6 s, not never.
        check(2 <= len(r1) <= 5, f"max-age=100000 clamped to refresh_max 2: expected 2..5 "
              f"fetches in {window:.0f} s, nginx logged {len(r1)}")
        check(len(r1) < len(r0), f"max-age=100000 ({len(r1)} fetches) refreshed less often than "
              f"max-age=0 ({len(r0)})")
        for iss, got, before, after in ((ISS_R0, r0, nm0, nm0_after),
                                        (ISS_R100K, r1, nm1, nm1_after)):
            statuses = [s for _, s in got]
            check(all(s == 304 for s in statuses), f"refreshes of the unchanged JWKS of {iss}: "
                  f"expected all 304 (If-None-Match), nginx logged {statuses}")
            rose = after - before
            check(abs(rose - len(got)) <= 1, f'outcome="not_modified" of {iss}: expected to rise '
                  f"by the {len(got)} 304s (+-1 at the window's edges), rose by {rose:.0f}")
            age = gauge(d, "jwtgate_jwks_age_seconds", iss)
            check(0 <= age <= 3, f"jwtgate_jwks_age_seconds of {iss}, confirmed by 304s at "
                  f"most 2 s apart: expected <= 3, got {age}")
        expect_status(d, w.token(priv0, "k0", ISS_R0), 200, "a token of the max-age=0 issuer")
        return len(r0), len(r1)
    counts = []
    scenario_daemon(w, d, lambda: counts.extend(body()))
    log(f"refresh_clamp: {counts[0]} fetches of max-age=0 and {counts[1]} of max-age=100000 in "
        f"{window:.0f} s, all 304")


def cli(w):
    w.nginx_up()
    priv, jwks = w.key("kc1")
    w.nginx.serve(CERTS_PATH, {"keys": jwks})
    tok = w.token(priv, "kc1", w.iss_discovery)
    certs = w.nginx.base + CERTS_PATH
    plain = f"http://127.0.0.1:{w.nginx.http_port}{CERTS_PATH}"
    dead = f"https://127.0.0.1:{free_port()}/jwks.json"
    c, ca = w.args.cli, w.pki.ca
    cases = [
        # name, command, expected exit ("2+": 2 or more), text expected in stderr
        ("--jwks-uri, good token", [c, "verify", "--jwks-uri", certs, "--ca-file", ca, "--iss",
                                    w.iss_discovery, tok], 0, None),
        ("--discovery, good token", [c, "verify", "--discovery", w.iss_discovery, "--ca-file",
                                     ca, tok], 0, None),
        ("--jwks-uri, token of another issuer", [c, "verify", "--jwks-uri", certs, "--ca-file",
                                                 ca, "--iss", ISS_URI, tok], 1, "rejected:"),
        ("--discovery, document naming another issuer",
         [c, "verify", "--discovery", w.iss_liar, "--ca-file", ca, tok], "2+", w.iss_liar),
        ("--jwks-uri, certificate not trusted (no --ca-file)",
         [c, "verify", "--jwks-uri", certs, "--iss", w.iss_discovery, tok], "2+", certs),
        ("--jwks-uri, certificate of another CA",
         [c, "verify", "--jwks-uri", certs, "--ca-file", w.other_pki.ca, "--iss",
          w.iss_discovery, tok], "2+", certs),
        ("--jwks-uri, nothing listening", [c, "verify", "--jwks-uri", dead, "--ca-file", ca,
                                           "--iss", w.iss_discovery, tok], "2+", dead),
        ("--jwks-uri http:// without --allow-http",
         [c, "verify", "--jwks-uri", plain, "--iss", w.iss_discovery, tok], "2+", None),
        ("--jwks-uri http:// with --allow-http",
         [c, "verify", "--jwks-uri", plain, "--allow-http", "--iss", w.iss_discovery, tok], 0,
         None),
    ]
    failures = []
    for name, cmd, code, text in cases:
        r = run(cmd)
        ok_code = r.returncode >= 2 if code == "2+" else r.returncode == code
        if not ok_code or (text and text not in r.stderr):
            failures.append(f"{name}: expected exit {code}"
                            f"{f' with {text!r} in stderr' if text else ''}, got exit "
                            f"{r.returncode}: {r.stderr.strip()[-300:]}")
    check(not failures, "\n  ".join(failures))
    log(f"cli: {len(cases)} verify invocations over --jwks-uri and --discovery as expected")


# ---------------------------------------------------------------------------------------------
# Part failures

FAIL_JWKS = "/f/jwks.json"


def bad_documents(w):
    w.nginx_up()
    w.nginx.clear_flags(FAIL_JWKS)
    priv, good = w.key("kf1")
    priv_x, jwks_x = w.key("kx")              # the file issuer's key
    priv_p, pub_p = w.key("kp")               # published with its private part
    private_jwk = private_ec_jwk(pub_p[0], priv_p)
    priv_o, _ = w.key("ko", "HS256")          # an oct key (a secret)
    with open(priv_o) as f:
        oct_jwk = json.load(f)
    weak_pem, weak_jwk = weak_rsa_key(w.keys.dir, "kw")
    good_doc = {"keys": good}
    pad = " " * (100 * 1024)                  # valid JSON, same keys, 100 KB
    slow_doc = json.dumps(good_doc)[:-1] + " " * 4096 + "}"   # valid; 7 s slow, 13 s trickled

    def doc(text):
        return lambda: w.nginx.serve(FAIL_JWKS, text)

    def flag(kind):
        return lambda: w.nginx.flag(FAIL_JWKS, kind)

    def slow(kind):
        def switch():
            w.nginx.serve(FAIL_JWKS, slow_doc)
            w.nginx.flag(FAIL_JWKS, kind)
        return switch

    cases = [
        # name, switch the server to it, outcome, a token of the refused key (never 200)
        ("garbage (not JSON)", doc("<html><body>502 Bad Gateway</body></html>"), "invalid",
         None),
        ("100 KB, over max_jwks_bytes 65536", doc(json.dumps(good_doc)[:-1] + pad + "}"),
         "too_large", None),
        ("slower than fetch_timeout_ms 1000 (limit_rate)", slow("slow"), "timeout", None),
        ("trickling past fetch_timeout_ms 1000 (bytes every 0.1 s)", slow("trickle"), "timeout",
         None),
        ("302 to another host (localhost)", flag("redirect"), "redirect", None),
        ("HTTP 500", flag("fail"), "http_error", None),
        ("a private key (d)", doc(json.dumps({"keys": good + [private_jwk]})), "invalid",
         lambda: w.token(priv_p, "kp", ISS_FAIL)),
        ("a 1024-bit RSA key", doc(json.dumps({"keys": good + [weak_jwk]})), "invalid",
         lambda: rs256_token(weak_pem, "kw", w.claims(ISS_FAIL))),
        ("an oct key", doc(json.dumps({"keys": good + [oct_jwk]})), "invalid",
         lambda: hs256_token(hs256_secret(priv_o), "ko", w.claims(ISS_FAIL))),
        ("the kid of another issuer", doc(json.dumps({"keys": good + jwks_x})), "invalid",
         lambda: w.token(priv_x, "kx", ISS_FAIL)),
    ]
    w.nginx.serve(FAIL_JWKS, good_doc)
    jwks_file = os.path.join(w.keys.dir, "kx.jwks")
    d = w.daemon("bad-documents", [
        w.remote(ISS_FAIL, FAIL_JWKS, refresh_min_seconds=1, refresh_max_seconds=1,
                 fetch_timeout_ms=1000, max_jwks_bytes=65536),
        {"issuer": ISS_FILE, "jwks_file": jwks_file}])

    def body():
        d.start()
        failures = []
        for name, switch, want, bad_token in cases:
            try:
                before = outcome(d, ISS_FAIL, want)
                switch()
                wait_until(f'{name}: outcome="{want}" to rise above {before:.0f}',
                           lambda: ((v := outcome(d, ISS_FAIL, want)) > before, v), 6)
                expect_status(d, w.token(priv, "kf1", ISS_FAIL), 200,
                              f"{name}: a token of the good key (previous set kept)")
                v = gauge(d, "jwtgate_jwks_keys", ISS_FAIL)
                check(v == 1, f"{name}: jwtgate_jwks_keys expected 1 (the previous set), got {v}")
                if bad_token:
                    r = auth(d, bad_token())
                    check(r.status == 401, f"{name}: a token of the refused key: expected 401, "
                          f"got {show(r)}")
                expect_status(d, w.token(priv_x, "kx", ISS_FILE), 200,
                              f"{name}: a token of the file issuer")
            except TestFailure as e:
                failures.append(str(e))
            finally:
                # Back to the good document; a fetch must succeed again before the next case.
                ok = successes(d, ISS_FAIL)
                w.nginx.clear_flags(FAIL_JWKS)
                w.nginx.serve(FAIL_JWKS, good_doc)
                try:
                    wait_until(f"after {name}: a successful fetch of the good document",
                               lambda: ((v := successes(d, ISS_FAIL)) > ok, v), 6)
                except TestFailure as e:
                    failures.append(str(e))
                    break
        check(not failures, "\n  ".join(failures))
    scenario_daemon(w, d, body)
    log(f"bad_documents: {len(cases)} bad answers refused with their outcome, good key kept")


def untrusted_ca(w):
    w.nginx_up()
    priv, jwks = w.key("kf1")
    w.nginx.serve(FAIL_JWKS, {"keys": jwks})
    w.nginx.clear_flags(FAIL_JWKS)
    d = w.daemon("untrusted-ca", [dict(w.remote(ISS_FAIL, FAIL_JWKS), ca_file=w.other_pki.ca)])

    def body():
        launch(d)
        stays_unready(d, 2.0, "a server certificate of another CA")
        v = outcome(d, ISS_FAIL, "network_error")
        check(v >= 1, f'outcome="network_error" (TLS verification failed): expected >= 1, got {v}')
        r = auth(d, w.token(priv, "kf1", ISS_FAIL))
        check(r.status != 200, f"a token of an issuer without keys: expected no 200, got {show(r)}")
    scenario_daemon(w, d, body)
    log("untrusted_ca: certificate of another CA refused: not ready, network_error")


def discovery_mismatch(w):
    w.nginx_up()
    since = time.time()
    d = w.daemon("discovery-mismatch", [w.remote(w.iss_liar)])

    def body():
        launch(d)
        wait_until('outcome="issuer_mismatch" >= 1',
                   lambda: ((v := outcome(d, w.iss_liar, "issuer_mismatch")) >= 1, v), 5)
        stays_unready(d, 1.5, "a discovery document naming another issuer")
        got = w.nginx.requests(LIAR_PATH + "/certs", since)
        check(not got, f"the jwks_uri of a refused discovery document: expected no request, "
              f"nginx logged {got}")
        doc = w.nginx.requests(LIAR_PATH + WELL_KNOWN, since)
        check(doc, "the discovery document was never requested")
    scenario_daemon(w, d, body)
    log("discovery_mismatch: document naming another issuer refused; not ready; jwks_uri not "
        "fetched")


def server_down(w):
    w.nginx_up()
    priv, jwks = w.key("kf1")
    w.nginx.serve(FAIL_JWKS, {"keys": jwks})
    w.nginx.clear_flags(FAIL_JWKS)
    d = w.daemon("server-down", [w.remote(ISS_FAIL, FAIL_JWKS, refresh_min_seconds=1,
                                          refresh_max_seconds=2, max_stale_seconds=4)])

    def body():
        d.start()
        cached = w.token(priv, "kf1", ISS_FAIL)
        expect_status(d, cached, 200, "a token while the server is up")
        expect_status(d, cached, 200, "the same token again (verified-token cache)")
        stale_before = reason_count(d, "issuer_keys_stale")
        w.nginx.stop(fast=True)
        down = time.monotonic()
        expect_status(d, w.token(priv, "kf1", ISS_FAIL), 200,
                      "a token just after the server went down (last good set)")
        wait_until('outcome="network_error" >= 1 with the server down',
                   lambda: ((v := outcome(d, ISS_FAIL, "network_error")) >= 1, v), 4)
        # Stale once no fetch succeeded for 4 s: the last success was 0..2 s before the stop.
        r = wait_until("503 for a fresh token once stale",
                       lambda: ((r := auth(d, w.token(priv, "kf1", ISS_FAIL))).status != 200, r),
                       8, 0.2)
        took = time.monotonic() - down
        check(r.status == 503, f"a token of a stale issuer: expected 503, got {show(r)}")
        check(1.5 <= took <= 7, f"stale after max_stale_seconds 4 (last success at most 2 s "
              f"before the stop): expected 1.5..7 s after the stop, took {took:.1f} s")
        expect_status(d, cached, 503, "the cached token of a stale issuer (fail closed)")
        v = reason_count(d, "issuer_keys_stale")
        check(v >= stale_before + 2, f'jwtgate_auth_requests_total{{reason="issuer_keys_stale"}}: '
              f"expected to rise by >= 2, got {stale_before:.0f} -> {v:.0f}")
        v = gauge(d, "jwtgate_jwks_stale", ISS_FAIL)
        check(v == 1, f"jwtgate_jwks_stale while stale: expected 1, got {v}")
        age = gauge(d, "jwtgate_jwks_age_seconds", ISS_FAIL)
        check(age >= 4, f"jwtgate_jwks_age_seconds while stale: expected >= 4, got {age}")
        w.nginx.start()
        back = time.monotonic()
        wait_until("200 again after the server came back",
                   lambda: ((r := auth(d, w.token(priv, "kf1", ISS_FAIL))).status == 200,
                            show(r)), 5, 0.2)
        took_back = time.monotonic() - back
        v = gauge(d, "jwtgate_jwks_stale", ISS_FAIL)
        check(v == 0, f"jwtgate_jwks_stale after a successful fetch: expected 0, got {v}")
        expect_status(d, cached, 200, "the cached token once the keys are fresh again")
        return took, took_back
    times = []
    scenario_daemon(w, d, lambda: times.extend(body()))
    log(f"server_down: last good set served, stale 503 {times[0]:.1f} s after the stop, 200 "
        f"{times[1]:.1f} s after the restart")


def cache_restart(w):
    w.nginx_up()
    priv, jwks = w.key("kf1")
    w.nginx.serve(FAIL_JWKS, {"keys": jwks})
    w.nginx.clear_flags(FAIL_JWKS)
    cache_dir = os.path.join(w.tmp, "key-cache")
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    entry = w.remote(ISS_FAIL, FAIL_JWKS, refresh_min_seconds=1, refresh_max_seconds=2)
    extra = f"key_cache_dir: {json.dumps(cache_dir)}"
    first = w.daemon("cache-first", [entry], extra)
    second = w.daemon("cache-second", [entry], extra)

    def body():
        first.start()
        expect_status(first, w.token(priv, "kf1", ISS_FAIL), 200, "first daemon, server up")
        wait_until(f"a cache file in key_cache_dir {cache_dir}",
                   lambda: (bool(files := os.listdir(cache_dir)), files), 3)
        rc = first.stop()
        check(rc == 0, f"first jwtgated exit status on SIGTERM: expected 0, got {rc}")
        w.nginx.stop(fast=True)
        second.start()  # /readyz 200 from the cache alone
        expect_status(second, w.token(priv, "kf1", ISS_FAIL), 200,
                      "second daemon, server down, keys from key_cache_dir")
        v = gauge(second, "jwtgate_jwks_from_cache", ISS_FAIL)
        check(v == 1, f"jwtgate_jwks_from_cache with the server down: expected 1, got {v}")
        wait_until('outcome="network_error" >= 1 (server down)',
                   lambda: ((v := outcome(second, ISS_FAIL, "network_error")) >= 1, v), 4)
        w.nginx.start()
        wait_until("jwtgate_jwks_from_cache 0 once a fetch succeeded",
                   lambda: ((v := gauge(second, "jwtgate_jwks_from_cache", ISS_FAIL)) == 0, v), 5)
        expect_status(second, w.token(priv, "kf1", ISS_FAIL), 200, "second daemon, server back")

    try:
        scenario_daemon(w, first, body, second)
    finally:
        w.nginx_up()
    log("cache_restart: ready from key_cache_dir with the server down; from_cache 1, then 0")


def no_cache_down(w):
    priv, jwks = w.key("kf1")
    w.nginx.stop(fast=True)
    d = w.daemon("no-cache-down", [w.remote(ISS_FAIL, FAIL_JWKS, refresh_min_seconds=1,
                                            refresh_max_seconds=2)])

    def body():
        launch(d)
        stays_unready(d, 2.5, "server down and no key_cache_dir")
        # The verbose form names the issuer that holds readiness back.
        v = http(d.admin_port, "GET", "/readyz?verbose", timeout=2)
        lines = v.body.decode().splitlines()
        check(v.status == 503 and f"[-]keys of {ISS_FAIL}: none yet" in lines
              and lines[-1] == "not ready", f"/readyz?verbose, no keys: {v.status} {lines}")
        live = http(d.admin_port, "GET", "/livez")
        check(live.status == 200, f"/livez while not ready: expected 200, got {live.status}")
        r = auth(d, w.token(priv, "kf1", ISS_FAIL))
        check(r.status != 200, f"a token of an issuer that never had keys: expected no 200, "
              f"got {show(r)}")
        v = outcome(d, ISS_FAIL, "network_error")
        check(v >= 1, f'outcome="network_error" with the server down: expected >= 1, got {v}')
        return r.status
    status = []
    try:
        scenario_daemon(w, d, lambda: status.append(body()))
    finally:
        w.nginx_up()
    log(f"no_cache_down: /readyz 503, a token got {status[0]}, network_error counted")


# ---------------------------------------------------------------------------------------------
# Part storm

class Storm:
    """Sends tokens over keep-alive connections, one thread each, pipelined in windows of
    WINDOW requests: the window is written at once, then its answers are read. (jwtgated works
    on 16 pipelined requests per connection and buffers a few KB more; a client that sends far
    beyond that is closed.) Records (status, reason) of each answer."""

    WINDOW = 16

    def __init__(self, port, tokens, connections=8):
        self.port = port
        self.chunks = [tokens[i::connections] for i in range(connections)]
        self.answers = collections.Counter()
        self.errors = []
        self.lock = threading.Lock()

    def run(self):
        socks, threads = [], []
        for chunk in self.chunks:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=15)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
            windows = [b"".join(b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Authorization: Bearer " + t.encode() + b"\r\n\r\n"
                                for t in chunk[i:i + self.WINDOW])
                       for i in range(0, len(chunk), self.WINDOW)]
            counts = [len(chunk[i:i + self.WINDOW]) for i in range(0, len(chunk), self.WINDOW)]
            threads.append(threading.Thread(target=self.client, args=(s, windows, counts)))
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - started
        for s in socks:
            s.close()
        return took

    def client(self, sock, windows, counts):
        buf = bytearray()
        got = collections.Counter()
        try:
            for data, n in zip(windows, counts):
                sock.sendall(data)
                pos = 0
                while n:
                    end = buf.find(b"\r\n\r\n", pos)
                    if end < 0:
                        chunk = sock.recv(1 << 16)
                        if not chunk:
                            raise OSError(f"connection closed with {n} answers of a window "
                                          f"missing")
                        buf += chunk
                        continue
                    head = bytes(buf[pos:end]).decode("latin-1").split("\r\n")
                    status = int(head[0].split(" ", 2)[1])
                    length, reason = 0, None
                    for line in head[1:]:
                        name, _, value = line.partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                        elif name.lower() == "www-authenticate":
                            m = re.search(r'error_description="([^"]*)"', value)
                            reason = m.group(1) if m else None
                    while len(buf) < end + 4 + length:
                        chunk = sock.recv(1 << 16)
                        if not chunk:
                            raise OSError("connection closed mid-body")
                        buf += chunk
                    pos = end + 4 + length
                    got[(status, reason)] += 1
                    n -= 1
                del buf[:pos]
            if buf:
                raise OSError(f"{len(buf)} bytes beyond the last answer: {bytes(buf[:200])!r}")
        except (OSError, ValueError, IndexError) as e:
            with self.lock:
                self.errors.append(f"{e}")
        with self.lock:
            self.answers.update(got)


STORM_TOKENS = 10000
SECOND_WAVE = 2000


def storm(w):
    w.nginx_up()
    priv, jwks = w.key("ks1")
    priv2, jwks2 = w.key("ks2")
    w.nginx.serve("/storm/jwks.json", {"keys": jwks})
    cooldown = 30
    d = w.daemon("storm", [w.remote(ISS_STORM, "/storm/jwks.json", refresh_min_seconds=600,
                                    refresh_max_seconds=3600,
                                    unknown_kid_cooldown_seconds=cooldown)])
    now = int(time.time())
    tokens = [random_kid_token(ISS_STORM, now) for _ in range(STORM_TOKENS + SECOND_WAVE)]
    wave1, wave2 = tokens[:STORM_TOKENS], tokens[STORM_TOKENS:]

    def body():
        d.start()
        expect_status(d, w.token(priv, "ks1", ISS_STORM), 200, "a token of the JWKS's key")
        settle(d, ISS_STORM)
        refetches = counter(d, "jwtgate_jwks_unknown_kid_refetches_total", ISS_STORM)
        rejections = counter(d, "jwtgate_jwks_cooldown_rejections_total", ISS_STORM)
        unknown = reason_count(d, "unknown_kid")
        start = time.time()
        s = Storm(d.auth_port, wave1)
        took = s.run()
        time.sleep(0.5)  # a refetch still in flight would be logged by now
        fetches = w.nginx.requests("/storm/jwks.json", start, time.time())
        check(not s.errors, f"storm: {len(s.errors)} connections failed: {s.errors[:3]}")
        bound = 1 + math.ceil(took / cooldown)
        check(1 <= len(fetches) <= bound, f"JWKS requests during a {took:.2f} s storm with a "
              f"{cooldown} s cooldown: expected 1..{bound}, nginx logged {len(fetches)}")
        answers = dict(s.answers)
        check(answers == {(401, "unknown_kid"): STORM_TOKENS}, f"storm answers: expected "
              f"{STORM_TOKENS} x 401 unknown_kid, got {answers}")
        r1 = counter(d, "jwtgate_jwks_unknown_kid_refetches_total", ISS_STORM)
        check(1 <= r1 - refetches <= bound, f"jwtgate_jwks_unknown_kid_refetches_total: expected "
              f"to rise by 1..{bound}, rose by {r1 - refetches:.0f}")
        c1 = counter(d, "jwtgate_jwks_cooldown_rejections_total", ISS_STORM)
        check(rejections < c1 <= rejections + STORM_TOKENS, f"jwtgate_jwks_cooldown_rejections_"
              f"total: expected to rise by 1..{STORM_TOKENS}, rose by {c1 - rejections:.0f}")
        # Second wave, well after the refetch: every token is refused by the cooldown alone.
        start2 = time.time()
        s2 = Storm(d.auth_port, wave2)
        s2.run()
        check(not s2.errors, f"second wave: {s2.errors[:3]}")
        answers2 = dict(s2.answers)
        check(answers2 == {(401, "unknown_kid"): SECOND_WAVE}, f"second wave answers: expected "
              f"{SECOND_WAVE} x 401 unknown_kid, got {answers2}")
        c2 = counter(d, "jwtgate_jwks_cooldown_rejections_total", ISS_STORM)
        check(c2 - c1 == SECOND_WAVE, f"jwtgate_jwks_cooldown_rejections_total over the second "
              f"wave: expected +{SECOND_WAVE}, got +{c2 - c1:.0f}")
        # Within the cooldown even a real new key is refused at once, without a fetch.
        w.nginx.serve("/storm/jwks.json", {"keys": jwks + jwks2})
        expect_status(d, w.token(priv2, "ks2", ISS_STORM), 401,
                      "a token of a key published during the cooldown", "unknown_kid")
        time.sleep(0.3)
        later = w.nginx.requests("/storm/jwks.json", start2, time.time())
        check(not later, f"JWKS requests during the cooldown after the storm: expected none, "
              f"nginx logged {later}")
        u = reason_count(d, "unknown_kid")
        want = STORM_TOKENS + SECOND_WAVE + 1
        check(u - unknown == want, f'jwtgate_auth_requests_total{{reason="unknown_kid"}}: expected '
              f"+{want}, got +{u - unknown:.0f}")
        expect_status(d, w.token(priv, "ks1", ISS_STORM), 200, "a token of the JWKS's key after "
                      "the storm")
        return took, len(fetches), c1 - rejections
    result = []
    scenario_daemon(w, d, lambda: result.extend(body()))
    took, fetched, refused = result
    log(f"storm: {STORM_TOKENS} random kids in {took:.2f} s ({STORM_TOKENS / took:.0f}/s): "
        f"{fetched} JWKS request(s), all 401 unknown_kid, {refused:.0f} cooldown rejections; "
        f"{SECOND_WAVE} more refused by the cooldown alone")


PARTS = {
    "keys": [discovery, jwks_uri, rotation, binding, refresh_clamp, cli],
    "failures": [bad_documents, untrusted_ca, discovery_mismatch, server_down, cache_restart,
                 no_cache_down],
    "storm": [storm],
}


# ---------------------------------------------------------------------------------------------
# --selftest: the TLS nginx and the test's own tools, without the remote-keys daemon

def https_get(port, path, ca, host="127.0.0.1", headers=None, timeout=5.0):
    ctx = ssl.create_default_context(cafile=ca)
    conn = httpclient.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def selftest(tmp, args):
    args.daemon = args.daemon if args.daemon and os.path.exists(args.daemon) else None
    w = World(tmp, args)
    try:
        port, ca, ngx = w.nginx.port, w.pki.ca, w.nginx
        if w.keys:
            priv, jwks = w.key("kd1")
        else:
            jwks = [{"kty": "EC", "crv": "P-256", "kid": "kd1", "alg": "ES256",
                     "x": "4chOdie5HqrsDpWRqZV4KaPNiNzTMVkTDKi95X0JySU",
                     "y": "t_F8QhZ2yaqknKy6Uq0_3K4WHurI_sZ2fNmep3T_grE"}]
        ngx.serve(CERTS_PATH, {"keys": jwks})
        # Discovery document, then its jwks_uri, verified against the CA.
        st, hd, body = https_get(port, DISCOVERY_PATH + WELL_KNOWN, ca)
        check(st == 200, f"discovery document: expected 200, got {st}")
        doc = json.loads(body)
        check(doc["issuer"] == w.iss_discovery and doc["jwks_uri"] == ngx.base + CERTS_PATH,
              f"discovery document: {doc}")
        st, hd, body = https_get(port, CERTS_PATH, ca)
        check(st == 200 and json.loads(body) == {"keys": jwks}, f"JWKS: {st} {body[:200]}")
        check(hd.get("content-type") == "application/json", f"JWKS content type: {hd}")
        etag = hd.get("etag")
        check(etag, f"JWKS: expected an ETag, got headers {hd}")
        check("cache-control" not in hd, f"JWKS outside /r0/, /r100k/: no Cache-Control: {hd}")
        st, _, body = https_get(port, CERTS_PATH, ca, headers={"If-None-Match": etag})
        check(st == 304 and body == b"", f"If-None-Match {etag}: expected 304, got {st}")
        st, _, _ = https_get(port, LIAR_PATH + WELL_KNOWN, ca)
        check(st == 200, f"liar's discovery document: {st}")
        # The certificate names localhost too; another CA does not verify it.
        st, _, _ = https_get(port, CERTS_PATH, ca, host="localhost")
        check(st == 200, f"https://localhost: expected 200, got {st}")
        try:
            https_get(port, CERTS_PATH, w.other_pki.ca)
            raise TestFailure("a client trusting another CA accepted the server's certificate")
        except ssl.SSLCertVerificationError:
            pass
        # Cache-Control by location, also on 304.
        for loc, value in (("/r0/", "max-age=0"), ("/r100k/", "max-age=100000")):
            ngx.serve(loc + "jwks.json", {"keys": jwks})
            st, hd, _ = https_get(port, loc + "jwks.json", ca)
            check(st == 200 and hd.get("cache-control") == value, f"{loc}: {st} {hd}")
            st, hd2, _ = https_get(port, loc + "jwks.json", ca,
                                   headers={"If-None-Match": hd["etag"]})
            check(st == 304 and hd2.get("cache-control") == value, f"{loc} 304: {st} {hd2}")
        # Plain http listener (allow_http).
        c = httpclient.HTTPConnection("127.0.0.1", ngx.http_port, timeout=5)
        c.request("GET", CERTS_PATH)
        r = c.getresponse()
        check(r.status == 200 and json.loads(r.read()) == {"keys": jwks},
              f"http://127.0.0.1:{ngx.http_port}{CERTS_PATH}: {r.status}")
        c.close()
        # Flags: redirect to another host, 500, slow body.
        ngx.serve(FAIL_JWKS, {"keys": jwks})
        ngx.flag(FAIL_JWKS, "redirect")
        st, hd, _ = https_get(port, FAIL_JWKS, ca)
        want = f"https://localhost:{port}{FAIL_JWKS}"
        check(st == 302 and hd.get("location") == want, f"redirect flag: {st} {hd} (want {want})")
        ngx.clear_flags(FAIL_JWKS)
        ngx.flag(FAIL_JWKS, "fail")
        st, _, _ = https_get(port, FAIL_JWKS, ca)
        check(st == 500, f"fail flag: expected 500, got {st}")
        ngx.clear_flags(FAIL_JWKS)
        slow_doc = json.dumps({"keys": jwks})[:-1] + " " * 4096 + "}"
        ngx.serve(FAIL_JWKS, slow_doc)
        ngx.flag(FAIL_JWKS, "slow")
        ctx = ssl.create_default_context(cafile=ca)
        conn = httpclient.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1.5)
        t0 = time.monotonic()
        conn.request("GET", FAIL_JWKS)
        r = conn.getresponse()
        head_s = time.monotonic() - t0
        check(r.status == 200 and head_s < 0.5, f"slow flag: head in {head_s:.2f} s, {r.status}")
        got = b""
        while time.monotonic() - t0 < 1.5:
            piece = r.read(100)  # nginx sends a bit at a time: each read returns within 1.5 s
            if not piece:
                break
            got += piece
        conn.close()
        check(len(got) < len(slow_doc), f"slow flag: the {len(slow_doc)}-byte body came within "
              f"1.5 s")
        ngx.clear_flags(FAIL_JWKS)
        # Trickle: through nginx's proxy, unbuffered; no gap reaches an idle timeout.
        ngx.flag(FAIL_JWKS, "trickle")
        conn = httpclient.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1.5)
        t0 = time.monotonic()
        conn.request("GET", FAIL_JWKS)
        r = conn.getresponse()
        check(r.status == 200 and time.monotonic() - t0 < 0.5 and
              int(r.getheader("Content-Length")) == len(slow_doc),
              f"trickle flag: {r.status} {r.getheaders()} in {time.monotonic() - t0:.2f} s")
        got, gaps, last = b"", [], time.monotonic()
        while time.monotonic() - t0 < 1.5:
            piece = r.read1(4096)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            if not piece:
                break
            got += piece
        conn.close()
        check(0 < len(got) < len(slow_doc) and max(gaps) < 0.4,
              f"trickle flag: {len(got)} of {len(slow_doc)} bytes in 1.5 s, longest gap "
              f"{max(gaps):.2f} s (expected some bytes, gaps under 0.4 s, not all of it)")
        ngx.clear_flags(FAIL_JWKS)
        # 100 KB document.
        big = json.dumps({"keys": jwks})[:-1] + " " * (100 * 1024) + "}"
        ngx.serve(FAIL_JWKS, big)
        st, hd, body = https_get(port, FAIL_JWKS, ca)
        check(st == 200 and int(hd["content-length"]) == len(big) > 100 * 1024 and
              json.loads(body) == {"keys": jwks}, f"100 KB document: {st} {hd}")
        # The access log saw it all.
        statuses = [s for _, s in ngx.requests(FAIL_JWKS)]
        check({200, 302, 500} <= set(statuses), f"access log of {FAIL_JWKS}: {statuses}")
        statuses = [s for _, s in ngx.requests(CERTS_PATH)]
        check(statuses[:2] == [200, 304], f"access log of {CERTS_PATH}: {statuses}")
        # Stopped hard and started again on the same ports.
        ngx.stop(fast=True)
        try:
            https_get(port, CERTS_PATH, ca, timeout=1)
            raise TestFailure("nginx still answers after stop")
        except ConnectionRefusedError:
            pass
        ngx.start()
        st, _, _ = https_get(port, CERTS_PATH, ca)
        check(st == 200, f"after a restart: {st}")
        log(f"selftest: TLS nginx on {port} (http {ngx.http_port}): discovery, JWKS, 304, "
            "Cache-Control, redirect, 500, slow, trickle, 100 KB, restart")
        if w.keys:
            selftest_keys(w, priv)
        if w.keys and args.daemon:
            selftest_storm_client(w, priv, jwks)
    finally:
        w.close()


def selftest_keys(w, priv):
    """The refused keys are what they claim to be; tokens made here verify with `--keys`."""
    ks = os.path.join(w.keys.dir, "kd1.jwks")
    tok = w.token(priv, "kd1", w.iss_discovery)
    r = run([w.args.cli, "verify", "--keys", ks, "--iss", w.iss_discovery, tok])
    check(r.returncode == 0, f"verify --keys of a signed token: {r.returncode} {r.stderr}")
    pub = jwks_keys(ks)[0]
    jwk = private_ec_jwk(pub, priv)
    check(len(b64url_decode(jwk["d"])) == 32 and jwk["x"] == pub["x"], f"private JWK: {jwk}")
    pem, weak = weak_rsa_key(w.keys.dir, "kw")
    check(len(b64url_decode(weak["n"])) == 128, "1024-bit modulus")
    tok = rs256_token(pem, "kw", w.claims(ISS_FAIL))
    signing_input, sig = tok.rsplit(".", 1)
    pub_pem = os.path.join(w.keys.dir, "kw.pub.pem")
    openssl("pkey", "-in", pem, "-pubout", "-out", pub_pem)
    sig_path = os.path.join(w.keys.dir, "kw.sig")
    with open(sig_path, "wb") as f:
        f.write(b64url_decode(sig))
    openssl("dgst", "-sha256", "-verify", pub_pem, "-signature", sig_path,
            stdin=signing_input.encode())
    log("selftest: private EC JWK, 1024-bit RSA JWK and its RS256 token, signed tokens verify")


def selftest_storm_client(w, priv, jwks):
    """The storm client against the daemon given (any version, keys from a file)."""
    path = os.path.join(w.keys.dir, "kd1.jwks")
    d = w.daemon("selftest-storm", [{"issuer": ISS_STORM, "jwks_file": path}])
    d.start()
    try:
        now = int(time.time())
        tokens = [random_kid_token(ISS_STORM, now) for _ in range(STORM_TOKENS)]
        s = Storm(d.auth_port, tokens)
        took = s.run()
        check(not s.errors, f"storm client: {s.errors[:3]}")
        check(dict(s.answers) == {(401, "unknown_kid"): STORM_TOKENS},
              f"storm client: {dict(s.answers)}")
        expect_status(d, w.token(priv, "kd1", ISS_STORM), 200, "a good token after the storm")
        log(f"selftest: storm client sent {STORM_TOKENS} tokens in {took:.2f} s "
            f"({STORM_TOKENS / took:.0f}/s) to {d.binary}: all 401 unknown_kid")
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon")
    ap.add_argument("--cli")
    ap.add_argument("--part", choices=sorted(PARTS))
    ap.add_argument("--only", help="run one scenario of the part")
    ap.add_argument("--selftest", action="store_true",
                    help="check the TLS nginx (and with --cli/--daemon, the test's own tools)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if not args.selftest and not (args.daemon and args.cli and args.part):
        ap.error("--daemon, --cli and --part are required (or --selftest)")
    exit_on_sigterm()  # the finally clauses below stop nginx and the daemons

    def guarded(fn):
        return removing_tmp(fn, args.keep)

    if args.selftest:
        run_test("remote_keys_selftest", guarded(lambda tmp: selftest(tmp, args)))

    def part(tmp):
        w = World(tmp, args)
        failed = []
        try:
            for fn in PARTS[args.part]:
                if args.only and fn.__name__ != args.only:
                    continue
                started = time.monotonic()
                try:
                    fn(w)
                except (TestFailure, OSError, subprocess.SubprocessError, ValueError,
                        KeyError) as e:
                    log(f"FAIL {fn.__name__} after {time.monotonic() - started:.1f} s: {e}")
                    failed.append(fn.__name__)
        finally:
            w.close()
        check(not failed, f"failed: {', '.join(failed)}")

    run_test(f"remote_keys_{args.part}", guarded(part))


if __name__ == "__main__":
    main()
