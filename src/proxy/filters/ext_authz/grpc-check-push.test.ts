// The Check client's HTTP/2 session says SETTINGS_ENABLE_PUSH 0, as Envoy's codec does as a client: an
// authorization server that pushes with its answers leaves no pushed stream on the session kept for
// every check.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { GrpcCheckClient } from './grpc-check.ts';

test('ext_authz gRPC: the session refuses server push; the check is answered', { timeout: 10_000 }, async () => {
  const seen = { enablePush: [] as (boolean | undefined)[], pushAllowed: 0 };
  const server = http2.createServer();
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    seen.enablePush.push(stream.session?.remoteSettings.enablePush);
    if (stream.pushAllowed) seen.pushAllowed++;
    stream.resume();
    // An empty CheckResponse: OK, no status details.
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const client = new GrpcCheckClient('outbound|9000||authz.foo.svc.cluster.local', 'authz.foo.svc.cluster.local:9000', () => Promise.resolve(net.connect(port, '127.0.0.1')));
  const check = { attributes: { source: {}, destination: {} } };
  try {
    await client.check(check, 5_000);
    await client.check(check, 5_000);
    assert.deepEqual(seen, { enablePush: [false, false], pushAllowed: 0 });
  } finally {
    server.close();
  }
});
