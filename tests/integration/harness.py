"""Shared pieces of the jwtgated integration tests (Python standard library only).

Every test builds a private world in a temporary directory: keys and tokens from the
`jwtgate` CLI (or HS256 tokens signed here with hmac), a jwtgated configuration, and, where
needed, an nginx (Debian's /usr/sbin/nginx, `-p` prefix, pid and logs in the directory) on
ephemeral loopback ports. Everything listens on 127.0.0.1 only and is stopped at the end.
"""
import base64
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NGINX = "/usr/sbin/nginx"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------------
# HTTP over raw sockets (full control over what is sent, including malformed requests)

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), in order
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


def read_response(sock, head_request=False):
    """Reads one HTTP/1.1 response (Content-Length framing). Returns None on EOF before any byte."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                return None
            raise TestFailure(f"connection closed mid-response: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    length = 0
    for k, v in headers:
        if k.lower() == "content-length":
            length = int(v)
    if head_request:
        length = 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise TestFailure("connection closed mid-body")
        rest += chunk
    resp = Response(status, headers, rest[:length])
    resp.extra = rest[length:]
    return resp


class Conn:
    """A keep-alive client connection: to 127.0.0.1:port, or to the Unix socket `unix_path`."""

    def __init__(self, port, timeout=5.0, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(unix_path)
            except OSError:
                self.sock.close()
                raise
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def request(self, method="GET", path="/", headers=(), body=b"", close=False):
        self.sock.sendall(build_request(method, path, headers, body, close))
        return self.read(head_request=(method == "HEAD"))

    def read(self, head_request=False):
        # Responses are read one at a time; bytes of the next one are kept.
        if self.pending:
            s = _Prefixed(self.sock, self.pending)
            resp = read_response(s, head_request)
        else:
            resp = read_response(self.sock, head_request)
        self.pending = getattr(resp, "extra", b"") if resp else b""
        return resp

    def close(self):
        self.sock.close()


class _Prefixed:
    def __init__(self, sock, prefix):
        self.sock = sock
        self.prefix = prefix

    def recv(self, n):
        if self.prefix:
            p, self.prefix = self.prefix, b""
            return p
        return self.sock.recv(n)


def build_request(method="GET", path="/", headers=(), body=b"", close=False, host=True):
    lines = [f"{method} {path} HTTP/1.1"]
    if host:
        lines.append("Host: 127.0.0.1")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http(port, method="GET", path="/", headers=(), body=b"", timeout=5.0, unix_path=None):
    """One request on a connection of its own (to `unix_path` when given, else to the port)."""
    c = Conn(port, timeout, unix_path)
    try:
        return c.request(method, path, headers, body, close=True)
    finally:
        c.close()


def send_raw(port, data, timeout=5.0):
    """Sends raw bytes, returns (first response or None, whether the server closed after it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        resp = read_response(s)
        closed = False
        try:
            more = resp.extra if resp else b""
            if not more:
                s.settimeout(2.0)
                more = s.recv(1)
            closed = more == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        return resp, closed
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Keys and tokens

class Keys:
    def __init__(self, cli, directory):
        self.cli = cli
        self.dir = directory

    def keygen(self, alg, kid, jwks_name):
        priv = os.path.join(self.dir, f"{jwks_name}.{kid}.key")
        jwks = os.path.join(self.dir, jwks_name)
        subprocess.run([self.cli, "keygen", "--alg", alg, "--kid", kid, "--private", priv,
                        "--jwks", jwks, "--force"], check=True, capture_output=True)
        return priv, jwks

    def sign(self, priv, alg, kid, claims):
        out = subprocess.run([self.cli, "sign", "--key", priv, "--alg", alg, "--kid", kid,
                              "--claims", json.dumps(claims)], check=True, capture_output=True,
                             text=True)
        return out.stdout.strip()


def hs256_secret(jwk_path):
    """The secret of an oct JWK written by `jwtgate keygen --alg HS256`."""
    with open(jwk_path) as f:
        jwk = json.load(f)
    return b64url_decode(jwk["k"])


def hs256_token(secret, kid, claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid},
                               separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def merge_jwks(paths, out_path):
    keys = []
    for p in paths:
        with open(p) as f:
            keys.extend(json.load(f)["keys"])
    write_atomic(out_path, json.dumps({"keys": keys}))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Processes

class Cleanup:
    """Stop functions run in reverse order at the end (also on failure and on signals)."""

    def __init__(self):
        self.items = []

    def add(self, what, fn):
        self.items.append((what, fn))

    def run(self):
        while self.items:
            what, fn = self.items.pop()
            try:
                fn()
            except Exception as e:  # keep stopping the rest
                log(f"warning: stopping {what}: {e}")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def raise_nofile(need):
    """Raises this process's RLIMIT_NOFILE soft limit to at least `need` (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise TestFailure(f"RLIMIT_NOFILE hard limit {hard} < {need}: cannot open the connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TestFailure(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TestFailure(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(proc, timeout=10.0):
    """SIGTERM to a helper server (nginx, Caddy, Redis), SIGKILL if it is still there after
    `timeout` s; nothing when it has already exited. Returns its exit status."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def file_tail(path, size=4000):
    """The last `size` characters of a process's log file ("" when it cannot be read)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError:
        return ""


def issuer_config(d, jwks, iss, verify="", extra=""):
    """The configuration most tests start from: the daemon's auth (under /auth) and admin
    listeners on loopback, one issuer with a JWKS file, 5 s leeway. `verify` adds keys to the
    verify section (indented by two spaces); `extra` adds top-level sections."""
    return f"""
auth:
  listen: 127.0.0.1:{d.auth_port}
  path_prefix: /auth
admin:
  listen: 127.0.0.1:{d.admin_port}
issuers:
  - issuer: {iss}
    jwks_file: {jwks}
verify:
  leeway_seconds: 5
{verify}
{extra}
"""


class Daemon:
    """A jwtgated on loopback ports with a generated configuration. `admin_unix`: the admin
    listener's Unix socket, when the configuration puts it on one (readiness is asked there)."""

    def __init__(self, binary, directory, config_text_fn, env=None, admin_unix=None):
        self.binary = binary
        self.dir = directory
        self.auth_port = free_port()
        self.admin_port = free_port()
        self.admin_unix = admin_unix
        self.config_path = os.path.join(directory, "jwtgated.yaml")
        self.log_path = os.path.join(directory, "jwtgated.log")
        self.config_text_fn = config_text_fn
        self.env = env
        self.proc = None
        self.write_config()

    def write_config(self, **kw):
        write_atomic(self.config_path, self.config_text_fn(self, **kw))

    def spawn(self):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path],
                                     stdout=self.log, stderr=self.log, env=env)

    def start(self, timeout=10.0):
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"jwtgated exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                r = http(self.admin_port, "GET", "/readyz", timeout=1.0, unix_path=self.admin_unix)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TestFailure(f"jwtgated not ready after {timeout} s:\n{self.log_text()}")

    def refused_start(self, timeout=10.0):
        """For a daemon expected to refuse to start: (exit status, log)."""
        self.spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"jwtgated still running after {timeout} s:\n{self.log_text()}")
        return rc, self.log_text()

    def log_text(self):
        return file_tail(self.log_path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss(self):
        return rss_bytes(self.proc.pid)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"jwtgated did not exit within {timeout} s after signal {sig}")

    def metrics(self):
        r = http(self.admin_port, "GET", "/metrics")
        check(r.status == 200, f"/metrics answered {r.status}")
        return r.body.decode()


def metric_value(text, name, labels=None):
    """The value of the sample `name{labels}` in a text exposition (labels: dict, subset)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest[0] not in " {":
            continue
        lab = {}
        if rest.startswith("{"):
            inner, rest = rest[1:].split("}", 1)
            for part in inner.split(","):
                if part:
                    k, v = part.split("=", 1)
                    lab[k] = v.strip('"')
        if labels and any(lab.get(k) != v for k, v in labels.items()):
            continue
        return float(rest.split()[0])
    return None


class Nginx:
    """Debian's nginx with a private prefix directory, started in the foreground."""

    def __init__(self, directory, conf_body):
        if not os.path.exists(NGINX):
            raise TestFailure(f"{NGINX} is missing (Debian package nginx-light or nginx)")
        self.dir = os.path.join(directory, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        text = f"""
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{conf_body}
}}
"""
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def start(self, ports):
        test = subprocess.run([NGINX, "-t", "-p", self.dir, "-e", f"{self.dir}/logs/error.log",
                               "-c", self.conf], capture_output=True, text=True)
        if test.returncode != 0:
            raise TestFailure(f"nginx -t failed:\n{test.stderr}")
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-e", f"{self.dir}/logs/error.log",
                                      "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports:
            wait_port(p, proc=self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "logs", "error.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""



def auth_location(upstream):
    """The internal location nginx's auth_request asks (as scripts/deploy/nginx-auth-request.conf
    has it): the subrequest to jwtgated's /auth, with the URI and method the client asked for."""
    return f"""    location = /_jwtgate {{
      internal;
      proxy_pass http://{upstream}/auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_connect_timeout 1s;
      proxy_read_timeout 2s;
    }}
"""

def auth_request_conf(front_port, upstream_port, auth_port, claim_headers=("X-Auth-Email",),
                      auth_server=None):
    """nginx in front of a static upstream, asking jwtgated through auth_request; jwtgated at
    127.0.0.1:auth_port, or at `auth_server` (nginx's upstream server form, e.g. unix:/path)."""
    sets = []
    passes = []
    echo = ["sub=[$http_x_auth_sub]", "iss=[$http_x_auth_iss]"]
    for h in claim_headers:
        var = h.lower().replace("-", "_")
        sets.append(f"      auth_request_set ${var} $upstream_http_{var};")
        passes.append(f"      proxy_set_header {h} ${var};")
        echo.append(f"{h.lower()}=[$http_{var}]")
    echo.append("injected=[$http_x_injected]")
    return f"""
  upstream jwtgated {{
    server {auth_server or f"127.0.0.1:{auth_port}"};
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{upstream_port};
    location / {{
      default_type text/plain;
      return 200 "upstream {' '.join(echo)}\\n";
    }}
  }}
  server {{
    listen 127.0.0.1:{front_port};
    location / {{
      auth_request /_jwtgate;
      auth_request_set $auth_sub $upstream_http_x_auth_sub;
      auth_request_set $auth_iss $upstream_http_x_auth_iss;
{chr(10).join(sets)}
      proxy_set_header X-Auth-Sub $auth_sub;
      proxy_set_header X-Auth-Iss $auth_iss;
{chr(10).join(passes)}
      proxy_pass http://127.0.0.1:{upstream_port};
    }}
{auth_location("jwtgated")}  }}
"""


def promtool_check(text):
    if not os.path.exists(PROMTOOL):
        raise TestFailure("promtool is missing (Debian package prometheus)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    check(r.returncode == 0, f"promtool check metrics failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def exit_on_sigterm():
    """Turns SIGTERM (ctest's timeout, or anyone's) into SystemExit, so that the finally clauses
    of a test still stop the servers it started."""
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))


def removing_tmp(fn, keep=False):
    """Wraps a run_test body so that its temporary directory is removed when it ends, also on
    failure (kept, and its path logged, with `keep`)."""
    def wrapper(tmp):
        try:
            fn(tmp)
        finally:
            if keep:
                log(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return wrapper


def run_test(name, fn):
    """Runs fn(tmpdir); prints the outcome; exit status 0 only when it passed."""
    tmp = tempfile.mkdtemp(prefix=f"jwtgate-{name}-")
    started = time.monotonic()
    try:
        fn(tmp)
    except TestFailure as e:
        log(f"FAIL {name}: {e}")
        sys.exit(1)
    except Exception:
        import traceback
        traceback.print_exc()
        log(f"FAIL {name}: unexpected exception")
        sys.exit(1)
    else:
        log(f"PASS {name} in {time.monotonic() - started:.1f} s")
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(0)
