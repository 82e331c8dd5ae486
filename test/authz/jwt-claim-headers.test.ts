// outputClaimToHeaders end to end, as Envoy's addJWTClaimToHeader writes a claim: its UTF-8 bytes. A claim
// holding characters above U+00FF went out one character per byte, high bytes lost: through a real proxy
// to an HTTP/2 upstream (as the gateway → tunnel hop and h2/gRPC app ports are) `šťɭũŮ` arrived as
// `admin`, another identity; an HTTP/1.1 upstream refused the request (502).
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';

const ISS = 'https://idp.example';
const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(claims: object): string {
  const input = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ iss: ISS, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
}
const ra: RequestAuthentication = {
  apiVersion: 'security.istio.io/v1',
  kind: 'RequestAuthentication',
  metadata: { name: 'jwt', namespace: 'istio-system', labels: {}, annotations: {} },
  spec: { jwtRules: [{ issuer: ISS, jwks: JSON.stringify({ keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k' }] }), outputClaimToHeaders: [{ header: 'x-username', claim: 'preferred_username' }] }] },
};

let env: Awaited<ReturnType<typeof startProxy>>;
let h2srv: http2.Http2Server;
let h1: Awaited<ReturnType<typeof echoBackend>>;
const seenH2: (string | undefined)[] = [];
before(async () => {
  h2srv = http2.createServer();
  h2srv.on('stream', (s, h) => {
    seenH2.push(h['x-username'] as string | undefined);
    s.respond({ ':status': 200 }, { endStream: true });
  });
  await new Promise<void>((r) => h2srv.listen(0, '127.0.0.1', r));
  h1 = await echoBackend();
  env = await startProxy();
  const jwt = translateRequestAuthentication([ra], { workloadLabels: { istio: 'ingressgateway' }, namespace: 'istio-system', rootNamespace: 'istio-system', trustDomain: 'cluster.local' }).http;
  assert.ok(jwt);
  const filters = [jwt, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    cluster('app-h2', { http2: true }),
    cla('app-h2', [{ port: (h2srv.address() as AddressInfo).port }]),
    cluster('app-h1'),
    cla('app-h1', [{ port: h1.port }]),
    listener('gw', 8081, [{ filter: hcm('r', { http_filters: filters }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'app-h2' }, { prefix: '/h1', cluster: 'app-h1' }] }]),
  ]);
});
after(async () => {
  await env.close();
  h2srv.close();
  h1.server.close();
});

// š ť ɭ ũ Ů … : each has the low byte of an ASCII letter. "\u0161\u0164\u016d\u0169\u016e" is not "admin".
const LOOKALIKE = '\u0161\u0164\u016d\u0169\u016e';

test("a claim goes to the app as its UTF-8 bytes, on HTTP/2 and HTTP/1.1 alike, never as another name", async () => {
  const port = await env.port('gw');
  const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const viaH2 = await request(port, '/h2', { host: 'shop', headers: { authorization: `Bearer ${token({ preferred_username: LOOKALIKE })}` } });
  assert.equal(viaH2.status, 200);
  assert.equal(seenH2.at(-1), utf8(LOOKALIKE), 'the UTF-8 bytes of the claim');
  assert.notEqual(seenH2.at(-1), 'admin');
  await request(port, '/h2', { host: 'shop', headers: { authorization: `Bearer ${token({ preferred_username: '\u0141ukasz' })}` } });
  assert.equal(seenH2.at(-1), utf8('\u0141ukasz'));
  const viaH1 = await request(port, '/h1', { host: 'shop', headers: { authorization: `Bearer ${token({ preferred_username: LOOKALIKE })}` } });
  assert.equal(viaH1.status, 200, 'an HTTP/1.1 upstream takes it too');
  assert.equal(h1.requests.at(-1)?.headers['x-username'], utf8(LOOKALIKE));
});
