// auto_sni / auto_san_validation beyond a plain request: a WebSocket upgrade's connection is made for
// its host as a request's is (Envoy's router sets the server name and SANs for upgrades too), and the
// pools made per request host are dropped once idle (Envoy's ClusterManagerImpl erases idle pools), so
// a client naming a new Host each time under a wildcard route leaves nothing behind.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, push, rawExchange, request, routeConfig, startProxy } from './harness.ts';

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function autoSni(name: string, opts: { http2?: boolean; idleMs?: number } = {}) {
  return {
    ...cluster(name),
    typed_extension_protocol_options: {
      [HPO]: {
        '@type': TypeUrl.HttpProtocolOptions,
        ...(opts.idleMs ? { common_http_protocol_options: { idle_timeout: { nanos: opts.idleMs * 1_000_000 } } } : {}),
        explicit_http_config: opts.http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
        upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
      },
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TypeUrl.UpstreamTlsContext,
        common_tls_context: { combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'kubernetes://ext-cacert', sds_config: { ads: {} } } } },
      },
    },
  };
}

let env: Awaited<ReturnType<typeof startProxy>>;
let server: https.Server;
let h2server: http2.Http2SecureServer;
const sniSeen: string[] = [];

before(async () => {
  const ca = await makeCa('external-root');
  // Covers *.example.com only: a host under example.org has a valid chain and the wrong name.
  const pair = await ca.issueWithSans([{ type: 'dns', value: '*.example.com' }]);
  server = https.createServer(pair, (_q, r) => r.end('plain'));
  server.on('secureConnection', (s) => sniSeen.push(String((s as unknown as { servername?: string }).servername)));
  server.on('upgrade', (_req, sock) => sock.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h2server = http2.createSecureServer(pair, (_q, r) => r.end('h2'));
  await new Promise<void>((r) => h2server.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    autoSni('h1', { idleMs: 50 }),
    autoSni('h2', { http2: true }),
    cla('h1', [{ port: (server.address() as AddressInfo).port }]),
    cla('h2', [{ port: (h2server.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'h2' }, { prefix: '/', cluster: 'h1' }] }]),
    { '@type': TypeUrl.Secret, name: 'kubernetes://ext-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await env.close();
  server.close();
  h2server.close();
});

const upgrade = (host: string) => `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
const statusLine = (answer: string) => answer.split('\r\n')[0] ?? '';

test('a WebSocket upgrade sends its host as the SNI and goes through to a certificate that covers it', async () => {
  const port = await env.port('0.0.0.0_8080');
  sniSeen.length = 0;
  assert.match(statusLine(await rawExchange(port, upgrade('ws.example.com'), 1500)), /101/);
  assert.deepEqual(sniSeen, ['ws.example.com']);
});

test('a WebSocket upgrade to a host the certificate does not cover is refused (503 UF), as a plain request is', async () => {
  const port = await env.port('0.0.0.0_8080');
  assert.equal((await request(port, '/', { host: 'api.example.org' })).status, 503, 'plain request');
  assert.match(statusLine(await rawExchange(port, upgrade('api.example.org'), 1500)), /503/);
});

test('pools made per request host are dropped once their connections are gone', async () => {
  const port = await env.port('0.0.0.0_8080');
  const c = env.proxy.clusters.get('h1');
  assert.ok(c);
  for (let i = 0; i < 200; i++) assert.equal((await request(port, '/', { host: `h${i}.example.com` })).status, 200);
  // idle_timeout is 50 ms: every connection closes, and its pool goes with it.
  for (let t = 0; t < 50 && c.upstreamPools > 0; t++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.connections(), 0);
  assert.equal(c.upstreamPools, 0, 'pools held with no connection');
});

test('pools of hosts whose connection fails (HTTP/1.1 and HTTP/2) are dropped at once', async () => {
  const port = await env.port('0.0.0.0_8080');
  for (let i = 0; i < 50; i++) {
    assert.equal((await request(port, '/', { host: `h${i}.example.org` })).status, 503);
    assert.equal((await request(port, '/h2', { host: `h${i}.example.org` })).status, 503);
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(env.proxy.clusters.get('h1')?.upstreamPools, 0, 'HTTP/1.1');
  assert.equal(env.proxy.clusters.get('h2')?.upstreamPools, 0, 'HTTP/2');
});
