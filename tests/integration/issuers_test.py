#!/usr/bin/python3
"""Several issuers: a key speaks only for its own issuer.

jwtgated trusts issuer A (ES256 key "ka") and issuer B (HS256 key "kb"). A token signed with A's
key but claiming `iss: B` must be refused (iss_not_allowed). The binding is the key's (the
library's JwksOptions::issuer), not the kid's: a token without a kid that selects A's key by
its algorithm is accepted for A and refused for B. Checked with verification in the pipeline
and on the I/O thread, with and without the verified-token cache.

Usage: issuers_test.py --daemon PATH --cli PATH
"""
import argparse
import json
import signal
import subprocess
import time

from harness import (Daemon, Keys, TestFailure, check, hs256_secret, hs256_token, http, log,
                     run_test)

ISS_A = "https://a.example"
ISS_B = "https://b.example"


def config_text(d, jwks_a, jwks_b, inline, cache):
    return f"""
auth: {{listen: "127.0.0.1:{d.auth_port}"}}
admin: {{listen: "127.0.0.1:{d.admin_port}"}}
issuers:
  - {{issuer: "{ISS_A}", jwks_file: "{jwks_a}"}}
  - {{issuer: "{ISS_B}", jwks_file: "{jwks_b}"}}
cache: {{entries: {cache}}}
pipeline: {{workers: 1, inline: {inline}}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    run_test("issuers", lambda tmp: scenario(tmp, args))


def scenario(tmp, args):
    keys = Keys(args.cli, tmp)
    priv_a, jwks_a = keys.keygen("ES256", "ka", "a.jwks")
    priv_b, jwks_b = keys.keygen("HS256", "kb", "b.jwks")
    secret_b = hs256_secret(priv_b)
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 600}
    a_for_a = keys.sign(priv_a, "ES256", "ka", dict(claims, iss=ISS_A))
    a_for_b = keys.sign(priv_a, "ES256", "ka", dict(claims, iss=ISS_B))
    b_for_b = hs256_token(secret_b, "kb", dict(claims, iss=ISS_B))
    b_for_a = hs256_token(secret_b, "kb", dict(claims, iss=ISS_A))
    out = subprocess.run([args.cli, "sign", "--key", priv_a, "--alg", "ES256", "--claims",
                          json.dumps(dict(claims, iss=ISS_A))],
                         check=True, capture_output=True, text=True)
    no_kid = out.stdout.strip()
    out = subprocess.run([args.cli, "sign", "--key", priv_a, "--alg", "ES256", "--claims",
                          json.dumps(dict(claims, iss=ISS_B))],
                         check=True, capture_output=True, text=True)
    no_kid_for_b = out.stdout.strip()

    cases = [
        ("A's key for A", a_for_a, 200, None),
        ("B's key for B", b_for_b, 200, None),
        ("A's key claiming B", a_for_b, 401, "iss_not_allowed"),
        ("B's key claiming A", b_for_a, 401, "iss_not_allowed"),
        # Without a kid the key is chosen by algorithm (A's is the only ES256 key) and stays
        # bound to its issuer: a token for A verifies, one claiming B does not.
        ("no kid, A's key for A", no_kid, 200, None),
        ("no kid, A's key claiming B", no_kid_for_b, 401, "iss_not_allowed"),
    ]
    for inline, cache in (("none", 1024), ("all", 0), ("all", 1024)):
        d = Daemon(args.daemon, tmp, lambda d: config_text(d, jwks_a, jwks_b, inline, cache))
        d.start()
        try:
            for _ in range(2):  # the second round hits the cache where there is one
                for name, tok, status, reason in cases:
                    r = http(d.auth_port, "GET", "/", [("Authorization", f"Bearer {tok}")])
                    check(r.status == status, f"{name} (inline {inline}, cache {cache}): {r}")
                    if reason:
                        check(f'error_description="{reason}"' in r.header("WWW-Authenticate"),
                              f"{name}: {r.header('WWW-Authenticate')}")
            rc = d.stop(signal.SIGTERM)
            check(rc == 0, f"exit status {rc}")
        except TestFailure:
            log("jwtgated log:\n" + d.log_text())
            raise
        finally:
            if d.alive():
                d.stop(signal.SIGKILL)
        log(f"inline {inline}, cache {cache}: each key speaks only for its issuer")


if __name__ == "__main__":
    main()
