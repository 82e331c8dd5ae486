// HTTP/2 flood limits on a real proxy listener, with raw frames: PING and SETTINGS floods (Envoy's
// max_outbound_control_frames), empty DATA frames (max_consecutive_inbound_frames_with_empty_payload),
// each closing the connection with GOAWAY and counted under Envoy's `http2.*` stat.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectRaw, frame, FrameType, headers, ping, settings, writeUntilClosed } from './h2-frames.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let port: number;

before(async () => {
  // The echo backend answers once the body has ended, so the request stream stays open meanwhile.
  backend = await echoBackend();
  env = await startProxy();
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.server.close();
});

function stat(name: string): number {
  const m = new RegExp(`^http2\\.${name}: (\\d+)$`, 'm').exec(env.proxy.metrics.renderStats());
  return m ? Number(m[1]) : 0;
}

/** The session's error (and so the stat) may follow the socket's close: poll, bounded. */
async function statReaches(name: string, want: number): Promise<number> {
  for (let i = 0; i < 500 && stat(name) < want; i++) await new Promise((r) => setTimeout(r, 10));
  return stat(name);
}

const request = { ':method': 'POST', ':path': '/', ':scheme': 'http', ':authority': 'a.example.com' };
const PROTOCOL_ERRORS = new Set([2, 11]); // INTERNAL_ERROR (nghttp2's flood close), ENHANCE_YOUR_CALM

test('a PING flood is closed with GOAWAY and counted as outbound_control_flood', async () => {
  const before = stat('outbound_control_flood');
  const raw = await connectRaw(port);
  // 2,000 PINGs per write, at most 20 writes: the proxy must close long before.
  const writes = await writeUntilClosed(raw, (i) => Buffer.concat(Array.from({ length: 2000 }, (_, j) => ping(i * 2000 + j))), 20);
  const { goaway } = await raw.closed;
  assert.ok(writes < 20, `closed after ${writes} writes`);
  assert.ok(goaway !== undefined && PROTOCOL_ERRORS.has(goaway), `GOAWAY ${goaway}`);
  assert.equal(await statReaches('outbound_control_flood', before + 1), before + 1);
});

test('a SETTINGS flood is closed the same way', async () => {
  const before = stat('outbound_control_flood');
  const raw = await connectRaw(port);
  const writes = await writeUntilClosed(raw, () => Buffer.concat(Array.from({ length: 2000 }, () => settings())), 20);
  const { goaway } = await raw.closed;
  assert.ok(writes < 20, `closed after ${writes} writes`);
  assert.ok(goaway !== undefined && PROTOCOL_ERRORS.has(goaway), `GOAWAY ${goaway}`);
  assert.equal(await statReaches('outbound_control_flood', before + 1), before + 1);
});

test('empty DATA frames without END_STREAM close the connection (inbound_empty_frames_flood)', async () => {
  const before = stat('inbound_empty_frames_flood');
  const raw = await connectRaw(port);
  raw.socket.write(headers(1, request, false));
  const writes = await writeUntilClosed(raw, () => frame(FrameType.DATA, 0, 1), 50);
  const { goaway } = await raw.closed;
  assert.ok(writes < 50, `closed after ${writes} empty frames`);
  assert.ok(goaway !== undefined && PROTOCOL_ERRORS.has(goaway), `GOAWAY ${goaway}`);
  assert.equal(await statReaches('inbound_empty_frames_flood', before + 1), before + 1);
});

test('one empty DATA frame inside a normal request is allowed', async () => {
  const before = stat('inbound_empty_frames_flood');
  const raw = await connectRaw(port);
  raw.socket.write(Buffer.concat([headers(1, request, false), frame(FrameType.DATA, 0, 1), frame(FrameType.DATA, 0x1, 1, Buffer.from('x'))]));
  for (let i = 0; i < 500 && !raw.received.includes(FrameType.HEADERS); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(raw.received.includes(FrameType.HEADERS), 'the request was answered');
  assert.ok(!raw.received.includes(FrameType.GOAWAY));
  raw.socket.destroy();
  assert.equal(stat('inbound_empty_frames_flood'), before);
});
