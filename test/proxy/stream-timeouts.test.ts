// The connection manager's stream timers through a real proxy, on the injected clock: stream_idle_timeout
// (504 SI once the request is in, 408 SI while the client is still sending, which resets the stream and
// the upstream request; each stream by its own bytes, not its connection's), the route's
// max_stream_duration (504 UMSDR), an explicit 0 that arms nothing, and route and per-try timeouts that
// count from the end of the request body, as Envoy's.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, request, startProxy } from './harness.ts';

/** An upstream that reads each request and never answers: only the proxy's timers end the stream. */
async function hangingUpstream(): Promise<{ port: number; seen: () => number; bodyBytes: () => number; close(): Promise<void> }> {
  let seen = 0;
  let bodyBytes = 0;
  const held = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    seen++;
    held.add(res);
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen: () => seen,
    bodyBytes: () => bodyBytes,
    close: () =>
      new Promise<void>((r) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function routes(maxStreamDuration?: string): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: 'r',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            name: 'hang',
            match: { prefix: '/' },
            // timeout 0: no route timeout (Envoy's default is 15 s), so only the stream timers run.
            route: { cluster: 'c', timeout: { seconds: '0' }, ...(maxStreamDuration ? { max_stream_duration: { max_stream_duration: { seconds: maxStreamDuration } } } : {}) },
          },
        ],
      },
    ],
  };
}

async function setup(hcmExtra: Record<string, unknown>, maxStreamDuration?: string) {
  const clock = new FakeClock();
  const up = await hangingUpstream();
  const p = await startProxy({ timers: clock });
  push(p.proxy, [cluster('c'), cla('c', [{ port: up.port }]), listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', hcmExtra) }]), routes(maxStreamDuration)]);
  const port = await p.port('0.0.0.0_8080');
  return {
    clock,
    up,
    port,
    close: async () => {
      await p.close();
      await up.close();
    },
  };
}

test('stream_idle_timeout: a stream with no bytes either way for the period gets 504 with flag SI', async () => {
  const t = await setup({ stream_idle_timeout: { seconds: '10' } });
  try {
    const res = request(t.port, '/');
    await until(() => t.up.seen() === 1 && t.clock.nextDue === 10_000, 'the request reached the upstream, idle timer armed');
    t.clock.advance(9_999);
    assert.equal(t.clock.nextDue, 10_000, 'not yet');
    t.clock.advance(1);
    const r = await res;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-envoy-response-flags'], 'SI');
    assert.equal(r.body, 'stream timeout');
  } finally {
    await t.close();
  }
});

test('stream_idle_timeout: a client that stops sending its body mid-way gets 408 with flag SI', async () => {
  const t = await setup({ stream_idle_timeout: { seconds: '10' } });
  try {
    const s = net.connect(t.port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
    });
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: echo.example.com\r\nContent-Length: 100\r\n\r\nhalf');
    await until(() => t.up.seen() === 1 && t.clock.nextDue === 10_000, 'the head reached the upstream, idle timer armed');
    // The first 4 bytes reach the upstream after the timer is armed: the first period saw them move,
    // the second sees nothing (an idle stream is caught between one and two periods after its last byte).
    t.clock.advance(10_000);
    t.clock.advance(10_000);
    await until(() => out.includes('\r\n\r\n'), 'a response head');
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.match(out, /x-envoy-response-flags: SI/i);
    // The connection closes after the reply, and its head says so.
    assert.match(out.slice(0, out.indexOf('\r\n\r\n')), /\r\nconnection: close$/im);
    await closed;
  } finally {
    await t.close();
  }
});

test("the route's max_stream_duration ends a stream that outlives it with 504 UMSDR", async () => {
  const t = await setup({ stream_idle_timeout: { seconds: '0' } }, '5');
  try {
    const res = request(t.port, '/');
    await until(() => t.up.seen() === 1 && t.clock.nextDue === 5_000, 'the request reached the upstream, duration timer armed');
    t.clock.advance(5_000);
    const r = await res;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-envoy-response-flags'], 'UMSDR');
  } finally {
    await t.close();
  }
});

test('stream_idle_timeout 0 and no duration arm no timer: the stream ends only when its peer does', async () => {
  const t = await setup({ stream_idle_timeout: { seconds: '0' } });
  try {
    const res = request(t.port, '/');
    await until(() => t.up.seen() === 1, 'the request reached the upstream');
    assert.equal(t.clock.pending, 0);
    await t.up.close();
    // Only the upstream going away ends it: 503 UC, not a timeout.
    const r = await res;
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-envoy-response-flags'], 'UC');
  } finally {
    await t.close();
  }
});

test('stream_idle_timeout is per stream: an idle HTTP/2 stream times out while another on its connection keeps sending', async () => {
  const t = await setup({ stream_idle_timeout: { seconds: '10' } });
  const client = http2.connect(`http://127.0.0.1:${t.port}`);
  client.on('error', () => {});
  try {
    const open = (method: string) => {
      const stream = client.request({ ':method': method, ':path': '/', ':authority': 'echo.example.com' });
      stream.on('error', () => {});
      let status = 0;
      let flags = '';
      stream.on('response', (h) => {
        status = Number(h[':status']);
        flags = String(h['x-envoy-response-flags'] ?? '');
      });
      stream.resume();
      return { stream, status: () => status, flags: () => flags };
    };
    const idle = open('GET');
    const busy = open('POST');
    await until(() => t.up.seen() === 2 && t.clock.pending >= 2, 'both requests reached the upstream, idle timers armed');
    // Within the period the busy stream moves (its bytes reach the upstream); the idle one does not.
    busy.stream.write('still sending');
    await until(() => t.up.bodyBytes() === 'still sending'.length, 'the busy stream moved');
    t.clock.advance(10_000);
    await until(() => idle.status() !== 0, 'the idle stream is answered');
    assert.equal(idle.status(), 504);
    assert.equal(idle.flags(), 'SI');
    assert.equal(busy.status(), 0, 'the stream that kept sending is still open');
  } finally {
    client.destroy();
    await t.close();
  }
});

test('stream_idle_timeout: an HTTP/2 request whose body is all in, though nothing upstream has read it yet, gets 504 (not 408)', async () => {
  // max_connections 1: the first request holds the only connection to the hanging upstream, so the
  // second waits in the pool with its body, END_STREAM included, unread.
  const clock = new FakeClock();
  const up = await hangingUpstream();
  const p = await startProxy({ timers: clock });
  const one = { ...cluster('c'), circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } };
  push(p.proxy, [one, cla('c', [{ port: up.port }]), listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '10' } }) }]), routes()]);
  const port = await p.port('0.0.0.0_8080');
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  try {
    const open = (method: string, body?: string) => {
      const stream = client.request({ ':method': method, ':path': '/', ':authority': 'echo.example.com' }, { endStream: body === undefined });
      stream.on('error', () => {});
      let status = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
      });
      if (body !== undefined) stream.end(body);
      stream.resume();
      return () => status;
    };
    open('GET');
    await until(() => up.seen() === 1, 'the first request holds the connection');
    const waiting = open('POST', 'all of it');
    await until(() => clock.pending >= 2, 'both idle timers armed');
    // The proxy answers a PING after it has taken in the frames before it: the body's DATA, END_STREAM with it.
    await new Promise((r) => client.ping(r));
    assert.equal(up.seen(), 1, 'the second request is still waiting for a connection');
    clock.advance(10_000);
    await until(() => waiting() !== 0, 'the waiting stream is answered');
    assert.equal(waiting(), 504);
  } finally {
    client.destroy();
    await p.close();
    await up.close();
  }
});

/** An upstream that reads each request's body and never answers; it counts the requests reset under it. */
async function silentReader(): Promise<{ port: number; requests: () => number; bodyBytes: () => number; resets: () => number; close(): Promise<void> }> {
  let requests = 0;
  let bodyBytes = 0;
  let resets = 0;
  const server = http.createServer((req) => {
    requests++;
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
    });
    // The request's connection went away before its body was in: the proxy reset it.
    req.on('close', () => {
      if (!req.complete) resets++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    bodyBytes: () => bodyBytes,
    resets: () => resets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A proxy with a route timeout (and per-try timeout) of 3 s and a stream idle timeout of 10 s. */
async function stalledSetup() {
  const clock = new FakeClock();
  const up = await silentReader();
  const p = await startProxy({ timers: clock });
  const route = { cluster: 'c', timeout: { seconds: '3' }, retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: { seconds: '2' } } };
  push(p.proxy, [
    cluster('c'),
    cla('c', [{ port: up.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '10' } }) }]),
    { '@type': TypeUrl.RouteConfiguration, name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ name: 'stall', match: { prefix: '/' }, route }] }] },
  ]);
  const close = async () => {
    await p.close();
    await up.close();
  };
  return { clock, up, proxy: p.proxy, port: await p.port('0.0.0.0_8080'), close };
}

/** Event-loop turns for a reply that is not due to arrive if it was going to (no wall-clock wait). */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('a stalled upload: the route and per-try timeouts wait for the body (as Envoy, from its end); the stream idle timeout answers 408 SI and resets the upstream request', async () => {
  const t = await stalledSetup();
  try {
    const s = net.connect(t.port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
    });
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: echo.example.com\r\nContent-Length: 100\r\n\r\nhalf');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    // Past the route's 3 s and the try's 2 s: no 504 UT, no retry, for a request still arriving.
    t.clock.advance(3_000);
    await turns();
    assert.equal(out, '', 'no reply while the client may still send');
    assert.equal(t.up.resets(), 0, 'the upstream request is left alone');
    // Then the stream idle timeout: a quiet period after the last byte (between one and two periods).
    t.clock.advance(10_000);
    t.clock.advance(10_000);
    await until(() => out.includes('\r\n\r\n'), 'a response head');
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.match(out, /x-envoy-response-flags: SI/i);
    await until(() => t.up.resets() === 1, 'the upstream request is reset');
    await closed;
  } finally {
    await t.close();
  }
});

test('a stalled HTTP/2 upload: 408 SI, then the stream is reset (RST_STREAM NO_ERROR), not drained; the upstream request is reset', async () => {
  const t = await stalledSetup();
  const client = http2.connect(`http://127.0.0.1:${t.port}`);
  client.on('error', () => {});
  try {
    const stream = client.request({ ':method': 'POST', ':path': '/', ':authority': 'echo.example.com', 'content-length': '100' });
    stream.on('error', () => {});
    let status = 0;
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    let ended = false;
    stream.on('end', () => {
      ended = true;
    });
    stream.resume();
    stream.write('half');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    t.clock.advance(3_000);
    await turns();
    assert.equal(status, 0, 'no 504 UT while the client may still send');
    t.clock.advance(10_000);
    t.clock.advance(10_000);
    await until(() => status !== 0 && ended, 'the whole reply');
    assert.equal(status, 408);
    // The proxy let go of the stream, RST_STREAM NO_ERROR after the reply, rather than wait on a body that
    // will not come (a Node client keeps its own half open until it ends it).
    await until(() => t.proxy.inflight === 0, 'the proxy closed the stream');
    await until(() => t.up.resets() === 1, 'the upstream request is reset');
  } finally {
    client.destroy();
    await t.close();
  }
});

test('a slow upload that completes: the per-try and route timeouts run from the end of the body, then 504 UT', async () => {
  const t = await stalledSetup();
  try {
    const s = net.connect(t.port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
    });
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: echo.example.com\r\nContent-Length: 8\r\n\r\nhalf');
    await until(() => t.up.bodyBytes() === 4, 'the first bytes reached the upstream');
    t.clock.advance(3_000);
    await turns();
    assert.equal(out, '');
    s.write('more');
    await until(() => t.up.bodyBytes() === 8, 'the rest reached the upstream');
    t.clock.advance(1_999);
    await turns();
    assert.equal(t.up.requests(), 1, 'the try has its 2 s from the end of the body');
    // The try runs out: retried once (num_retries 1) after its back-off (at most 250 ms).
    t.clock.advance(1);
    t.clock.advance(300);
    await until(() => t.up.requests() === 2, 'retried');
    t.clock.advance(699);
    await turns();
    assert.equal(out, '', 'the route has its 3 s from the end of the body');
    t.clock.advance(1);
    await until(() => out.includes('\r\n\r\n'), 'a response head');
    assert.match(out, /^HTTP\/1\.1 504 /);
    assert.match(out, /x-envoy-response-flags: UT/i);
    s.destroy();
  } finally {
    await t.close();
  }
});
