// Envoy's premature-reset defence (CVE-2023-44487) counts every stream that closes within a second of
// opening without a response, whatever the reset's code: an RST_STREAM(NO_ERROR) flood is as cheap as a
// CANCEL one, and was not counted. The session it closes gets one GOAWAY, ENHANCE_YOUR_CALM (it also got a
// second, NO_ERROR, which reads as a graceful close). A client that cancels after its answer is fine.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { FilterChain } from '../../src/proxy/listener/compile-listener.ts';
import { PREMATURE_RESET_MIN_STREAMS } from '../../src/proxy/listener/h2-abuse.ts';
import { TunnelServer } from '../../src/proxy/tunnel/tunnel-server.ts';
import { makeCa } from '../proxy/certs.ts';
import { frame, FrameType, headers, PREFACE, settings } from '../proxy/h2-frames.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from '../proxy/harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: http.Server;
let port: number;

before(async () => {
  // /slow never answers; /head answers its head at once and holds the body.
  backend = http.createServer((req, res) => {
    if (req.url === '/head') res.writeHead(200, { 'content-type': 'text/plain' }).write('x');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('app'),
    cla('app', [{ port: (backend.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.closeAllConnections();
  backend.close();
});

const rst = (id: number, code: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, id, p);
};

/** Opens and resets streams in batches until the proxy closes the session; the GOAWAY codes it sent, in order. */
async function flood(code: number): Promise<{ pairs: number; goaways: number[] }> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  const goaways: number[] = [];
  let buf = Buffer.alloc(0);
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      if (buf[3] === FrameType.GOAWAY) goaways.push(buf.readUInt32BE(9 + 4));
      buf = buf.subarray(9 + len);
    }
  });
  const closed = new Promise((r) => s.once('close', r));
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.concat([PREFACE, settings()]));
  let pairs = 0;
  for (let b = 0; b < 40 && !s.destroyed && goaways.length === 0; b++) {
    const f: Buffer[] = [];
    for (let i = 0; i < 50; i++, pairs++) {
      const id = 1 + 2 * pairs;
      f.push(headers(id, { ':method': 'GET', ':path': '/slow', ':scheme': 'http', ':authority': 'a' }, true), rst(id, code));
    }
    s.write(Buffer.concat(f));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  s.destroy();
  return { pairs, goaways };
}

test('rapid reset with RST_STREAM(NO_ERROR) closes the session, with one GOAWAY ENHANCE_YOUR_CALM', async () => {
  const r = await flood(http2.constants.NGHTTP2_NO_ERROR);
  assert.deepEqual(r.goaways, [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM], `GOAWAY codes after ${r.pairs} streams`);
  assert.ok(r.pairs <= 2 * PREMATURE_RESET_MIN_STREAMS, `closed after ${r.pairs} streams`);
});

test('rapid reset with CANCEL: the same single GOAWAY ENHANCE_YOUR_CALM', async () => {
  const r = await flood(http2.constants.NGHTTP2_CANCEL);
  assert.deepEqual(r.goaways, [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
});

test('streams cancelled (NO_ERROR) after their response head came are not premature: the session lives on', { timeout: 60_000 }, async () => {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  let goaway: number | undefined;
  s.on('goaway', (c) => (goaway = c));
  await new Promise<void>((r) => s.once('connect', () => r()));
  const one = () =>
    new Promise<void>((resolve) => {
      const req = s.request({ ':path': '/head', ':authority': 'a' });
      req.on('error', () => {});
      req.resume();
      req.on('response', () => req.close(http2.constants.NGHTTP2_NO_ERROR));
      req.on('close', () => resolve());
    });
  for (let i = 0; i < PREMATURE_RESET_MIN_STREAMS + 100 && !s.closed; i += 50) await Promise.all(Array.from({ length: 50 }, one));
  assert.equal(goaway, undefined);
  assert.equal(s.closed || s.destroyed, false);
  s.close();
});

test('tunnel: a mesh peer resetting its streams with NO_ERROR before any answer gets its session closed', { timeout: 60_000 }, async () => {
  const ca = await makeCa();
  const server = await ca.issue('spiffe://cluster.local/ns/app/sa/app');
  const client = await ca.issue('spiffe://cluster.local/ns/evil/sa/evil');
  const tunnel = new TunnelServer(0, {
    material: () => ({ ...server, ca: ca.ca }),
    inboundChain: () => ({ name: 'http', handler: { kind: 'http' } }) as unknown as FilterChain,
    serveStream: () => {},
    serveRequest: () => {}, // never answers: every reset is premature
    now: () => 0, // a clock that never moves: every stream ends within the window, however loaded the machine
  });
  const tunnelPort = await tunnel.boundPort;
  try {
    const s = http2.connect(`https://127.0.0.1:${tunnelPort}`, { key: client.key, cert: client.cert, ca: ca.ca, checkServerIdentity: () => undefined, settings: { maxConcurrentStreams: 1000 } });
    s.on('error', () => {});
    let goaway: number | undefined;
    s.on('goaway', (c) => (goaway = c));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    await new Promise<void>((r) => s.once('connect', () => r()));
    let opened = 0;
    let closedByServer = false;
    void closed.then(() => (closedByServer = true));
    // Paced, so that the tunnel reads what was sent before it closes (unread bytes at its close would
    // make its kernel reset the connection, and the client could lose the GOAWAY).
    while (!closedByServer && opened < 3000) {
      const req = s.request({ ':path': '/', ':authority': 'app', 'x-outrigger-target-port': '8080' });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_NO_ERROR);
      opened++;
      if (opened % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    assert.ok(closedByServer, `session still open after ${opened} streams`);
    assert.ok(opened <= 2 * PREMATURE_RESET_MIN_STREAMS, `closed after ${opened} streams`);
    assert.equal(goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    s.destroy();
  } finally {
    tunnel.close();
  }
});
