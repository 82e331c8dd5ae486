// A port whose servers differ in tls_params reads the ClientHello first to pick the server. A ClientHello
// split into two records (legal TLS; the transcript is unchanged) with its SNI in the second is read
// whole, as tls_inspector reads it, so the a.example.com server (TLS 1.3 only) does the handshake and
// refuses TLS 1.2, rather than the "*" server handshaking and a.example.com serving.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { makeCa } from './certs.ts';
import { echoBackend, push, startProxy } from './harness.ts';
import { resourcesOf, secret } from './gateway-tls-fixture.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let port: number;

before(async () => {
  app = await echoBackend();
  const ca = await makeCa('gw-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }, { type: 'dns', value: 'w.example.com' }]);
  env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(`${secret('web-cert', web)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-a, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert, minProtocolVersion: TLSV1_3}
    - port: {number: 443, name: https-w, protocol: HTTPS}
      hosts: ["*"]
      tls: {mode: SIMPLE, credentialName: web-cert}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: app}
spec:
  hosts: [app.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${app.port}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: app}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal, port: {number: 80}}}], headers: {response: {set: {x-served: a}}}}]
`));
  port = await env.port('0.0.0.0_8443');
});
after(async () => {
  await env?.close();
  app?.server.close();
});

/** Splits the ClientHello record into two records just before the server_name extension. */
function refragment(rec: Buffer): Buffer {
  const payload = rec.subarray(5, 5 + rec.readUInt16BE(3));
  let p = 4 + 2 + 32;
  p += 1 + (payload[p] ?? 0);
  p += 2 + payload.readUInt16BE(p);
  p += 1 + (payload[p] ?? 0);
  const end = p + 2 + payload.readUInt16BE(p);
  p += 2;
  while (p < end && payload.readUInt16BE(p) !== 0) p += 4 + payload.readUInt16BE(p + 2);
  assert.ok(p < end, 'ClientHello has SNI');
  const rec1 = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, p >> 8, p & 0xff]), payload.subarray(0, p)]);
  const rest = payload.subarray(p);
  const rec2 = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, rest.length >> 8, rest.length & 0xff]), rest]);
  return Buffer.concat([rec1, rec2, rec.subarray(5 + payload.length)]);
}

function fetchFragmented(maxVersion: tls.SecureVersion, fragment: boolean): Promise<{ protocol: string | null; head: string }> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1');
    let first = true;
    const wrap = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        const out = first && fragment ? refragment(chunk) : chunk;
        first = false;
        raw.write(out, cb);
      },
    });
    raw.on('data', (d) => wrap.push(d));
    raw.on('end', () => wrap.push(null));
    raw.on('error', reject);
    const t = tls.connect({ socket: wrap, servername: 'a.example.com', maxVersion, rejectUnauthorized: false });
    let data = '';
    t.on('secureConnect', () => t.write('GET / HTTP/1.1\r\nhost: a.example.com\r\nconnection: close\r\n\r\n'));
    t.on('data', (d) => (data += d));
    t.on('end', () => resolve({ protocol: t.getProtocol(), head: data.split('\r\n\r\n')[0] ?? '' }));
    t.on('error', reject);
  });
}

test('control: an unfragmented TLS 1.2 ClientHello for a.example.com is refused (minProtocolVersion TLSV1_3)', async () => {
  await assert.rejects(fetchFragmented('TLSv1.2', false));
});

test('a TLS 1.2 ClientHello for a.example.com split over two records is refused too', async () => {
  let r: { protocol: string | null; head: string } | undefined;
  try {
    r = await fetchFragmented('TLSv1.2', true);
  } catch {
    return;
  }
  assert.fail(`served over ${r.protocol}: ${r.head.split('\r\n').filter((l) => /^HTTP|x-served/i.test(l)).join(' | ')}`);
});
