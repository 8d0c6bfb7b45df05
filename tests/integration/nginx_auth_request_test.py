#!/usr/bin/python3
"""nginx auth_request in front of a static upstream, asking jwtgated.

Checks the proxy contract end to end with Debian's nginx on loopback:
  - a valid token reaches the upstream, which sees X-Auth-Sub / X-Auth-Iss / X-Auth-Email;
  - a client-sent X-Auth-Sub never reaches the upstream (allowed or not);
  - missing, invalid, expired, wrong-audience, unknown-key, revoked tokens get 401 with the right
    WWW-Authenticate (no error= when the token is missing, RFC 6750 §3.1);
  - a claim with CR/LF cannot inject a header;
  - the admin API: revocation by jti and by subject (durable before the answer), the admin token,
    /livez, /readyz, and /metrics passing `promtool check metrics`;
  - with the daemon killed, nginx answers an error, never an allow.

Usage: nginx_auth_request_test.py --daemon PATH --cli PATH
"""
import argparse
import concurrent.futures
import json
import os
import signal
import time

from harness import (Daemon, Keys, Nginx, TestFailure, auth_request_conf, check, free_port, http,
                     log, metric_value, promtool_check, run_test)

ISS = "https://issuer.test"
ADMIN_TOKEN = "s3cret-admin-token"


def config_text(d, jwks, state, token_file):
    return f"""
auth:
  listen: 127.0.0.1:{d.auth_port}
  path_prefix: /auth
  claim_headers:
    - {{claim: email, header: X-Auth-Email}}
admin:
  listen: 127.0.0.1:{d.admin_port}
  token_file: {token_file}
issuers:
  - issuer: {ISS}
    jwks_file: {jwks}
verify:
  audiences: [api]
  leeway_seconds: 5
revocation:
  dir: {state}
  leeway_seconds: 60
cache: {{entries: 4096}}
pipeline: {{workers: 2}}
http: {{header_timeout_ms: 2000, idle_timeout_ms: 10000}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    run_test("nginx_auth_request", lambda tmp: scenario(tmp, args))


def expect_deny(resp, description, what):
    check(resp.status == 401, f"{what}: expected 401, got {resp}")
    www = resp.header("WWW-Authenticate")
    if description is None:
        check(www == 'Bearer realm="jwtgate"', f"{what}: WWW-Authenticate {www!r}")
    else:
        want = (f'Bearer realm="jwtgate", error="invalid_token", '
                f'error_description="{description}"')
        check(www == want, f"{what}: WWW-Authenticate {www!r}, want {want!r}")
    check(b"upstream" not in resp.body, f"{what}: the upstream was reached")


def scenario(tmp, args):
    keys = Keys(args.cli, tmp)
    priv, jwks = keys.keygen("ES256", "k1", "keys.jwks")
    other_priv, _ = keys.keygen("ES256", "k1", "other.jwks")  # same kid, untrusted key
    stranger_priv, _ = keys.keygen("ES256", "k9", "stranger.jwks")
    token_file = os.path.join(tmp, "admin.token")
    # Mode 0600: jwtgated refuses a token file every user of the host could read.
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ADMIN_TOKEN + "\n")
    state = os.path.join(tmp, "revocations")

    now = int(time.time())

    def token(claims, key=priv, kid="k1"):
        base = {"iss": ISS, "aud": "api", "iat": now - 10, "exp": now + 600}
        base.update(claims)
        base = {k: v for k, v in base.items() if v is not None}
        return keys.sign(key, "ES256", kid, base)

    valid = token({"sub": "alice", "email": "alice@example.com", "jti": "j-alice"})
    no_identity = token({"jti": "j-anon"})
    expired = token({"sub": "alice", "exp": now - 3600, "iat": now - 7200})
    wrong_aud = token({"sub": "alice", "aud": "other"})
    forged = token({"sub": "alice"}, key=other_priv)
    unknown_kid = token({"sub": "alice"}, key=stranger_priv, kid="k9")
    to_revoke = token({"sub": "carol", "jti": "j-revoke-me"})
    bob_old = token({"sub": "bob", "jti": "j-bob-1", "iat": now - 30})
    injected = token({"sub": "eve", "email": "x\r\nX-Injected: yes"})
    tampered = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")

    d = Daemon(args.daemon, tmp, lambda d: config_text(d, jwks, state, token_file))
    front, upstream = free_port(), free_port()
    ngx = Nginx(tmp, auth_request_conf(front, upstream, d.auth_port))
    d.start()
    try:
        ngx.start([front, upstream])
        run_checks(d, front, locals())
    except TestFailure:
        log("jwtgated log:\n" + d.log_text())
        log("nginx error log:\n" + ngx.error_log())
        raise
    finally:
        ngx.stop()
        if d.alive():
            d.stop(signal.SIGKILL)


def get(front, tok=None, scheme="Bearer", extra=()):
    headers = list(extra)
    if tok is not None:
        headers.append(("Authorization", f"{scheme} {tok}"))
    return http(front, "GET", "/api/resource?x=1", headers)


def run_checks(d, front, v):
    # Allowed: identity reaches the upstream.
    r = get(front, v["valid"])
    check(r.status == 200, f"valid token: {r}")
    body = r.body.decode()
    check("sub=[alice]" in body, f"upstream did not see X-Auth-Sub: {body}")
    check(f"iss=[{ISS}]" in body, f"upstream did not see X-Auth-Iss: {body}")
    check("x-auth-email=[alice@example.com]" in body, f"claim header missing: {body}")
    log("valid token reaches the upstream with identity headers")

    r = get(front, v["valid"], scheme="bearer")
    check(r.status == 200, f"lower-case scheme: {r}")

    # Spoofing: a client-sent identity never reaches the upstream.
    spoof = [("X-Auth-Sub", "mallory"), ("X-Auth-Iss", "evil"), ("X-Auth-Email", "m@evil")]
    r = get(front, v["valid"], extra=spoof)
    body = r.body.decode()
    check(r.status == 200 and "sub=[alice]" in body and "mallory" not in body
          and "evil" not in body, f"spoofed identity with a valid token: {body}")
    r = get(front, v["no_identity"], extra=spoof)
    body = r.body.decode()
    check(r.status == 200, f"token without sub: {r}")
    check("sub=[]" in body and "x-auth-email=[]" in body and "mallory" not in body,
          f"spoofed identity with a token without sub: {body}")
    r = get(front, None, extra=spoof)
    expect_deny(r, None, "missing token with spoofed identity")
    log("client-sent identity headers never reach the upstream")

    # Denials.
    expect_deny(get(front, None), None, "missing token")
    expect_deny(get(front, "dXNlcjpwYXNz", scheme="Basic"), None, "Basic credentials")
    expect_deny(get(front, v["tampered"]), "signature_invalid", "tampered signature")
    expect_deny(get(front, v["forged"]), "signature_invalid", "untrusted key with a known kid")
    expect_deny(get(front, v["unknown_kid"]), "unknown_kid", "unknown kid")
    expect_deny(get(front, v["expired"]), "expired", "expired token")
    expect_deny(get(front, v["wrong_aud"]), "aud_not_allowed", "wrong audience")
    expect_deny(get(front, "not-a-jwt"), "token_malformed", "garbage token")
    r = http(front, "GET", "/x", [("Authorization", f"Bearer {v['valid']}"),
                                  ("Authorization", f"Bearer {v['valid']}")])
    # nginx itself may refuse a duplicate Authorization line (400); if it passes it on,
    # jwtgated must deny with invalid_request. Never an allow.
    check(r.status == 400 or (r.status == 401 and 'error="invalid_request"' in
                              (r.header("WWW-Authenticate") or "")),
          f"two Authorization headers: {r}")
    log("missing, invalid, expired, wrong-audience, unknown-key tokens get 401")

    # Claim values cannot inject header lines.
    r = get(front, v["injected"])
    body = r.body.decode()
    check(r.status == 200, f"injection token: {r}")
    check("injected=[]" in body, f"a claim injected a header: {body}")
    check("x-auth-email=[x%0D%0AX-Injected: yes]" in body, f"unsafe claim not encoded: {body}")
    log("CR/LF in a claim is encoded, never a new header")

    # Admin API.
    admin = d.admin_port
    check(http(admin, "GET", "/livez").status == 200, "/livez")
    check(http(admin, "GET", "/readyz").status == 200, "/readyz")
    r = http(admin, "POST", "/revoke", body=b'{"jti":"x","exp":1}')
    check(r.status == 401, f"/revoke without the admin token: {r}")
    r = http(admin, "POST", "/revoke", [("Authorization", "Bearer wrong")], b'{"jti":"x","exp":1}')
    check(r.status == 401, f"/revoke with a wrong admin token: {r}")
    auth = [("Authorization", f"Bearer {ADMIN_TOKEN}")]
    r = http(admin, "POST", "/revoke", auth, b'{"jti":""}')
    check(r.status == 400, f"/revoke with an empty jti: {r}")
    r = http(admin, "POST", "/revoke", auth, b'{"exp":1}')
    check(r.status == 400, f"/revoke without a jti or sub: {r}")
    r = http(admin, "POST", "/revoke", auth, b'{"jti":"x","exp":1,"extra":2}')
    check(r.status == 400, f"/revoke with an unknown member: {r}")

    # Revocation by jti: allowed (and cached) first, refused after.
    check(get(front, v["to_revoke"]).status == 200, "to-be-revoked token before revocation")
    check(get(front, v["to_revoke"]).status == 200, "to-be-revoked token, cached")
    exp = v["now"] + 600
    r = http(admin, "POST", "/revoke", auth, json.dumps({"jti": "j-revoke-me", "exp": exp}).encode())
    check(r.status == 200, f"/revoke jti: {r}")
    expect_deny(get(front, v["to_revoke"]), "revoked", "revoked token")
    check(get(front, v["valid"]).status == 200, "other tokens still pass after a revocation")
    # Revocation of a subject's earlier tokens (logout everywhere).
    check(get(front, v["bob_old"]).status == 200, "bob before logout")
    r = http(admin, "POST", "/revoke", auth,
             json.dumps({"sub": "bob", "not_before": v["now"]}).encode())
    check(r.status == 200, f"/revoke sub: {r}")
    expect_deny(get(front, v["bob_old"]), "revoked", "bob's old token after logout")
    log("revocation through the admin API takes effect at once (jti and subject)")

    # Concurrent revocations: each is answered 200 once durable, none is lost, and probes are
    # answered meanwhile (the admin thread never waits for the disk).
    before = d.metrics()
    jti_before = metric_value(before, "jwtgate_revocations_total", {"kind": "jti"}) or 0
    entries_before = metric_value(before, "jwtgate_revocation_jti_entries") or 0
    syncs_before = metric_value(before, "jwtgate_revocation_syncs_total") or 0
    n = 48

    def revoke_one(i):
        body = json.dumps({"jti": f"j-concurrent-{i}", "exp": exp}).encode()
        return http(admin, "POST", "/revoke", auth, body).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        probes = [pool.submit(http, admin, "GET", "/livez") for _ in range(4)]
        statuses = list(pool.map(revoke_one, range(n)))
        check(all(p.result().status == 200 for p in probes), "/livez during revocations")
    check(statuses == [200] * n, f"concurrent /revoke answers: {sorted(set(statuses))}")
    after = d.metrics()
    jti_after = metric_value(after, "jwtgate_revocations_total", {"kind": "jti"}) or 0
    entries_after = metric_value(after, "jwtgate_revocation_jti_entries") or 0
    syncs_after = metric_value(after, "jwtgate_revocation_syncs_total") or 0
    check(jti_after - jti_before == n, f"revocations counted: {jti_after - jti_before} of {n}")
    check(entries_after - entries_before == n, f"revocations live: {entries_after - entries_before}")
    check(syncs_after > syncs_before, "the log was synced")
    log(f"{n} concurrent revocations answered 200 and live, with "
        f"{int(syncs_after - syncs_before)} fdatasync(s)")

    # Metrics, linted by promtool.
    text = d.metrics()
    promtool_check(text)
    allowed = metric_value(text, "jwtgate_auth_requests_total", {"decision": "allow", "reason": "ok"})
    revoked = metric_value(text, "jwtgate_auth_requests_total", {"reason": "revoked"})
    missing = metric_value(text, "jwtgate_auth_requests_total", {"reason": "token_missing"})
    check(allowed and allowed >= 6, f"allow counter: {allowed}")
    check(revoked and revoked >= 2, f"revoked counter: {revoked}")
    check(missing and missing >= 3, f"missing counter: {missing}")
    check((metric_value(text, "jwtgate_cache_hits_total") or 0) >= 1, "cache hits counted")
    check((metric_value(text, "jwtgate_verify_duration_seconds_count") or 0) >= 10,
          "verify latency histogram counts")
    check((metric_value(text, "jwtgate_revocation_jti_entries") or 0) >= 1, "revocation entries")
    check(metric_value(text, "jwtgate_revocation_filter_bytes") is not None, "filter size")
    check(metric_value(text, "jwtgate_revocation_filter_fill_ratio") is not None, "filter fill")
    log("promtool check metrics passes; counters add up")

    # The daemon killed: nginx answers an error, never an allow.
    d.stop(signal.SIGKILL)
    for tok in (v["valid"], v["no_identity"], None):
        r = get(front, tok)
        check(r.status >= 500, f"daemon down: expected a 5xx from nginx, got {r}")
        check(b"upstream" not in r.body, "daemon down: the upstream was reached")
    log("with the daemon killed nginx answers 5xx, never an allow")


if __name__ == "__main__":
    main()
