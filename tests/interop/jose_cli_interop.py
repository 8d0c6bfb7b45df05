#!/usr/bin/python3
"""Interop between the `jwtgate` CLI and the `jose` C tool (latchset José, Debian `jose` 11).

Run with the system interpreter:

    /usr/bin/python3 tests/interop/jose_cli_interop.py --cli build/core/cli/jwtgate [-v]

1. jose -> jwtgate: keys from `jose jwk gen`, public halves from `jose jwk pub` (the oct secret
   as generated), published as a JWKS; tokens from `jose jws sig -c` must pass `jwtgate verify`
   with the same claims. Tampered tokens are rejected by `jose jws ver` and by jwtgate with the
   specific status.
2. jwtgate -> jose: keys from `jwtgate keygen`, the JWK taken from its JWKS; tokens from
   `jwtgate sign` must pass `jose jws ver` with the same payload; tampered ones must fail there.
   jwtgate also signs with keys made by jose (the private JWK turned into PEM PKCS#8 for the
   asymmetric ones, the oct JWK as it is), and jose verifies with its own public key.

José 11 has no EdDSA (its `jose alg` list ends at ES512/PS512/RS512): EdDSA is reported as not
covered by this peer. The last line is `N passed, M failed`; exit status 1 when any check failed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyjwt_interop import (  # noqa: E402  (shared helpers of the interop tests)
    FIXED_SIG_LEN, ISSUER, T0, Checks, Cli, b64d, b64e, compact_json, expect_rejected,
    expect_valid, flip_char, run_parallel, same_json, segments)

import jwt  # noqa: E402  (only to turn a private JWK into PEM for `jwtgate sign`)
from cryptography.hazmat.primitives import serialization  # noqa: E402

ALL_ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
            "ES256", "ES384", "ES512", "EdDSA"]
PEER_TIMEOUT_S = 30


class Jose:
    """The `jose` command line tool."""

    def __init__(self, path):
        self.path = path

    def run(self, args, stdin=""):
        try:
            p = subprocess.run([self.path] + list(args), input=stdin, capture_output=True,
                               text=True, timeout=PEER_TIMEOUT_S)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return None, "", f"timed out after {PEER_TIMEOUT_S} s"

    def algs(self):
        rc, out, _ = self.run(["alg"])
        return set(out.split()) if rc == 0 else set()

    def gen(self, template):
        rc, out, err = self.run(["jwk", "gen", "-i", json.dumps(template)])
        if rc != 0:
            raise RuntimeError(f"jose jwk gen {template}: rc={rc} {err.strip()}")
        return json.loads(out)

    def pub(self, jwk):
        rc, out, err = self.run(["jwk", "pub", "-i", "-"], stdin=json.dumps(jwk))
        if rc != 0:
            raise RuntimeError(f"jose jwk pub: rc={rc} {err.strip()}")
        return json.loads(out)

    def sign(self, tmp, jwk, payload, protected):
        """Compact JWS of `payload` (bytes) with the extra protected header members."""
        fd, key_path = tempfile.mkstemp(dir=tmp, suffix=".jwk")
        with os.fdopen(fd, "w") as f:
            json.dump(jwk, f)
        fd, pay_path = tempfile.mkstemp(dir=tmp, suffix=".payload")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        rc, out, err = self.run(["jws", "sig", "-I", pay_path, "-k", key_path, "-c",
                                 "-s", json.dumps({"protected": protected})])
        if rc != 0:
            raise RuntimeError(f"jose jws sig: rc={rc} {err.strip()}")
        return out.strip()

    def verify(self, tmp, jwk, token):
        """(ok, payload bytes) from `jose jws ver -O-`."""
        fd, key_path = tempfile.mkstemp(dir=tmp, suffix=".jwk")
        with os.fdopen(fd, "w") as f:
            json.dump(jwk, f)
        try:
            p = subprocess.run([self.path, "jws", "ver", "-i", "-", "-k", key_path, "-O-"],
                               input=token.encode(), capture_output=True,
                               timeout=PEER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False, b""
        return p.returncode == 0, p.stdout


def claims_now():
    now = int(time.time())
    return {"iss": ISSUER, "sub": "user-7", "aud": ["api"], "iat": now, "exp": now + 600,
            "jti": os.urandom(6).hex(), "roles": ["a", "b"], "text": "d\u00e9j\u00e0 \u2713"}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def public_for_jwks(jose, jwk):
    """The JWK jwtgate trusts: the public half, or the secret itself for oct keys (a verifier
    of an HMAC needs the secret; `jose jwk pub` drops `k`)."""
    return jwk if jwk["kty"] == "oct" else jose.pub(jwk)


def jose_to_jwtgate(checks, cli, jose, tmp, algs, jobs):
    keys = {alg: jose.gen({"alg": alg, "kid": f"jose-{alg}"}) for alg in algs}
    all_path = os.path.join(tmp, "jose-all.jwks")
    write_json(all_path, {"keys": [public_for_jwks(jose, k) for k in keys.values()]})

    def one(alg):
        tag = f"jose->jwtgate {alg}"
        try:
            key = keys[alg]
            pub = public_for_jwks(jose, key)
            checks.check(f"{tag} public JWK has no private members",
                         key["kty"] == "oct" or not set(pub) & {"d", "p", "q", "dp", "dq", "qi"},
                         f"{pub!r}")
            jwks_path = os.path.join(tmp, f"jose-{alg}.jwks")
            write_json(jwks_path, {"keys": [pub]})
            claims = claims_now()
            payload = compact_json(claims)
            token = jose.sign(tmp, key, payload, {"kid": key["kid"], "typ": "JWT"})
            header = json.loads(b64d(segments(token)[0]))
            checks.check(f"{tag} jose header", header.get("alg") == alg, f"{header!r}")
            if alg in FIXED_SIG_LEN:
                checks.check(f"{tag} raw signature length",
                             len(b64d(segments(token)[2])) == FIXED_SIG_LEN[alg],
                             f"{len(b64d(segments(token)[2]))} bytes")
            ok, _ = jose.verify(tmp, pub, token)
            checks.check(f"{tag} jose verifies its own token", ok)
            expect_valid(checks, cli, f"{tag} valid", jwks_path, token, claims)
            expect_valid(checks, cli, f"{tag} valid against the JWKS of all jose keys", all_path,
                         token, claims, extra=["--iss", ISSUER, "--aud", "api"])
            untagged = jose.sign(tmp, key, payload, {})
            expect_valid(checks, cli, f"{tag} valid without kid (single key)", jwks_path,
                         untagged, claims)

            # Tampered: both sides reject, jwtgate with the specific status.
            h, p, s = segments(token)
            tampered = {
                "signature char flipped": f"{h}.{p}.{flip_char(s, len(s) // 2)}",
                "payload changed": f"{h}.{b64e(compact_json(dict(claims, sub='admin')))}.{s}",
            }
            for what, bad in tampered.items():
                ok, _ = jose.verify(tmp, pub, bad)
                checks.check(f"{tag} {what}: jose rejects", not ok, "jose accepted")
                expect_rejected(checks, cli, f"{tag} {what}: jwtgate rejects", jwks_path, bad,
                                "signature_invalid")
            other = jose.gen({"alg": alg, "kid": key["kid"]})
            forged = jose.sign(tmp, other, payload, {"kid": key["kid"], "typ": "JWT"})
            ok, _ = jose.verify(tmp, pub, forged)
            checks.check(f"{tag} other key, same kid: jose rejects", not ok, "jose accepted")
            expect_rejected(checks, cli, f"{tag} other key, same kid: jwtgate rejects",
                            jwks_path, forged, "signature_invalid")
            expired = dict(claims, iat=T0, exp=T0 + 60)
            expect_rejected(checks, cli, f"{tag} expired", jwks_path,
                            jose.sign(tmp, key, compact_json(expired), {"kid": key["kid"]}),
                            "expired", extra=["--now", str(T0 + 3600)])
            expect_rejected(checks, cli, f"{tag} wrong audience", jwks_path, token,
                            "aud_not_allowed", extra=["--aud", "payments"])
        except Exception:
            checks.error(tag)

    run_parallel(jobs, one, algs)


def private_jwk_to_pem(jwk):
    algo = jwt.algorithms.get_default_algorithms()[jwk["alg"]]
    key = algo.from_jwk(json.dumps(jwk))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def jwtgate_to_jose(checks, cli, jose, tmp, algs, jobs):
    jwks_path = os.path.join(tmp, "jg.jwks")
    generated = []
    for alg in algs:  # keygen one at a time: every call adds to the same JWKS
        tag = f"jwtgate->jose {alg}"
        kid = f"jg-{alg}"
        private_path = os.path.join(tmp, f"jg-{alg}.key")
        r = cli.run(["keygen", "--alg", alg, "--kid", kid, "--private", private_path,
                     "--jwks", jwks_path])
        if checks.check(f"{tag} keygen exit 0", r.rc == 0, r.describe()):
            generated.append((alg, kid, private_path))

    def one(item):
        alg, kid, private_path = item
        tag = f"jwtgate->jose {alg}"
        try:
            with open(jwks_path) as f:
                jwk = [k for k in json.load(f)["keys"] if k.get("kid") == kid][0]
            claims = claims_now()
            r = cli.run(["sign", "--key", private_path, "--alg", alg, "--kid", kid,
                         "--claims", json.dumps(claims)])
            if not checks.check(f"{tag} sign exit 0", r.rc == 0, r.describe()):
                return
            token = r.out.strip()
            ok, payload = jose.verify(tmp, jwk, token)
            checks.check(f"{tag} jose verifies", ok, "jose rejected the token")
            if ok:
                checks.check(f"{tag} jose payload", same_json(json.loads(payload), claims),
                             f"{payload[:200]!r}")
            h, p, s = segments(token)
            tampered = {
                "signature char flipped": f"{h}.{p}.{flip_char(s, len(s) // 2)}",
                "payload changed": f"{h}.{b64e(compact_json(dict(claims, sub='admin')))}.{s}",
            }
            for what, bad in tampered.items():
                ok, _ = jose.verify(tmp, jwk, bad)
                checks.check(f"{tag} {what}: jose rejects", not ok, "jose accepted")
                expect_rejected(checks, cli, f"{tag} {what}: jwtgate rejects", jwks_path, bad,
                                "signature_invalid")

            # jwtgate signs with a key made by jose; jose verifies with its own public key.
            jose_key = jose.gen({"alg": alg, "kid": f"jose-for-sign-{alg}"})
            key_path = os.path.join(tmp, f"jose-for-sign-{alg}.key")
            with open(key_path, "wb") as f:
                if jose_key["kty"] == "oct":
                    f.write(json.dumps(jose_key).encode())
                else:
                    f.write(private_jwk_to_pem(jose_key))
            r = cli.run(["sign", "--key", key_path, "--alg", alg, "--kid", jose_key["kid"],
                         "--claims", json.dumps(claims)])
            if checks.check(f"{tag} sign with a jose-made key", r.rc == 0, r.describe()):
                ok, payload = jose.verify(tmp, public_for_jwks(jose, jose_key), r.out.strip())
                checks.check(f"{tag} jose verifies (jose-made key)",
                             ok and same_json(json.loads(payload), claims),
                             f"ok={ok} payload={payload[:200]!r}")
        except Exception:
            checks.error(tag)

    run_parallel(jobs, one, generated)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="path to the jwtgate binary")
    parser.add_argument("--jose", default=shutil.which("jose") or "/usr/bin/jose",
                        help="path to the jose tool")
    parser.add_argument("-j", "--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing checks")
    args = parser.parse_args()

    checks = Checks(args.verbose)
    started = time.monotonic()
    if not checks.check("cli binary exists", os.access(args.cli, os.X_OK), args.cli):
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1
    if not checks.check("jose tool exists", os.access(args.jose, os.X_OK), args.jose):
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1
    cli = Cli(os.path.abspath(args.cli))
    jose = Jose(args.jose)
    peer_algs = jose.algs()
    algs = [a for a in ALL_ALGS if a in peer_algs]
    missing = [a for a in ALL_ALGS if a not in peer_algs]
    print(f"jose at {args.jose}; covered: {' '.join(algs)}")
    for a in missing:
        print(f"not covered: {a} (not in `jose alg`: this José version does not implement it)")
    # The peer must cover at least the twelve non-EdDSA algorithms; a smaller set means a
    # broken installation, not a missing feature.
    checks.check("jose covers HS*, RS*, PS*, ES*", len(algs) >= 12, f"covered {algs}")
    with tempfile.TemporaryDirectory(prefix="jwtgate-jose-") as tmp:
        jose_to_jwtgate(checks, cli, jose, tmp, algs, args.jobs)
        jwtgate_to_jose(checks, cli, jose, tmp, algs, args.jobs)
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
