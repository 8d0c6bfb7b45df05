#!/usr/bin/node
// Interop between the `jwtgate` CLI and panva/jose v4 for Node (Debian `node-jose` 4.11.4,
// /usr/share/nodejs/jose), in both directions, for all 13 algorithms.
//
//   node tests/interop/node_jose_interop.js --cli build/core/cli/jwtgate [-v] [--alg ES256]...
//
// 1. jose -> jwtgate: keys from generateKeyPair/generateSecret, exported with exportJWK into a
//    JWKS; tokens from SignJWT must pass `jwtgate verify` with the same claims. Tampered tokens
//    are rejected by jose's jwtVerify and by jwtgate with the specific status.
// 2. jwtgate -> jose: keys from `jwtgate keygen`; jose imports its JWKS (createLocalJWKSet, and
//    importJWK per key) and verifies tokens from `jwtgate sign`; tampered ones fail there.
//    jwtgate also signs with keys made by jose (exportPKCS8 PEM, or the oct JWK), and jose
//    verifies with its own public key.
//
// The last line is `N passed, M failed`; the exit status is 1 when any check failed.
'use strict';

const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

let jose;
try {
  jose = require('jose');
} catch (e) {
  jose = require('/usr/share/nodejs/jose');
}

const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
              'ES256', 'ES384', 'ES512', 'EdDSA'];
const FIXED_SIG_LEN = { ES256: 64, ES384: 96, ES512: 132, EdDSA: 64 };
const ISSUER = 'https://issuer.example';
const T0 = 1700000000;
const CLI_TIMEOUT_MS = 60000;

// ---------------------------------------------------------------------------------------------
// Bookkeeping

const counts = { passed: 0, failed: 0 };
let verbose = false;

function check(name, ok, detail = '') {
  if (ok) {
    counts.passed++;
    if (verbose) console.log(`ok    ${name}`);
  } else {
    counts.failed++;
    console.log(`FAIL  ${name}: ${detail}`);
  }
  return ok;
}

function b64e(buf) {
  return Buffer.from(buf).toString('base64url');
}

function b64d(text) {
  return Buffer.from(text, 'base64url');
}

function flipChar(segment, pos) {
  // A full 6-bit character, never the last one (its low bits may be unused).
  const c = segment[pos];
  return segment.slice(0, pos) + (c === 'A' ? 'B' : 'A') + segment.slice(pos + 1);
}

function sameJson(a, b) {
  const canon = (v) => JSON.stringify(v, (k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x);
  return canon(a) === canon(b);
}

function claimsNow() {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER, sub: 'user-9', aud: ['api', 'billing'], iat: now, nbf: now, exp: now + 600,
    jti: crypto.randomBytes(6).toString('hex'), n: 42, flag: false,
    nested: { list: [1, 'two', null] }, text: 'h\u00e9llo \u2713 \u{1F511}',
  };
}

// ---------------------------------------------------------------------------------------------
// The CLI

function runCli(cli, args, input = '') {
  const p = spawnSync(cli, args, { input, encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  const rc = p.error ? null : p.status;
  const m = /^rejected: ([a-z0-9_]+)$/m.exec(p.stderr || '');
  return {
    rc, out: p.stdout || '', err: p.stderr || '', status: m ? m[1] : null,
    describe() {
      return `rc=${rc} stdout=${JSON.stringify(this.out.slice(0, 300))} ` +
             `stderr=${JSON.stringify(this.err.slice(0, 300))}${p.error ? ' ' + p.error : ''}`;
    },
  };
}

function expectValid(cli, name, jwksPath, token, claims, extra = []) {
  const r = runCli(cli, ['verify', '--keys', jwksPath, ...extra, token]);
  if (r.rc !== 0) return check(name, false, 'expected exit 0; ' + r.describe());
  let printed;
  try {
    printed = JSON.parse(r.out);
  } catch (e) {
    return check(name, false, 'stdout is not JSON; ' + r.describe());
  }
  return check(name, sameJson(printed, claims),
               `printed ${JSON.stringify(printed)} != ${JSON.stringify(claims)}`);
}

function expectRejected(cli, name, jwksPath, token, status, extra = []) {
  const r = runCli(cli, ['verify', '--keys', jwksPath, ...extra, token]);
  return check(name, r.rc === 1 && r.status === status && r.out.trim() === '',
               `expected exit 1 and rejected: ${status}; ` + r.describe());
}

// ---------------------------------------------------------------------------------------------
// Keys made with jose

async function makeJoseKey(alg, kid) {
  if (alg.startsWith('HS')) {
    const secret = await jose.generateSecret(alg, { extractable: true });
    const jwk = { ...(await jose.exportJWK(secret)), alg, kid, use: 'sig' };
    return { alg, kid, signKey: secret, verifyKey: secret, publicJwk: jwk, privateFile: JSON.stringify(jwk) };
  }
  const options = { extractable: true };
  if (alg === 'EdDSA') options.crv = 'Ed25519';
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, options);
  const publicJwk = { ...(await jose.exportJWK(publicKey)), alg, kid, use: 'sig' };
  return { alg, kid, signKey: privateKey, verifyKey: publicKey, publicJwk,
           privateFile: await jose.exportPKCS8(privateKey) };
}

function sign(key, claims, header, options = undefined) {
  return new jose.SignJWT(claims).setProtectedHeader({ alg: key.alg, ...header })
    .sign(key.signKey, options);
}

async function joseAccepts(token, key, alg) {
  try {
    const { payload } = await jose.jwtVerify(token, key, { algorithms: [alg] });
    return { ok: true, payload };
  } catch (e) {
    return { ok: false, error: e };
  }
}

// ---------------------------------------------------------------------------------------------
// 1. jose -> jwtgate

async function joseToJwtgate(cli, tmp, algs) {
  const keys = {};
  for (const alg of algs) keys[alg] = await makeJoseKey(alg, `node-${alg}`);
  const allPath = path.join(tmp, 'node-all.jwks');
  fs.writeFileSync(allPath, JSON.stringify({ keys: algs.map((a) => keys[a].publicJwk) }));

  for (const alg of algs) {
    const tag = `jose->jwtgate ${alg}`;
    try {
      const key = keys[alg];
      if (!alg.startsWith('HS')) {
        check(`${tag} exported JWK is public`, !('d' in key.publicJwk), JSON.stringify(key.publicJwk));
      }
      const jwksPath = path.join(tmp, `node-${alg}.jwks`);
      fs.writeFileSync(jwksPath, JSON.stringify({ keys: [key.publicJwk] }));
      const claims = claimsNow();
      const token = await sign(key, claims, { kid: key.kid, typ: 'JWT' });
      const [h, p, s] = token.split('.');
      if (FIXED_SIG_LEN[alg]) {
        check(`${tag} raw signature length`, b64d(s).length === FIXED_SIG_LEN[alg],
              `${b64d(s).length} bytes`);
      }
      expectValid(cli, `${tag} valid`, jwksPath, token, claims);
      expectValid(cli, `${tag} valid with --iss/--aud/--typ`, jwksPath, token, claims,
                  ['--iss', ISSUER, '--aud', 'billing', '--typ', 'JWT']);
      expectValid(cli, `${tag} valid against the JWKS of all jose keys`, allPath, token, claims);
      expectValid(cli, `${tag} valid without kid (single key)`, jwksPath,
                  await sign(key, claims, {}), claims);

      const tampered = {
        'signature char flipped': `${h}.${p}.${flipChar(s, s.length >> 1)}`,
        'payload changed': `${h}.${b64e(JSON.stringify({ ...claims, sub: 'admin' }))}.${s}`,
      };
      for (const [what, bad] of Object.entries(tampered)) {
        const j = await joseAccepts(bad, key.verifyKey, alg);
        check(`${tag} ${what}: jose rejects`, !j.ok, 'jose accepted');
        expectRejected(cli, `${tag} ${what}: jwtgate rejects`, jwksPath, bad, 'signature_invalid');
      }
      const other = await makeJoseKey(alg, key.kid);
      const forged = await sign(other, claims, { kid: key.kid });
      check(`${tag} other key, same kid: jose rejects`,
            !(await joseAccepts(forged, key.verifyKey, alg)).ok, 'jose accepted');
      expectRejected(cli, `${tag} other key, same kid: jwtgate rejects`, jwksPath, forged,
                     'signature_invalid');
      const timed = { ...claims, iat: T0, nbf: T0, exp: T0 + 600 };
      const timedToken = await sign(key, timed, { kid: key.kid });
      expectValid(cli, `${tag} valid at --now`, jwksPath, timedToken, timed, ['--now', String(T0 + 1)]);
      expectRejected(cli, `${tag} expired`, jwksPath, timedToken, 'expired',
                     ['--now', String(T0 + 7200)]);
      expectRejected(cli, `${tag} not yet valid`, jwksPath, timedToken, 'not_yet_valid',
                     ['--now', String(T0 - 600)]);
      expectRejected(cli, `${tag} wrong issuer`, jwksPath, token, 'iss_not_allowed',
                     ['--iss', 'https://evil.example']);
      expectRejected(cli, `${tag} crit header`, jwksPath,
                     await sign(key, claims, { kid: key.kid, crit: ['x-ext'], 'x-ext': 1 },
                                { crit: { 'x-ext': true } }),
                     'crit_unsupported');
    } catch (e) {
      check(tag, false, `unexpected exception ${e && e.stack}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. jwtgate -> jose

async function jwtgateToJose(cli, tmp, algs) {
  const jwksPath = path.join(tmp, 'jg.jwks');
  const made = [];
  for (const alg of algs) {
    const kid = `jg-${alg}`;
    const privatePath = path.join(tmp, `jg-${alg}.key`);
    const r = runCli(cli, ['keygen', '--alg', alg, '--kid', kid, '--private', privatePath,
                           '--jwks', jwksPath]);
    if (check(`jwtgate->jose ${alg} keygen exit 0`, r.rc === 0, r.describe())) {
      made.push({ alg, kid, privatePath });
    }
  }
  const jwks = JSON.parse(fs.readFileSync(jwksPath, 'utf8'));
  const keySet = jose.createLocalJWKSet(jwks);

  for (const { alg, kid, privatePath } of made) {
    const tag = `jwtgate->jose ${alg}`;
    try {
      const jwk = jwks.keys.find((k) => k.kid === kid);
      const imported = await jose.importJWK(jwk, alg);
      const claims = claimsNow();
      let r = runCli(cli, ['sign', '--key', privatePath, '--alg', alg, '--kid', kid,
                           '--claims', JSON.stringify(claims)]);
      if (!check(`${tag} sign exit 0`, r.rc === 0, r.describe())) continue;
      const token = r.out.trim();
      let j = await joseAccepts(token, imported, alg);
      check(`${tag} jose verifies (importJWK)`, j.ok && sameJson(j.payload, claims),
            j.ok ? JSON.stringify(j.payload) : String(j.error));
      if (!alg.startsWith('HS')) {
        // A local JWKS holds public keys only; jose selects by kid and alg.
        j = await joseAccepts(token, keySet, alg);
        check(`${tag} jose verifies (createLocalJWKSet)`, j.ok && sameJson(j.payload, claims),
              j.ok ? JSON.stringify(j.payload) : String(j.error));
      }
      try {
        const v = await jose.jwtVerify(token, imported, { algorithms: [alg], issuer: ISSUER,
                                                          audience: 'api' });
        check(`${tag} jose checks iss/aud`, v.protectedHeader.kid === kid &&
              v.protectedHeader.typ === 'JWT', JSON.stringify(v.protectedHeader));
      } catch (e) {
        check(`${tag} jose checks iss/aud`, false, String(e));
      }
      const [h, p, s] = token.split('.');
      const tampered = {
        'signature char flipped': `${h}.${p}.${flipChar(s, s.length >> 1)}`,
        'payload changed': `${h}.${b64e(JSON.stringify({ ...claims, sub: 'admin' }))}.${s}`,
      };
      for (const [what, bad] of Object.entries(tampered)) {
        j = await joseAccepts(bad, imported, alg);
        check(`${tag} ${what}: jose rejects`, !j.ok && j.error.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
              j.ok ? 'jose accepted' : String(j.error.code));
        expectRejected(cli, `${tag} ${what}: jwtgate rejects`, jwksPath, bad, 'signature_invalid');
      }

      // jwtgate signs with a key made by jose; jose verifies with its own public key.
      const joseKey = await makeJoseKey(alg, `node-for-sign-${alg}`);
      const keyPath = path.join(tmp, `node-for-sign-${alg}.key`);
      fs.writeFileSync(keyPath, joseKey.privateFile);
      r = runCli(cli, ['sign', '--key', keyPath, '--alg', alg, '--kid', joseKey.kid,
                       '--claims', JSON.stringify(claims)]);
      if (check(`${tag} sign with a jose-made key`, r.rc === 0, r.describe())) {
        j = await joseAccepts(r.out.trim(), joseKey.verifyKey, alg);
        check(`${tag} jose verifies (jose-made key)`, j.ok && sameJson(j.payload, claims),
              j.ok ? JSON.stringify(j.payload) : String(j.error));
      }
    } catch (e) {
      check(tag, false, `unexpected exception ${e && e.stack}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const argv = process.argv.slice(2);
  let cli = null;
  const only = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cli') cli = argv[++i];
    else if (argv[i] === '--alg') only.push(argv[++i]);
    else if (argv[i] === '-v' || argv[i] === '--verbose') verbose = true;
    else {
      console.error(`usage: node_jose_interop.js --cli PATH [--alg ALG]... [-v]`);
      return 2;
    }
  }
  if (!cli) {
    console.error('--cli is required');
    return 2;
  }
  const started = Date.now();
  if (!check('cli binary exists', fs.existsSync(cli), cli)) {
    console.log(`${counts.passed} passed, ${counts.failed} failed`);
    return 1;
  }
  cli = path.resolve(cli);
  const algs = only.length ? only : ALGS;
  console.log(`jose (node) ${require('/usr/share/nodejs/jose/package.json').version}, ` +
              `node ${process.version}, jwtgate at ${cli}; covered: ${algs.join(' ')}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtgate-node-'));
  try {
    await joseToJwtgate(cli, tmp, algs);
    await jwtgateToJose(cli, tmp, algs);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
  console.log(`${counts.passed} passed, ${counts.failed} failed`);
  return counts.failed === 0 ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
  console.log(`FAIL  unexpected exception ${e && e.stack}`);
  process.exit(1);
});
