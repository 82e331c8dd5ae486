// 421 Misdirected Request at a gateway with two SIMPLE servers (distinct certificates), config translated
// from YAML into a real router proxy: a connection whose SNI chose a.example.com's server answers 421 to
// `Host: b.example.com`, and each host still works on its own connection (curl --resolve and node:tls).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { authorityHost, compileServerNames } from '../../src/proxy/tls/misdirected-request.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { echoBackend, push, startProxy } from '../proxy/harness.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';

const run = promisify(execFile);

const yaml = (appPort: number) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-a, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, credentialName: cert-a}
    - port: {number: 443, name: https-b, protocol: HTTPS}
      hosts: [b.example.com]
      tls: {mode: SIMPLE, credentialName: cert-b}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: istio-system}
spec:
  hosts: [app.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${appPort}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: istio-system}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal, port: {number: 80}}}]}]
`;

const router = ingressGatewayView;

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let port: number;

before(async () => {
  app = await echoBackend();
  const { resources, diagnostics } = loadText(yaml(app.port));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const translated = [...buildProxyResources(buildSnapshot(resources, [], '1'), router).values()].flatMap((m) => [...m.values()]);
  const ca = await makeCa('gateway-ca');
  const secret = async (name: string): Promise<TypedAny> => {
    const c = await ca.issue(`spiffe://cluster.local/ns/istio-system/sa/${name}`);
    return { '@type': TypeUrl.Secret, name: `kubernetes://${name}`, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } };
  };
  env = await startProxy({ role: 'router' });
  push(env.proxy, [...translated, await secret('cert-a'), await secret('cert-b')]);
  port = await env.port('0.0.0.0_8443');
});

after(async () => {
  await env?.close();
  app?.server.close();
});

async function curl(sni: string, host: string): Promise<string> {
  const { stdout } = await run('curl', ['-sk', '--max-time', '10', '--resolve', `${sni}:${port}:127.0.0.1`, '-H', `Host: ${host}`, '-o', '/dev/null', '-w', '%{http_code}', `https://${sni}:${port}/x`]);
  return stdout;
}

test('each host on its own connection reaches the app (curl --resolve)', async () => {
  assert.equal(await curl('a.example.com', 'a.example.com'), '200');
  assert.equal(await curl('b.example.com', 'b.example.com:443'), '200');
});

test("Host b.example.com on a connection negotiated for a.example.com: 421 (curl)", async () => {
  assert.equal(await curl('a.example.com', 'b.example.com'), '421');
  assert.equal(await curl('b.example.com', 'a.example.com:8443'), '421');
});

test('421 over node:tls, and the app never sees the request', async () => {
  const before = app.requests.length;
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'a.example.com', path: '/', headers: { host: 'b.example.com' }, rejectUnauthorized: false, agent: false }, (r) => {
      let body = '';
      r.on('data', (c) => {
        body += c;
      });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 421);
  assert.equal(app.requests.length, before);
});

test('server names match exactly or by wildcard; the port and case of Host do not matter', () => {
  const m = compileServerNames(['a.example.com', '*.apps.example.com']);
  assert.equal(m(authorityHost('A.Example.com:443')), true);
  assert.equal(m(authorityHost('x.apps.example.com')), true);
  assert.equal(m(authorityHost('apps.example.com')), false);
  assert.equal(m(authorityHost('b.example.com')), false);
  assert.equal(authorityHost('[::1]:8443'), '[::1]');
});
