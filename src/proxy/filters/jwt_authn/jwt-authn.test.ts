// jwt_authn with real keys generated here (RSA, EC, Ed25519), translated from RequestAuthentication,
// with an injected clock; remote JWKS from a real HTTP server on an ephemeral port and from a file.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FakeClock, until } from '../../../../test/resilience/fake-clock.ts';
import type { RequestAuthentication } from '../../../config/resource.ts';
import type { JWTRule } from '../../../config/types/security.ts';
import { translateRequestAuthentication } from '../../../translate/request-authentication.ts';
import { CONTINUE, CONTINUE_CLEAR_ROUTE, type FilterVerdict, type RequestContext } from '../../http/filter.ts';
import { createJwtAuthnFilterFactory } from './http-filter.ts';
import { tokenInHeader } from './token-locations.ts';

const NOW = 1_800_000_000_000;
const ISS = 'https://issuer.example';
const TARGET = { workloadLabels: { app: 'api' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid });
const JWKS = JSON.stringify({
  keys: [jwk(rsa.publicKey, 'rsa'), jwk(ec.publicKey, 'ec'), jwk(ec384.publicKey, 'ec384'), jwk(ed.publicKey, 'ed')],
});

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(alg: string, key: KeyObject, kid: string, claims: Record<string, unknown> = {}): string {
  const input = `${b64({ alg, kid, typ: 'JWT' })}.${b64({ iss: ISS, sub: 'alice', aud: 'api', exp: NOW / 1000 + 600, ...claims })}`;
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  const opts = alg.startsWith('PS')
    ? { key, padding: 6, saltLength: -1 }
    : alg.startsWith('ES')
      ? { key, dsaEncoding: 'ieee-p1363' as const }
      : key;
  return `${input}.${sign(hash, Buffer.from(input), opts).toString('base64url')}`;
}

function requestAuthn(rule: Partial<JWTRule>): RequestAuthentication {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: [{ issuer: ISS, jwks: JWKS, ...rule }] },
  };
}

function ctx(headers: Record<string, string | string[]> = {}, query = ''): RequestContext {
  return {
    request: {
      method: 'GET',
      scheme: 'http',
      authority: 'api.foo',
      sentAuthority: 'api.foo',
      path: '/x',
      query,
      headers: new Map(Object.entries(headers)),
      protocol: 'HTTP/1.1',
      connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 8080, tls: false },
    },
    info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() },
    route: null,
  };
}

async function run(rule: Partial<JWTRule>, c: RequestContext, now = NOW, fetchJwks?: (u: string) => Promise<string>): Promise<number> {
  const filter = translateRequestAuthentication([requestAuthn(rule)], TARGET).http;
  assert.ok(filter);
  const f = createJwtAuthnFilterFactory({ now: () => now, ...(fetchJwks ? { fetchJwks } : {}) }).create(filter.typed_config);
  const v = (await f.onRequest!(c)) as FilterVerdict;
  return v.action === 'respond' ? v.reply.status : 200;
}

test('valid tokens for every supported algorithm pass and publish istio_authn', async () => {
  for (const [alg, key, kid] of [
    ['RS256', rsa.privateKey, 'rsa'],
    ['RS512', rsa.privateKey, 'rsa'],
    ['PS256', rsa.privateKey, 'rsa'],
    ['PS384', rsa.privateKey, 'rsa'],
    ['ES256', ec.privateKey, 'ec'],
    ['ES384', ec384.privateKey, 'ec384'],
    ['EdDSA', ed.privateKey, 'ed'],
  ] as const) {
    const c = ctx({ authorization: `Bearer ${token(alg, key, kid, { groups: ['admin'] })}` });
    assert.equal(await run({}, c), 200, alg);
    const authn = c.info.dynamicMetadata.get('istio_authn');
    assert.equal(authn?.['request.auth.principal'], `${ISS}/alice`, alg);
    assert.deepEqual((authn!['request.auth.claims'] as Record<string, unknown>)['groups'], ['admin']);
    assert.equal(c.request.headers.has('authorization'), false, 'the token is not forwarded by default');
  }
});

test('a missing token passes with no identity; a token without the Bearer scheme is no token', async () => {
  const c = ctx();
  assert.equal(await run({}, c), 200);
  assert.equal(c.info.dynamicMetadata.get('istio_authn'), undefined);
  assert.equal(await run({}, ctx({ authorization: 'Basic dXNlcjpwYXNz' })), 200);
});

test("a JWKS key without a kid is tried for a token that names one, as jwt_verify_lib tries it", async () => {
  const { kid: _kid, ...noKid } = jwk(rsa.publicKey, 'rsa');
  const jwks = JSON.stringify({ keys: [noKid] });
  assert.equal(await run({ jwks }, ctx({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa')}` })), 200);
  assert.equal(await run({ jwks }, ctx({ authorization: `Bearer ${token('RS256', other.privateKey, 'rsa')}` })), 401, 'still only its own signature');
});

test('invalid tokens get 401', async () => {
  const good = token('RS256', rsa.privateKey, 'rsa');
  const [h, p, s] = good.split('.') as [string, string, string];
  const hs = `${b64({ alg: 'HS256', kid: 'rsa' })}.${p}`;
  const bad: [string, string][] = [
    ['alg none', `${b64({ alg: 'none' })}.${p}.`],
    ['alg None', `${b64({ alg: 'None' })}.${p}.`],
    ['HS256 with the public key as secret', `${hs}.${s}`],
    ['empty signature', `${h}.${p}.`],
    ['other key, same kid', token('RS256', other.privateKey, 'rsa')],
    ['kid traversal', token('RS256', rsa.privateKey, '../../dev/null')],
    ['expired', token('RS256', rsa.privateKey, 'rsa', { exp: NOW / 1000 - 120 })],
    ['nbf ahead', token('RS256', rsa.privateKey, 'rsa', { nbf: NOW / 1000 + 3600 })],
    ['wrong issuer', token('RS256', rsa.privateKey, 'rsa', { iss: 'https://evil' })],
    ['three dots', `${good}.x`],
    ['base64 padding', `${h}=.${p}.${s}`],
    ['illegal characters', `${h}.${p}.${s.slice(0, -2)}+/`],
    ['64 KB token', `${h}.${'A'.repeat(64 * 1024)}.${s}`],
    ['no base64url character after the prefix', '!!!'],
  ];
  for (const [name, t] of bad) assert.equal(await run({}, ctx({ authorization: `Bearer ${t}` })), 401, name);
  assert.equal(await run({}, ctx({ authorization: `Bearer ${good}` }, `access_token=${hs}.${s}`)), 401, 'a bad second token');
  assert.equal(await run({}, ctx({ authorization: [`Bearer ${good}`, 'Bearer x.y.z'] })), 401, 'two Authorization headers');
});

test("the prefix is Envoy's: case-sensitive, found anywhere; the token starts at the next base64url character", async () => {
  const table: [string, string, string | undefined][] = [
    ['Bearer a.b.c', 'Bearer ', 'a.b.c'],
    ['Bearer   a.b.c', 'Bearer ', 'a.b.c'],
    ['Bearer \t"a.b.c"', 'Bearer ', 'a.b.c"'],
    ['bearer a.b.c', 'Bearer ', undefined],
    ['BEARER a.b.c', 'Bearer ', undefined],
    ['Bearer', 'Bearer ', undefined],
    ['Basic x, Bearer a.b.c', 'Bearer ', 'a.b.c'],
    ['Bearer a.b.c, Basic x', 'Bearer ', 'a.b.c, Basic x'],
    ['Bearer a.b.c d.e.f', 'Bearer ', 'a.b.c d.e.f'],
    ['Bearer !!!', 'Bearer ', 'Bearer !!!'],
    ['a.b.c', '', 'a.b.c'],
    ['Bearer a.b.c', '', 'Bearer a.b.c'],
  ];
  for (const [value, prefix, want] of table) assert.equal(tokenInHeader(value, prefix), want, `${JSON.stringify(value)} with ${JSON.stringify(prefix)}`);
  const good = token('RS256', rsa.privateKey, 'rsa');
  const spaced = ctx({ authorization: `Bearer    ${good}` });
  assert.equal(await run({}, spaced), 200);
  assert.equal(spaced.info.dynamicMetadata.get('istio_authn')?.['request.auth.principal'], `${ISS}/alice`, 'extra spaces: the token is found and verified');
  const lower = ctx({ authorization: `bearer ${good}` });
  assert.equal(await run({}, lower), 200);
  assert.equal(lower.info.dynamicMetadata.get('istio_authn'), undefined, 'a lower-case scheme holds no token: the request is anonymous');
  assert.equal(lower.request.headers.get('authorization'), `bearer ${good}`, 'and the header is forwarded untouched');
});

test('clock skew: 60 s either side is tolerated', async () => {
  const t = token('ES256', ec.privateKey, 'ec', { exp: NOW / 1000 - 30, nbf: NOW / 1000 + 30 });
  assert.equal(await run({}, ctx({ authorization: `Bearer ${t}` })), 200);
  assert.equal(await run({}, ctx({ authorization: `Bearer ${t}` }), NOW + 91_000), 401);
  // Envoy compares whole seconds (now > exp + skew): expired only from the next second on.
  const edge = token('ES256', ec.privateKey, 'ec', { exp: NOW / 1000 - 60 });
  assert.equal(await run({}, ctx({ authorization: `Bearer ${edge}` }), NOW + 999), 200);
  assert.equal(await run({}, ctx({ authorization: `Bearer ${edge}` }), NOW + 1000), 401);
});

test('locations: fromHeaders with prefix, fromParams, fromCookies', async () => {
  const t = token('RS256', rsa.privateKey, 'rsa');
  assert.equal(await run({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] }, ctx({ 'x-jwt': `Token ${t}` })), 200);
  assert.equal(await run({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] }, ctx({ 'x-jwt': `Token ${t}x` })), 401);
  assert.equal(await run({ fromParams: ['tok'] }, ctx({}, `a=1&tok=${t}`)), 200);
  assert.equal(await run({ fromParams: ['tok'] }, ctx({}, `tok=%zz${t}`)), 401, 'a malformed escape makes a malformed token, not a missing one');
  assert.equal(await run({ fromParams: ['tok'] }, ctx({ authorization: 'Bearer junk' })), 200, 'only configured locations are read');
  assert.equal(await run({ fromCookies: ['session'] }, ctx({ cookie: `a=b; session=${t}` })), 200);
  assert.equal(await run({ fromCookies: ['session'] }, ctx({ cookie: 'session=bad.bad.bad' })), 401);
});

test('outputs: forwardOriginalToken, outputPayloadToHeader, outputClaimToHeaders; client copies overwritten', async () => {
  const t = token('RS256', rsa.privateKey, 'rsa', { tenant: 'acme', nested: { role: 'ops' } });
  const c = ctx({ authorization: `Bearer ${t}`, 'x-payload': 'forged', 'x-tenant': 'forged' });
  const rule = {
    forwardOriginalToken: true,
    outputPayloadToHeader: 'x-payload',
    outputClaimToHeaders: [
      { header: 'x-tenant', claim: 'tenant' },
      { header: 'x-role', claim: 'nested.role' },
    ],
  };
  assert.equal(await run(rule, c), 200);
  assert.equal(c.request.headers.get('authorization'), `Bearer ${t}`);
  assert.equal(JSON.parse(Buffer.from(String(c.request.headers.get('x-payload')), 'base64url').toString()).tenant, 'acme');
  assert.equal(c.request.headers.get('x-tenant'), 'acme');
  assert.equal(c.request.headers.get('x-role'), 'ops');
  const anonymous = ctx({ 'x-payload': 'forged', 'x-tenant': 'forged' });
  assert.equal(await run(rule, anonymous), 200);
  assert.equal(anonymous.request.headers.has('x-payload'), false);
  assert.equal(anonymous.request.headers.has('x-tenant'), false);
});

test('jwksUri over real HTTP: fetched once, cached by the injected clock, fail closed when unreachable', async () => {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.end(JWKS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    const filter = translateRequestAuthentication([requestAuthn({ jwks: undefined as never, jwksUri: uri })], TARGET).http!;
    let now = NOW;
    const f = createJwtAuthnFilterFactory({ now: () => now }).create(filter.typed_config);
    const t = token('RS256', rsa.privateKey, 'rsa', { exp: NOW / 1000 + 7200 });
    const status = async () => {
      const v = (await f.onRequest!(ctx({ authorization: `Bearer ${t}` }))) as FilterVerdict;
      return v.action === 'respond' ? v.reply.status : 200;
    };
    assert.deepEqual(await Promise.all([status(), status(), status()]), [200, 200, 200]);
    assert.equal(hits, 1);
    now += 21 * 60 * 1000;
    assert.equal(await status(), 200);
    assert.equal(hits, 2);
  } finally {
    server.close();
  }
  const down = await run({ jwks: undefined as never, jwksUri: 'http://127.0.0.1:9/jwks' }, ctx({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa')}` }), NOW, async () => {
    throw new Error('unreachable');
  });
  assert.equal(down, 401);
});

test("a JWKS fetch held past the rule's timeout fails closed when the injected timers reach it, and the fetch is abandoned", { timeout: 10_000 }, async () => {
  const held: { res: ServerResponse; gone: boolean }[] = [];
  const server = createServer((_req, res) => {
    const h = { res, gone: false };
    res.on('close', () => {
      if (!res.writableEnded) h.gone = true;
    });
    held.push(h);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    // 60 s: far past the test's bound, so only the injected timers can end the fetch in time.
    const filter = translateRequestAuthentication([requestAuthn({ jwks: undefined as never, jwksUri: uri, timeout: '60s' })], TARGET).http!;
    const clock = new FakeClock();
    const f = createJwtAuthnFilterFactory({ now: () => NOW, timers: clock }).create(filter.typed_config);
    const verdict = f.onRequest!(ctx({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa')}` })) as Promise<FilterVerdict>;
    await until(() => held.length === 1, 'the JWKS request held by the server');
    clock.advance(59_999);
    assert.equal(held[0]!.gone, false, 'the fetch is still out a millisecond before its timeout');
    clock.advance(1);
    const v = await verdict;
    assert.ok(v.action === 'respond');
    assert.deepEqual([v.reply.status, v.reply.body], [401, 'Jwks remote fetch is failed']);
    await until(() => held[0]!.gone, 'the timed-out fetch closed');
  } finally {
    for (const h of held) h.res.destroy();
    server.close();
  }
});

test('jwksUri as a file:// URL', async () => {
  const file = path.join(tmpdir(), `outrigger-jwks-${process.pid}.json`);
  writeFileSync(file, JWKS);
  const rule: Partial<JWTRule> = { jwksUri: `file://${file}` };
  const ra = requestAuthn(rule);
  delete ra.spec.jwtRules![0]!.jwks;
  const filter = translateRequestAuthentication([ra], TARGET).http!;
  const f = createJwtAuthnFilterFactory({ now: () => NOW }).create(filter.typed_config);
  const v = (await f.onRequest!(ctx({ authorization: `Bearer ${token('ES256', ec.privateKey, 'ec')}` }))) as FilterVerdict;
  assert.equal(v.action, 'continue');
});

async function reply(rule: Partial<JWTRule>, c: RequestContext, now = NOW): Promise<{ status: number; body: string | Uint8Array | undefined; details: string | undefined }> {
  const f = createJwtAuthnFilterFactory({ now: () => now }).create(translateRequestAuthentication([requestAuthn(rule)], TARGET).http!.typed_config);
  const v = (await f.onRequest!(c)) as FilterVerdict;
  return v.action === 'respond' ? { status: v.reply.status, body: v.reply.body, details: v.reply.details } : { status: 200, body: undefined, details: undefined };
}

test("failures answer with Envoy's status text; a wrong audience is 403 (authenticated, not allowed)", async () => {
  const t = (claims: Record<string, unknown>) => ctx({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa', claims)}` });
  assert.deepEqual(await reply({ audiences: ['other'] }, t({})), {
    status: 403,
    body: 'Audiences in Jwt are not allowed',
    details: 'jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}',
  });
  assert.deepEqual(await reply({}, t({ exp: NOW / 1000 - 120 })), { status: 401, body: 'Jwt is expired', details: 'jwt_authn_access_denied{Jwt_is_expired}' });
  assert.equal((await reply({}, t({ iss: 'https://evil' }))).body, 'Jwt issuer is not configured');
  assert.equal((await reply({}, t({ nbf: NOW / 1000 + 3600 }))).body, 'Jwt not yet valid');
  assert.equal((await reply({}, ctx({ authorization: 'Bearer a.b' }))).body, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  const p = b64({ iss: ISS, sub: 'a' });
  assert.equal((await reply({}, ctx({ authorization: `Bearer ${b64({ alg: 'none' })}.${p}.x` }))).body, 'Jwt header [alg] is not supported');
  assert.equal((await reply({}, ctx({ authorization: `Bearer ${b64({ alg: 'RS256' })}.${Buffer.from('{').toString('base64url')}.x` }))).body, 'Jwt payload is an invalid JSON');
});

test('request.auth.principal needs both iss and sub, as Istio; scope and permission are split on spaces', async () => {
  const authn = async (claims: Record<string, unknown>, rule: Partial<JWTRule> = {}) => {
    const c = ctx({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa', claims)}` });
    assert.equal(await run(rule, c), 200);
    return c.info.dynamicMetadata.get('istio_authn')!;
  };
  assert.equal((await authn({ sub: undefined }))['request.auth.principal'], undefined, 'no sub: no principal');
  assert.equal((await authn({ sub: '' }))['request.auth.principal'], undefined, 'empty sub: no principal');
  assert.equal((await authn({}))['request.auth.principal'], `${ISS}/alice`);
  const claims = (await authn({ scope: 'openid  read admin', permission: 'a b', roles: 'x y', groups: 'g h' }, { spaceDelimitedClaims: ['roles'] }))['request.auth.claims'] as Record<string, unknown>;
  assert.deepEqual(claims['scope'], ['openid', 'read', 'admin']);
  assert.deepEqual(claims['permission'], ['a', 'b']);
  assert.deepEqual(claims['roles'], ['x', 'y'], 'spaceDelimitedClaims adds to scope and permission');
  assert.equal(claims['groups'], 'g h', 'other claims are kept as they are');
});

test('a token taken from a query parameter is removed from the request unless forwarded', async () => {
  const t = token('RS256', rsa.privateKey, 'rsa');
  const c = ctx({}, `a=1&access_token=${t}&b=2&access_token=${t}`);
  assert.equal(await run({}, c), 200);
  assert.equal(c.request.query, 'a=1&b=2');
  const only = ctx({}, `access_token=${t}`);
  assert.equal(await run({}, only), 200);
  assert.equal(only.request.query, '');
  const kept = ctx({}, `tok=${t}&a=1`);
  assert.equal(await run({ fromParams: ['tok'], forwardOriginalToken: true }, kept), 200);
  assert.equal(kept.request.query, `tok=${t}&a=1`);
});

test('the payload header carries the token payload as it was signed', async () => {
  const payload = Buffer.from(`{ "iss": "${ISS}", "sub": "alice", "exp": ${NOW / 1000 + 600}, "name": "\\u00e9" }`).toString('base64url');
  const input = `${b64({ alg: 'RS256', kid: 'rsa' })}.${payload}`;
  const t = `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
  const c = ctx({ authorization: `Bearer ${t}` });
  assert.equal(await run({ outputPayloadToHeader: 'x-payload' }, c), 200);
  assert.equal(c.request.headers.get('x-payload'), t.split('.')[1]);
});

test('an inline JWKS that is not a key set rejects every token of its issuer and leaves the other rules working', async () => {
  const ra = requestAuthn({});
  ra.spec.jwtRules!.push({ issuer: 'https://broken.example', jwks: 'not json' });
  const f = createJwtAuthnFilterFactory({ now: () => NOW }).create(translateRequestAuthentication([ra], TARGET).http!.typed_config);
  const status = async (t: string) => {
    const v = (await f.onRequest!(ctx({ authorization: `Bearer ${t}` }))) as FilterVerdict;
    return v.action === 'respond' ? v.reply.status : 200;
  };
  assert.equal(await status(token('RS256', rsa.privateKey, 'rsa')), 200);
  assert.equal(await status(token('RS256', rsa.privateKey, 'rsa', { iss: 'https://broken.example' })), 401);
});

test('a deeply nested payload is published as its own text, never re-serialized (no stack overflow)', async () => {
  const payloadText = `{"iss":"${ISS}","sub":"alice","exp":${NOW / 1000 + 600},"deep":${'['.repeat(6000)}1${']'.repeat(6000)}}`;
  const input = `${b64({ alg: 'RS256', kid: 'rsa' })}.${Buffer.from(payloadText).toString('base64url')}`;
  const t = `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
  const c = ctx({ authorization: `Bearer ${t}` });
  assert.equal(await run({}, c), 200);
  assert.equal(c.info.dynamicMetadata.get('istio_authn')?.['request.auth.raw_claims'], payloadText);
});

test('on a gateway a verified token has the route matched again; the payload is under `payload`, as Istio names it', async () => {
  const filterOf = (gateway: boolean) => {
    const filter = translateRequestAuthentication([requestAuthn({})], TARGET, gateway).http;
    assert.ok(filter);
    return createJwtAuthnFilterFactory({ now: () => NOW }).create(filter.typed_config);
  };
  const bearer = () => ({ authorization: `Bearer ${token('RS256', rsa.privateKey, 'rsa', { group: 'admin' })}` });
  const c = ctx(bearer());
  assert.equal(await filterOf(true).onRequest!(c), CONTINUE_CLEAR_ROUTE);
  const payload = c.info.dynamicMetadata.get('envoy.filters.http.jwt_authn')?.['payload'] as Record<string, unknown> | undefined;
  assert.equal(payload?.['group'], 'admin');
  // No token, or a sidecar's inbound (Istio clears the route cache on gateways only): the route stays.
  assert.equal(await filterOf(true).onRequest!(ctx()), CONTINUE);
  assert.equal(await filterOf(false).onRequest!(ctx(bearer())), CONTINUE);
});

test('only a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) bypasses verification', async () => {
  const bad = { authorization: 'Bearer x.y.z', origin: 'https://app.example' };
  const preflight = ctx({ ...bad, 'access-control-request-method': 'POST' });
  preflight.request.method = 'OPTIONS';
  assert.equal(await run({}, preflight), 200);
  const options = ctx(bad);
  options.request.method = 'OPTIONS';
  assert.equal(await run({}, options), 401, 'an OPTIONS request that is not a preflight is verified');
});
