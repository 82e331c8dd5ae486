// Response backpressure through a real proxy: a client that stops reading makes the proxy stop
// reading the upstream (the app's writes return false), and once the client reads again every byte
// arrives in order (the downstream 'drain' resumes the upstream).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const CHUNK = Buffer.alloc(64 * 1024, 'x');
const TOTAL_CHUNKS = 256; // 16 MB: well past every socket and stream buffer on the way

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let blocked: Promise<void>;
let onBlocked: () => void = () => {};
const expected = createHash('sha256');

before(async () => {
  for (let i = 0; i < TOTAL_CHUNKS; i++) expected.update(CHUNK);
  blocked = new Promise((resolve) => {
    onBlocked = resolve;
  });
  backend = await echoBackend((_req, res) => {
    res.writeHead(200, { 'content-length': CHUNK.length * TOTAL_CHUNKS });
    let sent = 0;
    const pump = (): void => {
      while (sent < TOTAL_CHUNKS) {
        sent++;
        if (!res.write(CHUNK)) {
          onBlocked();
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  env = await startProxy();
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('a paused client stalls the upstream; resumed, the whole body arrives intact', { timeout: 60_000 }, async () => {
  const port = await env.port('0.0.0.0_8080');
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/big', headers: { host: 'big.example' }, agent: false }, resolve);
    req.on('error', reject);
  });
  assert.equal(res.statusCode, 200);
  res.pause();
  // The app sees its writes refused only when the proxy has stopped reading from it.
  await blocked;
  const got = createHash('sha256');
  let bytes = 0;
  res.on('data', (c: Buffer) => {
    bytes += c.length;
    got.update(c);
  });
  res.resume();
  await new Promise<void>((resolve, reject) => {
    res.on('end', resolve);
    res.on('error', reject);
  });
  assert.equal(bytes, CHUNK.length * TOTAL_CHUNKS);
  assert.equal(got.digest('hex'), expected.digest('hex'));
});
