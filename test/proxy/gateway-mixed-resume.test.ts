// TLS session resumption on a MUTUAL server of a mixed port (a TLS socket over a stream, its context
// from createSecureContext): each chain's context has its own session ID context, without which OpenSSL
// aborts a resumed session when it asks for a client certificate.
import assert from 'node:assert/strict';
import https from 'node:https';
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

function once(servername: string, session?: Buffer, maxVersion: tls.SecureVersion = 'TLSv1.2'): Promise<{ status: string; session: Buffer | undefined; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, cert: clientB.cert, key: clientB.key, maxVersion, ...(session ? { session } : {}) });
    let data = '';
    let sess: Buffer | undefined;
    t.on('session', (s) => (sess = s));
    t.on('secureConnect', () => t.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    t.on('data', (d) => (data += d));
    t.on('end', () => resolve({ status: data.split('\r\n')[0] ?? '', session: sess ?? t.getSession(), reused: t.isSessionReused() }));
    t.on('error', reject);
  });
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`a client resuming its ${version} session on the MUTUAL other/* server is served`, async () => {
    const first = await once('x.other', undefined, version);
    assert.match(first.status, /^HTTP\/1\.1 404/);
    const second = await once('x.other', first.session, version);
    assert.match(second.status, /^HTTP\/1\.1 404/, `second: ${JSON.stringify(second.status)} reused=${second.reused}`);
    assert.equal(second.reused, true);
  });
}

test("Node's https Agent resumes its session on the MUTUAL server: both requests are served", async () => {
  const agent = new https.Agent({ keepAlive: false, maxVersion: 'TLSv1.2' });
  const request = () =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: 'x.other', path: '/', headers: { host: 'x.other' }, agent, rejectUnauthorized: false, cert: clientB.cert, key: clientB.key }, (res) => {
        const reused = (res.socket as tls.TLSSocket).isSessionReused();
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused }));
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal((await request()).status, 404);
  const second = await request();
  agent.destroy();
  assert.deepEqual(second, { status: 404, reused: true });
});
