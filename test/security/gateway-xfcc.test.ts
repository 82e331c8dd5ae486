// A MUTUAL Gateway server, translated from YAML into a real router proxy: the app behind it gets
// x-forwarded-client-cert with the verified client certificate's details (Istio's SANITIZE_SET), for a
// certificate without a SPIFFE ID too, and never the client's own header.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const yaml = (appPort: number, web: { cert: string; key: string }, ca: string) => `apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: istio-system}
data: {cert: ${b64(web.cert)}, key: ${b64(web.key)}, cacert: ${b64(ca)}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-mtls, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: OPTIONAL_MUTUAL, credentialName: web-cert}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: app}
spec:
  hosts: [app.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${appPort}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: app}
spec:
  hosts: [m.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal, port: {number: 80}}}]}]
`;

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let port: number;

before(async () => {
  app = await echoBackend();
  ca = await makeCa('gateway-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'm.example.com' }]);
  env = await startProxy({ role: 'router' });
  const { resources, diagnostics } = loadText(yaml(app.port, web, ca.ca));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), ingressGatewayView);
  push(env.proxy, [...out.values()].flatMap((m) => [...m.values()]));
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
