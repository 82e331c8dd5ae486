// a.example.com is MUTUAL with CA-A; another server on the port, hosts "other/*" (no SNI names), is
// MUTUAL with CA-B. A CA-B client that splits its ClientHello so the SNI is in the second record is
// still checked against CA-A: the server chosen from the ClientHello is the one that serves.
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
let clientB: { cert: string; key: string };

before(async () => {
  app = await echoBackend();
  const ca = await makeCa('gw-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'a.example.com' }, { type: 'dns', value: 'w.example.com' }]);
  const caB = await makeCa('tenant-b-ca');
  clientB = await caB.issueWithSans([{ type: 'dns', value: 'client.other' }]);
  env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(`${secret('web-cert', web, ca.ca)}${secret('w-cert', web, caB.ca)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-a, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: MUTUAL, credentialName: web-cert, minProtocolVersion: TLSV1_3}
    - port: {number: 443, name: https-w, protocol: HTTPS}
      hosts: ["other/*"]
      tls: {mode: MUTUAL, credentialName: w-cert}
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

function fetchFragmented(maxVersion: tls.SecureVersion, fragment: boolean, servername = "a.example.com"): Promise<{ protocol: string | null; head: string }> {
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
    const t = tls.connect({ socket: wrap, servername, maxVersion, rejectUnauthorized: false, cert: clientB.cert, key: clientB.key });
    let data = '';
    t.on('secureConnect', () => t.write('GET / HTTP/1.1\r\nhost: a.example.com\r\nconnection: close\r\n\r\n'));
    t.on('data', (d) => (data += d));
    t.on('end', () => resolve({ protocol: t.getProtocol(), head: data.split('\r\n\r\n')[0] ?? '' }));
    t.on('error', reject);
  });
}

const OK = /^HTTP\/1\.1 200/;
const none = () => ({ protocol: null, head: '' });

test('controls: tenant B (CA-B) cannot reach a.example.com unfragmented, nor through its own other/* server', async () => {
  const direct = await fetchFragmented('TLSv1.3', false).catch(none);
  assert.doesNotMatch(direct.head, OK);
  const own = await fetchFragmented('TLSv1.3', false, 'x.other');
  assert.match(own.head, /^HTTP\/1\.1 404/);
});

test('a ClientHello for a.example.com split over two records is still verified against CA-A', async () => {
  const r = await fetchFragmented('TLSv1.3', true).catch(none);
  if (OK.test(r.head)) assert.fail(`CA-B client served by the a.example.com MUTUAL server: ${r.head.split('\r\n').filter((l) => /^HTTP|x-served/i.test(l)).join(' | ')}`);
});
