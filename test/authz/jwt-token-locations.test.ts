// Where the proxy finds a JWT, over real HTTP through a real listener, as Envoy's jwt_authn extractor:
// the `Bearer ` prefix is case-sensitive and found anywhere in the value, the token is the rest of the
// value from the next base64url character (extra spaces are skipped), and a value with the prefix but no
// token character is a malformed token (401), while a value without the prefix holds no token at all.
// Repeated Authorization lines, which failure answers when several tokens (or providers) fail, and the
// realm's Host, are Envoy's too.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import type { JWTRule } from '../../src/config/types/security.ts';
import { createJwtAuthnFilterFactory } from '../../src/proxy/filters/jwt_authn/http-filter.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FrameType, frame, PREFACE, settings } from '../proxy/h2-frames.ts';
import { cla, cluster, echoBackend, hcm, listener, push, rawExchange, request, routeConfig, type SimpleResponse, startProxy } from '../proxy/harness.ts';
import { TARGET } from './simulate.ts';

const NOW = 1_800_000_000_000;
const ISS = 'https://issuer.example';
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWKS = JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k' }] });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A token signed with the test key: alice's, valid for ten minutes, unless `claims` say otherwise. */
function signed(claims: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: 'ES256', kid: 'k' })}.${b64({ iss: ISS, sub: 'alice', exp: NOW / 1000 + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
const TOKEN = signed();
const EXPIRED = signed({ exp: NOW / 1000 - 600 });
const OTHER_ISSUER = signed({ iss: 'https://other.example' });
/** A key set without the test key's `kid`. */
const OTHER_JWKS = JSON.stringify({ keys: [{ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'other' }] });
const TARGET_LABELS = { ...TARGET, workloadLabels: { app: 'api' } };

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

/** The jwt_authn filter Istio's translation writes for one RequestAuthentication with these rules (each over the default one). */
function jwtFilter(...rules: Partial<JWTRule>[]) {
  const ra: RequestAuthentication = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
    spec: { selector: { matchLabels: { app: 'api' } }, jwtRules: rules.map((rule) => ({ issuer: ISS, jwks: JWKS, outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }], ...rule })) },
  };
  const filter = translateRequestAuthentication([ra], TARGET_LABELS).http;
  assert.ok(filter);
  return filter;
}

before(async () => {
  backend = await echoBackend();
  env = await startProxy({ filters: [createJwtAuthnFilterFactory({ now: () => NOW })] });
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
  const custom = jwtFilter({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }, { name: 'x-raw' }], fromParams: ['tok'], fromCookies: ['session'] });
  // The same headers listed the other way round: Envoy's extractor sorts them (x-jwt, then x-raw).
  const reversed = jwtFilter({ fromHeaders: [{ name: 'x-raw' }, { name: 'x-jwt', prefix: 'Token ' }] });
  // Two providers: an audience the test tokens do not have, then a key set without their key.
  const twoProviders = jwtFilter({ audiences: ['not-api'] }, { jwks: OTHER_JWKS });
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('default', 8080, [{ filter: hcm('r', { http_filters: [jwtFilter({}), router] }) }]),
    listener('custom', 9898, [{ filter: hcm('r', { http_filters: [custom, router] }) }]),
    listener('reversed', 7070, [{ filter: hcm('r', { http_filters: [reversed, router] }) }]),
    listener('two-providers', 7071, [{ filter: hcm('r', { http_filters: [twoProviders, router] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

/** What the app saw: the subject the proxy verified (or none) and the Authorization header it got. */
function seen(r: SimpleResponse): { sub: unknown; authorization: unknown } {
  assert.equal(r.status, 200, r.body);
  const { headers } = JSON.parse(r.body) as { headers: Record<string, unknown> };
  return { sub: headers['x-sub'], authorization: headers['authorization'] };
}

test('Authorization: extra spaces after "Bearer" are skipped; a lower-case "bearer" is no token (anonymous, forwarded)', async () => {
  const port = await env.port('default');
  const get = (authorization: string) => request(port, '/x', { host: 'api.foo', headers: { authorization, 'x-sub': 'forged' } });
  assert.deepEqual(seen(await get(`Bearer ${TOKEN}`)), { sub: 'alice', authorization: undefined });
  assert.deepEqual(seen(await get(`Bearer   ${TOKEN}`)), { sub: 'alice', authorization: undefined }, 'three spaces');
  assert.deepEqual(seen(await get(`bearer ${TOKEN}`)), { sub: undefined, authorization: `bearer ${TOKEN}` });
  assert.deepEqual(seen(await get(`BEARER ${TOKEN}`)), { sub: undefined, authorization: `BEARER ${TOKEN}` });
  assert.deepEqual(seen(await get('Bearer')), { sub: undefined, authorization: 'Bearer' }, 'the scheme alone');
  assert.deepEqual(seen(await get(`Basic dXNlcg==, Bearer ${TOKEN}`)), { sub: 'alice', authorization: undefined }, 'the prefix is found anywhere');
});

test('a malformed token gets 401 with Envoy\'s body and a realm naming scheme, host, path and query', async () => {
  const port = await env.port('default');
  const bad = await request(port, '/x/y?a=1', { host: 'api.foo', headers: { authorization: 'Bearer !!!' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  assert.equal(bad.headers['www-authenticate'], 'Bearer realm="http://api.foo/x/y?a=1", error="invalid_token"');
  // Envoy 1.28+ (`token_passed_entirely`): the token is the rest of the value, so what follows it spoils it.
  const trailing = await request(port, '/', { host: 'api.foo', headers: { authorization: `Bearer ${TOKEN}, Basic dXNlcg==` } });
  assert.equal(trailing.status, 401, 'a good token followed by another scheme is not cut out of the value');
  assert.equal(backend.requests.filter((r) => r.headers['authorization'] === `Bearer ${TOKEN}, Basic dXNlcg==`).length, 0, 'never reaches the app');
  const long = await request(port, `/${'p'.repeat(300)}?q=1`, { host: 'api.foo', headers: { authorization: 'Bearer a.b' } });
  assert.equal(long.status, 401);
  assert.equal(long.headers['www-authenticate'], `Bearer realm="http://api.foo/${'p'.repeat(255)}", error="invalid_token"`, 'path and query cut to 256 characters');
  assert.equal(backend.requests.filter((r) => r.headers['authorization'] === 'Bearer !!!').length, 0, 'never reaches the app');
});

test('fromHeaders: the prefix is case-sensitive, extra spaces skipped; without a prefix the whole value is the token', async () => {
  const port = await env.port('custom');
  const get = (headers: Record<string, string>) => request(port, '/', { host: 'api.foo', headers });
  assert.equal(seen(await get({ 'x-jwt': `Token ${TOKEN}` })).sub, 'alice');
  assert.equal(seen(await get({ 'x-jwt': `Token    ${TOKEN}` })).sub, 'alice');
  assert.equal(seen(await get({ 'x-jwt': `token ${TOKEN}` })).sub, undefined, 'another case: no token');
  assert.equal(seen(await get({ 'x-jwt': TOKEN })).sub, undefined, 'no prefix: no token');
  assert.equal(seen(await get({ 'x-raw': TOKEN })).sub, 'alice');
  const prefixed = await get({ 'x-raw': `Bearer ${TOKEN}` });
  assert.equal(prefixed.status, 401, 'a location without prefix takes the value as it is');
  // `Bearer <header>` decodes (absl's base64 skips the space) to no JSON.
  assert.equal(prefixed.body, 'Jwt header is an invalid JSON');
  assert.equal(seen(await get({ authorization: 'Bearer !!!' })).sub, undefined, 'custom locations replace the default ones');
});

test('fromParams reads the first value only; fromCookies the first cookie, without its quotes', async () => {
  const port = await env.port('custom');
  const get = (path: string, headers: Record<string, string> = {}) => request(port, path, { host: 'api.foo', headers });
  const first = await get(`/p?tok=${TOKEN}&tok=junk`);
  assert.equal(seen(first).sub, 'alice');
  assert.equal((JSON.parse(first.body) as { url: string }).url, '/p', 'every value of a verified parameter is removed');
  assert.equal((await get(`/p?tok=junk&tok=${TOKEN}`)).status, 401);
  assert.equal(seen(await get('/', { cookie: `a=b; session="${TOKEN}"` })).sub, 'alice');
  assert.equal(seen(await get('/', { cookie: `session=${TOKEN}; session=junk` })).sub, 'alice');
  assert.equal((await get('/', { cookie: `session=junk; session=${TOKEN}` })).status, 401);
});

test("the 401's realm names the Host as the client sent it, its case kept (Envoy's getHostValue), though routing lower-cases it", async () => {
  const port = await env.port('default');
  const bad = await request(port, '/x?a=1', { host: 'Api.Foo:8080', headers: { authorization: 'Bearer a.b' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['www-authenticate'], 'Bearer realm="http://Api.Foo:8080/x?a=1", error="invalid_token"');
});

test("an absolute-form request's realm names the target's authority as written, case and default port kept (Envoy's codec makes it the Host)", async () => {
  const port = await env.port('default');
  const head = (target: string, host: string) => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer a.b\r\nConnection: close\r\n\r\n`;
  const realm = (out: string) => /\r\nwww-authenticate: ([^\r]*)\r\n/i.exec(out)?.[1];
  const cased = await rawExchange(port, head('http://Api.Foo:8080/x?a=1', 'api.foo:8080'));
  assert.match(cased, /^HTTP\/1\.1 401 /);
  assert.equal(realm(cased), 'Bearer realm="http://Api.Foo:8080/x?a=1", error="invalid_token"');
  const defaultPort = await rawExchange(port, head('http://Api.Foo:80/x', 'Api.Foo:80'));
  assert.match(defaultPort, /^HTTP\/1\.1 401 /, 'a Host with the default port written out agrees with the same target');
  assert.equal(realm(defaultPort), 'Bearer realm="http://Api.Foo:80/x", error="invalid_token"');
});

test("of several bad tokens the last one found answers: Envoy verifies them from the last (headers, then parameters, then cookies)", async () => {
  const custom = await env.port('custom');
  // A malformed token in a header and an expired one in a parameter: the parameter's comes later.
  const r = await request(custom, `/?tok=${EXPIRED}`, { host: 'api.foo', headers: { 'x-jwt': 'Token !!!' } });
  assert.deepEqual([r.status, r.body], [401, 'Jwt is expired']);
  const cookie = await request(custom, `/?tok=${EXPIRED}`, { host: 'api.foo', headers: { cookie: 'session=a.b' } });
  assert.deepEqual([cookie.status, cookie.body], [401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'], 'the cookie comes after the parameter');
  // Headers in Envoy's order, sorted by name whatever the order the rule lists them in: x-raw is last.
  for (const name of ['custom', 'reversed']) {
    const both = await request(await env.port(name), '/', { host: 'api.foo', headers: { 'x-jwt': `Token ${EXPIRED}`, 'x-raw': 'a.b' } });
    assert.deepEqual([both.status, both.body], [401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'], name);
  }
});

test("a good token beside another issuer's is refused: every token a provider finds must verify, as Envoy", async () => {
  const port = await env.port('default');
  const r = await request(port, `/?access_token=${OTHER_ISSUER}`, { host: 'api.foo', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.deepEqual([r.status, r.body], [401, 'Jwt issuer is not configured']);
  assert.deepEqual(seen(await request(port, '/', { host: 'api.foo', headers: { authorization: `Bearer ${TOKEN}` } })), { sub: 'alice', authorization: undefined }, 'alone it passes');
});

test("when no provider accepts the token, Istio's requires_all branch answers: the first provider's failure", async () => {
  const port = await env.port('two-providers');
  // The first provider refuses the audience (403), the second has no key for it (401). Istio's tree,
  // any{P0, P1, all{any{P0, allow_missing}, any{P1, allow_missing}}}, answers with its last branch,
  // which stops at P0's failure.
  const r = await request(port, '/', { host: 'api.foo', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.deepEqual([r.status, r.body], [403, 'Audiences in Jwt are not allowed']);
  assert.equal(seen(await request(port, '/', { host: 'api.foo' })).sub, undefined, 'no token: allowed, as Istio writes allow_missing');
});

/** One HTTP/1.1 request whose header lines are sent as listed: a repeated name stays two lines. */
function h1Lines(port: number, path: string, lines: string[]): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, headers: ['host', 'api.foo', ...lines] }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HPACK string literal (no Huffman) with its length as a 7-bit prefixed integer: tokens are longer than 126. */
function hpackString(s: string): Buffer {
  const b = Buffer.from(s);
  const len: number[] = [];
  if (b.length < 0x7f) len.push(b.length);
  else {
    len.push(0x7f);
    let n = b.length - 0x7f;
    for (; n >= 0x80; n >>= 7) len.push((n & 0x7f) | 0x80);
    len.push(n);
  }
  return Buffer.concat([Buffer.from(len), b]);
}

/**
 * One HTTP/2 request in raw frames, so a header can be repeated (Node's client refuses two
 * `authorization` fields). The response body is what comes back: DATA is not compressed, HEADERS are.
 */
function h2Lines(port: number, path: string, lines: [string, string][]): Promise<string> {
  const fields: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':authority', 'api.foo'], [':path', path], ...lines];
  const block = Buffer.concat(fields.map(([k, v]) => Buffer.concat([Buffer.from([0]), hpackString(k), hpackString(v)])));
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.concat([PREFACE, settings(), frame(FrameType.HEADERS, 0x5, 1, block)])));
    let buf = Buffer.alloc(0);
    let body = '';
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const [len, type, flags, stream] = [buf.readUIntBE(0, 3), buf.readUInt8(3), buf.readUInt8(4), buf.readUInt32BE(5)];
        if (type === FrameType.SETTINGS && (flags & 1) === 0) socket.write(frame(FrameType.SETTINGS, 1, 0));
        if (type === FrameType.DATA && stream === 1) body += buf.subarray(9, 9 + len).toString('utf8');
        if ((type === FrameType.DATA || type === FrameType.HEADERS) && stream === 1 && flags & 1) {
          socket.destroy();
          resolve(body);
        }
        if (type === FrameType.RST_STREAM || type === FrameType.GOAWAY) reject(new Error(`h2: frame ${type}`));
        buf = buf.subarray(9 + len);
      }
    });
    socket.on('error', reject);
  });
}

test("over HTTP/2 the realm's Host is the :authority as the client sent it, its case kept (Envoy's Host)", async () => {
  const client = http2.connect(`http://127.0.0.1:${await env.port('default')}`);
  try {
    const bad = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const req = client.request({ ':path': '/x?a=1', ':authority': 'Api.Foo:8080', authorization: 'Bearer a.b' });
      req.on('response', resolve).on('error', reject).resume();
    });
    assert.equal(bad[':status'], 401);
    assert.equal(bad['www-authenticate'], 'Bearer realm="http://Api.Foo:8080/x?a=1", error="invalid_token"');
  } finally {
    client.close();
  }
});

const BOB = signed({ sub: 'bob' });
const BAD_FORM = 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections';

test('two Authorization lines are one value, as in Envoy (an inline header, joined with ","): over HTTP/1.1', async () => {
  const port = await env.port('default');
  // "Bearer A,Bearer B": the token runs from A to the end of the value, so it is malformed.
  const two = await h1Lines(port, '/', ['authorization', `Bearer ${TOKEN}`, 'authorization', `Bearer ${BOB}`]);
  assert.deepEqual([two.status, two.body], [401, BAD_FORM], 'two good tokens in two lines are not two tokens');
  assert.equal((await h1Lines(port, '/', ['authorization', `Bearer ${TOKEN}`, 'authorization', 'Basic dXNlcg=='])).status, 401, 'what follows the token spoils it');
  const after = await h1Lines(port, '/', ['authorization', 'Basic dXNlcg==', 'authorization', `Bearer ${TOKEN}`, 'x-sub', 'forged']);
  assert.deepEqual(seen(after), { sub: 'alice', authorization: undefined }, 'a token in the last line is found, and every line removed');
  // Any other header keeps its lines apart (Envoy 1.28.2+): each line is a token that must verify.
  const custom = await env.port('custom');
  assert.equal(seen(await h1Lines(custom, '/', ['x-raw', TOKEN, 'x-raw', BOB])).sub, 'bob, alice', 'two tokens, both verified');
  assert.equal((await h1Lines(custom, '/', ['x-raw', TOKEN, 'x-raw', 'junk'])).status, 401);
});

test('two Authorization lines are one value over HTTP/2 too (Envoy joins repeated inline fields the same way)', async () => {
  const port = await env.port('default');
  assert.equal(await h2Lines(port, '/', [['authorization', `Bearer ${TOKEN}`], ['authorization', `Bearer ${BOB}`]]), BAD_FORM);
  // `<token>,Basic dXNlcg==`: three sections, the last no base64url.
  assert.equal(await h2Lines(port, '/', [['authorization', `Bearer ${TOKEN}`], ['authorization', 'Basic dXNlcg==']]), 'Jwt signature is an invalid Base64url encoded');
  const after = JSON.parse(await h2Lines(port, '/h2', [['authorization', 'Basic dXNlcg=='], ['authorization', `Bearer ${TOKEN}`]])) as { headers: Record<string, unknown> };
  assert.deepEqual([after.headers['x-sub'], after.headers['authorization']], ['alice', undefined]);
});

test("several good tokens for one provider: one output header line each, the last token's first (Envoy's addCopy, last verified first)", async () => {
  const port = await env.port('default');
  const r = await request(port, `/two?access_token=${BOB}`, { host: 'api.foo', headers: { authorization: `Bearer ${TOKEN}`, 'x-sub': 'forged' } });
  assert.deepEqual(seen(r), { sub: 'bob, alice', authorization: undefined });
  assert.equal((JSON.parse(r.body) as { url: string }).url, '/two', 'both tokens removed');
});
