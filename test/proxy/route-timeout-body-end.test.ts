// The route and per-try timeouts count from the end of the request, as Envoy arms them in
// onRequestComplete (docs/resilience.md §6): from the client's end of stream, whether or not an upstream
// has read the body. A slow upload keeps its whole timeout; a request queued behind max_connections,
// whose body nothing reads, still gets its 504 UT once its body has arrived.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, startProxy } from './harness.ts';

async function silentReader(): Promise<{ port: number; requests: () => number; bodyBytes: () => number; close(): Promise<void> }> {
  let requests = 0;
  let bodyBytes = 0;
  const server = http.createServer((req) => {
    requests++;
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    bodyBytes: () => bodyBytes,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function setup(route: Record<string, unknown>) {
  const clock = new FakeClock();
  const up = await silentReader();
  const p = await startProxy({ timers: clock });
  push(p.proxy, [
    cluster('c'),
    cla('c', [{ port: up.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ name: 'slow', match: { prefix: '/' }, route: { cluster: 'c', ...route } }] }] },
  ]);
  return {
    clock,
    up,
    port: await p.port('0.0.0.0_8080'),
    close: async () => {
      await p.close();
      await up.close();
    },
  };
}

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('route timeout: a body that completes before the timer runs out still gets the full timeout from its end', async () => {
  const t = await setup({ timeout: { seconds: '3' } });
  try {
    const s = net.connect(t.port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
    });
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 8\r\n\r\nhalf');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    t.clock.advance(2_000); // the timer (3 s) has not run out yet
    await turns();
    s.write('more');
    await until(() => t.up.bodyBytes() === 8, 'the body is complete (at t=2 s)');
    t.clock.advance(1_500); // t=3.5 s: 1.5 s after the end of the body
    await turns();
    assert.equal(out, '', 'Envoy answers 504 UT only 3 s after the end of the body (t=5 s), not 3 s after its start');
    t.clock.advance(1_500);
    await until(() => out.includes('\r\n\r\n'), 'a response head');
    assert.match(out, /^HTTP\/1\.1 504 /);
    s.destroy();
  } finally {
    await t.close();
  }
});

test('route timeout over HTTP/2: the client stream\'s END_STREAM starts the timer, read or not', async () => {
  const t = await setup({ timeout: { seconds: '3' } });
  const session = http2.connect(`http://127.0.0.1:${t.port}`);
  session.on('error', () => {});
  try {
    const req = session.request({ ':method': 'POST', ':path': '/', ':authority': 'a.example.com' });
    req.on('error', () => {});
    let status: number | undefined;
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.write('half');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    t.clock.advance(2_000);
    await turns();
    req.end('more');
    await until(() => t.up.bodyBytes() === 8, 'the body is complete (at t=2 s)');
    t.clock.advance(1_500);
    await turns();
    assert.equal(status, undefined, 'no answer 1.5 s after the end of the body');
    t.clock.advance(1_500);
    await until(() => status !== undefined, 'a response head');
    assert.equal(status, 504, 'the route timeout, counted from the END_STREAM');
  } finally {
    session.destroy();
    await t.close();
  }
});

test('per-try timeout: the first try gets its full per_try_timeout from the end of the body', async () => {
  const t = await setup({ timeout: { seconds: '0' }, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: { seconds: '2' } } });
  try {
    const s = net.connect(t.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 8\r\n\r\nhalf');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    t.clock.advance(1_500);
    await turns();
    s.write('more');
    await until(() => t.up.bodyBytes() === 8, 'the body is complete (at t=1.5 s)');
    t.clock.advance(1_000); // t=2.5 s: 1 s after the end of the body
    t.clock.advance(300); // any back-off
    await turns();
    assert.equal(t.up.requests(), 1, 'the try still has 1 s of its 2 s (Envoy: setupPerTryTimeout in onRequestComplete)');
    s.destroy();
  } finally {
    await t.close();
  }
});

test('route timeout: a request queued behind max_connections whose body arrives after the timer ran out still times out (504 UT)', async () => {
  const clock = new FakeClock();
  const up = await silentReader();
  const p = await startProxy({ timers: clock });
  const c = { ...cluster('c'), circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } };
  push(p.proxy, [
    c,
    cla('c', [{ port: up.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ name: 'hold', match: { prefix: '/a' }, route: { cluster: 'c', timeout: { seconds: '0' } } }, { name: 'q', match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: '3' } } }] }] },
  ]);
  const port = await p.port('0.0.0.0_8080');
  const a = net.connect(port, '127.0.0.1');
  a.on('error', () => {});
  const b = net.connect(port, '127.0.0.1');
  b.on('error', () => {});
  try {
    // A holds the only connection (its upstream never answers) for longer than this test runs.
    a.write('GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    await until(() => up.requests() === 1, 'A reached the upstream');
    clock.advance(2_000);
    let out = '';
    b.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    b.write('POST /b HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 8\r\n\r\nhalf');
    await turns();
    clock.advance(3_000); // B's route timer runs out while B is still sending: it waits for the body's end
    await turns();
    b.write('more');
    await turns();
    clock.advance(3_000); // 3 s after B's body is complete
    await turns();
    clock.advance(3_000);
    await turns(50);
    assert.match(out, /^HTTP\/1\.1 504 /, 'B is answered 504 UT 3 s after its body ended (Envoy), not left to the stream idle timeout');
  } finally {
    a.destroy();
    b.destroy();
    await p.close();
    await up.close();
  }
});

test('control: the same queued request with its whole body sent at once is answered 504 UT', async () => {
  const clock = new FakeClock();
  const up = await silentReader();
  const p = await startProxy({ timers: clock });
  const c = { ...cluster('c'), circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } };
  push(p.proxy, [
    c,
    cla('c', [{ port: up.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ name: 'hold', match: { prefix: '/a' }, route: { cluster: 'c', timeout: { seconds: '0' } } }, { name: 'q', match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: '3' } } }] }] },
  ]);
  const port = await p.port('0.0.0.0_8080');
  const a = net.connect(port, '127.0.0.1');
  a.on('error', () => {});
  const b = net.connect(port, '127.0.0.1');
  b.on('error', () => {});
  try {
    // A holds the only connection (its upstream never answers) for longer than this test runs.
    a.write('GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    await until(() => up.requests() === 1, 'A reached the upstream');
    clock.advance(2_000);
    let out = '';
    b.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    b.write('POST /b HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 8\r\n\r\nhalfmore');
    await turns();
    clock.advance(3_000); // B's route timer runs out while B is still sending: it waits for the body's end
    await turns();
    await turns();
    clock.advance(3_000); // 3 s after B's body is complete
    await turns();
    clock.advance(3_000);
    await turns(50);
    assert.match(out, /^HTTP\/1\.1 504 /, 'B is answered 504 UT 3 s after its body ended (Envoy), not left to the stream idle timeout');
  } finally {
    a.destroy();
    b.destroy();
    await p.close();
    await up.close();
  }
});
