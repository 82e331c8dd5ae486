// A mixed port (servers with different minProtocolVersion) makes its TLS socket over the sniffed stream,
// which node:tls gives no handshake timeout: it gets the 120 s a 'tls' port's server gives, so a client
// that sends its ClientHello and then nothing does not hold the connection. The clock is the test's.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { makeCa } from './certs.ts';
import { resourcesOf, secret } from './gateway-tls-fixture.ts';
import { ManualTimers, push, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
const clock = new ManualTimers();

before(async () => {
  const ca = await makeCa('gw-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }, { type: 'dns', value: 'b.example.com' }]);
  env = await startProxy({ role: 'router', timers: clock });
  push(env.proxy, resourcesOf(`${secret('web-cert', web)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-a, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert, minProtocolVersion: TLSV1_3}
    - port: {number: 443, name: https-b, protocol: HTTPS}
      hosts: [b.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert}
`));
  port = await env.port('0.0.0.0_8443');
});
after(async () => {
  await env?.close();
});

/** A real client's first flight for a.example.com, caught by a server that answers nothing. */
function clientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = net.createServer((s) =>
      s.once('data', (d) => {
        resolve(d);
        s.destroy();
        srv.close();
      }),
    );
    srv.listen(0, '127.0.0.1', () => tls.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername: 'a.example.com' }).on('error', () => {}));
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

test('a client silent after its ClientHello is closed when the 120 s handshake timeout fires', async () => {
  const hello = await clientHello();
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  c.on('data', () => {});
  let closed = false;
  c.on('close', () => (closed = true));
  c.write(hello);
  // Once the ClientHello is read, the TLS socket and its handshake timer exist.
  await until(() => [...clock.pending.values()].some((t) => t.ms === 120_000));
  assert.equal(closed, false);
  assert.ok(clock.fire(120_000));
  await until(() => closed);
  c.destroy();
});
