// A try's per-try timeout starts when the try has its connection, as Envoy starts it in
// UpstreamRequest::onPoolReady (docs/resilience.md §6): time spent queued behind max_connections, or
// waiting for an HTTP/2 session to connect, is the route timeout's, not the try's. On the fake clock.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, startProxy } from './harness.ts';

/** `/b` tries a second time after a per-try timeout of 2 s; no route timeout. */
const retried = { timeout: { seconds: '0' }, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: { seconds: '2' } } };

function routes(): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { name: 'hold', match: { prefix: '/a' }, route: { cluster: 'c', timeout: { seconds: '0' } } },
          { name: 'b', match: { prefix: '/b' }, route: { cluster: 'c', ...retried } },
        ],
      },
    ],
  };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** A raw HTTP/1.1 exchange: what came back so far. */
function send(port: number, head: string): { out: () => string; close(): void } {
  const s = net.connect(port, '127.0.0.1');
  let out = '';
  s.on('data', (c: Buffer) => {
    out += c.toString('latin1');
  });
  s.on('error', () => {});
  s.write(head);
  return { out: () => out, close: () => s.destroy() };
}

test('a try queued behind max_connections starts its per-try timer when it gets the connection, not when it is sent', async () => {
  const clock = new FakeClock();
  let releaseA: (() => void) | undefined;
  let bTries = 0;
  const up = http.createServer((req, res) => {
    if (req.url === '/a') releaseA = () => res.end('a');
    else bTries++; // /b is never answered: only its per-try timeout ends a try
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const p = await startProxy({ timers: clock, random: () => 0.5 });
  push(p.proxy, [
    { ...cluster('c'), circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } },
    cla('c', [{ port: (up.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    routes(),
  ]);
  const port = await p.port('0.0.0.0_8080');
  const a = send(port, 'GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
  let b: ReturnType<typeof send> | undefined;
  try {
    await until(() => releaseA !== undefined, 'A holds the only connection');
    b = send(port, 'GET /b HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    await until(() => p.proxy.clusters.get('c')?.stats.upstream_rq_pending_active.value === 1, 'B waits for the connection');
    clock.advance(5_000); // more than two per-try timeouts, all of it queued
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 0, 'no per-try timeout while the try had no connection');
    assert.equal(b.out(), '', 'B is still waiting, not answered 504 UT');
    (releaseA as () => void)();
    await until(() => bTries === 1, 'B got the connection and reached the upstream');
    clock.advance(1_900);
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 0, 'the try has 0.1 s of its 2 s left');
    clock.advance(100);
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 1, '2 s after it got its connection, the try is abandoned');
  } finally {
    a.close();
    b?.close();
    await p.close();
    up.closeAllConnections();
    up.close();
  }
});

test('a try waiting for its HTTP/2 session to connect starts its per-try timer once the session is ready', async () => {
  const clock = new FakeClock();
  let tries = 0;
  const h2 = http2.createServer();
  h2.on('stream', () => {
    tries++; // never answered
  });
  // The endpoint accepts TCP but says nothing (no SETTINGS) until the test hands the socket to h2.
  const held: net.Socket[] = [];
  const raw = net.createServer((s) => {
    s.on('error', () => {});
    held.push(s);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const p = await startProxy({ timers: clock, random: () => 0.5 });
  push(p.proxy, [
    // A connect timeout (on the fake clock) far past what the test advances.
    { ...cluster('c', { http2: true }), connect_timeout: { seconds: '60' } },
    cla('c', [{ port: (raw.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    routes(),
  ]);
  const port = await p.port('0.0.0.0_8080');
  const b = send(port, 'GET /b HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
  try {
    await until(() => held.length === 1, 'the proxy is connecting');
    clock.advance(5_000);
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 0, 'no per-try timeout while the session was not ready');
    assert.equal(b.out(), '', 'B is still waiting, not answered 504 UT');
    h2.emit('connection', held[0]);
    await until(() => tries === 1, 'the session is ready and the try is sent');
    clock.advance(1_900);
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 0, 'the try has 0.1 s of its 2 s left');
    clock.advance(100);
    await turns();
    assert.equal(p.proxy.clusters.get('c')?.resilience.upstream_rq_per_try_timeout, 1, '2 s after the session was ready, the try is abandoned');
  } finally {
    b.close();
    // A session still waiting for SETTINGS would hold the proxy's close: its socket goes first.
    for (const s of held) s.destroy();
    await p.close();
    raw.close();
    h2.close();
  }
});
