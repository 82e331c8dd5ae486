// A MUTUAL Gateway server, translated from YAML into a real router proxy: the app behind it gets
// x-forwarded-client-cert with the verified client certificate's details (Istio's SANITIZE_SET), for a
// certificate without a SPIFFE ID too, and never the client's own header.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { appEntry, type Cred, resourcesOf, routeToApp, secret } from '../proxy/gateway-tls-fixture.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';

const yaml = (appPort: number, web: Cred, ca: string) => `${secret('web-cert', web, ca)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-mtls, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: OPTIONAL_MUTUAL, credentialName: web-cert}
---
${appEntry(appPort)}---
${routeToApp('app', ['m.example.com'])}`;

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let port: number;

before(async () => {
  app = await echoBackend();
  ca = await makeCa('gateway-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'm.example.com' }]);
  env = await startProxy({ role: 'router' });
  push(env.proxy, resourcesOf(yaml(app.port, web, ca.ca)));
  port = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env?.close();
  app?.server.close();
});

function forwarded(client: { cert?: string; key?: string }): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const headers = { host: 'm.example.com', 'x-forwarded-client-cert': 'By=forged;Hash=forged;URI=spiffe://forged' };
    const req = https.request({ host: '127.0.0.1', port, servername: 'm.example.com', path: '/', headers, ca: ca.ca, agent: false, ...client }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert']) : reject(new Error(`status ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a client certificate without a SPIFFE ID reaches the app as Hash, Cert, Subject, URI and DNS; the client\'s header is gone', async () => {
  const client = await ca.issueWithSans([{ type: 'dns', value: 'client.example.com' }]);
  const der = new X509Certificate(client.cert).raw;
  const value = await forwarded(client);
  const hash = createHash('sha256').update(der).digest('hex');
  assert.match(value ?? '', new RegExp(`^Hash=${hash};Cert="-----BEGIN%20CERTIFICATE-----%0A[^"]+-----END%20CERTIFICATE-----%0A";Subject="";URI=;DNS=client\\.example\\.com$`));
});

test('OPTIONAL_MUTUAL without a client certificate: no x-forwarded-client-cert at all', async () => {
  assert.equal(await forwarded({}), undefined);
});
