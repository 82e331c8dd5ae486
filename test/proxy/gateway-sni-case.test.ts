// SNI is case-insensitive (RFC 6066; Envoy matches filter chains case-insensitively): A.EXAMPLE.COM is
// served by the a.example.com server, on a port whose servers differ in tls_params and on a plain one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeCa } from './certs.ts';
import { type App, appEntry, get, type RouterEnv, routeToApp, secret, startGateway } from './gateway-tls-fixture.ts';

let env: RouterEnv;
let app: App;
let mixed: number;
let single: number;

before(async () => {
  const ca = await makeCa('gw-ca');
  const web = await ca.issueWithSans(['a', 'b', 'c'].map((h) => ({ type: 'dns' as const, value: `${h}.example.com` })));
  ({ env, app } = await startGateway((appPort) => `${secret('web-cert', web)}apiVersion: networking.istio.io/v1
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
    - port: {number: 9443, name: https-c, protocol: HTTPS}
      hosts: [c.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert}
---
${appEntry(appPort)}---
${routeToApp('app', ['a.example.com', 'b.example.com', 'c.example.com'])}`));
  mixed = await env.port('0.0.0.0_8443');
  single = await env.port('0.0.0.0_9443');
});
after(async () => {
  await env?.close();
  app?.server.close();
});

test('mixed port (servers differ in tls_params): SNI A.EXAMPLE.COM is served by a.example.com (Envoy: case-insensitive)', async () => {
  assert.equal((await get(mixed, 'a.example.com', 'a.example.com')).status, 200, 'lowercase');
  assert.equal((await get(single, 'c.example.com', 'c.example.com')).status, 200, 'lowercase c');
  const r = await get(mixed, 'A.EXAMPLE.COM', 'a.example.com');
  assert.equal(r.status, 200);
});

test("'tls' port (one server): SNI C.EXAMPLE.COM served", async () => {
  const r = await get(single, 'C.EXAMPLE.COM', 'c.example.com');
  assert.equal(r.status, 200);
});

test('control: lowercase SNI served on both ports', async () => {
  assert.equal((await get(mixed, 'b.example.com', 'b.example.com')).status, 200);
  assert.equal((await get(single, 'c.example.com', 'c.example.com')).status, 200);
});
