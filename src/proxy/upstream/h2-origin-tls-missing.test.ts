// h2 in TLS a DestinationRule originates, before the rule's TLS can be built (its secret has not
// arrived): the session fails as a connect failure (UF) without a connection to the endpoint.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { H2Upstream } from './h2-upstream.ts';
import type { UpstreamError } from './upstream.ts';

test('h2 whose originated TLS cannot be built yet fails as a connect failure, and never dials the endpoint', async () => {
  // A plain listener: it only counts the connections the kernel hands it, in the order they came.
  const accepted: net.Socket[] = [];
  const endpoint = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  const port = (endpoint.address() as net.AddressInfo).port;
  const up = new H2Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 60_000, originTls: () => 'secret kubernetes://api-tls not found' });
  try {
    const err = await new Promise<UpstreamError>((resolve, reject) => {
      up.request({ method: 'GET', path: '/', authority: 'api', scheme: 'https', headers: {} }, null, {
        onHead: () => reject(new Error('a response came')),
        onData: () => true,
        onEnd: () => reject(new Error('the request ended')),
        onError: resolve,
      });
    });
    assert.equal(err.failure, 'connect');
    assert.match(err.message, /secret kubernetes:\/\/api-tls not found/);
    // A connection of our own after the failure: the endpoint accepts in arrival order, so one the
    // session had attempted would be handed over first.
    const probe = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => endpoint.once('connection', () => r()));
    assert.equal(accepted.length, 1, 'only the probe reached the endpoint');
    assert.equal(accepted[0]?.remotePort, probe.localPort);
    probe.destroy();
  } finally {
    await up.close();
    for (const s of accepted) s.destroy();
    endpoint.close();
  }
});
