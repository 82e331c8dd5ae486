// HTTP/2 cookie crumbs and the 60 KiB head limit, through a listener: as Envoy's codec, crumbs are set
// aside and the head is counted without them, so a browser's 40 KiB of cookies (one crumb each) beside a
// 21 KiB token passes; the joined cookie is bounded apart at the same 60 KiB.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from '../proxy/harness.ts';

// The app takes large heads (Node's own default is 16 KiB).
const seen: (string | undefined)[] = [];
const backend = http.createServer({ maxHeaderSize: 1 << 20 }, (q, r) => {
  seen.push(q.headers.cookie);
  r.end('ok');
});
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const env = await startProxy();
push(env.proxy, [
  cluster('app'),
  cla('app', [{ port: (backend.address() as AddressInfo).port }]),
  listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { codec_type: 'AUTO' }) }]),
  routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
]);
const port = await env.port('0.0.0.0_8080');
after(async () => {
  await env.close();
  backend.close();
});

function send(s: http2.ClientHttp2Session, headers: Record<string, unknown>): Promise<number | string> {
  return new Promise((resolve) => {
    const req = s.request({ ':path': '/', ':authority': 'app.example', ...headers } as http2.OutgoingHttpHeaders);
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', (e) => resolve(`error ${(e as Error).message}`));
    req.on('close', () => resolve(`closed ${req.rstCode}`));
    req.resume();
    req.end();
  });
}

const cookies = Array.from({ length: 100 }, (_, i) => `c${String(i).padStart(3, '0')}=${'v'.repeat(396)}`);
const token = `Bearer ${'j'.repeat(21_000)}`;

for (const acked of [false, true]) {
  test(`100 cookie crumbs (40 KiB) and a 21 KiB token pass${acked ? ' (settings acknowledged)' : ''}; 60 crumbs of 1,100 bytes (64 KiB joined) are 431`, async () => {
    const s = http2.connect(`http://127.0.0.1:${port}`, { maxSendHeaderBlockLength: 1 << 20 } as http2.SessionOptions);
    s.on('error', () => {});
    try {
      if (acked) assert.equal(await send(s, {}), 200);
      seen.length = 0;
      assert.equal(await send(s, { cookie: cookies, authorization: token }), 200);
      assert.equal(seen[0], cookies.join('; '));
      const more = Array.from({ length: 60 }, (_, i) => `c${String(i).padStart(3, '0')}=${'v'.repeat(1095)}`);
      assert.equal(await send(s, { cookie: more }), 431);
    } finally {
      s.close();
    }
  });
}
