// JWT claim routing through a real gateway proxy, as Istio sets it up: jwt_authn with clear_route_cache
// publishes the payload under `payload`, the route is matched again, and a route's dynamic_metadata
// matcher (a VirtualService's `@request.auth.claims.group`) picks it; withoutHeaders inverts it.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import type { RequestAuthentication } from '../../src/config/resource.ts';
import { translateRequestAuthentication } from '../../src/translate/request-authentication.ts';
import { translateRouteMatch } from '../../src/translate/route-match.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, rawExchange, request, startProxy } from './harness.ts';

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
/** A WebSocket app: what reached it, and a 101 for every upgrade. */
let app: http.Server;
const seen: string[] = [];

before(async () => {
  app = http.createServer((req, res) => {
    seen.push(`request ${req.url}`);
    res.end('app');
  });
  app.on('upgrade', (req, sock: net.Socket) => {
    seen.push(`upgrade ${req.url}`);
    sock.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  env = await startProxy();
  const target = { workloadLabels: { istio: 'ingressgateway' }, namespace: 'istio-system', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };
  const jwt = translateRequestAuthentication([ra], target, true).http;
  assert.ok(jwt);
  const filters = [jwt, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    cluster('app'),
    cla('app', [{ port: (app.address() as net.AddressInfo).port }]),
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
        {
          name: 'chat',
          domains: ['chat'],
          routes: [
            // Everyone but banned users reaches the app, WebSocket included; banned ones get a 403.
            { name: 'not-banned', match: translateRouteMatch({ uri: { prefix: '/' }, withoutHeaders: { '@request.auth.claims.group': { exact: 'banned' } } }), route: { cluster: 'app', upgrade_configs: [{ upgrade_type: 'websocket' }] } },
            { name: 'banned', match: { prefix: '/' }, direct_response: { status: 403, body: { inline_string: 'banned' } } },
          ],
        },
      ],
    },
  ]);
});

after(async () => {
  await env.close();
  app.close();
});

test('a verified token\'s claim picks its route; another claim, or no token, takes the withoutHeaders route', async () => {
  const port = await env.port('gw');
  const as = async (headers: Record<string, string>) => (await request(port, '/admin', { host: 'shop', headers })).body;
  assert.equal(await as({ authorization: `Bearer ${token({ group: 'admin' })}` }), 'admins');
  assert.equal(await as({ authorization: `Bearer ${token({ group: ['dev', 'admin'] })}` }), 'admins');
  assert.equal(await as({ authorization: `Bearer ${token({ group: 'dev' })}` }), 'not-admins');
  assert.equal(await as({}), 'not-admins');
});

test('a WebSocket upgrade is routed on its claims too: a banned user never reaches the app', async () => {
  const port = await env.port('gw');
  const upgrade = (group: string) =>
    rawExchange(port, `GET /chat HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${token({ group })}\r\n\r\n`, 1500);
  seen.length = 0;
  assert.equal((await request(port, '/chat', { host: 'chat', headers: { authorization: `Bearer ${token({ group: 'banned' })}` } })).status, 403);
  const banned = await upgrade('banned');
  assert.doesNotMatch(banned.split('\r\n')[0] ?? '', / 101 /);
  assert.deepEqual(seen, []);
  const dev = await upgrade('dev');
  assert.match(dev.split('\r\n')[0] ?? '', / 101 /);
  assert.deepEqual(seen, ['upgrade /chat']);
});
