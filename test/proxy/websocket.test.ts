// WebSocket upgrade through the proxy: the 101 and the frames pass both ways on a dedicated upstream
// connection; a listener without websocket in upgrade_configs refuses the upgrade; the chain's filters
// decide on an upgrade as on any request (a DENY answers 403 and is counted), before anything is dialled.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, hcm, listener, push, rawExchange, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: http.Server;
const upgraded: net.Socket[] = [];

before(async () => {
  backend = http.createServer((_req, res) => res.end('plain'));
  backend.on('upgrade', (req, socket: net.Socket) => {
    upgraded.push(socket);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-seen-path: ${req.url}\r\nx-seen-proto: ${req.headers['x-forwarded-proto']}\r\nx-seen-for: ${req.headers['x-forwarded-for']}\r\nx-seen-envoy: ${req.headers['x-envoy-decorator-operation']}\r\n\r\n`);
    socket.on('data', (c: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), c])));
    socket.on('error', () => {});
    // A client that closes ends the session: the server closes its side too.
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('ws'),
    cla('ws', [{ port: (backend.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    listener('0.0.0.0_8443', 8443, [{ filter: hcm('http.8080') }]),
    listener('edge', 8081, [{ filter: hcm('http.8080', { use_remote_address: { value: true }, upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'ws' }] }]),
    // A route's upgrade_configs override the HCM's for that route (Envoy's createUpgradeFilterChain).
    listener('route-on', 8084, [{ filter: hcm('per-route') }]),
    listener('route-off', 8085, [{ filter: hcm('per-route', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'per-route',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { name: 'on', match: { prefix: '/on' }, route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket' }] } },
            { name: 'off', match: { prefix: '/off' }, route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: false } }] } },
            { name: 'rest', match: { prefix: '/' }, route: { cluster: 'ws' } },
          ],
        },
      ],
    },
    listener('guarded', 8082, [
      {
        filter: hcm('http.8080', {
          upgrade_configs: [{ upgrade_type: 'websocket' }],
          http_filters: [
            { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'chat', namespace: 'web', labels: { app: 'chat' } }, metrics: true }) },
            { name: 'envoy.filters.http.rbac', typed_config: { '@type': TypeUrl.HttpRbac, rules: { action: 'DENY', policies: { 'ns[web]-policy[no-chat]-rule[0]': { permissions: [{ url_path: { path: { exact: '/chat' } } }], principals: [{ any: true }] } } } } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        }),
      },
    ]),
    listener('counted', 8083, [
      {
        filter: hcm('http.8080', {
          upgrade_configs: [{ upgrade_type: 'websocket' }],
          http_filters: [
            { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'client', namespace: 'web', labels: { app: 'client' } }, metrics: true }) },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        }),
      },
    ]),
  ]);
});

after(async () => {
  await env.close();
  for (const s of upgraded) s.destroy();
  backend.close();
});

function upgrade(port: number, extra = '', path = '/chat', kind = 'websocket'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('error', () => {});
    s.on('data', (c) => {
      out += c.toString();
      if (out.includes('\r\n\r\n') && !out.includes('frame')) s.write('frame');
      if (out.includes('echo:frame')) s.destroy();
    });
    s.on('close', () => resolve(out));
    s.write(`GET ${path} HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: ${kind}\r\n${extra}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  });
}

test('a WebSocket upgrade is spliced to the upstream', async () => {
  const out = await upgrade(await env.port('0.0.0.0_8080'));
  assert.match(out, /^HTTP\/1\.1 101/);
  assert.match(out, /x-seen-path: \/chat/);
  assert.match(out, /echo:frame/);
});

test("without websocket in upgrade_configs the upgrade is refused: Envoy's 403 upgrade_failed, a local reply with the HCM's server header", async () => {
  const before = upgraded.length;
  const out = await upgrade(await env.port('0.0.0.0_8443'));
  assert.match(out, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(out, /\r\nserver: envoy\r\n/);
  assert.match(out, /\r\nconnection: close\r\n\r\n$/);
  assert.equal(upgraded.length, before, 'nothing dialled');
});

test("a route's upgrade_configs decide for it: enabled where the HCM has none, disabled where it has one (403)", async () => {
  assert.match(await upgrade(await env.port('route-on'), '', '/on'), /^HTTP\/1\.1 101[\s\S]*echo:frame$/);
  assert.match(await upgrade(await env.port('route-on'), '', '/other'), /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(await upgrade(await env.port('route-off'), '', '/off'), /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(await upgrade(await env.port('route-off'), '', '/other'), /^HTTP\/1\.1 101/);
});

test('an upgrade other than WebSocket is refused with 403 and counted, as any local reply; `Upgrade: h2c` is served as plain HTTP/1.1', async () => {
  const before = upgraded.length;
  const out = await upgrade(await env.port('counted'), '', '/chat', 'foo');
  assert.match(out, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.equal(upgraded.length, before, 'nothing dialled');
  let stats = '';
  for (let i = 0; i < 100 && !/response_code="403"/.test(stats); i++) {
    stats = (await request(env.admin, '/stats/prometheus')).body;
    if (!/response_code="403"/.test(stats)) await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(stats, /istio_requests_total\{reporter="source",source_workload="client",[^}]*response_code="403",[^}]*\} 1\n/);
  // curl --http2 on http://: the backend (which would switch an upgrade it saw) answers it as a request.
  const h2c = await rawExchange(await env.port('0.0.0.0_8443'), 'GET /plain HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n');
  assert.match(h2c, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nplain$/);
  assert.equal(upgraded.length, before);
});

test("an upgrade at the edge gets the connection's headers as a request does: x-forwarded-proto and -for set, a client's mesh headers dropped", async () => {
  const out = await upgrade(await env.port('edge'), 'x-forwarded-proto: https\r\nx-envoy-decorator-operation: FORGED\r\n');
  assert.match(out, /^HTTP\/1\.1 101/);
  assert.match(out, /x-seen-proto: http\r\n/);
  assert.match(out, /x-seen-for: 127\.0\.0\.1\r\n/);
  assert.match(out, /x-seen-envoy: undefined\r\n/);
});

test('a DENY policy refuses the upgrade as it refuses a request: 403, nothing dialled, counted', async () => {
  const before = upgraded.length;
  const out = await upgrade(await env.port('guarded'));
  assert.match(out, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(out, /\r\nconnection: close\r\n\r\nRBAC: access denied$/);
  assert.match(out, /\r\nserver: envoy\r\n/, "the HCM's server header, as on any local reply");
  assert.equal(upgraded.length, before, 'the upstream never saw it');
  const stats = (await request(env.admin, '/stats/prometheus')).body;
  assert.match(stats, /istio_requests_total\{reporter="destination",[^}]*response_code="403",[^}]*\} 1\n/);
});

test("a spliced upgrade is counted when both sides have closed, with the upstream's 101", async () => {
  const out = await upgrade(await env.port('counted'));
  assert.match(out, /^HTTP\/1\.1 101/);
  let stats = '';
  for (let i = 0; i < 100 && !/response_code="101"/.test(stats); i++) {
    stats = (await request(env.admin, '/stats/prometheus')).body;
    if (!/response_code="101"/.test(stats)) await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(stats, /istio_requests_total\{reporter="source",source_workload="client",[^}]*response_code="101",[^}]*\} 1\n/);
});
