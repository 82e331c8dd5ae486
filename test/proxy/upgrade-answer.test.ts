// The upstream's answer to a WebSocket upgrade goes downstream as any response does: its head parsed
// (Envoy's limits: 60 KiB, 100 fields, else 502 UPE), edited by the route and the filters (istio.stats
// strips the mesh's peer metadata), given the HCM's server header and written again. A refusal's framing
// is checked as the HTTP/1.1 client checks a response's (both framings, conflicting or malformed
// content-lengths: 502 UPE). A refusal is relayed
// whole though the client sends meanwhile, then the connection closes on the proxy's delayed close, as
// after every local reply of the upgrade path. A spliced upgrade ended by a timer, the client or the
// upstream is logged with Envoy's flag and details. On the proxy's fake clock.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DELAYED_CLOSE_MS } from '../../src/proxy/http/delayed-close.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, hcm, listener, push, startProxy } from './harness.ts';

const IDLE_MS = 11_000;
const BODY = 1024 * 1024;
const LOG = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'upgrade-answer-')), 'access.log');
const MESHY = 'server: app-internal/1.0\r\nx-outrigger-peer: Zm9yZ2Vk\r\nx-secret: drop-me\r\n';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: net.Server;
let port: number;
const clock = new FakeClock();
/** Upstream connections by path, once their upgrade's head is in. */
const upstreams = new Map<string, net.Socket>();
/** Answers the test releases itself, by path. */
const release = new Map<string, () => void>();

function serve(s: net.Socket): void {
  let buf = '';
  s.on('error', () => {});
  const onHead = (c: Buffer): void => {
    buf += c.toString('latin1');
    if (!buf.includes('\r\n\r\n')) return;
    s.removeListener('data', onHead);
    const p = buf.slice(buf.indexOf(' ') + 1, buf.indexOf(' HTTP/'));
    upstreams.set(p, s);
    if (p.startsWith('/switch')) {
      s.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nkeep-alive: timeout=5\r\n${MESHY}\r\n`);
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('end', () => s.end());
    } else if (p === '/refuse') s.write(`HTTP/1.1 403 Forbidden\r\n${MESHY}content-length: 2\r\n\r\nno`);
    else if (p === '/refuse-both') s.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    else if (p === '/refuse-two-lengths') s.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\ncontent-length: 12\r\n\r\nno, and more');
    else if (p === '/refuse-bad-length') s.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 2x\r\n\r\nno');
    else if (p === '/refuse-equal-lengths') s.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nno');
    else if (p === '/late-refusal') release.set(p, () => s.write(Buffer.concat([Buffer.from(`HTTP/1.1 401 Unauthorized\r\ncontent-length: ${BODY}\r\n\r\n`), Buffer.alloc(BODY, 0x61)])));
    else if (p === '/slow-refusal') s.write(`HTTP/1.1 401 Unauthorized\r\ncontent-length: ${BODY}\r\n\r\nab`);
    else if (p === '/many-fields') {
      let h = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n';
      for (let i = 0; i < 101; i++) h += `x-f${i}: v\r\n`;
      s.write(`${h}\r\n`);
    } else if (p === '/huge-head') {
      // 61 KiB of head in two writes: the blank line only comes with the second.
      s.write(`HTTP/1.1 101 Switching Protocols\r\nx-big: ${'a'.repeat(40 * 1024)}`);
      setTimeout(() => s.write(`${'a'.repeat(21 * 1024)}\r\n\r\n`), 20);
    } else if (p === '/near-limit') s.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-big: ${'a'.repeat(59 * 1024)}\r\n\r\n`);
  };
  s.on('data', onHead);
}

before(async () => {
  backend = net.createServer(serve);
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers: clock });
  push(env.proxy, [
    cluster('app'),
    cla('app', [{ port: (backend.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [
      {
        filter: hcm('r', {
          upgrade_configs: [{ upgrade_type: 'websocket' }],
          stream_idle_timeout: { seconds: String(IDLE_MS / 1000) },
          http_filters: [
            {
              name: 'istio.stats',
              typed_config: telemetryConfig({
                reporter: 'destination',
                workload: { workload: 'chat', namespace: 'web', labels: { app: 'chat' } },
                metrics: true,
                access_log: { path: LOG, encoding: 'TEXT', format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%' },
              } as never),
            },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        }),
      },
    ]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'r',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { name: 'no-upgrade', match: { prefix: '/no-upgrade' }, route: { cluster: 'app', upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: false } }] } },
            {
              name: 'ws',
              match: { prefix: '/' },
              route: { cluster: 'app', timeout: { seconds: '0' } },
              response_headers_to_add: [{ header: { key: 'x-route-added', value: 'yes' } }],
              response_headers_to_remove: ['x-secret'],
            },
          ],
        },
      ],
    },
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  backend.close();
  fs.rmSync(path.dirname(LOG), { recursive: true, force: true });
});

interface Client {
  socket: net.Socket;
  got: () => Buffer;
  text: () => string;
  ended: () => boolean;
  closed: () => boolean;
}

function upgrade(p: string): Client {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let ended = false;
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.on('end', () => {
    ended = true;
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.write(`GET ${p} HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  const got = (): Buffer => Buffer.concat(chunks);
  return { socket, got, text: () => got().toString('latin1'), ended: () => ended, closed: () => closed };
}

function head(c: Client): string {
  const t = c.text();
  return t.slice(0, t.indexOf('\r\n\r\n'));
}

function logged(p: string): string | undefined {
  return fs
    .readFileSync(LOG, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${p} `));
}

/**
 * The proxy closed its socket: the bytes the client sends now are answered with a reset, which its next
 * write reports (its read side ended with the proxy's FIN). A socket the proxy still holds takes them.
 */
async function proxyClosed(c: Client): Promise<void> {
  await until(() => {
    if (!c.socket.destroyed) c.socket.write('x');
    return c.closed();
  }, 'the proxy closed its socket (reset on a later byte)');
}

test('a 101 goes downstream as a response: the route edits it, istio.stats strips the peer metadata, the server header is the HCM’s; hop-by-hop fields but its upgrade ones are dropped', async () => {
  const c = upgrade('/switch');
  await until(() => c.text().includes('\r\n\r\n'), 'the 101');
  const h = head(c);
  assert.match(h, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(h, /\r\nupgrade: websocket/);
  assert.match(h, /\r\nconnection: Upgrade/);
  assert.match(h, /\r\nx-route-added: yes/);
  assert.match(h, /\r\nserver: envoy/);
  assert.doesNotMatch(h, /x-secret|x-outrigger-peer|keep-alive|app-internal/i);
  c.socket.write('hi');
  await until(() => c.text().endsWith('echo:hi'), 'the splice');
  c.socket.destroy();
});

test('a refusal too, with its own framing and connection: close', async () => {
  const c = upgrade('/refuse');
  await until(c.ended, 'the answer and the FIN');
  const t = c.text();
  assert.match(t, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(t, /\r\nx-route-added: yes\r\n/);
  assert.match(t, /\r\nserver: envoy\r\n/);
  assert.match(t, /\r\ncontent-length: 2\r\n/);
  assert.match(t, /\r\nconnection: close\r\n\r\nno$/);
  assert.doesNotMatch(t, /x-secret|x-outrigger-peer|app-internal/i);
  c.socket.destroy();
});

test('a refusal framed as the HTTP/1.1 client refuses a response (both content-length and transfer-encoding, differing or malformed content-lengths): 502 UPE, not relayed', async () => {
  for (const p of ['/refuse-both', '/refuse-two-lengths', '/refuse-bad-length']) {
    const c = upgrade(p);
    await until(c.ended, `the reply to ${p}`);
    assert.match(c.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*x-envoy-response-flags: UPE\r\n/, p);
    assert.doesNotMatch(c.text(), /400 Bad Request|abc|no, and more/, p);
    await until(() => logged(p) !== undefined, `${p} logged`);
    assert.equal(logged(p), `${p} 502 UPE upstream_reset_before_response_started{protocol_error}`);
    c.socket.destroy();
  }
});

test('a refusal with a repeated, equal content-length is relayed with one', async () => {
  const c = upgrade('/refuse-equal-lengths');
  await until(c.ended, 'the answer and the FIN');
  const t = c.text();
  assert.match(t, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.equal(t.match(/\r\ncontent-length: 2\r\n/g)?.length, 1);
  assert.match(t, /\r\n\r\nno$/);
  c.socket.destroy();
});

test('a local reply on the upgrade path closes its socket after the delayed close timeout, on the proxy’s clock', async () => {
  const c = upgrade('/no-upgrade');
  await until(c.ended, 'the 403 and the FIN');
  assert.match(c.text(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.equal(c.closed(), false);
  clock.advance(DELAYED_CLOSE_MS);
  await proxyClosed(c);
});

test('an upgrade the codec refuses (a bad Host) gets the local reply: DPE, the server header, the delayed close', async () => {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let ended = false;
  let closed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  socket.on('end', () => {
    ended = true;
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.write('GET /ws HTTP/1.1\r\nHost: a b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await until(() => ended, 'the 400 and the FIN');
  assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\nserver: envoy\r\n[\s\S]*x-envoy-response-flags: DPE\r\n/);
  clock.advance(DELAYED_CLOSE_MS);
  await proxyClosed({ socket, got: () => Buffer.concat(chunks), text: () => '', ended: () => ended, closed: () => closed });
});

test('a refusal is relayed whole though the client sent bytes before it, then the connection closes on the delayed close', async () => {
  const c = upgrade('/late-refusal');
  await until(() => release.has('/late-refusal'), 'the upstream got the upgrade');
  c.socket.write('early');
  // Those bytes reach the proxy (which holds them) before the upstream answers.
  await new Promise((r) => setTimeout(r, 50));
  (release.get('/late-refusal') as () => void)();
  await until(c.ended, 'the whole answer and the FIN');
  const t = c.got();
  assert.equal(t.length - (t.indexOf('\r\n\r\n') + 4), BODY);
  c.socket.write('more, dropped');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.closed(), false);
  clock.advance(DELAYED_CLOSE_MS);
  await proxyClosed(c);
});

test('a client that sends more than 1 MiB while a refusal is relayed is reset', async () => {
  const c = upgrade('/slow-refusal');
  await until(() => c.text().includes('\r\n\r\nab'), 'the answer started');
  c.socket.write(Buffer.alloc(BODY + 64 * 1024, 0x62));
  await until(c.closed, 'the client reset');
  assert.ok(c.got().length < BODY, 'the answer was cut');
});

test('a 101 with more than 100 fields: 502 UPE', async () => {
  const c = upgrade('/many-fields');
  await until(c.ended, 'the reply');
  assert.match(c.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*x-envoy-response-flags: UPE\r\n/);
  // The router's reply: the route's response header mutations apply, as to a request's.
  assert.match(c.text(), /\r\nx-route-added: yes\r\n/);
  assert.doesNotMatch(c.text(), /x-f\d+/);
  await until(() => logged('/many-fields') !== undefined, 'logged');
  assert.equal(logged('/many-fields'), '/many-fields 502 UPE upstream_reset_before_response_started{protocol_error}');
  c.socket.destroy();
});

test('a 101 head over 60 KiB whose end comes in a later read: 502 UPE; one just under passes', async () => {
  const c = upgrade('/huge-head');
  await until(c.ended, 'the reply');
  assert.match(c.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.doesNotMatch(c.text(), /x-big/);
  c.socket.destroy();
  const ok = upgrade('/near-limit');
  await until(() => ok.text().includes('\r\n\r\n'), 'the 101');
  assert.match(ok.text(), /^HTTP\/1\.1 101 /);
  ok.socket.destroy();
});

test('a spliced upgrade ended by the stream idle timeout is logged 101 SI stream_idle_timeout', async () => {
  const c = upgrade('/switch?idle');
  await until(() => c.text().includes('\r\n\r\n'), 'the 101');
  clock.advance(IDLE_MS);
  clock.advance(IDLE_MS);
  await until(c.ended, 'closed by the idle timeout');
  await until(() => logged('/switch?idle') !== undefined, 'logged');
  assert.equal(logged('/switch?idle'), '/switch?idle 101 SI stream_idle_timeout');
});

test('a spliced upgrade the client closes is logged 101 DC downstream_remote_disconnect; one the upstream resets, 101 UC', async () => {
  const c = upgrade('/switch?client');
  await until(() => c.text().includes('\r\n\r\n'), 'the 101');
  c.socket.end();
  await until(() => logged('/switch?client') !== undefined, 'logged');
  assert.equal(logged('/switch?client'), '/switch?client 101 DC downstream_remote_disconnect');
  c.socket.destroy();
  const u = upgrade('/switch?upstream');
  await until(() => u.text().includes('\r\n\r\n'), 'the 101');
  (upstreams.get('/switch?upstream') as net.Socket).resetAndDestroy();
  await until(u.ended, 'the client connection closed');
  await until(() => logged('/switch?upstream') !== undefined, 'logged');
  assert.equal(logged('/switch?upstream'), '/switch?upstream 101 UC upstream_reset_after_response_started{connection_termination}');
});
