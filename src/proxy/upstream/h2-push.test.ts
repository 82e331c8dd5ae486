// An upstream that pushes streams: the pool's sessions say SETTINGS_ENABLE_PUSH 0, as Envoy's HTTP/2
// codec does as a client (ConnectionImpl::sendSettingsHelper), so a compliant server never pushes, and
// nghttp2 refuses a push sent anyway before our SETTINGS were taken (RST_STREAM CANCEL): no pushed
// stream is ever kept on a pooled session. The response itself is served.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { H2Upstream } from './h2-upstream.ts';

function get(up: H2Upstream): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    up.request({ method: 'GET', path: '/', authority: 'api', scheme: 'http', headers: {} }, null, {
      onHead: (s) => {
        status = s;
      },
      onData: () => true,
      onEnd: () => resolve(status),
      onError: reject,
    });
  });
}

test('upstream h2: the session refuses server push; the response is served', { timeout: 10_000 }, async () => {
  const seen = { enablePush: [] as (boolean | undefined)[], pushAllowed: 0 };
  const server = http2.createServer();
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    seen.enablePush.push(stream.session?.remoteSettings.enablePush);
    if (stream.pushAllowed) seen.pushAllowed++;
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const up = new H2Upstream(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { connectTimeoutMs: 5_000 });
  try {
    assert.equal(await get(up), 200);
    assert.equal(await get(up), 200);
    assert.deepEqual(seen, { enablePush: [false, false], pushAllowed: 0 });
  } finally {
    await up.close();
    server.close();
  }
});

/** A raw HTTP/2 frame. */
function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

test('upstream h2: a push sent before the server has taken our SETTINGS is reset (CANCEL), never kept', { timeout: 10_000 }, async () => {
  const fromClient: { type: number; stream: number; payload: Buffer }[] = [];
  const resetSeen = Promise.withResolvers<void>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let off = 24; // past the client preface
    let answered = false;
    // Our SETTINGS at once (the pool sends its request once it has them), never the ACK of the client's.
    s.write(frame(4, 0, 0));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= off + 9) {
        const len = buf.readUIntBE(off, 3);
        if (buf.length < off + 9 + len) break;
        const f = { type: buf[off + 3] as number, stream: buf.readUInt32BE(off + 5) & 0x7fffffff, payload: buf.subarray(off + 9, off + 9 + len) };
        off += 9 + len;
        fromClient.push(f);
        if (f.type === 3 && f.stream === 2) resetSeen.resolve();
        if (f.type !== 1 || answered) continue;
        answered = true;
        // A PUSH_PROMISE (stream 2, GET / by HPACK's static table), its response and some body, and
        // the answer to stream 1.
        s.write(frame(5, 4, f.stream, Buffer.from([0, 0, 0, 2, 0x82, 0x84, 0x86, 0x41, 0x03, 0x61, 0x70, 0x69])));
        s.write(frame(1, 4, 2, Buffer.from([0x88])));
        s.write(frame(0, 0, 2, Buffer.alloc(1000, 1)));
        s.write(frame(1, 5, f.stream, Buffer.from([0x88])));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const up = new H2Upstream(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { connectTimeoutMs: 5_000 });
  try {
    assert.equal(await get(up), 200);
    await resetSeen.promise;
    const reset = fromClient.find((f) => f.type === 3 && f.stream === 2);
    assert.equal(reset?.payload.readUInt32BE(0), http2.constants.NGHTTP2_CANCEL);
  } finally {
    await up.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
});
