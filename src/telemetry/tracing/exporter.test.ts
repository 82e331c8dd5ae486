// Closing an exporter against a collector that accepts and never answers: close returns at its
// deadline, leaving the send to finish (or time out) on its own. And the POST it sends batches with.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import { test } from 'node:test';
import { postJson, SpanExporter } from './exporter.ts';

const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

test('close waits for the last spans only up to its deadline', { timeout: 20_000 }, async () => {
  const sockets = new Set<net.Socket>();
  const { promise: received, resolve } = Promise.withResolvers<void>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => resolve());
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const exporter = new SpanExporter({ url: `http://127.0.0.1:${port}/v1/traces`, serviceName: 'podinfo.podinfo', requestTimeoutMs: 600_000, timers: { setInterval: () => 0, clearInterval: () => {} } });
  try {
    exporter.record({ traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1', name: 'GET /', kind: 'SERVER', startMs: 1, endMs: 2, attributes: {}, error: false });
    void exporter.flush();
    await received;
    // The collector has the request and will never answer it.
    await exporter.close(50);
    assert.deepEqual(exporter.stats, { exported: 0, dropped: 0, failed: 0 }, 'and is still unanswered: close did not wait for it');
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('spans go out with node:http (postJson): JSON, 2xx taken, any failure false, and Node\'s bundled undici never loaded', async () => {
  const got: { method: string | undefined; type: string | undefined; length: string | undefined; body: string }[] = [];
  const collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      got.push({ method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body });
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as net.AddressInfo).port;
  try {
    const body = JSON.stringify({ resourceSpans: [], note: 'é' });
    assert.equal(await postJson(`http://127.0.0.1:${port}/v1/traces`, body, 5_000), true);
    assert.deepEqual(got[0], { method: 'POST', type: 'application/json', length: String(Buffer.byteLength(body)), body });
    assert.equal(await postJson(`http://127.0.0.1:${port}/fail`, body, 5_000), false, 'a 5xx is not taken');
  } finally {
    collector.close();
  }
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const refusedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  assert.equal(await postJson(`http://127.0.0.1:${refusedPort}/v1/traces`, '{}', 5_000), false, 'a refused connection is a failure, not a throw');
  // Global fetch would have loaded Node's bundled undici on its first call: about 50 ms of a busy proxy's
  // event loop (the first flush, 5 s after a tracing config arrives) and 2.5 MB of heap.
  assert.deepEqual(
    (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((m) => m.includes('undici')),
    [],
  );
});
