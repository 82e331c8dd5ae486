// The pools an auto_sni cluster makes per request host are dropped once idle whatever carried their
// requests: an HTTP/2 session closes on the cluster's idle_timeout (Envoy's common_http_protocol_options
// idle_timeout applies to HTTP/2 upstream connections too), and a request with trailers, which goes through
// a pool of its own, tells the cluster when that pool's last connection is gone. Timers are the test's.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { cla, cluster, hcm, listener, ManualTimers, push, rawExchange, request, routeConfig, startProxy } from './harness.ts';

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const IDLE_MS = 4_321;

function autoSni(name: string, http2Upstream: boolean) {
  return {
    ...cluster(name),
    typed_extension_protocol_options: {
      [HPO]: {
        '@type': TypeUrl.HttpProtocolOptions,
        common_http_protocol_options: { idle_timeout: { seconds: '4', nanos: 321_000_000 } },
        explicit_http_config: http2Upstream ? { http2_protocol_options: {} } : { http_protocol_options: {} },
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

const timers = new ManualTimers();
let env: Awaited<ReturnType<typeof startProxy>>;
let server: https.Server;
let h2server: http2.Http2SecureServer;
const held: http2.Http2ServerResponse[] = [];

before(async () => {
  const ca = await makeCa('external-root');
  const pair = await ca.issueWithSans([{ type: 'dns', value: '*.example.com' }]);
  // Each answer closes its connection: what closes the trailers' pool is the server, not a timer.
  server = https.createServer(pair, (q, r) => {
    q.resume();
    q.on('end', () => r.writeHead(200, { connection: 'close' }).end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h2server = http2.createSecureServer(pair, (q, r) => {
    if (q.url === '/h2/hold') held.push(r);
    else r.end('h2');
  });
  await new Promise<void>((r) => h2server.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers });
  push(env.proxy, [
    autoSni('h1', false),
    autoSni('h2', true),
    cla('h1', [{ port: (server.address() as AddressInfo).port }]),
    cla('h2', [{ port: (h2server.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/h2', cluster: 'h2' }, { prefix: '/', cluster: 'h1' }] }]),
    { '@type': TypeUrl.Secret, name: 'kubernetes://ext-cacert', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
});

after(async () => {
  await env.close();
  server.close();
  h2server.close();
});

/** Lets the sockets' closes arrive (I/O, not a timeout: the test's timers never fire by themselves). */
async function settle(done: () => boolean): Promise<void> {
  for (let t = 0; t < 100 && !done(); t++) await new Promise((r) => setTimeout(r, 10));
}

test('HTTP/2 sessions with no stream open close on idle_timeout, and their per-host pools are dropped', async () => {
  const port = await env.port('0.0.0.0_8080');
  const c = env.proxy.clusters.get('h2');
  assert.ok(c);
  for (let i = 0; i < 20; i++) assert.equal((await request(port, '/h2', { host: `h${i}.example.com` })).status, 200);
  assert.equal(c.upstreamPools, 20, 'each host has its session until the idle timeout');
  let fired = 0;
  while (timers.fire(IDLE_MS)) fired++;
  assert.equal(fired, 20, 'one idle timer per session');
  await settle(() => c.upstreamPools === 0);
  assert.equal(c.upstreamPools, 0, `pools held: ${c.upstreamPools}`);
  assert.equal(c.connections(), 0);
});

test('a session with a stream open is not idle; it is once the stream ends', async () => {
  const port = await env.port('0.0.0.0_8080');
  const c = env.proxy.clusters.get('h2');
  assert.ok(c);
  const answer = request(port, '/h2/hold', { host: 'busy.example.com' });
  await settle(() => held.length === 1);
  assert.equal(timers.fire(IDLE_MS), false, 'no idle timer while the stream is open');
  held[0]?.end('late');
  assert.equal((await answer).status, 200);
  await settle(() => [...timers.pending.values()].some((t) => t.ms === IDLE_MS));
  assert.equal(timers.fire(IDLE_MS), true, 'armed once the stream ended');
  await settle(() => c.upstreamPools === 0);
  assert.equal(c.upstreamPools, 0);
});

test('per-host pools used only by requests with trailers are dropped once their connections close', async () => {
  const port = await env.port('0.0.0.0_8080');
  const c = env.proxy.clusters.get('h1');
  assert.ok(c);
  for (let i = 0; i < 20; i++) {
    const body = '2\r\nhi\r\n0\r\nx-t: 1\r\n\r\n';
    const ans = await rawExchange(port, `POST / HTTP/1.1\r\nHost: t${i}.example.com\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\nConnection: close\r\n\r\n${body}`, 1500);
    assert.match(ans.split('\r\n')[0] ?? '', /200/, ans);
  }
  await settle(() => c.upstreamPools === 0);
  assert.equal(c.upstreamPools, 0, `pools held: ${c.upstreamPools}, connections: ${c.connections()}`);
});
