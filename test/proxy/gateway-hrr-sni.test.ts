// A 'tls' port (servers sharing TLS settings, SNI picks the certificate and CA): Node asks SNICallback for
// the first ClientHello only, so after a HelloRetryRequest a client can name another server in its second.
// a.example.com is MUTUAL against CA-A, other/* MUTUAL against CA-B: a CA-B client naming x.other first
// (CA-B's context checks its certificate) and a.example.com second is never served by a.example.com.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serverKind } from '../../src/proxy/listener/bound-listener.ts';
import { makeCa } from './certs.ts';
import { resourcesOf, secret } from './gateway-tls-fixture.ts';
import { echoBackend, push, startProxy } from './harness.ts';
import { hrrRequest } from './tls13-hrr-client.ts';

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
      tls: {mode: MUTUAL, credentialName: web-cert}
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

test('the port is a "tls" port, and a client naming x.other in both ClientHellos is served by other/*', async () => {
  const listener = [...env.proxy.listeners.listeners()].find((l) => l.name === '0.0.0.0_8443');
  assert.ok(listener);
  assert.equal(serverKind(listener), 'tls');
  const r = await hrrRequest(port, 'x.other', 'x.other', 'x.other', clientB.cert, clientB.key);
  assert.match(r, /^HTTP\/1\.1 404/, r);
});

test('a CA-B client naming a.example.com in both ClientHellos is refused', async () => {
  const r = await hrrRequest(port, 'a.example.com', 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});

test('a CA-B client switching SNI to a.example.com after a HelloRetryRequest is refused', async () => {
  const r = await hrrRequest(port, 'x.other', 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});

test('a client naming no server first and a.example.com after a HelloRetryRequest is refused', async () => {
  const r = await hrrRequest(port, undefined, 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});
