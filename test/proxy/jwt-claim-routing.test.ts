// JWT claim routing through a real gateway proxy, as Istio sets it up: jwt_authn with clear_route_cache
// publishes the payload under `payload`, the route is matched again, and a route's dynamic_metadata
// matcher (a VirtualService's `@request.auth.claims.group`) picks it; withoutHeaders inverts it.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { translateRouteMatch } from '../../src/translate/route-match.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from './harness.ts';

const ISS = 'https://issuer.example';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const JWKS = JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k' }] });
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'RS256', kid: 'k', typ: 'JWT' })}.${b64({ iss: ISS, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), keys.privateKey).toString('base64url')}`;
}

const ra: RequestAuthentication = {
  apiVersion: 'security.istio.io/v1',
  kind: 'RequestAuthentication',
  metadata: { name: 'jwt', namespace: 'istio-system', labels: {}, annotations: {} },
  spec: { jwtRules: [{ issuer: ISS, jwks: JWKS }] },
};

const answer = (body: string) => ({ direct_response: { status: 200, body: { inline_string: body } } });

let env: Awaited<ReturnType<typeof startProxy>>;

before(async () => {
  env = await startProxy();
  const target = { workloadLabels: { istio: 'ingressgateway' }, namespace: 'istio-system', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };
  const jwt = translateRequestAuthentication([ra], target, true).http;
  assert.ok(jwt);
  const filters = [jwt, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    listener('gw', 8081, [{ filter: hcm('r', { use_remote_address: { value: true }, http_filters: filters }) }]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'r',
      virtual_hosts: [
        {
          name: 'shop',
          domains: ['*'],
          routes: [
            { name: 'admins', match: translateRouteMatch({ uri: { prefix: '/admin' }, headers: { '@request.auth.claims.group': { exact: 'admin' } } }), ...answer('admins') },
            { name: 'not-admins', match: translateRouteMatch({ uri: { prefix: '/admin' }, withoutHeaders: { '@request.auth.claims.group': { exact: 'admin' } } }), ...answer('not-admins') },
          ],
        },
      ],
    },
  ]);
});

after(async () => {
  await env.close();
});

test('a verified token\'s claim picks its route; another claim, or no token, takes the withoutHeaders route', async () => {
  const port = await env.port('gw');
  const as = async (headers: Record<string, string>) => (await request(port, '/admin', { host: 'shop', headers })).body;
  assert.equal(await as({ authorization: `Bearer ${token({ group: 'admin' })}` }), 'admins');
  assert.equal(await as({ authorization: `Bearer ${token({ group: ['dev', 'admin'] })}` }), 'admins');
  assert.equal(await as({ authorization: `Bearer ${token({ group: 'dev' })}` }), 'not-admins');
  assert.equal(await as({}), 'not-admins');
});
