// TLS origination (undici): a connection that fails before it is connected is a connect failure, as Envoy's
// pool failure (UF, upstream_cx_connect_fail, retried by connect-failure): here the upstream resets the TCP
// connection during the TLS handshake (ECONNRESET / UND_ERR_SOCKET before onRequestStart).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { H1Upstream } from './h1-upstream.ts';
import type { UpstreamError } from './upstream.ts';

test('a connection reset during the TLS handshake is a connect failure, not a reset', async () => {
  const server = net.createServer((s) => s.resetAndDestroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const u = new H1Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 2000, maxConnections: 4, tls: { rejectUnauthorized: false } });
  try {
    const got = await new Promise<{ err: UpstreamError; sent: boolean | undefined; ready: boolean }>((resolve) => {
      let ready = false;
      u.request({ method: 'GET', path: '/', authority: 'x', headers: {} } as never, null, {
        onPoolReady: () => {
          ready = true;
        },
        onHead: () => {},
        onData: () => true,
        onEnd: () => {},
        onError: (err, sent) => resolve({ err, sent, ready }),
      });
    });
    assert.equal(got.err.failure, 'connect', got.err.message);
    assert.equal(got.ready, false, 'never connected');
    assert.ok(!got.sent, 'nothing was sent');
  } finally {
    await u.close();
    server.close();
  }
});
