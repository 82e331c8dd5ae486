// A gateway's TLS PASSTHROUGH server, translated from YAML into a real router proxy: the ClientHello's SNI
// picks the VirtualService `tls` route (the backend's own certificate reaches the client), and an SNI no
// route names is closed.
import assert from 'node:assert/strict';
import https from 'node:https';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import { makeCa, type TestCa } from './certs.ts';
import { push, startProxy } from './harness.ts';
import { ingressGatewayView } from '../fixtures/ingress-gateway-view.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const yaml = (a: number, b: number, web: { cert: string; key: string }) => `apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: ${b64(web.cert)}, tls.key: ${b64(web.key)}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls-a, namespace: app}
spec:
  hosts: [a.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${a}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls-b, namespace: app}
spec:
  hosts: [b.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${b}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 8444, name: tls, protocol: TLS}
      hosts: [a.example.com, b.example.com, c.example.com]
      tls: {mode: PASSTHROUGH}
    - port: {number: 8444, name: https-web, protocol: HTTPS}
      hosts: [web.example.com]
      tls: {mode: SIMPLE, credentialName: web-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: app}
spec:
  hosts: [web.example.com]
  gateways: [gw]
  http: [{directResponse: {status: 200, body: {string: web}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sni, namespace: app}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [gw]
  tls:
    - match: [{port: 8444, sniHosts: [a.example.com]}]
      route: [{destination: {host: a.example.com, port: {number: 443}}}]
    - match: [{port: 8444, sniHosts: [b.example.com]}]
      route: [{destination: {host: b.example.com, port: {number: 443}}}]
`;

const router = ingressGatewayView;

let env: Awaited<ReturnType<typeof startProxy>>;
let ca: TestCa;
const backends: https.Server[] = [];
let port: number;

async function backend(name: string): Promise<number> {
  const cert = await ca.issueWithSans([{ type: 'dns', value: `${name}.example.com` }]);
  const server = https.createServer(cert, (_req, res) => res.end(name));
  backends.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  ca = await makeCa('backend-ca');
  const web = await ca.issueWithSans([{ type: 'dns', value: 'web.example.com' }]);
  const { resources, diagnostics } = loadText(yaml(await backend('a'), await backend('b'), web));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const translated = [...buildProxyResources(buildSnapshot(resources, [], '1'), router).values()].flatMap((m) => [...m.values()]);
  env = await startProxy({ role: 'router' });
  push(env.proxy, translated);
  port = await env.port('0.0.0.0_8444');
});

after(async () => {
  await env?.close();
  for (const s of backends) s.close();
});

function get(servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername, path: '/', headers: { host: servername }, ca: ca.ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the SNI picks the tls route; the backend terminates TLS with its own certificate', async () => {
  assert.equal(await get('a.example.com'), 'a');
  assert.equal(await get('b.example.com'), 'b');
});

test('an SNI that no tls route names finds no filter chain: the connection is closed', async () => {
  await assert.rejects(get('c.example.com'));
});

test('one port with PASSTHROUGH and SIMPLE servers: the SNI decides who terminates TLS, the backend or the gateway', async () => {
  assert.equal(await get('web.example.com'), 'web');
  assert.equal(await get('a.example.com'), 'a');
});
