// A collector that pushes streams with every answer: the OTLP/gRPC session says SETTINGS_ENABLE_PUSH 0,
// as Envoy's and gRPC's clients do, so no pushed stream is ever kept on the session used for every
// batch (with Node's default, each was: hundreds of MB over a few hundred batches).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { providerSender } from './provider-sender.ts';

test('OTLP/gRPC: the session refuses server push; a pushing collector still takes every batch', { timeout: 10_000 }, async () => {
  const seen = { calls: 0, pushAllowed: 0, pushed: 0, enablePush: [] as (boolean | undefined)[] };
  const server = http2.createServer();
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    seen.calls++;
    seen.enablePush.push(stream.session?.remoteSettings.enablePush);
    if (stream.pushAllowed) {
      seen.pushAllowed++;
      for (let k = 0; k < 20; k++) {
        stream.pushStream({ ':path': `/push/${k}` }, (err, push) => {
          if (err) return;
          seen.pushed++;
          push.on('error', () => {});
          push.respond({ ':status': 200 });
          push.write(Buffer.alloc(16_000, 7));
        });
      }
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const sender = providerSender({ name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: '127.0.0.1', port, timeout_ms: 5_000 }, { env: {} });
  try {
    for (let i = 0; i < 5; i++) {
      const ok = await sender.send({ serviceName: 'web.shop', resource: {}, spans: [] });
      assert.equal(ok, true, `batch ${i}`);
    }
    assert.equal(seen.calls, 5);
    assert.deepEqual(seen.enablePush, [false, false, false, false, false], 'SETTINGS_ENABLE_PUSH 0 on the session');
    assert.equal(seen.pushAllowed, 0);
    assert.equal(seen.pushed, 0);
  } finally {
    sender.close();
    server.close();
  }
});
