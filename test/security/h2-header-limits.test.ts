// HTTP/2 request heads and trailers are held to the HTTP/1.1 head's limit (Envoy's max_request_headers_kb,
// 60 KiB) on their decoded size. Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but holds a stream to it
// only once the client has acknowledged it: a raw client that never does, with one large field in the
// HPACK table named again and again, sent ~384 KB of headers upstream from ~4 KB on the wire. Also: cookie
// crumbs reach routes and an HTTP/1.1 upstream as one `cookie` joined with "; " (RFC 9113 §8.2.3).
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import type { FilterChain } from '../../src/proxy/listener/compile-listener.ts';
import { TunnelServer } from '../../src/proxy/tunnel/tunnel-server.ts';
import { makeCa } from '../proxy/certs.ts';
import { connectRaw, frame, FrameType, PREFACE, type RawH2, settings } from '../proxy/h2-frames.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from '../proxy/harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: http.Server;
let port: number;
const seen: { rawHeaders: string[]; trailers: string[]; cookie: string | string[] | undefined }[] = [];

before(async () => {
  backend = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ rawHeaders: req.rawHeaders, trailers: req.rawTrailers, cookie: req.headers.cookie });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  const routes = routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/joined', cluster: 'app' }, { prefix: '/', cluster: 'app' }] }]) as unknown as {
    virtual_hosts: { routes: { match: Record<string, unknown> }[] }[];
  };
  // /joined reaches the app only when the route sees the crumbs as one cookie.
  (routes.virtual_hosts[0] as { routes: { match: Record<string, unknown> }[] }).routes[0]!.match.headers = [{ name: 'cookie', string_match: { exact: 'a=1; b=2' } }];
  (routes.virtual_hosts[0] as { routes: { match: Record<string, unknown>; route?: unknown; direct_response?: unknown }[] }).routes[1] = {
    match: { prefix: '/' },
    direct_response: { status: 404, body: { inline_string: 'no route' } },
  };
  push(env.proxy, [cluster('app'), cla('app', [{ port: (backend.address() as net.AddressInfo).port }]), listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]), routes as never]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.closeAllConnections();
  backend.close();
});

/** An HPACK integer with an n-bit prefix. */
function int(n: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A literal field, added to the dynamic table (`index`) or not; no Huffman. */
function lit(name: string, value: string, index = false): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([index ? 0x40 : 0x00]), int(n.length, 7, 0), n, int(v.length, 7, 0), v]);
}

/** One 4,000-byte field put in the dynamic table, then named 95 more times by one-byte references (index 62). */
function amplified(): Buffer {
  return Buffer.concat([lit('x-big', 'A'.repeat(4000), true), ...Array.from({ length: 95 }, () => Buffer.from([0x80 | 62]))]);
}

const pseudo = (method: string, path: string) => Buffer.concat([lit(':method', method), lit(':path', path), lit(':scheme', 'http'), lit(':authority', 'a.example')]);

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Every frame the proxy sends on a raw connection. */
function frames(raw: Pick<RawH2, 'socket'> | { socket: tls.TLSSocket }): Frame[] {
  const out: Frame[] = [];
  let buf = Buffer.alloc(0);
  raw.socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      out.push({ type: buf[3] as number, flags: buf[4] as number, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
      buf = buf.subarray(9 + len);
    }
  });
  return out;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test('an HPACK-amplified head (4 KB on the wire, 384 KB decoded, 100 fields) is answered 431 and never reaches the app', async () => {
  seen.length = 0;
  const raw = await connectRaw(port);
  const got = frames(raw);
  raw.socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, 1, Buffer.concat([pseudo('GET', '/'), amplified()])));
  await until(() => got.some((f) => f.stream === 1 && (f.flags & 0x1) !== 0));
  const body = Buffer.concat(got.filter((f) => f.stream === 1 && f.type === FrameType.DATA).map((f) => f.payload)).toString();
  assert.equal(body, 'Request Header Fields Too Large');
  // The session serves on: a normal request after it is answered by the app.
  raw.socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, 3, pseudo('GET', '/other')));
  await until(() => got.some((f) => f.stream === 3 && (f.flags & 0x1) !== 0));
  assert.equal(Buffer.concat(got.filter((f) => f.stream === 3 && f.type === FrameType.DATA).map((f) => f.payload)).toString(), 'no route');
  assert.equal(seen.length, 0);
  raw.socket.destroy();
});

test('HPACK-amplified request trailers reset the stream (INTERNAL_ERROR, as Envoy) and never reach the app', async () => {
  seen.length = 0;
  const raw = await connectRaw(port);
  const got = frames(raw);
  const cookie = lit('cookie', 'a=1; b=2');
  raw.socket.write(frame(FrameType.HEADERS, 0x4, 1, Buffer.concat([pseudo('POST', '/joined'), cookie, lit('te', 'trailers')])));
  raw.socket.write(frame(FrameType.DATA, 0, 1, Buffer.from('body')));
  raw.socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, 1, amplified()));
  await until(() => got.some((f) => f.stream === 1 && f.type === FrameType.RST_STREAM));
  const rst = got.find((f) => f.stream === 1 && f.type === FrameType.RST_STREAM);
  assert.equal(rst?.payload.readUInt32BE(0), 2, 'RST_STREAM INTERNAL_ERROR');
  await new Promise((r) => setTimeout(r, 100));
  for (const s of seen) assert.ok(!s.trailers.includes('x-big'), 'the trailers did not reach the app');
  raw.socket.destroy();
});

test('HTTP/2 cookie crumbs are one cookie for routes and the HTTP/1.1 upstream, joined with "; "', async () => {
  seen.length = 0;
  const raw = await connectRaw(port);
  const got = frames(raw);
  raw.socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, 1, Buffer.concat([pseudo('GET', '/joined'), lit('cookie', 'a=1'), lit('x-other', 'o'), lit('cookie', 'b=2')])));
  await until(() => got.some((f) => f.stream === 1 && (f.flags & 0x1) !== 0));
  assert.equal(Buffer.concat(got.filter((f) => f.stream === 1 && f.type === FrameType.DATA).map((f) => f.payload)).toString(), 'ok', 'the route matched the joined cookie');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.cookie, 'a=1; b=2');
  const fields = seen[0]?.rawHeaders ?? [];
  assert.equal(fields.filter((_, i) => i % 2 === 0 && fields[i]?.toLowerCase() === 'cookie').length, 1, 'one cookie field upstream');
  raw.socket.destroy();
});

test("tunnel: a mesh peer's HPACK-amplified CONNECT head is answered 431, never served", { timeout: 60_000 }, async () => {
  const ca = await makeCa();
  const server = await ca.issue('spiffe://cluster.local/ns/app/sa/app');
  const client = await ca.issue('spiffe://cluster.local/ns/evil/sa/evil');
  let served = 0;
  const tunnel = new TunnelServer(0, {
    material: () => ({ ...server, ca: ca.ca }),
    inboundChain: () => ({ name: 'tcp', handler: { kind: 'tcp' } }) as unknown as FilterChain,
    serveStream: () => void served++,
    serveRequest: () => void served++,
  });
  const tunnelPort = await tunnel.boundPort;
  try {
    // A raw client: it never acknowledges the tunnel's SETTINGS, so Node holds it to no header list size.
    const socket = tls.connect({ host: '127.0.0.1', port: tunnelPort, key: client.key, cert: client.cert, ca: ca.ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    socket.on('error', () => {});
    await new Promise((r) => socket.once('secureConnect', r));
    const got = frames({ socket });
    const connect = Buffer.concat([lit(':method', 'CONNECT'), lit(':authority', 'app:8080')]);
    socket.write(Buffer.concat([PREFACE, settings(), frame(FrameType.HEADERS, 0x4, 1, Buffer.concat([connect, amplified()]))]));
    await until(() => got.some((f) => f.stream === 1 && f.type === FrameType.HEADERS));
    const head = got.find((f) => f.stream === 1 && f.type === FrameType.HEADERS);
    assert.ok(head && (head.flags & 0x1) !== 0, 'answered with END_STREAM');
    // A CONNECT under the limit is served.
    socket.write(frame(FrameType.HEADERS, 0x4, 3, connect));
    await until(() => served > 0);
    assert.equal(served, 1);
    socket.destroy();
  } finally {
    tunnel.close();
  }
});
