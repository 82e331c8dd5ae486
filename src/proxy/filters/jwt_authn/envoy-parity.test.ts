// jwt_authn against Envoy's jwt_verify_lib (source/common/jwt: jwt.cc parseFromString, status.cc,
// check_audience.cc, verify.cc) and authenticator.cc: claim types and ranges, the 401 bodies, HMAC keys,
// audience matching, claim headers, and a remote key set's retry after a failed fetch.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { test } from 'node:test';
import type { RequestAuthentication } from '../../../config/resource.ts';
import type { JWTRule } from '../../../config/types/security.ts';
import { translateRequestAuthentication } from '../../../translate/request-authentication.ts';
import type { FilterVerdict, RequestContext } from '../../http/filter.ts';
import { createJwtAuthnFilterFactory, type JwtAuthnOptions } from './http-filter.ts';
import { decodeJwt } from './jwt-verify.ts';

const NOW = 1_800_000_000_000;
const ISS = 'https://issuer.example';
const TARGET = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid });
const JWKS = JSON.stringify({ keys: [jwk(rsa.publicKey, 'rsa')] });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const b64s = (s: string) => Buffer.from(s).toString('base64url');

function tok(claims: Record<string, unknown> = {}, header: Record<string, unknown> = { alg: 'RS256', kid: 'rsa' }, iss = ISS, key = rsa.privateKey): string {
  const input = `${b64(header)}.${b64({ iss, sub: 'alice', exp: NOW / 1000 + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
function hs256(secret: Buffer, kid: string): string {
  const input = `${b64({ alg: 'HS256', kid })}.${b64({ iss: ISS, sub: 'alice', exp: NOW / 1000 + 60 })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
function ra(name: string, rules: Partial<JWTRule>[]): RequestAuthentication {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name, namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: rules.map((r) => ({ issuer: ISS, jwks: JWKS, ...r })) as JWTRule[] },
  };
}
function ctx(headers: Record<string, string> = {}): RequestContext {
  return {
    request: {
      method: 'GET',
      scheme: 'http',
      authority: 'api.foo',
      sentAuthority: 'api.foo',
      path: '/x',
      query: '',
      headers: new Map(Object.entries(headers)),
      protocol: 'HTTP/1.1',
      connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 8080, tls: false },
    },
    info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() },
    route: null,
  };
}
function filterFor(policies: RequestAuthentication[], options: JwtAuthnOptions = {}) {
  return createJwtAuthnFilterFactory({ now: () => NOW, ...options }).create(translateRequestAuthentication(policies, TARGET).http!.typed_config);
}
async function reply(policies: RequestAuthentication[], c: RequestContext): Promise<{ status: number; body: unknown }> {
  const v = (await filterFor(policies).onRequest!(c)) as FilterVerdict;
  return v.action === 'respond' ? { status: v.reply.status, body: v.reply.body } : { status: 200, body: undefined };
}
const bearer = (t: string) => ctx({ authorization: `Bearer ${t}` });

const good = tok();
const [h, p, s] = good.split('.') as [string, string, string];

for (const [name, token, body] of [
  // parseFromString's claim types: a signed token is refused before its signature is looked at.
  ['sub is a number', tok({ sub: 42 }), 'Jwt payload [sub] field is not a string'],
  ['aud is a number', tok({ aud: 7 }), 'Jwt payload [aud] field is not a string or string list'],
  ['aud list holds a number', tok({ aud: ['api', 7] }), 'Jwt payload [aud] field is not a string or string list'],
  ['jti is an object', tok({ jti: { a: 1 } }), 'Jwt payload [jti] field is not a string'],
  ['iat is a string', tok({ iat: 'yesterday' }), 'Jwt payload [iat] field is not an integer'],
  ['iss is a number', tok({ iss: 5 }), 'Jwt payload [iss] field is not a string'],
  ['exp is a string', tok({ exp: 'never' }), 'Jwt payload [exp] field is not an integer'],
  ['header kid is a number', tok({}, { alg: 'RS256', kid: 5 }), 'Jwt header [kid] field is not a string'],
  // GetUInt64: negative or from 2^64 on is out of range.
  ['exp is 1e30', tok({ exp: 1e30 }), 'Jwt payload [exp] field is not a positive 64 bit integer'],
  ['iat is negative', tok({ iat: -5 }), 'Jwt payload [iat] field is not a positive 64 bit integer'],
  ['nbf is negative', tok({ nbf: -5 }), 'Jwt payload [nbf] field is not a positive 64 bit integer'],
  // The alg is checked while parsing, before the issuer.
  ['alg none from another issuer', tok({}, { alg: 'none' }, 'https://other.example'), 'Jwt header [alg] is not supported'],
  ['alg missing', tok({}, { kid: 'rsa' }), 'Jwt header [alg] field is required and must be a string'],
  // Current status.cc strings.
  ['header not JSON', `${b64s('{nope')}.${p}.${s}`, 'Jwt header is an invalid JSON'],
  ['header not base64url', `${h}!.${p}.${s}`, 'Jwt header is an invalid Base64url encoded'],
  ['payload not JSON', `${h}.${b64s('{nope')}.${s}`, 'Jwt payload is an invalid JSON'],
  ['only two sections', `${h}.${p}`, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ['empty signature (a.b.)', `${h}.${p}.`, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ['signature not base64url', `${h}.${p}.${s}*`, 'Jwt signature is an invalid Base64url encoded'],
] as const) {
  test(`401 "${body}": ${name}`, async () => {
    assert.deepEqual(await reply([ra('jwt', [{}])], bearer(token)), { status: 401, body });
  });
}

test('exp: 0 means no expiry (verifyTimeConstraint: `exp_ && now > exp_ + skew`); fractional times are truncated', async () => {
  assert.equal((await reply([ra('jwt', [{}])], bearer(tok({ exp: 0 })))).status, 200);
  assert.equal((await reply([ra('jwt', [{}])], bearer(tok({ nbf: NOW / 1000 + 60.5 })))).status, 200, 'nbf read as now + 60');
  assert.deepEqual(await reply([ra('jwt', [{}])], bearer(tok({ exp: NOW / 1000 - 61 }))), { status: 401, body: 'Jwt is expired' });
});

test('parseFromString counts the dots before it splits: a good token with one dot more is 401 JwtBadFormat', async () => {
  const body = 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections';
  for (const t of [`${good}.`, `.${good}`, `${h}..${p}.${s}`, `${h}.${p}..${s}`]) {
    assert.deepEqual(await reply([ra('jwt', [{}])], bearer(t)), { status: 401, body }, t);
    assert.equal(decodeJwt(t), 'Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections', t);
  }
  assert.equal((await reply([ra('jwt', [{}])], bearer(good))).status, 200);
});

test('HS256: verified with a JWKS `oct` key; against RSA keys only, kid and alg match, so the verification fails', async () => {
  const secret = Buffer.from('a shared secret of enough length!');
  const oct = JSON.stringify({ keys: [{ kty: 'oct', kid: 'hmac', k: secret.toString('base64url') }, jwk(rsa.publicKey, 'rsa')] });
  assert.equal((await reply([ra('jwt', [{ jwks: oct }])], bearer(hs256(secret, 'hmac')))).status, 200);
  assert.deepEqual(await reply([ra('jwt', [{ jwks: oct }])], bearer(hs256(Buffer.from('another secret'), 'hmac'))), { status: 401, body: 'Jwt verification fails' });
  // verify.cc matches a key by kid and alg only: the RSA key (no alg) is tried and cannot verify an HMAC.
  assert.deepEqual(await reply([ra('jwt', [{}])], bearer(hs256(secret, 'rsa'))), { status: 401, body: 'Jwt verification fails' });
  assert.deepEqual(await reply([ra('jwt', [{}])], bearer(hs256(secret, 'nope'))), { status: 401, body: "Jwks doesn't have key to match kid or alg from Jwt" });
  // An RSA public key is never an HMAC secret.
  const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' });
  const input = `${b64({ alg: 'HS256', kid: 'rsa' })}.${b64({ iss: ISS, sub: 'mallory', exp: NOW / 1000 + 60 })}`;
  const confused = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
  assert.equal((await reply([ra('jwt', [{}])], bearer(confused))).status, 401);
});

for (const [cfg, aud] of [
  ['https://api.example.com', 'api.example.com/'],
  ['api.example.com', 'http://api.example.com'],
  ['https://api.example.com/', 'http://api.example.com'],
] as const) {
  test(`audience ${aud} matches configured ${cfg} (CheckAudience strips the scheme and a trailing slash)`, async () => {
    assert.equal((await reply([ra('jwt', [{ audiences: [cfg] }])], bearer(tok({ aud })))).status, 200);
  });
}
test('audiences still differ by host or path', async () => {
  assert.equal((await reply([ra('jwt', [{ audiences: ['https://api.example.com'] }])], bearer(tok({ aud: 'https://api.example.com/v1' })))).status, 403);
});

test("two providers, two bad tokens: Istio's tree answers with the first provider's (by issuer) failure", async () => {
  const A = 'https://a.example';
  const Z = 'https://z.example';
  const za = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const polA = ra('a', [{ issuer: A, fromHeaders: [{ name: 'x-a' }] }]);
  const polZ = ra('b', [{ issuer: Z, jwks: JSON.stringify({ keys: [jwk(za.publicKey, 'rsa')] }), fromHeaders: [{ name: 'x-z' }] }]);
  const expiredA = tok({ exp: NOW / 1000 - 3600 }, undefined, A);
  const badSigZ = tok({}, undefined, Z);
  // any{A: expired, Z: verification fails, all{any{A, allow_missing}: expired, ...}}: the last answers.
  assert.deepEqual(await reply([polZ, polA], ctx({ 'x-a': expiredA, 'x-z': badSigZ })), { status: 401, body: 'Jwt is expired' });
  assert.equal((await reply([polZ, polA], ctx({ 'x-a': tok({}, undefined, A) }))).status, 200);
  assert.equal((await reply([polZ, polA], ctx())).status, 200, 'no token passes');
});

test("claim_to_headers as Envoy's addJWTClaimToHeader formats them", async () => {
  const claims = { frac: 1.5, neg: -3, int: 42, big: 2 ** 60, yes: true, list: ['a', 'b'], obj: { k: 'v' }, empty: '', nil: null };
  const names = Object.keys(claims);
  const f = filterFor([ra('jwt', [{ outputClaimToHeaders: names.map((c) => ({ header: `x-${c}`, claim: c })) }])]);
  const c = bearer(tok(claims));
  await f.onRequest!(c);
  const got = Object.fromEntries(names.map((n) => [n, c.request.headers.get(`x-${n}`)]));
  assert.deepEqual(got, {
    frac: '1.500000',
    neg: '-3.000000',
    int: '42',
    big: '1152921504606846976',
    yes: 'true',
    list: Buffer.from('["a","b"]').toString('base64'),
    obj: Buffer.from('{"k":"v"}').toString('base64'),
    empty: undefined,
    nil: undefined,
  });
});

test('claim_to_headers walks the payload\'s own fields only (StructUtils): no inherited property, no list index', async () => {
  const paths = ['constructor', 'toString', 'a.constructor', 'list.0', 'a.b'];
  const f = filterFor([ra('jwt', [{ outputClaimToHeaders: paths.map((c, i) => ({ header: `x-c${i}`, claim: c })) }])]);
  const c = bearer(tok({ a: { b: 'nested' }, list: ['first'] }));
  await f.onRequest!(c);
  assert.deepEqual(paths.map((_, i) => c.request.headers.get(`x-c${i}`)), [undefined, undefined, undefined, undefined, 'nested']);
});

test('a failed remote JWKS fetch is retried by a later request (Envoy caches no failure), at most once a second', async () => {
  let now = NOW;
  let fetches = 0;
  let body = 'not json';
  const f = filterFor([ra('jwt', [{ jwks: '', jwksUri: 'https://idp.example/jwks.json' }])], {
    now: () => now,
    fetchJwks: async () => {
      fetches++;
      return body;
    },
  });
  const status = async () => {
    const v = (await f.onRequest!(bearer(tok({ exp: NOW / 1000 + 3600 })))) as FilterVerdict;
    return v.action === 'respond' ? `${v.reply.status} ${String(v.reply.body)}` : '200';
  };
  assert.equal(await status(), '401 Jwks remote fetch is failed');
  assert.equal(await status(), '401 Jwks remote fetch is failed');
  assert.equal(fetches, 1, 'a dead server is not fetched per request');
  now += 1_000;
  body = '{"keys":[]}';
  assert.equal(await status(), '401 Jwks remote fetch is failed', 'a key set without a usable key is a failed fetch');
  assert.equal(fetches, 2);
  now += 1_000;
  body = JWKS;
  assert.equal(await status(), '200');
  assert.equal(fetches, 3);
});
