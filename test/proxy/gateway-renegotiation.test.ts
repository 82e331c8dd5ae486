// TLS 1.2 renegotiation on a gateway port: refused, as Envoy disables it. The connection's identity is
// read once, at the handshake; a client must not run another handshake under it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { startTenantsGateway } from './gateway-tls-fixture.ts';

let gw: Awaited<ReturnType<typeof startTenantsGateway>>;

before(async () => {
  gw = await startTenantsGateway({ aMinTls13: false });
});
after(async () => {
  await gw?.env.close();
  gw?.app.server.close();
});

test('TLS 1.2 client-initiated renegotiation ends the connection (Envoy disables it)', async () => {
  const r = await new Promise<string>((resolve) => {
    const t = tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'x.other', rejectUnauthorized: false, cert: gw.clientB.cert, key: gw.clientB.key, maxVersion: 'TLSv1.2' });
    t.on('error', () => {});
    // Node's client calls back without an error even when the server refused; what tells is whether the
    // connection still answers a request afterwards.
    t.on('data', (d: Buffer) => resolve(`answered: ${d.toString('latin1').split('\r\n')[0]}`));
    t.on('close', () => resolve('closed'));
    // Once: a renegotiation that succeeds ends with another secureConnect.
    t.once('secureConnect', () => {
      t.renegotiate({ rejectUnauthorized: false }, () => t.write('GET / HTTP/1.1\r\nhost: x.other\r\n\r\n'));
    });
  });
  assert.equal(r, 'closed');
});
