// Gateway TLS from Kubernetes Secrets (`credentialName`), translated from YAML into a real router proxy
// with nothing pushed by hand: SIMPLE serves the Secret's certificate; MUTUAL requires a client
// certificate signed by the Secret's `ca.crt`; a Secret in another namespace than the gateway's is not
// sent (Istio reads credentials from the gateway's own namespace).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const yaml = (appPort: number, web: { cert: string; key: string }, ca: string) => `apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: ${b64(web.cert)}, tls.key: ${b64(web.key)}}
---
apiVersion: v1
kind: Secret
metadata: {name: mtls-cert, namespace: istio-system}
data: {cert: ${b64(web.cert)}, key: ${b64(web.key)}, cacert: ${b64(ca)}}
---
apiVersion: v1
kind: Secret
metadata: {name: elsewhere-cert, namespace: app}
type: kubernetes.io/tls
data: {tls.crt: ${b64(web.cert)}, tls.key: ${b64(web.key)}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: [web.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert}
    - port: {number: 443, name: https-mtls, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: MUTUAL, credentialName: mtls-cert}
    - port: {number: 443, name: https-elsewhere, protocol: HTTPS}
      hosts: [x.example.com]
      tls: {mode: SIMPLE, credentialName: elsewhere-cert}
    - port: {number: 9080, name: http-later-https, protocol: HTTP}
      hosts: [web.example.com]
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
  hosts: [web.example.com, m.example.com, x.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal, port: {number: 80}}}]}]
`;

const router = ingressGatewayView;

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let port: number;
let secretNames: string[];

before(async () => {
  app = await echoBackend();
  ca = await makeCa('gateway-ca');
  const web = await ca.issueWithSans([
    { type: 'dns', value: 'web.example.com' },
    { type: 'dns', value: 'm.example.com' },
    { type: 'dns', value: 'x.example.com' },
  ]);
  const { resources, diagnostics } = loadText(yaml(app.port, web, ca.ca));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), router);
  secretNames = [...(out.get(TypeUrl.Secret)?.keys() ?? [])];
  const translated = [...out.values()].flatMap((m) => [...m.values()]);
  env = await startProxy({ role: 'router' });
  push(env.proxy, translated);
  port = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env?.close();
  app?.server.close();
});

function get(servername: string, client?: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername, path: '/', headers: { host: servername }, ca: ca.ca, agent: false, ...client }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('SIMPLE: the certificate of the credentialName Secret, verified by its CA', async () => {
  assert.equal(await get('web.example.com'), 200);
});

test('MUTUAL: a client certificate from the Secret\'s CA is required', async () => {
  await assert.rejects(get('m.example.com'));
  const client = await ca.issue('spiffe://client.example/ns/x/sa/y');
  assert.equal(await get('m.example.com', client), 200);
});

test("only the credentials the gateway's servers name, from the gateway's own namespace", () => {
  assert.deepEqual(secretNames.sort(), ['kubernetes://mtls-cert', 'kubernetes://mtls-cert-cacert', 'kubernetes://web-cert']);
});

test("a server name whose Secret is not here, or that no server names, fails the handshake: no other server's certificate stands in", async () => {
  // x.example.com's credential lives in another namespace, so the gateway has no certificate for it;
  // the web certificate (which also names x.example.com) must not be served in its place.
  await assert.rejects(get('x.example.com'));
  await assert.rejects(get('nowhere.example.com'));
  assert.equal(await get('web.example.com'), 200);
});

test('a gateway port edited from HTTP to HTTPS serves TLS on the same port (its listener is started anew)', async () => {
  const web = await ca.issueWithSans([{ type: 'dns', value: 'web.example.com' }]);
  const edited = yaml(app.port, web, ca.ca).replace('{number: 9080, name: http-later-https, protocol: HTTP}\n      hosts: [web.example.com]\n', '{number: 9080, name: https-later, protocol: HTTPS}\n      hosts: [web.example.com]\n      tls: {mode: SIMPLE, credentialName: web-cert}\n');
  assert.notEqual(edited, yaml(app.port, web, ca.ca));
  const out = buildProxyResources(buildSnapshot(loadText(edited).resources, [], '2'), router);
  push(env.proxy, [...out.values()].flatMap((m) => [...m.values()]), 'v2');
  const before = port;
  try {
    port = await env.port('0.0.0.0_9080');
    assert.equal(await get('web.example.com'), 200);
    // A listener of SIMPLE servers only asks no client certificate (a browser would prompt for one);
    // the one with a MUTUAL server does.
    assert.doesNotMatch(await handshakeMessages(port, 'web.example.com'), /CertificateRequest/);
    assert.match(await handshakeMessages(before, 'm.example.com'), /CertificateRequest/);
  } finally {
    port = before;
  }
});

/** The TLS handshake messages `openssl s_client -msg` saw. */
function handshakeMessages(p: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['s_client', '-msg', '-connect', `127.0.0.1:${p}`, '-servername', servername], { timeout: 10_000 }, (_err, stdout, stderr) => resolve(stdout + stderr)).stdin?.end();
  });
}
