#!/usr/bin/python3
"""Per-route policy, claim headers and the decision log of jwtgated, through real proxies.

One policy (routes matched on the URI and method the client asked for, first match wins,
`routes_default: deny`) is put in front of a Python backend that echoes the headers it receives:

  nginx   Debian's nginx with auth_request (X-Original-URI / X-Original-Method from
          $request_uri / $request_method; WWW-Authenticate of a 403 copied to the client with
          auth_request_set and a map); a second jwtgated with `routes_default: policy` behind a
          second server block shows a request that matches no route falling through to the
          top-level policy. Also: the same requests straight to jwtgated (X-Original-URI,
          X-Forwarded-Uri, the path after auth.path_prefix), `--check-config` on broken route
          configurations, /readyz?verbose, the per-reason metrics.
  caddy   Caddy 2.6 forward_auth (X-Forwarded-Method / X-Forwarded-Uri), configured from
          scripts/deploy/Caddyfile with the ports substituted, so the example is the one tested.
  log     the decision log: 10,000 decisions with sample_allows 1.0 (every line JSON, exact
          counts, the fields of known requests, trace_id from traceparent, no token or signature
          anywhere in the file, reopened by POST /reload); sample_allows 0.0 with
          max_denies_per_second 5 (no allow written, a burst of 200 denies mostly dropped and
          counted in jwtgate_decision_log_dropped_total{why="deny_rate"}).

Every outcome is exact: the status, the whole WWW-Authenticate value, the header values the
backend receives, and that the backend is never reached on a deny.

Usage: policy_test.py --daemon PATH --cli PATH --part nginx|caddy|log
"""
import argparse
import collections
from http import server as http_server
import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from harness import auth_location, file_tail, stop_process
from harness import (Conn, Daemon, Keys, Nginx, TestFailure, check, exit_on_sigterm, free_port,
                     http, log, metric_value, promtool_check, removing_tmp, run_test, wait_port)

ISS_A = "https://a.example"
ISS_B = "https://b.example"
REALM = "jwtgate"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
CADDYFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                         "deploy", "Caddyfile")

# The identity headers the proxies hand to the backend (those of scripts/deploy/Caddyfile).
# jwtgated also answers X-Auth-Level (a number claim), checked on its own answer.
IDENTITY = ("X-Auth-Sub", "X-Auth-Iss", "X-Auth-Email", "X-Auth-Roles")

ROUTE_REASONS = ("route_issuer_not_allowed", "route_audience_not_allowed", "route_scope_missing",
                 "route_claim_not_accepted", "route_denied", "route_uri_invalid")


def www(description=None, error="insufficient_scope", scope=None):
    """The exact WWW-Authenticate value jwtgated must answer with."""
    if description is None:
        return f'Bearer realm="{REALM}"'
    text = f'Bearer realm="{REALM}", error="{error}", error_description="{description}"'
    if scope is not None:
        text += f', scope="{scope}"'
    return text


def headers_named(resp, name):
    return [v for k, v in resp.headers if k.lower() == name.lower()]


# ---------------------------------------------------------------------------------------------
# Configuration

POLICY_ROUTES = """
routes:
  - name: admin
    path_prefix: /admin
    require:
      scopes_all: [admin]
  - name: orders-write
    path_prefix: /orders
    methods: [POST, PUT, DELETE]
    require:
      scopes_any: [write, "orders:write"]
  - path_prefix: /orders              # no name: the decision log calls it /orders
    require:
      scopes_any: [read, "orders:read"]
  - name: reports
    path_prefix: /reports
    require:
      scopes_all: [reports, export]
  - name: keycloak
    path_prefix: /kc
    require:
      claims:
        /realm_access/roles: [admin]
  - name: verified
    path_prefix: /verified
    require:
      claims:
        email_verified: [true]
        level: [42, 43]
        "/https:~1~1example.com~1groups": [ops]
  - name: internal
    path_prefix: /internal
    deny: true
  - name: public
    path_prefix: /public
  - name: partner
    path_prefix: /partner
    require:
      issuers: ["https://b.example"]
  - name: api2
    path_prefix: /api2
    require:
      audiences: [api2]
routes_default: deny
"""

# The second daemon of the nginx part: one method-restricted route, everything else falls
# through to the top-level policy.
FALLTHROUGH_ROUTES = """
routes:
  - name: orders-write
    path_prefix: /orders
    methods: [POST]
    require:
      scopes_any: [write, "orders:write"]
"""

LOG_ROUTES = """
routes:
  - name: admin
    path_prefix: /admin
    require:
      scopes_all: [admin]
  - name: orders-write
    path_prefix: /orders
    methods: [POST]
    require:
      scopes_any: [write]
  - path_prefix: /orders
  - name: internal
    path_prefix: /internal
    deny: true
routes_default: policy
"""


def config_text(d, w, routes, extra="", cache=1024):
    return f"""
auth:
  listen: 127.0.0.1:{d.auth_port}
  path_prefix: /auth
  realm: {REALM}
  claim_headers:
    - {{claim: email, header: X-Auth-Email}}
    - {{claim: /realm_access/roles, header: X-Auth-Roles}}
    - {{claim: level, header: X-Auth-Level}}
  claim_header_separator: ","
  claim_header_max_bytes: 64
admin:
  listen: 127.0.0.1:{d.admin_port}
issuers:
  - {{issuer: "{ISS_A}", jwks_file: "{w.jwks_a}"}}
  - {{issuer: "{ISS_B}", jwks_file: "{w.jwks_b}"}}
verify:
  leeway_seconds: 5
cache: {{entries: {cache}}}
pipeline: {{workers: 1}}
http: {{header_timeout_ms: 2000, idle_timeout_ms: 10000}}
{routes}
{extra}
"""


# ---------------------------------------------------------------------------------------------
# Keys and tokens

class World:
    """Two HS256 issuers (keys from `jwtgate keygen`, tokens from `jwtgate sign`)."""

    def __init__(self, tmp, args):
        self.tmp = tmp
        self.args = args
        self.keys = Keys(args.cli, tmp)
        self.priv_a, self.jwks_a = self.keys.keygen("HS256", "ka", "a.jwks")
        self.priv_b, self.jwks_b = self.keys.keygen("HS256", "kb", "b.jwks")
        self.now = int(time.time())
        self.all_tokens = []

    def token(self, issuer="A", **claims):
        c = {"iss": ISS_A if issuer == "A" else ISS_B, "aud": "api", "iat": self.now - 10,
             "exp": self.now + 900}
        c.update(claims)
        c = {k: v for k, v in c.items() if v is not None}
        priv, kid = (self.priv_a, "ka") if issuer == "A" else (self.priv_b, "kb")
        tok = self.keys.sign(priv, "HS256", kid, c)
        self.all_tokens.append(tok)
        return tok

    def tampered(self, tok):
        sig = tok.rsplit(".", 1)[1]
        flipped = ("B" if sig[0] != "B" else "C") + sig[1:]
        bad = tok.rsplit(".", 1)[0] + "." + flipped
        self.all_tokens.append(bad)
        return bad

    def daemon(self, name, routes, extra="", cache=1024):
        d_dir = os.path.join(self.tmp, name)
        os.makedirs(d_dir, exist_ok=True)
        d = Daemon(self.args.daemon, d_dir,
                   lambda d: config_text(d, self, routes, extra, cache))
        d.name = name
        d.expected = collections.Counter()  # route reasons this test caused on it
        return d


def policy_tokens(w):
    t = {}
    t["admin"] = w.token(sub="alice", scope="read admin", email="alice@example.com")
    t["read"] = w.token(sub="bob", scope="read")
    t["administrator"] = w.token(sub="carol", scope="administrator")
    t["comma"] = w.token(sub="carol", scope="read,admin")
    t["scp_admin"] = w.token(sub="dave", scp=["admin"])
    t["none"] = w.token(sub="nobody")
    t["write"] = w.token(sub="wanda", scope="write")
    t["orders_write_scp"] = w.token(sub="wanda", scp=["orders:write"])
    t["orders_read_scp"] = w.token(sub="olga", scp=["orders:read"])
    t["orders_read_scope"] = w.token(sub="olga", scope="profile orders:read")
    t["orders_read_scp_string"] = w.token(sub="olga", scp="profile orders:read")
    t["orders_wrong_scp"] = w.token(sub="olga", scp=["orders:write", "profile"])
    t["reports_union"] = w.token(sub="rita", scope="reports", scp=["export"])
    t["reports_both"] = w.token(sub="rita", scope="export reports")
    t["reports_half"] = w.token(sub="rita", scope="reports")
    t["kc_admin"] = w.token(sub="kc-admin", email="kc@example.com",
                            realm_access={"roles": ["user", "admin"]})
    t["kc_user"] = w.token(sub="kc-user", realm_access={"roles": ["user"]})
    t["kc_string"] = w.token(sub="kc-string", realm_access={"roles": "admin"})
    t["kc_none"] = w.token(sub="kc-none", scope="admin")
    t["kc_flat"] = w.token(sub="kc-flat", roles=["admin"], realm_access={"roles": []})
    t["verified"] = w.token(sub="vera", email_verified=True, level=42,
                            **{"https://example.com/groups": ["dev", "ops"]})
    t["verified_43"] = w.token(sub="vera", email_verified=True, level=43,
                               **{"https://example.com/groups": "ops"})
    t["unverified"] = w.token(sub="vera", email_verified=False, level=42,
                              **{"https://example.com/groups": ["ops"]})
    t["verified_no_group"] = w.token(sub="vera", email_verified=True, level=42)
    t["mixed_roles"] = w.token(sub="mia", realm_access={
        "roles": ["a", 1, True, {"x": 1}, None, ["n"], "b"]})
    t["object_roles"] = w.token(sub="mia", realm_access={"roles": {"x": "y"}})
    t["partner_a"] = w.token(sub="pat", scope="admin")
    t["partner_b"] = w.token(issuer="B", sub="pat-b")
    t["aud_api"] = w.token(sub="ann", aud="api")
    t["aud_api2"] = w.token(sub="ann", aud=["x", "api2"])
    t["aud_none"] = w.token(sub="ann", aud=None)
    t["expired"] = w.token(sub="alice", scope="read admin", iat=w.now - 7200, exp=w.now - 3600)
    t["tampered"] = w.tampered(t["admin"])
    t["sized"] = lambda **claims: w.token(sub="sized", **claims)
    return t


# ---------------------------------------------------------------------------------------------
# The backend: echoes what reached it (one JSON object), counts the requests

class Backend:
    def __init__(self):
        self.hits = 0
        self.lock = threading.Lock()
        backend = self

        class Handler(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                with backend.lock:
                    backend.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = {}
                for k in self.headers.keys():
                    seen.setdefault(k.lower(), self.headers.get_all(k))
                body = json.dumps({"backend": True, "method": self.command, "path": self.path,
                                   "headers": seen}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

            def log_message(self, *a):
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def header_value(rec, name):
    """The one value of a header the backend received; '' when absent (nginx drops a header set
    to an empty value, Caddy passes it empty). Two values are a failure."""
    values = rec["headers"].get(name.lower())
    if values is None:
        return ""
    check(len(values) == 1, f"{name} reached the backend {len(values)} times: {values}")
    return values[0]


# ---------------------------------------------------------------------------------------------
# Requests through a proxy, with exact expectations

class Front:
    def __init__(self, name, port, backend, daemon):
        self.name = name
        self.port = port
        self.backend = backend
        self.daemon = daemon

    def send(self, method, path, token=None, headers=()):
        h = list(headers)
        if token is not None:
            h.append(("Authorization", f"Bearer {token}"))
        body = b"{}" if method in ("POST", "PUT") else b""
        if body:
            h.append(("Content-Type", "application/json"))
        return http(self.port, method, path, h, body)

    def allow(self, what, method, path, token, headers=()):
        before = self.backend.hits
        r = self.send(method, path, token, headers)
        check(r.status == 200, f"[{self.name}] {what}: {method} {path}: expected 200 from the "
                               f"backend, got {r}")
        rec = json.loads(r.body)
        check(rec.get("backend") is True and rec["method"] == method,
              f"[{self.name}] {what}: not the backend's answer: {rec}")
        check(self.backend.hits == before + 1, f"[{self.name}] {what}: backend hits "
                                               f"{before} -> {self.backend.hits}")
        return rec

    def deny(self, what, method, path, token, status, challenge, reason=None, headers=()):
        """`reason`: the route reason jwtgated counts for it (metrics cross-check)."""
        before = self.backend.hits
        r = self.send(method, path, token, headers)
        got = headers_named(r, "WWW-Authenticate")
        check(r.status == status and got == [challenge],
              f"[{self.name}] {what}: {method} {path}: expected {status} with WWW-Authenticate "
              f"{challenge!r}; got {r.status} with {got!r} ({r})")
        check(self.backend.hits == before, f"[{self.name}] {what}: the backend was reached")
        if reason:
            self.daemon.expected[reason] += 1
        return r


class Direct:
    """Requests straight to jwtgated's auth listener (no proxy)."""

    def __init__(self, daemon):
        self.daemon = daemon

    def send(self, path="/auth", token=None, headers=(), method="GET"):
        h = list(headers)
        if token is not None:
            h.append(("Authorization", f"Bearer {token}"))
        return http(self.daemon.auth_port, method, path, h)

    def expect(self, what, status, challenge=None, reason=None, **kw):
        r = self.send(**kw)
        got = headers_named(r, "WWW-Authenticate")
        want = [challenge] if challenge is not None else []
        check(r.status == status and got == want,
              f"[direct] {what}: expected {status} with WWW-Authenticate {want!r}; got "
              f"{r.status} with {got!r} ({r})")
        if reason:
            self.daemon.expected[reason] += 1
        return r


# ---------------------------------------------------------------------------------------------
# The scenarios every proxy runs (numbers: the scenarios of tests/CATALOGUE.md section J)

def scenario_prefix(f, t):
    """1. Route by prefix, on a segment boundary."""
    rec = f.allow("admin scope", "GET", "/admin", t["admin"])
    check(header_value(rec, "X-Auth-Sub") == "alice", f"X-Auth-Sub: {rec}")
    f.allow("admin scope, below the prefix", "GET", "/admin/users?page=2", t["admin"])
    f.allow("admin from scp", "GET", "/admin/x", t["scp_admin"])
    for name, tok in (("scope read", t["read"]), ("scope administrator", t["administrator"]),
                      ("scope 'read,admin'", t["comma"]), ("no scope", t["none"])):
        f.deny(name, "GET", "/admin", tok, 403, www("route_scope_missing", scope="admin"),
               "route_scope_missing")
    f.deny("POST without admin", "POST", "/admin/users", t["read"], 403,
           www("route_scope_missing", scope="admin"), "route_scope_missing")
    # /administrator is not below /admin: no route, routes_default deny.
    f.deny("/administrator is another path", "GET", "/administrator", t["admin"], 403,
           www("route_denied"), "route_denied")


def scenario_methods(f, t):
    """2. Route by method: POST /orders needs write; GET /orders falls through to the next
    route (read)."""
    f.allow("POST with write", "POST", "/orders", t["write"])
    f.allow("PUT with orders:write", "PUT", "/orders/7", t["orders_write_scp"])
    f.deny("POST with read only", "POST", "/orders", t["read"], 403,
           www("route_scope_missing", scope="write orders:write"), "route_scope_missing")
    f.deny("DELETE with read only", "DELETE", "/orders/7", t["read"], 403,
           www("route_scope_missing", scope="write orders:write"), "route_scope_missing")
    f.allow("GET with read (second /orders route)", "GET", "/orders", t["read"])
    # The GET is judged by the second route: write alone is not enough there.
    f.deny("GET with write only", "GET", "/orders/7", t["write"], 403,
           www("route_scope_missing", scope="read orders:read"), "route_scope_missing")


def scenario_scopes(f, t):
    """3. scopes_any from scp (array or string) and scope (space-separated string);
    scopes_all over scope and scp together."""
    f.allow("scp array", "GET", "/orders", t["orders_read_scp"])
    f.allow("scope string", "GET", "/orders", t["orders_read_scope"])
    f.allow("scp as a space-separated string", "GET", "/orders", t["orders_read_scp_string"])
    f.deny("scp without a listed scope", "GET", "/orders", t["orders_wrong_scp"], 403,
           www("route_scope_missing", scope="read orders:read"), "route_scope_missing")
    f.allow("scopes_all from both", "GET", "/reports/q3", t["reports_both"])
    f.allow("scopes_all from scope and scp together", "GET", "/reports/q3", t["reports_union"])
    f.deny("scopes_all half met", "GET", "/reports/q3", t["reports_half"], 403,
           www("route_scope_missing", scope="reports export"), "route_scope_missing")


def scenario_claims(f, t):
    """4. Claim requirements: JSON pointer into a Keycloak token, names, booleans, numbers,
    a pointer with an escaped '/'."""
    f.allow("realm_access.roles holds admin", "GET", "/kc/console", t["kc_admin"])
    f.allow("realm_access.roles is the string admin", "GET", "/kc", t["kc_string"])
    for name, tok in (("roles [user]", t["kc_user"]), ("no realm_access", t["kc_none"]),
                      ("admin only in a top-level roles", t["kc_flat"])):
        f.deny(name, "GET", "/kc/console", tok, 403, www("route_claim_not_accepted"),
               "route_claim_not_accepted")
    f.allow("true, 42 and ops", "GET", "/verified", t["verified"])
    f.allow("true, 43 and the string ops", "GET", "/verified", t["verified_43"])
    f.deny("email_verified false", "GET", "/verified", t["unverified"], 403,
           www("route_claim_not_accepted"), "route_claim_not_accepted")
    f.deny("no groups claim", "GET", "/verified", t["verified_no_group"], 403,
           www("route_claim_not_accepted"), "route_claim_not_accepted")


def scenario_401_403(f, t):
    """5. 401 for no or an invalid token, 403 for a valid one that lacks what the route needs."""
    f.deny("bad signature", "GET", "/admin", t["tampered"], 401,
           www("signature_invalid", error="invalid_token"))
    f.deny("expired", "GET", "/admin", t["expired"], 401, www("expired", error="invalid_token"))
    f.deny("no token", "GET", "/admin", None, 401, www())
    f.deny("no token on an open route", "GET", "/public", None, 401, www())
    f.deny("valid but lacking", "GET", "/admin", t["read"], 403,
           www("route_scope_missing", scope="admin"), "route_scope_missing")


def scenario_default_deny(f, t):
    """6. routes_default: deny, and a deny: true route; both without looking at the token."""
    for path in ("/", "/nowhere", "/internalx"):
        f.deny(f"no route for {path}", "GET", path, t["admin"], 403, www("route_denied"),
               "route_denied")
    f.deny("no route, no token", "GET", "/nowhere", None, 403, www("route_denied"),
           "route_denied")
    for tok_name in ("admin", "tampered"):
        f.deny(f"deny: true route ({tok_name})", "GET", "/internal/metrics", t[tok_name], 403,
               www("route_denied"), "route_denied")
    f.deny("deny: true route, no token", "POST", "/internal", None, 403, www("route_denied"),
           "route_denied")
    f.allow("a route without require", "GET", "/public/index.html", t["none"])


def scenario_normalisation(f, t, proxy):
    """7. The URI is normalised before matching: a token without admin never gets past /admin
    under another spelling."""
    lacking = t["read"]
    want = www("route_scope_missing", scope="admin")
    for path in ("/%61dmin", "/%61%64%6D%69%6E/x", "/public/../admin", "/public/./../admin/",
                 "/public/%2e%2e/admin", "/public/%2E%2E/admin", "//admin", "/public//../admin",
                 "/admin?next=/public", "/./admin"):
        f.deny(f"{path} with read", "GET", path, lacking, 403, want, "route_scope_missing")
    # With the admin scope the same spelling is the admin route, allowed.
    f.allow("/%61dmin with admin", "GET", "/%61dmin", t["admin"])
    f.allow("/public/../admin with admin", "GET", "/public/../admin", t["admin"])
    # An encoded '/' cannot be matched safely: refused whatever the token.
    for path in ("/admin%2Fx", "/public%2f..%2fadmin"):
        f.deny(f"{path}", "GET", path, t["admin"], 403,
               www("route_uri_invalid", error="invalid_request"), "route_uri_invalid")
    # The route headers the client sends are not the proxy's: the proxy overrides or removes
    # its own family, so the route stays /admin. nginx passes the client's X-Forwarded-Uri on
    # beside its X-Original-URI: both families present is refused (route_source auto), never
    # read as /public.
    spoof = [("X-Original-URI", "/public"), ("X-Original-Method", "GET"),
             ("X-Forwarded-Uri", "/public"), ("X-Forwarded-Method", "GET")]
    if proxy == "nginx":
        f.deny(f"client-sent X-Original-URI/X-Forwarded-Uri /public ({proxy})", "GET", "/admin",
               lacking, 403, www("route_uri_invalid", error="invalid_request"),
               "route_uri_invalid", headers=spoof)
    else:
        f.deny(f"client-sent X-Original-URI/X-Forwarded-Uri /public ({proxy})", "GET", "/admin",
               lacking, 403, want, "route_scope_missing", headers=spoof)
    f.deny(f"client-sent method headers GET on a POST ({proxy})", "POST", "/orders", t["read"],
           403, www("route_scope_missing", scope="write orders:write"), "route_scope_missing",
           headers=spoof[1:2] + spoof[3:4])


def scenario_claim_headers(f, t):
    """8. Claim headers reach the backend; client-sent identity headers never do."""
    spoof = [(h, "spoofed") for h in IDENTITY]
    rec = f.allow("Keycloak roles", "GET", "/kc/console", t["kc_admin"], headers=spoof)
    want = {"X-Auth-Sub": "kc-admin", "X-Auth-Iss": ISS_A, "X-Auth-Email": "kc@example.com",
            "X-Auth-Roles": "user,admin"}
    for h, v in want.items():
        check(header_value(rec, h) == v, f"[{f.name}] {h} at the backend: "
                                         f"{header_value(rec, h)!r}, want {v!r}")
    rec = f.allow("mixed roles", "GET", "/public/x", t["mixed_roles"], headers=spoof)
    got = {h: header_value(rec, h) for h in IDENTITY}
    check(got == {"X-Auth-Sub": "mia", "X-Auth-Iss": ISS_A, "X-Auth-Email": "",
                  "X-Auth-Roles": "a,1,true,b"},
          f"[{f.name}] mixed array claim: {got}")
    rec = f.allow("absent claims", "GET", "/verified", t["verified"], headers=spoof)
    got = {h: header_value(rec, h) for h in IDENTITY}
    check(got == {"X-Auth-Sub": "vera", "X-Auth-Iss": ISS_A, "X-Auth-Email": "",
                  "X-Auth-Roles": ""}, f"[{f.name}] absent claims: {got}")
    rec = f.allow("an object claim", "GET", "/public/y", t["object_roles"], headers=spoof)
    check(header_value(rec, "X-Auth-Roles") == "", f"[{f.name}] object claim: {rec}")
    rec = f.allow("issuer B", "GET", "/partner", t["partner_b"], headers=spoof)
    check(header_value(rec, "X-Auth-Iss") == ISS_B and header_value(rec, "X-Auth-Sub") == "pat-b",
          f"[{f.name}] issuer B identity: {rec}")


def scenario_issuers_audiences(f, t):
    """9. Issuers and audiences per route."""
    f.allow("issuer B on /partner", "GET", "/partner/orders", t["partner_b"])
    f.deny("issuer A on /partner", "GET", "/partner/orders", t["partner_a"], 403,
           www("route_issuer_not_allowed"), "route_issuer_not_allowed")
    f.allow("aud [x, api2] on /api2", "GET", "/api2/v", t["aud_api2"])
    f.deny("aud api on /api2", "GET", "/api2/v", t["aud_api"], 403,
           www("route_audience_not_allowed"), "route_audience_not_allowed")
    f.deny("no aud on /api2", "GET", "/api2", t["aud_none"], 403,
           www("route_audience_not_allowed"), "route_audience_not_allowed")
    f.allow("issuer B elsewhere (top-level policy trusts it)", "GET", "/public", t["partner_b"])


def run_policy_scenarios(f, t, proxy):
    scenario_prefix(f, t)
    log(f"{proxy}: 1 route by prefix: 200 with admin, 403 route_scope_missing scope=\"admin\"")
    scenario_methods(f, t)
    log(f"{proxy}: 2 route by method: POST needs write, GET falls through to the read route")
    scenario_scopes(f, t)
    log(f"{proxy}: 3 scopes from scp (array, string) and scope")
    scenario_claims(f, t)
    log(f"{proxy}: 4 claim requirements: 200 / 403 route_claim_not_accepted")
    scenario_401_403(f, t)
    log(f"{proxy}: 5 401 invalid_token / 401 without error / 403 insufficient_scope")
    scenario_default_deny(f, t)
    log(f"{proxy}: 6 routes_default deny and deny: true -> 403 route_denied")
    scenario_normalisation(f, t, proxy)
    log(f"{proxy}: 7 /%61dmin, /public/../admin, //admin ... -> 403; %2F -> route_uri_invalid")
    scenario_claim_headers(f, t)
    log(f"{proxy}: 8 claim headers at the backend (user,admin / a,1,true,b / empty), "
        "client-sent copies dropped")
    scenario_issuers_audiences(f, t)
    log(f"{proxy}: 9 route issuers and audiences")


def check_route_metrics(d):
    text = d.metrics()
    promtool_check(text)
    for reason in ROUTE_REASONS:
        got = metric_value(text, "jwtgate_auth_requests_total", {"reason": reason}) or 0
        want = d.expected[reason]
        check(got == want, f"{d.name}: jwtgate_auth_requests_total{{reason=\"{reason}\"}} = "
                           f"{got}, the test caused {want}")
    log(f"{d.name}: jwtgate_auth_requests_total per route reason = what the test caused: "
        + ", ".join(f"{r} {d.expected[r]}" for r in ROUTE_REASONS))


# ---------------------------------------------------------------------------------------------
# Part nginx

NGINX_MAP = """
  # WWW-Authenticate of a 403 (auth_request passes it on for a 401 by itself).
  map $auth_status $auth_www_403 {
    403 $auth_www;
    default "";
  }
"""


def nginx_front(front_port, auth_port, backend_port, tag):
    sets = "\n".join(
        f"      auth_request_set $auth_{h.lower().replace('-', '_')} "
        f"$upstream_http_{h.lower().replace('-', '_')};" for h in IDENTITY)
    passes = "\n".join(
        f"      proxy_set_header {h} $auth_{h.lower().replace('-', '_')};" for h in IDENTITY)
    return f"""
  upstream jwtgated_{tag} {{
    server 127.0.0.1:{auth_port};
    keepalive 8;
  }}
  server {{
    listen 127.0.0.1:{front_port};
    location / {{
      auth_request /_jwtgate;
      auth_request_set $auth_status $upstream_status;
      auth_request_set $auth_www $upstream_http_www_authenticate;
      add_header WWW-Authenticate $auth_www_403 always;
{sets}
{passes}
      proxy_pass http://127.0.0.1:{backend_port};
    }}
{auth_location(f"jwtgated_{tag}")}  }}
"""


def direct_checks(d, t):
    """The route inputs without a proxy: X-Original-URI, X-Forwarded-Uri, the path after
    auth.path_prefix; undecodable URIs; an absolute-form URI."""
    x = Direct(d)
    lacking = t["read"]
    scope_admin = www("route_scope_missing", scope="admin")
    invalid = www("route_uri_invalid", error="invalid_request")
    x.expect("X-Original-URI /admin", 403, scope_admin, "route_scope_missing", token=lacking,
             headers=[("X-Original-URI", "/admin")])
    x.expect("X-Forwarded-Uri /admin", 403, scope_admin, "route_scope_missing", token=lacking,
             headers=[("X-Forwarded-Uri", "/admin")])
    x.expect("path mode /auth/admin", 403, scope_admin, "route_scope_missing", token=lacking,
             path="/auth/admin")
    x.expect("path mode /auth/%61dmin/", 403, scope_admin, "route_scope_missing", token=lacking,
             path="/auth/%61dmin/")
    r = x.expect("path mode /auth/admin with admin", 200, token=t["admin"], path="/auth/admin")
    check(r.header("X-Auth-Sub") == "alice", f"path mode allow: {r}")
    # Both families, or a proxy header twice: a client's header came through beside the
    # proxy's, and which is which cannot be told: refused, whatever the order.
    for name, hs in (("both families", [("X-Original-URI", "/admin"), ("X-Forwarded-Uri", "/public")]),
                     ("both families, reversed", [("X-Forwarded-Uri", "/public"), ("X-Original-URI", "/admin")]),
                     ("X-Original-URI twice", [("X-Original-URI", "/public"), ("X-Original-URI", "/admin")]),
                     ("X-Forwarded-Uri twice", [("X-Forwarded-Uri", "/admin"), ("X-Forwarded-Uri", "/public")]),
                     ("X-Original-Method twice", [("X-Original-URI", "/orders"), ("X-Original-Method", "GET"),
                                                  ("X-Original-Method", "POST")])):
        x.expect(f"ambiguous route headers: {name}", 403, invalid, "route_uri_invalid",
                 token=t["admin"], path="/auth/public", headers=hs)
    # The path mode: the prefix alone is "/", which no route matches (routes_default: deny).
    x.expect("bare /auth is '/'", 403, www("route_denied"), "route_denied", token=lacking,
             path="/auth")
    x.expect("X-Forwarded-Uri over the path", 403, scope_admin, "route_scope_missing",
             token=lacking, path="/auth/public", headers=[("X-Forwarded-Uri", "/admin")])
    x.expect("X-Original-Method over X-Forwarded-Method", 403,
             www("route_scope_missing", scope="write orders:write"), "route_scope_missing",
             token=lacking, headers=[("X-Original-URI", "/orders"), ("X-Original-Method", "POST"),
                                     ("X-Forwarded-Method", "GET")])
    x.expect("X-Forwarded-Method", 403, www("route_scope_missing", scope="write orders:write"),
             "route_scope_missing", token=lacking,
             headers=[("X-Forwarded-Uri", "/orders"), ("X-Forwarded-Method", "DELETE")])
    x.expect("the auth request's own method", 403,
             www("route_scope_missing", scope="write orders:write"), "route_scope_missing",
             token=lacking, method="POST", path="/auth/orders")
    x.expect("absolute-form URI", 403, scope_admin, "route_scope_missing", token=lacking,
             headers=[("X-Original-URI", "http://evil.example/admin?x=1")])
    x.expect("absolute-form https URI", 403, scope_admin, "route_scope_missing", token=lacking,
             headers=[("X-Original-URI", "https://evil.example:8443/public/../admin")])
    x.expect("fragment dropped", 403, scope_admin, "route_scope_missing", token=lacking,
             headers=[("X-Original-URI", "/admin#/public")])
    for uri in ("/x%zz", "/admin%", "/admin%4", "/x%00", "/admin%2fx", "/a%2Fb", "admin",
                "*"):
        x.expect(f"undecodable URI {uri!r}", 403, invalid, "route_uri_invalid",
                 token=t["admin"], headers=[("X-Original-URI", uri)])
    # Above the root: never past /admin without the scope (resolved to /admin, or refused).
    r = x.send(token=lacking, headers=[("X-Original-URI", "/../admin")])
    got = headers_named(r, "WWW-Authenticate")
    check(r.status == 403 and got in ([scope_admin], [invalid]), f"/../admin: {r}")
    d.expected["route_scope_missing" if got == [scope_admin] else "route_uri_invalid"] += 1
    # Claim headers straight from jwtgated.
    r = x.expect("claim headers", 200, token=t["mixed_roles"],
                 headers=[("X-Original-URI", "/public")])
    check(r.header("X-Auth-Roles") == "a,1,true,b" and r.header("X-Auth-Sub") == "mia"
          and r.header("X-Auth-Iss") == ISS_A and r.header("X-Auth-Email") == ""
          and r.header("X-Auth-Level") == "", f"claim headers from jwtgated: {r.headers}")
    r = x.expect("number claim header", 200, token=t["verified"],
                 headers=[("X-Original-URI", "/verified")])
    check(r.header("X-Auth-Level") == "42" and r.header("X-Auth-Roles") == "",
          f"number claim header: {r.headers}")
    r = x.expect("object claim header", 200, token=t["object_roles"],
                 headers=[("X-Original-URI", "/public")])
    check(r.header("X-Auth-Roles") == "", f"object claim header: {r.headers}")
    # claim_header_max_bytes 64, counted after percent-encoding: 64 bytes pass whole, 65 are
    # sent empty (never cut).
    for name, claims, header, want in (
            ("64 bytes", {"email": "x" * 64}, "X-Auth-Email", "x" * 64),
            ("65 bytes", {"email": "x" * 65}, "X-Auth-Email", ""),
            ("58 + e-acute = 64 encoded", {"email": "x" * 58 + "\u00e9"}, "X-Auth-Email",
             "x" * 58 + "%C3%A9"),
            ("62 + e-acute = 68 encoded", {"email": "x" * 62 + "\u00e9"}, "X-Auth-Email", ""),
            ("63 + CR = 66 encoded", {"email": "x" * 63 + "\r"}, "X-Auth-Email", ""),
            ("joined array of 64", {"realm_access": {"roles": ["a" * 30, "b" * 33]}},
             "X-Auth-Roles", "a" * 30 + "," + "b" * 33),
            ("joined array of 65", {"realm_access": {"roles": ["a" * 31, "b" * 33]}},
             "X-Auth-Roles", ""),
            # The separator inside an element is encoded: "x,admin" stays one role.
            ("separator inside an element", {"realm_access": {"roles": ["x,admin", "y"]}},
             "X-Auth-Roles", "x%2Cadmin,y")):
        r = x.expect(f"claim_header_max_bytes: {name}", 200, token=t["sized"](**claims),
                     headers=[("X-Original-URI", "/public")])
        check(r.header(header) == want, f"claim_header_max_bytes 64, {name}: {header} "
                                        f"{r.header(header)!r}, want {want!r}")
    log("direct: X-Original-URI > X-Forwarded-Uri > path; methods likewise; absolute-form and "
        "fragment handled; undecodable URIs -> 403 route_uri_invalid")


def check_config_errors(w, d):
    """10. --check-config names the offending key path and line."""
    base = d.config_text_fn(d)
    check(base.count("\nroutes:\n") == 1 and base.count("routes_default: deny") == 1,
          "policy config layout")

    def variant(name, routes, extra=""):
        text = config_text(d, w, routes, extra)
        path = os.path.join(w.tmp, f"check-{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path, text

    def line_of(text, marker):
        lines = text.split("\n")
        hits = [i + 1 for i, line in enumerate(lines) if marker in line]
        check(len(hits) == 1, f"marker {marker!r} in {hits}")
        return hits[0]

    def run(path):
        return subprocess.run([w.args.daemon, "--check-config", "--config", path],
                              capture_output=True, text=True, timeout=20)

    r = run(d.config_path)
    check(r.returncode == 0, f"--check-config on the policy configuration: {r.returncode} "
                             f"{r.stderr}")
    ok, _ = variant("plain-name", """
routes:
  - path_prefix: /kc
    require:
      claims:
        realm_access/roles: [admin]
        "/a~0b~1c": [x]
""")
    r = run(ok)
    check(r.returncode == 0, f"a claim name without a leading '/' and a pointer with ~0 ~1 are "
                             f"valid: {r.returncode} {r.stderr}")

    cases = [
        ("unknown-require-key", """
routes:
  - name: admin
    path_prefix: /admin
    require:
      scopes_all: [admin]
      scopez_any: [x]
""", "", "scopez_any", ["routes[0].require.scopez_any", "unknown key"]),
        ("bad-pointer-tilde2", """
routes:
  - path_prefix: /kc
    require:
      claims:
        /a~2b: [admin]
""", "", "/a~2b", ["routes[0].require.claims", "/a~2b"]),
        ("bad-pointer-trailing-tilde", """
routes:
  - path_prefix: /kc
    require:
      claims:
        /a~: [admin]
""", "", "/a~:", ["routes[0].require.claims", "/a~"]),
        ("empty-scopes-all", """
routes:
  - path_prefix: /public
  - path_prefix: /admin
    require:
      scopes_all: []
""", "", "scopes_all", ["routes[1].require.scopes_all", "empty list"]),
        ("empty-methods", """
routes:
  - path_prefix: /orders
    methods: []
""", "", "methods", ["routes[0].methods", "empty list"]),
        ("empty-claim-values", """
routes:
  - path_prefix: /kc
    require:
      claims:
        x: []
""", "", "x: []", ["routes[0].require.claims", "empty list"]),
        ("lowercase-method", """
routes:
  - path_prefix: /orders
    methods: [get]
""", "", "methods", ["routes[0].methods", "get"]),
        ("deny-with-require", """
routes:
  - path_prefix: /internal
    deny: true
    require:
      scopes_all: [admin]
""", "", None, ["routes[0]"]),
        ("routes-default", POLICY_ROUTES.replace("routes_default: deny",
                                                 "routes_default: allow"),
         "", "routes_default", ["routes_default"]),
        ("sample-allows", "", """
decision_log:
  path: stderr
  sample_allows: 1.5
""", "sample_allows", ["decision_log.sample_allows"]),
        ("unknown-log-key", "", """
decision_log:
  path: stderr
  sample_deny: 1
""", "sample_deny", ["decision_log.sample_deny", "unknown key"]),
    ]
    for name, routes, extra, marker, needles in cases:
        path, text = variant(name, routes, extra)
        r = run(path)
        want = list(needles)
        if marker is not None:
            want.append(f"(line {line_of(text, marker)})")
        check(r.returncode == 3 and all(n in r.stderr for n in want),
              f"--check-config with {name}: exit {r.returncode} (want 3), stderr {r.stderr!r} "
              f"should name {want}")
        log(f"check-config {name}: exit 3, {r.stderr.strip().splitlines()[-1]}")
    # A claim header with a pointer that is not RFC 6901.
    path, text = variant("claim-header-pointer", "")
    with open(path, "w") as f:
        f.write(text.replace("{claim: /realm_access/roles, header: X-Auth-Roles}",
                             "{claim: /realm_access~2roles, header: X-Auth-Roles}"))
    r = run(path)
    check(r.returncode == 3 and "auth.claim_headers[1]" in r.stderr,
          f"--check-config with a bad claim header pointer: {r.returncode} {r.stderr!r}")
    log("10 --check-config: exit 3, each message names the key path and its line")


def part_nginx(tmp, args):
    w = World(tmp, args)
    t = policy_tokens(w)
    backend = Backend()
    d = w.daemon("policy", POLICY_ROUTES)
    d2 = w.daemon("fallthrough", FALLTHROUGH_ROUTES)
    front, front2 = free_port(), free_port()
    ngx = Nginx(tmp, NGINX_MAP + nginx_front(front, d.auth_port, backend.port, "a")
                + nginx_front(front2, d2.auth_port, backend.port, "b"))
    try:
        d.start()
        d2.start()
        ngx.start([front, front2])
        f = Front("nginx", front, backend, d)
        run_policy_scenarios(f, t, "nginx")

        # 2, second half: with routes_default policy a GET /orders matches no route and the
        # top-level policy alone decides.
        f2 = Front("nginx/fallthrough", front2, backend, d2)
        f2.allow("GET /orders, no scope: no route, top-level policy", "GET", "/orders", t["none"])
        f2.allow("any path, no scope", "GET", "/anything/else", t["read"])
        f2.deny("POST /orders without write", "POST", "/orders", t["read"], 403,
                www("route_scope_missing", scope="write orders:write"), "route_scope_missing")
        f2.allow("POST /orders with orders:write", "POST", "/orders", t["orders_write_scp"])
        f2.deny("GET /orders, bad signature: still 401", "GET", "/orders", t["tampered"], 401,
                www("signature_invalid", error="invalid_token"))
        f2.deny("no token: 401", "GET", "/x", None, 401, www())
        log("nginx: 2 with routes_default policy, GET /orders falls through to the top-level "
            "policy (200 without scope), POST /orders needs write")

        direct_checks(d, t)
        check_route_metrics(d)
        check_route_metrics(d2)
        check_config_errors(w, d)

        # 11. /readyz?verbose with static key files: 200, "[+]..." lines (none "[-]"), "ok".
        r = http(d.admin_port, "GET", "/readyz?verbose")
        body = r.body.decode()
        check(r.status == 200, f"/readyz?verbose: {r}")
        body_lines = body.splitlines()
        check(body.endswith("\n") and body_lines and body_lines[-1] == "ok"
              and all(line.startswith("[+]") for line in body_lines[:-1]),
              f"/readyz?verbose: {body!r}")
        # One line per issuer, each with its key count and where the keys come from.
        for iss in (ISS_A, ISS_B):
            check(f"[+]keys of {iss}: 1 (jwks_file)" in body_lines,
                  f"/readyz?verbose: no line for {iss}: {body!r}")
        r = http(d.admin_port, "GET", "/readyz")
        check(r.status == 200 and r.body == b"ok\n", f"/readyz: {r}")
        log(f"11 /readyz?verbose: 200 {body!r}")
        for dd in (d, d2):
            rc = dd.stop(signal.SIGTERM)
            check(rc == 0, f"{dd.name}: exit status {rc}")
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        log("jwtgated (fallthrough) log:\n" + d2.log_text())
        log("nginx error log:\n" + ngx.error_log())
        raise
    finally:
        ngx.stop()
        for dd in (d, d2):
            if dd.alive():
                dd.stop(signal.SIGKILL)
        backend.stop()


# ---------------------------------------------------------------------------------------------
# Part caddy

CADDY_GLOBAL = """{
	admin off
	auto_https off
	default_bind 127.0.0.1
}
"""


def caddyfile_for_test(front, auth_port, backend_port):
    """scripts/deploy/Caddyfile with the test's ports: each address must occur exactly once, so
    that the example and the test cannot drift apart."""
    with open(CADDYFILE) as f:
        text = f.read()
    subs = {"api.example.com {": f"http://127.0.0.1:{front} {{",
            "127.0.0.1:9090": f"127.0.0.1:{auth_port}",
            "127.0.0.1:8080": f"127.0.0.1:{backend_port}"}
    for old, new in subs.items():
        check(text.count(old) == 1, f"{CADDYFILE}: {old!r} occurs {text.count(old)} times")
        text = text.replace(old, new)
    return CADDY_GLOBAL + text


class Caddy:
    def __init__(self, directory, caddyfile_text, port):
        if not os.path.exists(CADDY):
            raise TestFailure(f"{CADDY} is missing (Debian package caddy)")
        self.dir = os.path.join(directory, "caddy")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "Caddyfile")
        with open(self.conf, "w") as f:
            f.write(caddyfile_text)
        self.log_path = os.path.join(self.dir, "caddy.log")
        self.port = port
        self.proc = None

    def start(self):
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, XDG_DATA_HOME=os.path.join(home, "data"),
                   XDG_CONFIG_HOME=os.path.join(home, "config"),
                   XDG_CACHE_HOME=os.path.join(home, "cache"))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CADDY, "run", "--config", self.conf, "--adapter",
                                      "caddyfile"], stdout=self.log, stderr=self.log, env=env)
        try:
            wait_port(self.port, timeout=15.0, proc=self.proc)
        except TestFailure as e:
            raise TestFailure(f"caddy: {e}\n{self.log_text()}")

    def log_text(self):
        return file_tail(self.log_path)

    def stop(self):
        stop_process(self.proc)
        if self.proc is not None:
            self.log.close()


def part_caddy(tmp, args):
    w = World(tmp, args)
    t = policy_tokens(w)
    backend = Backend()
    d = w.daemon("policy", POLICY_ROUTES)
    front = free_port()
    caddy = Caddy(tmp, caddyfile_for_test(front, d.auth_port, backend.port), front)
    try:
        d.start()
        caddy.start()
        f = Front("caddy", front, backend, d)
        run_policy_scenarios(f, t, "caddy")
        # The example sends the Authorization header on to the application.
        rec = f.allow("token reaches the application", "GET", "/public", t["none"])
        check(header_value(rec, "Authorization") == f"Bearer {t['none']}", f"{rec}")
        check_route_metrics(d)
        rc = d.stop(signal.SIGTERM)
        check(rc == 0, f"exit status {rc}")
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        log("caddy log:\n" + caddy.log_text())
        raise
    finally:
        caddy.stop()
        if d.alive():
            d.stop(signal.SIGKILL)
        backend.stop()


# ---------------------------------------------------------------------------------------------
# Part log

LOG_FIELDS = {"time", "route", "method", "decision", "status", "reason", "sub", "iss", "kid",
              "alg", "cache", "latency_us", "trace_id"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def read_log(path):
    with open(path, "rb") as f:
        data = f.read()
    check(data == b"" or data.endswith(b"\n"), f"{path}: ends in a partial line")
    lines = []
    for i, raw in enumerate(data.split(b"\n")[:-1] if data else []):
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise TestFailure(f"{path}: line {i + 1} is not JSON ({e}): {raw[:300]!r}")
        check(isinstance(obj, dict), f"{path}: line {i + 1} is not an object: {raw[:300]!r}")
        lines.append(obj)
    return data.decode("utf-8", errors="replace"), lines


def check_line_shape(obj):
    missing = LOG_FIELDS - set(obj)
    check(not missing, f"log line without {sorted(missing)}: {obj}")
    check(TIME_RE.match(obj["time"]) is not None, f"time {obj['time']!r}")
    check(obj["decision"] in ("allow", "deny", "error"), f"decision: {obj}")
    status_of = {"allow": (200,), "deny": (401, 403), "error": (503,)}
    check(obj["status"] in status_of[obj["decision"]], f"decision/status: {obj}")
    check(isinstance(obj["cache"], bool), f"cache: {obj}")
    check(isinstance(obj["latency_us"], int) and obj["latency_us"] >= 0, f"latency_us: {obj}")
    check(obj["route"] is None or isinstance(obj["route"], str), f"route: {obj}")
    check(obj["trace_id"] is None or re.fullmatch(r"[0-9a-f]{32}", obj["trace_id"]),
          f"trace_id: {obj}")


def traceparent(n):
    trace = f"{n:032x}"
    trace = "4bf92f3577b34da6" + trace[16:]
    span = f"{0x00f067aa0ba90000 + n:016x}"
    return trace, span, f"00-{trace}-{span}-01"


def part_log(tmp, args):
    os.umask(0o022)
    w = World(tmp, args)
    admin = w.token(sub="alice", scope="read admin")
    reader = w.token(sub="bob", scope="read")
    writer = w.token(sub="wanda", scope="write")
    partner = w.token(issuer="B", sub="pat-b", scope="admin")
    tampered = w.tampered(admin)
    tp_tokens = [w.token(sub=f"tp-{i}", scope="admin") for i in range(5)]

    # --- sample_allows 1.0: every decision is a line
    log_path = os.path.join(tmp, "decisions.log")
    d = w.daemon("full", LOG_ROUTES, extra=f"""
decision_log:
  path: {log_path}
  sample_allows: 1.0
  max_denies_per_second: 1000000
""")
    d2 = None
    try:
        d.start()
        check(os.path.exists(log_path), "the decision log file is not created at start")
        mode = os.stat(log_path).st_mode & 0o777
        check(mode == 0o640, f"decision log created with mode {mode:o}, want 640")
        c = Conn(d.auth_port)
        known = {}  # trace_id -> (expected fields)
        serial = [0]
        secrets = set()

        def send(uri, token=None, method=None, tp=None, via_path=False, expect=None, tp_raw=None):
            headers = []
            if not via_path:
                headers.append(("X-Original-URI", uri))
            if method:
                headers.append(("X-Original-Method", method))
            if token is not None:
                headers.append(("Authorization", f"Bearer {token}"))
            if tp_raw is not None:
                headers.append(("traceparent", tp_raw))
            trace = None
            if tp:
                serial[0] += 1
                trace, span, value = traceparent(serial[0])
                headers.append(("traceparent", value))
                secrets.add(value)
                secrets.add(span)
            r = c.request("GET", "/auth" + (uri if via_path else ""), headers)
            if expect is not None:
                check(r.status == expect, f"{uri} {method}: expected {expect}, got {r}")
            return trace, r

        # Known decisions, each with its own trace id.
        A = {"iss": ISS_A, "kid": "ka", "alg": "HS256"}
        NULLS = {"sub": None, "iss": None, "kid": None, "alg": None}
        plan = [
            (dict(uri="/admin", token=admin, expect=200),
             dict(route="admin", method="GET", decision="allow", status=200, reason="ok",
                  sub="alice", cache=False, **A)),
            (dict(uri="/admin/x", token=admin, expect=200),
             dict(route="admin", method="GET", decision="allow", status=200, reason="ok",
                  sub="alice", cache=True, **A)),
            (dict(uri="/admin", token=reader, expect=403),
             dict(route="admin", method="GET", decision="deny", status=403,
                  reason="route_scope_missing", sub="bob", **A)),
            (dict(uri="/admin", token=tampered, expect=401),
             dict(route="admin", method="GET", decision="deny", status=401,
                  reason="signature_invalid", **NULLS)),
            (dict(uri="/admin", token=None, expect=401),
             dict(route="admin", method="GET", decision="deny", status=401,
                  reason="token_missing", **NULLS)),
            (dict(uri="/internal/x", token=admin, method="DELETE", expect=403),
             dict(route="internal", method="DELETE", decision="deny", status=403,
                  reason="route_denied", **NULLS)),
            (dict(uri="/elsewhere", token=reader, expect=200),
             dict(route=None, method="GET", decision="allow", status=200, reason="ok",
                  sub="bob", **A)),
            (dict(uri="/orders", token=writer, method="POST", expect=200),
             dict(route="orders-write", method="POST", decision="allow", status=200,
                  reason="ok", sub="wanda", **A)),
            (dict(uri="/orders", token=reader, method="POST", expect=403),
             dict(route="orders-write", method="POST", decision="deny", status=403,
                  reason="route_scope_missing", sub="bob", **A)),
            (dict(uri="/orders/1", token=reader, expect=200),
             dict(route="/orders", method="GET", decision="allow", status=200, reason="ok",
                  sub="bob", **A)),
            (dict(uri="/admin", token=partner, via_path=True, expect=200),
             dict(route="admin", method="GET", decision="allow", status=200, reason="ok",
                  sub="pat-b", iss=ISS_B, kid="kb", alg="HS256")),
        ]
        for req, fields in plan:
            trace, _ = send(tp=True, **req)
            known[trace] = fields
        # Invalid traceparents: trace_id null. Each one is told apart by its token's sub.
        bad_tps = ["00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    # 31 hex
                   "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   # not hex
                   "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   # all-zero id
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",    # short parent
                   "4bf92f3577b34da6a3ce929d0e0e4736"]                          # no structure
        for tok, tp_value in zip(tp_tokens, bad_tps):
            send("/admin", token=tok, tp_raw=tp_value, expect=200)
            secrets.add(tp_value)
        # Outside auth.path_prefix: 404, not a decision, no line.
        r = c.request("GET", "/metrics", [("Authorization", f"Bearer {admin}")])
        check(r.status == 404, f"outside the auth prefix: {r}")
        c.close()
        known_count = len(plan) + len(bad_tps)

        # The bulk: 4 keep-alive connections in threads, a fixed mix.
        mix = [("/admin", admin, None, 200, ("admin", 200, "ok")),
               ("/admin", reader, None, 403, ("admin", 403, "route_scope_missing")),
               ("/admin", tampered, None, 401, ("admin", 401, "signature_invalid")),
               ("/internal", admin, None, 403, ("internal", 403, "route_denied")),
               ("/somewhere", reader, None, 200, (None, 200, "ok")),
               ("/orders", writer, "POST", 200, ("orders-write", 200, "ok")),
               ("/orders", reader, None, 200, ("/orders", 200, "ok")),
               ("/public", None, None, 401, (None, 401, "token_missing"))]
        total = 10000
        bulk = total - known_count
        threads_n = 4
        per = [bulk // threads_n + (1 if i < bulk % threads_n else 0) for i in range(threads_n)]
        expected_mix = collections.Counter()
        errors = []

        def worker(n, offset):
            try:
                cc = Conn(d.auth_port, timeout=10)
                for i in range(n):
                    uri, tok, method, status, key = mix[(offset + i) % len(mix)]
                    h = [("X-Original-URI", uri)]
                    if method:
                        h.append(("X-Original-Method", method))
                    if tok is not None:
                        h.append(("Authorization", f"Bearer {tok}"))
                    r = cc.request("GET", "/auth", h)
                    if r.status != status:
                        errors.append(f"{uri} {method}: {r}")
                        return
                cc.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        offset = 0
        for n in per:
            for i in range(n):
                expected_mix[mix[(offset + i) % len(mix)][4]] += 1
            offset += n
        started = time.monotonic()
        ths = []
        offset = 0
        for n in per:
            th = threading.Thread(target=worker, args=(n, offset))
            offset += n
            th.start()
            ths.append(th)
        for th in ths:
            th.join(60)
        took = time.monotonic() - started
        check(not errors, f"bulk requests: {errors[:5]}")
        log(f"log: {bulk} requests on {threads_n} connections in {took:.1f} s")

        # Every decision is one line, whole and JSON.
        deadline = time.monotonic() + 5
        while True:
            text, lines = read_log(log_path)
            if len(lines) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(len(lines) == total, f"{len(lines)} log lines for {total} decisions")
        for obj in lines:
            check_line_shape(obj)
        extra = set(lines[0]) - LOG_FIELDS
        if extra:
            log(f"note: log lines carry fields beyond the contract: {sorted(extra)}")
        by_trace = {}
        for obj in lines:
            if obj["trace_id"] is not None:
                check(obj["trace_id"] not in by_trace, f"trace_id twice: {obj}")
                by_trace[obj["trace_id"]] = obj
        check(set(by_trace) == set(known), f"trace ids in the log: {len(by_trace)} "
                                           f"(want exactly the {len(known)} known ones)")
        for trace, fields in known.items():
            obj = by_trace[trace]
            for k, v in fields.items():
                check(obj[k] == v, f"log line of trace {trace}: {k} = {obj[k]!r}, want {v!r} "
                                   f"({obj})")
        tp_lines = [o for o in lines if o["sub"] and o["sub"].startswith("tp-")]
        check(len(tp_lines) == len(bad_tps) and all(o["trace_id"] is None for o in tp_lines),
              f"invalid traceparents: {tp_lines}")
        # Exact counts of the bulk per (route, status, reason), the known lines added.
        got_mix = collections.Counter((o["route"], o["status"], o["reason"]) for o in lines)
        want_mix = collections.Counter(expected_mix)
        for fields in known.values():
            want_mix[(fields["route"], fields["status"], fields["reason"])] += 1
        want_mix[("admin", 200, "ok")] += len(bad_tps)
        check(got_mix == want_mix, f"lines per (route, status, reason): {dict(got_mix)}, want "
                                   f"{dict(want_mix)}")
        # Never a token, a signature, a signing input or another header value.
        for tok in set(w.all_tokens):
            head, payload, sig = tok.split(".")
            for piece, what in ((tok, "a whole token"), (sig, "a signature"),
                                (f"{head}.{payload}", "a signing input"),
                                (payload, "a payload segment")):
                check(piece not in text, f"the decision log holds {what}: {piece[:40]}...")
        for s in secrets:
            check(s not in text, f"the decision log holds a traceparent value: {s}")
        # Nor a fragment: no run of 16 base64url characters of the log is part of a token's
        # payload or signature.
        windows = set()
        for tok in set(w.all_tokens):
            for seg in tok.split(".")[1:]:
                windows.update(seg[i:i + 16] for i in range(len(seg) - 15))
        for run in set(re.findall(r"[A-Za-z0-9_-]{16,}", text)):
            for i in range(len(run) - 15):
                check(run[i:i + 16] not in windows,
                      f"the decision log holds 16 characters of a token: {run}")
        check("Bearer" not in text and "X-Original" not in text, "header names/values in log")
        m = d.metrics()
        lines_total = metric_value(m, "jwtgate_decision_log_lines_total")
        check(lines_total == total, f"jwtgate_decision_log_lines_total {lines_total}, want {total}")
        for why in ("deny_rate", "write_error"):
            v = metric_value(m, "jwtgate_decision_log_dropped_total", {"why": why})
            check(v == 0, f"jwtgate_decision_log_dropped_total{{why=\"{why}\"}} {v}, want 0")
        promtool_check(m)
        log(f"log: {total} lines, all JSON with the contract's fields; known requests exact; "
            f"per-(route, status, reason) counts exact; no token, signature or header value")

        # Rotation: rename, POST /reload, the next decision goes to a new file.
        os.rename(log_path, log_path + ".1")
        r = http(d.admin_port, "POST", "/reload")
        check(r.status == 200, f"POST /reload: {r}")
        c = Conn(d.auth_port)
        send("/admin", token=admin, expect=200)
        send("/admin", token=reader, expect=403)
        c.close()
        deadline = time.monotonic() + 5
        while not (os.path.exists(log_path) and len(read_log(log_path)[1]) >= 2):
            check(time.monotonic() < deadline, "no new decision log after POST /reload")
            time.sleep(0.05)
        _, new_lines = read_log(log_path)
        _, old_lines = read_log(log_path + ".1")
        check(len(new_lines) == 2 and len(old_lines) == total
              and [o["status"] for o in new_lines] == [200, 403],
              f"after rotation: {len(old_lines)} old lines, new {new_lines}")
        mode = os.stat(log_path).st_mode & 0o777
        check(mode == 0o640, f"reopened decision log mode {mode:o}, want 640")
        # SIGHUP likewise; the new file exists once it is reopened (created at open).
        os.rename(log_path, log_path + ".2")
        d.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not os.path.exists(log_path):
            check(time.monotonic() < deadline, "no new decision log file after SIGHUP")
            time.sleep(0.02)
        c = Conn(d.auth_port)
        send("/internal", token=None, expect=403)
        c.close()
        deadline = time.monotonic() + 5
        while len(read_log(log_path)[1]) < 1:
            check(time.monotonic() < deadline, "no line in the new decision log after SIGHUP")
            time.sleep(0.02)
        _, hup_lines = read_log(log_path)
        _, second = read_log(log_path + ".2")
        check(len(hup_lines) == 1 and hup_lines[0]["reason"] == "route_denied" and len(second) == 2,
              f"after SIGHUP: new {hup_lines}, previous file {len(second)} lines")
        log("log: POST /reload and SIGHUP reopen the file (rotation): the next lines go to the "
            "new file, created 0640")
        rc = d.stop(signal.SIGTERM)
        check(rc == 0, f"exit status {rc}")

        # --- sample_allows 0.0, max_denies_per_second 5
        log_path2 = os.path.join(tmp, "sampled.log")
        d2 = w.daemon("sampled", LOG_ROUTES, extra=f"""
decision_log:
  path: {log_path2}
  sample_allows: 0.0
  max_denies_per_second: 5
""")
        d2.start()
        c = Conn(d2.auth_port)
        for i in range(100):
            r = c.request("GET", "/auth", [("X-Original-URI", "/admin"),
                                           ("Authorization", f"Bearer {admin}")])
            check(r.status == 200, f"allow {i}: {r}")
        started = time.monotonic()
        burst = 200
        for i in range(burst):
            tok = reader if i % 2 == 0 else tampered
            r = c.request("GET", "/auth", [("X-Original-URI", "/admin"),
                                           ("Authorization", f"Bearer {tok}")])
            check(r.status == (403 if i % 2 == 0 else 401), f"deny {i}: {r}")
        took = time.monotonic() - started
        c.close()
        time.sleep(0.3)
        _, lines2 = read_log(log_path2)
        for obj in lines2:
            check_line_shape(obj)
        check(all(o["decision"] == "deny" for o in lines2),
              f"sample_allows 0.0 wrote an allow: {[o for o in lines2 if o['decision'] != 'deny']}")
        bound = 5 * (math.ceil(took) + 1) + 5
        check(1 <= len(lines2) <= bound,
              f"{len(lines2)} lines for {burst} denies in {took:.2f} s at 5/s (want 1..{bound})")
        m = d2.metrics()
        dropped = metric_value(m, "jwtgate_decision_log_dropped_total", {"why": "deny_rate"})
        written = metric_value(m, "jwtgate_decision_log_lines_total")
        check(dropped == burst - len(lines2),
              f"dropped{{why=\"deny_rate\"}} {dropped}, want {burst} - {len(lines2)} lines")
        check(written == len(lines2), f"lines_total {written}, file holds {len(lines2)}")
        log(f"log: sample_allows 0.0: 100 allows, 0 lines; {burst} denies in {took:.2f} s: "
            f"{len(lines2)} lines, {dropped:.0f} counted in dropped_total{{why=\"deny_rate\"}}")
        rc = d2.stop(signal.SIGTERM)
        check(rc == 0, f"exit status {rc}")
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        if d2 is not None:
            log("jwtgated (sampled) log:\n" + d2.log_text())
        raise
    finally:
        for dd in (d, d2):
            if dd is not None and dd.alive():
                dd.stop(signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--part", required=True, choices=("nginx", "caddy", "log"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    exit_on_sigterm()
    part = {"nginx": part_nginx, "caddy": part_caddy, "log": part_log}[args.part]
    run_test(f"policy_{args.part}", removing_tmp(lambda tmp: part(tmp, args), keep=args.keep))


if __name__ == "__main__":
    main()
