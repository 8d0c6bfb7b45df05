#!/usr/bin/python3
"""Interop between the `jwtgate` CLI and PyJWT, in both directions, for all 13 algorithms.

Run with the system interpreter (Debian bookworm `python3-jwt` 2.6, `python3-cryptography`):

    /usr/bin/python3 tests/interop/pyjwt_interop.py --cli build/core/cli/jwtgate [-v] [-j N] [--alg ES256]...

1. PyJWT -> jwtgate: keys made with `cryptography`, published as a JWKS built with PyJWT's
   `to_jwk`; tokens signed by PyJWT must pass `jwtgate verify` with the same claims, and tampered,
   structurally broken or policy-violating tokens must be rejected with the specific status.
2. jwtgate -> PyJWT: keys from `jwtgate keygen`, tokens from `jwtgate sign`, verified by PyJWT
   with the public key taken from the JWKS; tampered ones must fail in PyJWT.
3. The CLI contract: exit codes for usage and configuration errors, `--help` for each subcommand.

Every check counts once; the last line is `N passed, M failed` and the exit status is 1 when any
check failed.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

# alg -> (family, parameter): HMAC secret length / EC curve and coordinate length.
ALGS = {
    "HS256": ("oct", 32),
    "HS384": ("oct", 48),
    "HS512": ("oct", 64),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", (ec.SECP256R1, "P-256", 32)),
    "ES384": ("EC", (ec.SECP384R1, "P-384", 48)),
    "ES512": ("EC", (ec.SECP521R1, "P-521", 66)),
    "EdDSA": ("OKP", None),
}

# Raw signature length in bytes where the algorithm fixes it (RFC 7518 §3.4, RFC 8037 §3.1).
FIXED_SIG_LEN = {"ES256": 64, "ES384": 96, "ES512": 132, "EdDSA": 64}

ISSUER = "https://issuer.example"
AUDIENCES = ["api", "billing"]
# A fixed clock for the time-dependent checks (passed as --now).
T0 = 1_700_000_000
CLI_TIMEOUT_S = 60

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# --------------------------------------------------------------------------------------------
# Bookkeeping


class Checks:
    """Counts checks; safe to use from several threads (the per-algorithm groups run in
    parallel, each check's line is printed whole)."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self._lock = threading.Lock()

    def check(self, name, ok, detail="", note=""):
        """`detail` explains a failure; `note`, printed with -v, describes a pass."""
        with self._lock:
            if ok:
                self.passed += 1
                if self.verbose:
                    print(f"ok    {name}" + (f"  ({note})" if note else ""), flush=True)
            else:
                self.failed += 1
                print(f"FAIL  {name}: {detail}", flush=True)
        return ok

    def error(self, name):
        text = traceback.format_exc()
        with self._lock:
            self.failed += 1
            print(f"FAIL  {name}: unexpected exception\n{text}", flush=True)


def run_parallel(jobs, fn, items):
    """Calls fn(item) for every item on `jobs` threads (the work is mostly waiting for
    subprocesses); fn reports its own failures."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for _ in pool.map(fn, items):
            pass


# --------------------------------------------------------------------------------------------
# Encoding helpers


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def same_json(a, b):
    """Equality of parsed JSON that, unlike ==, tells true from 1 and 1.0 from 1."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def segments(token):
    return token.split(".")


def with_trailing_bits(segment):
    """The same segment with non-zero unused bits in its last character (strict base64url
    rejects it; lenient decoders return the same bytes). REQUIRES: len(segment) % 4 != 0."""
    assert len(segment) % 4 != 0
    idx = B64URL.index(segment[-1])
    assert idx & 1 == 0  # a canonical last character has its unused low bits clear
    return segment[:-1] + B64URL[idx | 1]


def flip_char(segment, pos):
    """Replaces one full 6-bit character (never the last one, whose low bits may be unused)."""
    assert 0 <= pos < len(segment) - 1
    c = segment[pos]
    return segment[:pos] + ("B" if c == "A" else "A") + segment[pos + 1 :]


# --------------------------------------------------------------------------------------------
# Keys made in Python


class PyKey:
    """One signing key made with `cryptography` and its public JWK as published in the JWKS."""

    def __init__(self, alg, kid):
        self.alg = alg
        self.kid = kid
        family, param = ALGS[alg]
        if family == "oct":
            self.private = secrets.token_bytes(param)
            jwk = json.loads(HMACAlgorithm.to_jwk(self.private))
        elif family == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        elif family == "EC":
            curve, _, size = param
            self.private = ec.generate_private_key(curve())
            jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
            # PyJWT 2.6 writes x and y as minimal-length integers; RFC 7518 §6.2.1.2 requires
            # the full coordinate length, so re-pad (a P-521 x is 65 bytes about half the time).
            for coord in ("x", "y"):
                raw = b64d(jwk[coord])
                jwk[coord] = b64e(raw.rjust(size, b"\x00"))
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"alg": alg, "kid": kid, "use": "sig"})
        self.jwk = jwk

    def pem_pkcs8(self):
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_key(self):
        """What PyJWT verifies with."""
        if isinstance(self.private, bytes):
            return self.private
        return self.private.public_key()


def raw_sign(alg, key, header_b64, payload_b64):
    """Signs `header_b64.payload_b64` exactly as given (for tokens PyJWT would not produce)."""
    algo = jwt.algorithms.get_default_algorithms()[alg]
    msg = f"{header_b64}.{payload_b64}".encode("ascii")
    return b64e(algo.sign(msg, algo.prepare_key(key)))


def raw_token(alg, key, header_bytes, payload_bytes, header_b64=None, payload_b64=None):
    h = header_b64 if header_b64 is not None else b64e(header_bytes)
    p = payload_b64 if payload_b64 is not None else b64e(payload_bytes)
    return f"{h}.{p}.{raw_sign(alg, key, h, p)}"


# --------------------------------------------------------------------------------------------
# Running the CLI


class CliResult:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err

    def status(self):
        """The `<status>` of a `rejected: <status>` line on stderr, or None."""
        for line in self.err.splitlines():
            m = re.fullmatch(r"rejected: ([a-z0-9_]+)", line.strip())
            if m:
                return m.group(1)
        return None

    def describe(self):
        return f"rc={self.rc} stdout={self.out[:300]!r} stderr={self.err[:300]!r}"


class Cli:
    def __init__(self, path):
        self.path = path

    def run(self, args, stdin=None):
        try:
            p = subprocess.run(
                [self.path] + list(args),
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT_S,
            )
            return CliResult(p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            return CliResult(None, str(e.stdout or ""), f"timed out after {CLI_TIMEOUT_S} s")
        except OSError as e:
            return CliResult(None, "", f"cannot run {self.path}: {e}")


def expect_valid(checks, cli, name, jwks_path, token, claims, extra=(), stdin=None):
    args = ["verify", "--keys", jwks_path] + list(extra)
    args += ["-"] if stdin is not None else [token]
    r = cli.run(args, stdin=stdin)
    if r.rc != 0:
        return checks.check(name, False, "expected exit 0; " + r.describe())
    try:
        printed = json.loads(r.out)
    except ValueError as e:
        return checks.check(name, False, f"stdout is not JSON ({e}); " + r.describe())
    return checks.check(name, same_json(printed, claims),
                        f"printed claims {printed!r} != {claims!r}")


def expect_rejected(checks, cli, name, jwks_path, token, statuses, extra=(), stdin=None):
    """`statuses`: the accepted status name, or a set of them where the order of checks inside
    the verifier legitimately decides between them. With `stdin`, the token is read from it."""
    if isinstance(statuses, str):
        statuses = {statuses}
    args = ["verify", "--keys", jwks_path] + list(extra)
    args += ["-"] if stdin is not None else [token]
    r = cli.run(args, stdin=stdin)
    got = r.status()
    ok = r.rc == 1 and got in statuses and r.out.strip() == ""
    if ok:
        return checks.check(name, True, note=f"rejected: {got}")
    expected = "|".join(sorted(statuses))
    return checks.check(name, False, f"expected exit 1 and rejected: {expected}; {r.describe()}")


# --------------------------------------------------------------------------------------------
# 1. PyJWT -> jwtgate


def base_claims(now):
    return {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCES,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": secrets.token_hex(8),
        "scope": "read write",
        "n": 123456789,
        "flag": True,
        "nested": {"list": [1, "two", None, {"x": -3}]},
        "text": "h\u00e9llo \u2713 \U0001f511",
    }


def padded_payload(claims):
    """Claims whose base64url form has unused bits in its last character (len % 3 != 0)."""
    claims = dict(claims)
    data = compact_json(claims)
    pad = ""
    while len(data) % 3 == 0:
        pad += "x"
        claims["pad"] = pad
        data = compact_json(claims)
    return data


def header_bytes_with_unused_bits(header):
    """The header JSON serialized so that its base64url form has unused bits."""
    for seps in ((",", ":"), (", ", ":"), (",", ": ")):
        data = json.dumps(header, separators=seps).encode()
        if len(data) % 3 != 0:
            return data
    raise AssertionError("unreachable")


def write_jwks(path, keys):
    with open(path, "w") as f:
        json.dump({"keys": [k.jwk for k in keys]}, f)


def pyjwt_to_jwtgate(checks, cli, tmp, keys, jobs):
    # One JWKS with every key, and per algorithm a small one with its key and one key of another
    # algorithm (importing a JWKS validates every key, RSA ones at some cost, on each call).
    all_path = os.path.join(tmp, "py-all.jwks")
    write_jwks(all_path, keys.values())
    foreign = {"EdDSA": PyKey("HS256", "py-foreign-HS256")}
    foreign_default = PyKey("EdDSA", "py-foreign-EdDSA")

    def one(alg):
        tag = f"pyjwt->jwtgate {alg}"
        try:
            key = keys[alg]
            jwks_path = os.path.join(tmp, f"py-{alg}.jwks")
            other_alg_key = foreign.get(alg, foreign_default)
            write_jwks(jwks_path, [key, other_alg_key])
            claims = base_claims(int(time.time()))
            expect_valid(checks, cli, f"{tag} valid against a JWKS of all algorithms", all_path,
                         jwt.encode(claims, key.private, algorithm=alg,
                                    headers={"kid": key.kid}), claims)
            pyjwt_to_jwtgate_one(checks, cli, jwks_path, key, other_alg_key, tag)
        except Exception:
            checks.error(tag)

    run_parallel(jobs, one, list(keys))


def pyjwt_to_jwtgate_one(checks, cli, jwks_path, key, other_alg_key, tag):
    alg = key.alg
    hdr = {"kid": key.kid}

    def sign(claims, headers=hdr, signing_key=None):
        return jwt.encode(claims, signing_key if signing_key is not None else key.private,
                          algorithm=alg, headers=headers)

    # Valid, current time (the CLI's own clock).
    now = int(time.time())
    claims = base_claims(now)
    token = sign(claims)
    expect_valid(checks, cli, f"{tag} valid", jwks_path, token, claims)
    expect_valid(checks, cli, f"{tag} valid from stdin with newline", jwks_path, token, claims,
                 stdin=token + "\n")
    expect_valid(checks, cli, f"{tag} valid with --iss/--aud", jwks_path, token, claims,
                 extra=["--iss", ISSUER, "--aud", "api"])
    expect_valid(checks, cli, f"{tag} valid with one of several --iss/--aud", jwks_path, token,
                 claims, extra=["--iss", "https://other.example", "--iss", ISSUER,
                                "--aud", "nope", "--aud", "billing"])
    expect_valid(checks, cli, f"{tag} valid with --typ JWT", jwks_path, token, claims,
                 extra=["--typ", "JWT"])

    # Tampering, signature otherwise intact.
    h, p, s = segments(token)
    expect_rejected(checks, cli, f"{tag} signature char flipped", jwks_path,
                    f"{h}.{p}.{flip_char(s, len(s) // 2)}", "signature_invalid")
    expect_rejected(checks, cli, f"{tag} first signature char flipped", jwks_path,
                    f"{h}.{p}.{flip_char(s, 0)}", "signature_invalid")
    changed = dict(claims, sub="admin")
    expect_rejected(checks, cli, f"{tag} payload claim changed", jwks_path,
                    f"{h}.{b64e(compact_json(changed))}.{s}", "signature_invalid")
    changed = dict(claims, exp=claims["exp"] + 86400)
    expect_rejected(checks, cli, f"{tag} exp extended", jwks_path,
                    f"{h}.{b64e(compact_json(changed))}.{s}", "signature_invalid")
    header = json.loads(b64d(h))
    header["typ"] = "at+jwt"
    expect_rejected(checks, cli, f"{tag} header changed", jwks_path,
                    f"{b64e(compact_json(header))}.{p}.{s}", "signature_invalid")
    expect_rejected(checks, cli, f"{tag} signature stripped (h.p.)", jwks_path, f"{h}.{p}.",
                    "token_malformed")
    expect_rejected(checks, cli, f"{tag} signature segment removed (h.p)", jwks_path,
                    f"{h}.{p}", "token_malformed")
    expect_rejected(checks, cli, f"{tag} padded signature", jwks_path,
                    f"{h}.{p}.{s}" + "=" * (-len(s) % 4 or 4), "token_malformed")
    expect_rejected(checks, cli, f"{tag} signature with '+' (base64, not base64url)",
                    jwks_path, f"{h}.{p}.+{s[1:]}", "token_malformed")
    bad_len_sig = s + "A" * ((1 - len(s)) % 4)  # length % 4 == 1 is never valid base64url
    expect_rejected(checks, cli, f"{tag} signature length % 4 == 1", jwks_path,
                    f"{h}.{p}.{bad_len_sig}", "signature_bad_base64")
    if len(s) % 4 != 0:
        expect_rejected(checks, cli, f"{tag} signature with unused bits set", jwks_path,
                        f"{h}.{p}.{with_trailing_bits(s)}", "signature_bad_base64")
    short = b64e(b64d(s)[:-3])  # three bytes shorter, still canonical base64url
    if alg in FIXED_SIG_LEN:
        expect_rejected(checks, cli, f"{tag} signature 3 bytes short", jwks_path,
                        f"{h}.{p}.{short}", "signature_bad_length")
        longer = b64e(b64d(s) + b"\x00")
        expect_rejected(checks, cli, f"{tag} signature 1 byte long", jwks_path,
                        f"{h}.{p}.{longer}", "signature_bad_length")
    else:
        expect_rejected(checks, cli, f"{tag} signature 3 bytes short", jwks_path,
                        f"{h}.{p}.{short}", {"signature_bad_length", "signature_invalid"})

    # Keys: another key under the same kid, an unknown kid, a kid of another algorithm, an
    # embedded `jwk` header (never used to choose a key).
    other = PyKey(alg, key.kid)
    expect_rejected(checks, cli, f"{tag} signed by another key with the same kid", jwks_path,
                    sign(claims, signing_key=other.private), "signature_invalid")
    expect_rejected(checks, cli, f"{tag} embedded jwk of the signer ignored", jwks_path,
                    sign(claims, headers={"kid": key.kid, "jwk": other.jwk},
                         signing_key=other.private), "signature_invalid")
    expect_rejected(checks, cli, f"{tag} unknown kid", jwks_path,
                    sign(claims, headers={"kid": "py-no-such-key"}), "unknown_kid")
    expect_rejected(checks, cli, f"{tag} kid of the {other_alg_key.alg} key", jwks_path,
                    sign(claims, headers={"kid": other_alg_key.kid}), "key_not_found")

    # Time, with a fixed clock.
    timed = dict(claims, iat=T0, nbf=T0, exp=T0 + 600)
    token = sign(timed)
    expect_valid(checks, cli, f"{tag} valid at --now", jwks_path, token, timed,
                 extra=["--now", str(T0 + 300)])
    expect_rejected(checks, cli, f"{tag} expired", jwks_path, token, "expired",
                    extra=["--now", str(T0 + 600 + 3600)])
    expect_valid(checks, cli, f"{tag} expired 10 s ago, default leeway 30 s", jwks_path, token,
                 timed, extra=["--now", str(T0 + 610)])
    expect_rejected(checks, cli, f"{tag} expired 31 s ago, default leeway 30 s", jwks_path,
                    token, "expired", extra=["--now", str(T0 + 631)])
    expect_rejected(checks, cli, f"{tag} expired 10 s ago, --leeway 0", jwks_path, token,
                    "expired", extra=["--leeway", "0", "--now", str(T0 + 610)])
    expect_valid(checks, cli, f"{tag} expired 100 s ago, --leeway 120", jwks_path, token, timed,
                 extra=["--leeway", "120", "--now", str(T0 + 700)])
    no_iat = {k: v for k, v in timed.items() if k != "iat"}
    expect_rejected(checks, cli, f"{tag} nbf in the future", jwks_path, sign(no_iat),
                    "not_yet_valid", extra=["--now", str(T0 - 120)])
    future_iat = dict(timed, iat=T0 + 120)
    del future_iat["nbf"]
    expect_rejected(checks, cli, f"{tag} iat in the future", jwks_path, sign(future_iat),
                    "iat_in_future", extra=["--now", str(T0)])
    no_exp = {k: v for k, v in timed.items() if k != "exp"}
    expect_rejected(checks, cli, f"{tag} exp missing", jwks_path, sign(no_exp), "exp_missing",
                    extra=["--now", str(T0)])

    # Issuer, audience, type.
    token = sign(claims)
    expect_rejected(checks, cli, f"{tag} wrong iss", jwks_path, token, "iss_not_allowed",
                    extra=["--iss", "https://evil.example"])
    expect_rejected(checks, cli, f"{tag} iss differs in case", jwks_path, token,
                    "iss_not_allowed", extra=["--iss", ISSUER.upper()])
    expect_rejected(checks, cli, f"{tag} wrong aud", jwks_path, token, "aud_not_allowed",
                    extra=["--aud", "payments"])
    no_iss_aud = {k: v for k, v in claims.items() if k not in ("iss", "aud")}
    token2 = sign(no_iss_aud)
    expect_rejected(checks, cli, f"{tag} iss missing", jwks_path, token2, "iss_missing",
                    extra=["--iss", ISSUER])
    expect_rejected(checks, cli, f"{tag} aud missing", jwks_path, token2, "aud_missing",
                    extra=["--aud", "api"])
    one_aud = dict(claims, aud="api")
    expect_valid(checks, cli, f"{tag} aud as a string", jwks_path, sign(one_aud), one_aud,
                 extra=["--aud", "api"])
    expect_rejected(checks, cli, f"{tag} typ mismatch", jwks_path, token, "typ_mismatch",
                    extra=["--typ", "at+jwt"])
    at_token = sign(claims, headers={"kid": key.kid, "typ": "at+jwt"})
    expect_valid(checks, cli, f"{tag} typ at+jwt matches application/at+jwt", jwks_path,
                 at_token, claims, extra=["--typ", "application/at+jwt"])

    # Structurally broken but correctly signed (so only the structural check can reject).
    std_header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
    payload = compact_json(claims)

    def signed(header_bytes=None, payload_bytes=payload, **kw):
        hb = header_bytes if header_bytes is not None else compact_json(std_header)
        return raw_token(alg, key.private, hb, payload_bytes, **kw)

    expect_valid(checks, cli, f"{tag} raw-signed control token", jwks_path, signed(), claims)
    pp = padded_payload(claims)
    expect_rejected(checks, cli, f"{tag} payload with unused bits set", jwks_path,
                    signed(payload_bytes=pp, payload_b64=with_trailing_bits(b64e(pp))),
                    "payload_bad_base64")
    hb = header_bytes_with_unused_bits(std_header)
    expect_rejected(checks, cli, f"{tag} header with unused bits set", jwks_path,
                    signed(header_bytes=hb, header_b64=with_trailing_bits(b64e(hb))),
                    "header_bad_base64")
    expect_rejected(checks, cli, f"{tag} payload duplicate member", jwks_path,
                    signed(payload_bytes=payload[:-1] + b',"sub":"admin"}'),
                    "payload_duplicate_member")
    expect_rejected(checks, cli, f"{tag} payload duplicate member after unescaping", jwks_path,
                    signed(payload_bytes=payload[:-1] + b',"s\\u0075b":"admin"}'),
                    "payload_duplicate_member")
    expect_rejected(checks, cli, f"{tag} payload not an object", jwks_path,
                    signed(payload_bytes=b'["sub","exp"]'), "payload_not_object")
    expect_rejected(checks, cli, f"{tag} payload truncated JSON", jwks_path,
                    signed(payload_bytes=payload[:-1]), "payload_bad_json")
    expect_rejected(checks, cli, f"{tag} payload invalid UTF-8", jwks_path,
                    signed(payload_bytes=payload[:-1] + b',"bad":"\xff\xfe"}'),
                    "payload_bad_json")
    hdr_json = compact_json(std_header)
    expect_rejected(checks, cli, f"{tag} header duplicate alg", jwks_path,
                    signed(header_bytes=hdr_json[:-1] + f',"alg":"{alg}"}}'.encode()),
                    "header_duplicate_member")
    expect_rejected(checks, cli, f"{tag} header crit not understood", jwks_path,
                    signed(header_bytes=compact_json(dict(std_header, crit=["x-custom"],
                                                          **{"x-custom": 1}))),
                    "crit_unsupported")
    expect_rejected(checks, cli, f"{tag} header zip", jwks_path,
                    signed(header_bytes=compact_json(dict(std_header, zip="DEF"))),
                    "zip_unsupported")
    expect_rejected(checks, cli, f"{tag} header b64 false", jwks_path,
                    signed(header_bytes=compact_json(dict(std_header, b64=False))),
                    "b64_unsupported")
    expect_rejected(checks, cli, f"{tag} header cty JWT (nested)", jwks_path,
                    signed(header_bytes=compact_json(dict(std_header, cty="JWT"))),
                    "nested_jwt_unsupported")

    # Algorithm name games: never "none", byte-exact names.
    h_none = b64e(compact_json({"alg": "none", "kid": key.kid, "typ": "JWT"}))
    expect_rejected(checks, cli, f"{tag} alg none, empty signature", jwks_path,
                    f"{h_none}.{b64e(payload)}.", "token_malformed")
    expect_rejected(checks, cli, f"{tag} alg none with the original signature", jwks_path,
                    f"{h_none}.{b64e(payload)}.{s}", {"alg_invalid", "alg_not_allowed"})
    h_lower = b64e(compact_json({"alg": alg.lower(), "kid": key.kid, "typ": "JWT"}))
    expect_rejected(checks, cli, f"{tag} alg in lower case", jwks_path,
                    f"{h_lower}.{b64e(payload)}.{s}", {"alg_invalid", "alg_not_allowed"})


def alg_confusion(checks, cli, tmp):
    """HS256 over the RSA public key PEM as the secret, under the RSA key's kid."""
    tag = "pyjwt->jwtgate alg confusion"
    try:
        key = PyKey("RS256", "py-rsa-confusion")
        jwks_path = os.path.join(tmp, "confusion.jwks")
        with open(jwks_path, "w") as f:
            json.dump({"keys": [key.jwk]}, f)
        pem = key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        now = int(time.time())
        claims = {"sub": "admin", "exp": now + 600}
        h = b64e(compact_json({"alg": "HS256", "kid": key.kid, "typ": "JWT"}))
        p = b64e(compact_json(claims))
        sig = b64e(hmac.new(pem, f"{h}.{p}".encode(), hashlib.sha256).digest())
        expect_rejected(checks, cli, f"{tag} HS256 with RSA public key as secret", jwks_path,
                        f"{h}.{p}.{sig}", "alg_not_allowed")
        h2 = b64e(compact_json({"alg": "HS256", "typ": "JWT"}))
        sig2 = b64e(hmac.new(pem, f"{h2}.{p}".encode(), hashlib.sha256).digest())
        expect_rejected(checks, cli, f"{tag} same without kid", jwks_path, f"{h2}.{p}.{sig2}",
                        "alg_not_allowed")
    except Exception:
        checks.error(tag)


# --------------------------------------------------------------------------------------------
# 2. jwtgate -> PyJWT


def load_jwks(path):
    with open(path) as f:
        return json.load(f)


def check_keygen_output(checks, tag, alg, kid, private_path, jwk):
    family, param = ALGS[alg]
    checks.check(f"{tag} JWKS entry kid/alg/use", jwk.get("kid") == kid and
                 jwk.get("alg") == alg and jwk.get("use") == "sig" and
                 jwk.get("kty") == family, f"entry {jwk!r}")
    with open(private_path, "rb") as f:
        private_bytes = f.read()
    if family == "oct":
        priv = json.loads(private_bytes)
        checks.check(f"{tag} private file is an oct JWK", priv.get("kty") == "oct" and
                     priv.get("alg") == alg and priv.get("kid") == kid and
                     priv.get("k") == jwk.get("k"), f"private {priv!r} vs JWKS {jwk!r}")
        checks.check(f"{tag} secret at least the hash length",
                     len(b64d(jwk.get("k", ""))) >= param,
                     f"{len(b64d(jwk.get('k', '')))} bytes")
        return
    checks.check(f"{tag} private file is PEM PKCS#8",
                 private_bytes.lstrip().startswith(b"-----BEGIN PRIVATE KEY-----"),
                 f"starts {private_bytes[:40]!r}")
    priv = serialization.load_pem_private_key(private_bytes, password=None)
    private_members = sorted(set(jwk) & {"d", "p", "q", "dp", "dq", "qi", "k"})
    checks.check(f"{tag} JWKS entry has no private members", not private_members,
                 f"has {private_members}")
    if family == "RSA":
        ok = isinstance(priv, rsa.RSAPrivateKey) and priv.key_size >= 2048
        checks.check(f"{tag} RSA key of at least 2048 bits", ok, f"{type(priv).__name__}")
        expected = json.loads(RSAAlgorithm.to_jwk(priv.public_key()))
        same = (b64d(jwk["n"]).lstrip(b"\0") == b64d(expected["n"]).lstrip(b"\0") and
                b64d(jwk["e"]).lstrip(b"\0") == b64d(expected["e"]).lstrip(b"\0"))
    elif family == "EC":
        curve, crv, size = param
        ok = isinstance(priv, ec.EllipticCurvePrivateKey) and isinstance(priv.curve, curve)
        checks.check(f"{tag} EC key on {crv}", ok and jwk.get("crv") == crv,
                     f"{type(priv).__name__} crv={jwk.get('crv')}")
        nums = priv.public_key().public_numbers()
        same = (len(b64d(jwk["x"])) == size and len(b64d(jwk["y"])) == size and
                int.from_bytes(b64d(jwk["x"]), "big") == nums.x and
                int.from_bytes(b64d(jwk["y"]), "big") == nums.y)
    else:
        ok = isinstance(priv, ed25519.Ed25519PrivateKey)
        checks.check(f"{tag} Ed25519 key", ok and jwk.get("crv") == "Ed25519",
                     f"{type(priv).__name__} crv={jwk.get('crv')}")
        raw = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)
        same = b64d(jwk.get("x", "")) == raw
    checks.check(f"{tag} JWKS entry is the public half of the private file", same,
                 f"entry {jwk!r}")


def pyjwt_verifies(checks, name, token, public_key, alg, claims):
    try:
        decoded = jwt.decode(token, public_key, algorithms=[alg], audience="api",
                             issuer=ISSUER, options={"require": ["exp", "iat"]})
    except Exception as e:
        return checks.check(name, False, f"PyJWT raised {type(e).__name__}: {e}")
    return checks.check(name, same_json(decoded, claims), f"decoded {decoded!r} != {claims!r}")


def pyjwt_rejects(checks, name, token, public_key, alg, exc_type, audience="api"):
    try:
        jwt.decode(token, public_key, algorithms=[alg], audience=audience, issuer=ISSUER)
    except exc_type as e:
        return checks.check(name, True, note=type(e).__name__)
    except Exception as e:
        return checks.check(name, False, f"expected {exc_type.__name__}, got "
                            f"{type(e).__name__}: {e}")
    return checks.check(name, False, f"expected {exc_type.__name__}, token accepted")


def cli_sign(cli, key_path, alg, claims, kid=None):
    args = ["sign", "--key", key_path, "--alg", alg, "--claims", json.dumps(claims)]
    if kid is not None:
        args += ["--kid", kid]
    return cli.run(args)


def check_signed_token(checks, tag, r, alg, kid, claims):
    """Checks `jwtgate sign` output; returns the token or None."""
    if not checks.check(f"{tag} sign exit 0", r.rc == 0, r.describe()):
        return None
    checks.check(f"{tag} sign prints one line", r.out.endswith("\n") and
                 r.out.count("\n") == 1, repr(r.out[:200]))
    token = r.out.strip()
    if not checks.check(f"{tag} sign output is compact JWS",
                        re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
                        is not None, repr(token[:200])):
        return None
    h, p, s = segments(token)
    header = json.loads(b64d(h))
    expected = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        expected["kid"] = kid
    checks.check(f"{tag} header", same_json(header, expected), f"{header!r} != {expected!r}")
    payload = json.loads(b64d(p))
    checks.check(f"{tag} payload", same_json(payload, claims), f"{payload!r} != {claims!r}")
    if alg in FIXED_SIG_LEN:
        checks.check(f"{tag} raw signature length", len(b64d(s)) == FIXED_SIG_LEN[alg],
                     f"{len(b64d(s))} bytes, expected {FIXED_SIG_LEN[alg]}")
    return token


def jwtgate_to_pyjwt(checks, cli, tmp, algs, py_keys, jobs):
    # keygen runs one at a time: every call adds to the same JWKS file.
    jwks_path = os.path.join(tmp, "jg.jwks")
    kids = {}
    generated = []
    for alg in algs:
        tag = f"jwtgate->pyjwt {alg}"
        try:
            kid = f"jg-{alg}"
            private_path = os.path.join(tmp, f"jg-{alg}.key")
            r = cli.run(["keygen", "--alg", alg, "--kid", kid, "--private", private_path,
                         "--jwks", jwks_path])
            if not checks.check(f"{tag} keygen exit 0", r.rc == 0, r.describe()):
                continue
            jwks = load_jwks(jwks_path)
            entries = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
            checks.check(f"{tag} keygen added one key to the JWKS",
                         len(entries) == 1 and len(jwks.get("keys", [])) == len(kids) + 1,
                         f"{len(entries)} entries with kid, {len(jwks.get('keys', []))} keys")
            if not entries:
                continue
            jwk = entries[0]
            kids[alg] = kid
            check_keygen_output(checks, tag, alg, kid, private_path, jwk)
            generated.append((alg, kid, private_path, jwk))
        except Exception:
            checks.error(tag)

    def one(item):
        alg, kid, private_path, jwk = item
        tag = f"jwtgate->pyjwt {alg}"
        try:
            jwtgate_to_pyjwt_one(checks, cli, tmp, jwks_path, alg, kid, private_path, jwk,
                                 py_keys[alg], tag)
        except Exception:
            checks.error(tag)

    run_parallel(jobs, one, generated)


def jwtgate_to_pyjwt_one(checks, cli, tmp, jwks_path, alg, kid, private_path, jwk, pykey,
                         tag):
    public_key = jwt.PyJWK(jwk).key
    from_jwk = jwt.algorithms.get_default_algorithms()[alg].from_jwk(jwk)

    now = int(time.time())
    claims = base_claims(now)
    r = cli_sign(cli, private_path, alg, claims, kid=kid)
    token = check_signed_token(checks, tag, r, alg, kid, claims)
    if token is None:
        return
    pyjwt_verifies(checks, f"{tag} PyJWT verifies (PyJWK)", token, public_key, alg, claims)
    pyjwt_verifies(checks, f"{tag} PyJWT verifies (from_jwk)", token, from_jwk, alg, claims)
    expect_valid(checks, cli, f"{tag} jwtgate verifies its own token", jwks_path, token, claims,
                 extra=["--iss", ISSUER, "--aud", "api"])
    expect_valid(checks, cli, f"{tag} sign piped into verify -", jwks_path, token, claims,
                 stdin=r.out)

    h, p, s = segments(token)
    pyjwt_rejects(checks, f"{tag} PyJWT rejects flipped signature char",
                  f"{h}.{p}.{flip_char(s, len(s) // 2)}", public_key, alg,
                  jwt.InvalidSignatureError)
    changed = b64e(compact_json(dict(claims, sub="admin")))
    pyjwt_rejects(checks, f"{tag} PyJWT rejects changed payload", f"{h}.{changed}.{s}",
                  public_key, alg, jwt.InvalidSignatureError)
    pyjwt_rejects(checks, f"{tag} PyJWT rejects stripped signature", f"{h}.{p}.", public_key,
                  alg, jwt.DecodeError)
    pyjwt_rejects(checks, f"{tag} PyJWT rejects wrong audience", token, public_key, alg,
                  jwt.InvalidAudienceError, audience="payments")

    # Without --kid the header carries no kid.
    r = cli_sign(cli, private_path, alg, claims)
    token = check_signed_token(checks, f"{tag} (no --kid)", r, alg, None, claims)
    if token is not None:
        pyjwt_verifies(checks, f"{tag} (no --kid) PyJWT verifies", token, public_key, alg,
                       claims)

    # jwtgate signs with a key made in Python; PyJWT verifies with the Python public key.
    key_path = os.path.join(tmp, f"py-for-sign-{alg}.key")
    with open(key_path, "wb") as f:
        if isinstance(pykey.private, bytes):
            f.write(json.dumps({"kty": "oct", "k": b64e(pykey.private), "alg": alg,
                                "kid": pykey.kid}).encode())
        else:
            f.write(pykey.pem_pkcs8())
    r = cli_sign(cli, key_path, alg, claims, kid=pykey.kid)
    token = check_signed_token(checks, f"{tag} (Python-made key)", r, alg, pykey.kid, claims)
    if token is not None:
        pyjwt_verifies(checks, f"{tag} (Python-made key) PyJWT verifies", token,
                       pykey.public_key(), alg, claims)


# --------------------------------------------------------------------------------------------
# 3. CLI contract


def cli_contract(checks, cli, tmp):
    tag = "cli"
    try:
        for sub in ([], ["keygen"], ["sign"], ["verify"]):
            r = cli.run(sub + ["--help"])
            name = " ".join(sub + ["--help"])
            checks.check(f"{tag} {name} exits 0", r.rc == 0 and r.out.strip() != "",
                         r.describe())

        key = PyKey("HS256", "cli-hs")
        jwks_path = os.path.join(tmp, "cli.jwks")
        with open(jwks_path, "w") as f:
            json.dump({"keys": [key.jwk]}, f)
        claims = {"sub": "x", "exp": int(time.time()) + 600}
        token = jwt.encode(claims, key.private, algorithm="HS256", headers={"kid": key.kid})
        expect_valid(checks, cli, f"{tag} control token", jwks_path, token, claims)

        def usage(name, args, stdin=None):
            r = cli.run(args, stdin=stdin)
            checks.check(f"{tag} {name} exits 2", r.rc == 2, r.describe())

        usage("verify with a missing keys file",
              ["verify", "--keys", os.path.join(tmp, "no-such.jwks"), token])
        usage("verify with no token", ["verify", "--keys", jwks_path])
        usage("verify without --keys", ["verify", token])
        bad_jwks = os.path.join(tmp, "bad.jwks")
        with open(bad_jwks, "w") as f:
            f.write('{"keys": [')
        usage("verify with a JWKS that is not JSON", ["verify", "--keys", bad_jwks, token])
        usage("verify with a non-numeric --leeway",
              ["verify", "--keys", jwks_path, "--leeway", "soon", token])
        usage("verify with an unknown option", ["verify", "--keys", jwks_path, "--bogus", token])
        usage("an unknown subcommand", ["frobnicate"])
        usage("keygen with alg none",
              ["keygen", "--alg", "none", "--private", os.path.join(tmp, "none.key"),
               "--jwks", os.path.join(tmp, "none.jwks")])
        usage("sign with a missing key file",
              ["sign", "--key", os.path.join(tmp, "no-such.key"), "--alg", "HS256",
               "--claims", "{}"])

        kid_selection(checks, cli, tmp)

        expect_rejected(checks, cli, f"{tag} empty token on stdin", jwks_path, None,
                        "token_empty", stdin="")
        expect_rejected(checks, cli, f"{tag} blank line on stdin", jwks_path, None,
                        "token_empty", stdin="\n")
        expect_rejected(checks, cli, f"{tag} five segments (JWE)", jwks_path,
                        "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "token_is_jwe")
        expect_rejected(checks, cli, f"{tag} four segments", jwks_path, token + ".x",
                        "token_malformed")
        expect_rejected(checks, cli, f"{tag} surrounding space", jwks_path, " " + token,
                        "token_malformed")
    except Exception:
        checks.error(tag)


def kid_selection(checks, cli, tmp):
    """Keys without kid (chosen only as the single candidate) and duplicate kids in keygen."""
    tag = "cli kid"
    jwks_path = os.path.join(tmp, "kidless.jwks")
    claims = {"sub": "x", "exp": int(time.time()) + 600}
    first = os.path.join(tmp, "kidless-1.key")
    r = cli.run(["keygen", "--alg", "EdDSA", "--private", first, "--jwks", jwks_path])
    if not checks.check(f"{tag} keygen without --kid", r.rc == 0, r.describe()):
        return
    r = cli_sign(cli, first, "EdDSA", claims)
    token = check_signed_token(checks, f"{tag} sign without --kid", r, "EdDSA", None, claims)
    if token is None:
        return
    expect_valid(checks, cli, f"{tag} kid-less token, single candidate key", jwks_path, token,
                 claims)
    second = os.path.join(tmp, "kidless-2.key")
    r = cli.run(["keygen", "--alg", "EdDSA", "--private", second, "--jwks", jwks_path])
    checks.check(f"{tag} second keygen without --kid", r.rc == 0, r.describe())
    expect_rejected(checks, cli, f"{tag} kid-less token, two candidate keys", jwks_path, token,
                    "kid_required")

    jwks_path = os.path.join(tmp, "dup.jwks")
    r = cli.run(["keygen", "--alg", "ES256", "--kid", "dup", "--private",
                 os.path.join(tmp, "dup-1.key"), "--jwks", jwks_path])
    checks.check(f"{tag} keygen --kid dup", r.rc == 0, r.describe())
    with open(jwks_path) as f:
        before = f.read()
    r = cli.run(["keygen", "--alg", "ES256", "--kid", "dup", "--private",
                 os.path.join(tmp, "dup-2.key"), "--jwks", jwks_path])
    with open(jwks_path) as f:
        after = f.read()
    checks.check(f"{tag} keygen with a duplicate (kid, alg) fails, JWKS unchanged",
                 r.rc == 2 and after == before, r.describe())


# --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="path to the jwtgate binary")
    parser.add_argument("--alg", action="append", choices=sorted(ALGS),
                        help="only this algorithm (repeatable); default all")
    parser.add_argument("-j", "--jobs", type=int, default=min(8, os.cpu_count() or 1),
                        help="algorithms checked in parallel (default: CPUs, at most 8)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing checks")
    args = parser.parse_args()

    checks = Checks(args.verbose)
    algs = args.alg or list(ALGS)
    started = time.monotonic()
    if not checks.check("cli binary exists", os.access(args.cli, os.X_OK),
                        f"{args.cli} is not an executable file"):
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1
    cli = Cli(os.path.abspath(args.cli))
    print(f"PyJWT {jwt.__version__}, jwtgate at {cli.path}")
    with tempfile.TemporaryDirectory(prefix="jwtgate-interop-") as tmp:
        py_keys = {alg: PyKey(alg, f"py-{alg}") for alg in algs}
        pyjwt_to_jwtgate(checks, cli, tmp, py_keys, args.jobs)
        alg_confusion(checks, cli, tmp)
        jwtgate_to_pyjwt(checks, cli, tmp, algs, py_keys, args.jobs)
        cli_contract(checks, cli, tmp)
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
