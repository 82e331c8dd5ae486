// A port whose servers differ in tls_params reads the ClientHello first to pick the server. A ClientHello
// split into two records (legal TLS; the transcript is unchanged) with its SNI in the second is read
// whole, as tls_inspector reads it, so the a.example.com server (TLS 1.3 only) does the handshake and
// refuses TLS 1.2, rather than the "*" server handshaking and a.example.com serving.
import assert from 'node:assert/strict';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import { type Fetched, fetchFragmented as fetchOver } from './client-hello-split.ts';
import { type App, appEntry, gatewayCert, type RouterEnv, routeToApp, secret, startGateway } from './gateway-tls-fixture.ts';

let env: RouterEnv;
let app: App;
let port: number;

before(async () => {
  const { web } = await gatewayCert();
  ({ env, app } = await startGateway((appPort) => `${secret('web-cert', web)}apiVersion: networking.istio.io/v1
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
${appEntry(appPort)}---
${routeToApp('a', ['a.example.com'], 'a')}`));
  port = await env.port('0.0.0.0_8443');
});
after(async () => {
  await env?.close();
  app?.server.close();
});

function fetchFragmented(maxVersion: tls.SecureVersion, fragment: boolean): Promise<Fetched> {
  return fetchOver(port, { maxVersion, fragment, servername: 'a.example.com' });
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
