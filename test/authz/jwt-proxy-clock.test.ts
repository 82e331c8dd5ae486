// A token's `exp` and `nbf` are checked against the proxy's clock (its `now`), as Envoy's jwt_authn reads
// its time source: through a real proxy with its default filters and a FakeClock as that clock, a token
// is accepted and refused as the test moves time, with Envoy's 60 s clock skew (clock_skew_seconds)
// either side. The clock starts far from the real date, so the host's clock would decide otherwise.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { FakeClock } from '../resilience/fake-clock.ts';
import { TARGET } from './simulate.ts';

/** 2033-05-18: years from the host's date, either way the test runs. */
const START_S = 2_000_000_000;
const ISS = 'https://issuer.example';
const SKEW_S = 60;
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function signed(claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'ES256', kid: 'k' })}.${b64({ iss: ISS, sub: 'alice', ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const clock = new FakeClock();
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  clock.advance(START_S * 1000);
  backend = await echoBackend();
  // The default filters: the proxy's own clock must reach jwt_authn.
  env = await startProxy({ now: clock.now });
  const ra: RequestAuthentication = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo', labels: {}, annotations: {} },
    spec: { jwtRules: [{ issuer: ISS, jwks: JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k' }] }) }] },
  };
  const jwt = translateRequestAuthentication([ra], TARGET).http;
  assert.ok(jwt);
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('api', 8080, [{ filter: hcm('r', { http_filters: [jwt, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

/** Moves the proxy's clock to `s` (Unix seconds). */
function at(s: number): void {
  clock.advance(s * 1000 - clock.now());
}

/** The status, and the body of a refusal (the app's echo is left out). */
async function send(token: string): Promise<{ status: number; body?: string }> {
  const r = await request(await env.port('api'), '/', { host: 'api.foo', headers: { authorization: `Bearer ${token}` } });
  return r.status === 200 ? { status: 200 } : { status: r.status, body: r.body };
}

test('exp: accepted up to the skew past it on the proxy clock, refused 401 "Jwt is expired" a second later', async () => {
  const exp = clock.now() / 1000 + 600;
  const token = signed({ exp });
  assert.equal((await send(token)).status, 200);
  at(exp + SKEW_S - 1);
  assert.equal((await send(token)).status, 200, 'a second before the skew runs out');
  at(exp + SKEW_S + 1);
  assert.deepEqual(await send(token), { status: 401, body: 'Jwt is expired' });
});

test('nbf: refused 401 "Jwt not yet valid" until the skew before it on the proxy clock, accepted a second in', async () => {
  const nbf = clock.now() / 1000 + 600;
  const token = signed({ nbf, exp: nbf + 3600 });
  assert.deepEqual(await send(token), { status: 401, body: 'Jwt not yet valid' });
  at(nbf - SKEW_S - 1);
  assert.deepEqual(await send(token), { status: 401, body: 'Jwt not yet valid' }, 'a second before the skew opens it');
  at(nbf - SKEW_S + 1);
  assert.equal((await send(token)).status, 200);
});
