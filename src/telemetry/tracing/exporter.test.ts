// Closing an exporter against a collector that accepts and never answers: close returns at its
// deadline, leaving the send to finish (or time out) on its own.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { SpanExporter } from './exporter.ts';

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
