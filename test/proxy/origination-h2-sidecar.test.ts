// HTTP/2 in the TLS a DestinationRule (`tls.mode: SIMPLE`) originates toward a workload with a sidecar:
// the client sidecar speaks h2 in it (ALPN `h2`), as Envoy does for an HTTP/2 upstream, carried in a
// tunnel CONNECT marked `plain_tls` that the destination passes to the app (an undeclared port), which
// terminates the TLS. An HTTP/1.1 client's request still goes as HTTP/1.1. Config translated from YAML.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from './certs.ts';
import { push, request, startProxy } from './harness.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-dr-h2-'));
const caFile = path.join(dir, 'ca.pem');

// `web` is no protocol Istio knows: the port is undeclared, so the destination passes TLS that is not
// the mesh's to the app, and the client's cluster forwards in the protocol its client spoke.
const yaml = `apiVersion: v1
kind: Service
metadata: {name: open, namespace: shop}
spec: {selector: {app: api}, ports: [{name: web, port: 80, targetPort: 9443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: open, namespace: shop}
spec: {host: open.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ${caFile}, sni: api.example.com, subjectAltNames: [api.example.com]}}}
---
apiVersion: v1
kind: Service
metadata: {name: wrong, namespace: shop}
spec: {selector: {app: api}, ports: [{name: web, port: 80, targetPort: 9443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: wrong, namespace: shop}
spec: {host: wrong.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ${caFile}, sni: api.example.com, subjectAltNames: [other.example.com]}}}
---
apiVersion: v1
kind: Service
metadata: {name: locked, namespace: shop}
spec: {selector: {app: api}, ports: [{name: web, port: 80, targetPort: 9444}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: locked, namespace: shop}
spec: {host: locked.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ${caFile}, sni: api.example.com}}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: api, namespace: shop}
spec: {selector: {matchLabels: {app: api}}, mtls: {mode: PERMISSIVE}, portLevelMtls: {9444: {mode: STRICT}}}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let meshCa: TestCa;
let app: http2.Http2SecureServer;
let server: Proxy;
let client: Proxy;
let workloads: WorkloadInstance[];

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;

function translated(proxy: ProxyView): TypedAny[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  const snapshot = buildSnapshot(resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

const rootSecret = (): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: meshCa.ca } } });

before(async () => {
  meshCa = await makeCa();
  const appCa = await makeCa('app-root');
  writeFileSync(caFile, appCa.ca);
  // The app serves h2 and HTTP/1.1 in its own TLS, and says which it was spoken to in.
  app = http2.createSecureServer({ ...(await appCa.issueWithSans([{ type: 'dns', value: 'api.example.com' }])), allowHTTP1: true }, (req, res) => {
    const s = req.socket as tls.TLSSocket;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ version: req.httpVersion, alpn: s.alpnProtocol, sni: (s as unknown as { servername?: string }).servername }));
  });
  const appPort = await new Promise<number>((r) => app.listen(0, '127.0.0.1', () => r((app.address() as net.AddressInfo).port)));
  const appPorts = { 9443: appPort, 9444: appPort };
  const apiView = view('api', appPorts);
  server = await startProxy({ nodeId: apiView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  server.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/api'));
  workloads = [{ name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' }];
  push(server.proxy, [...translated(apiView), rootSecret()]);
  workloads = [{ ...(workloads[0] as WorkloadInstance), tunnelAddress: `127.0.0.1:${await server.port('connect_terminate')}` }];
  const cartView = view('cart', {});
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  client.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated(cartView), rootSecret()]);
});

after(async () => {
  await client?.close();
  await server?.close();
  app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One h2c request through the client sidecar: status and body. */
async function h2c(authority: string): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${await client.port('virtualOutbound')}`);
  session.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': '/hello', ':authority': authority }, { endStream: true });
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
    });
  } finally {
    session.close();
  }
}

test('an HTTP/2 client through SIMPLE toward a sidecar: the app is spoken to in h2 (ALPN h2) inside the rule’s TLS', async () => {
  const first = await h2c('open.shop');
  assert.equal(first.status, 200, first.body);
  assert.deepEqual(JSON.parse(first.body), { version: '2.0', alpn: 'h2', sni: 'api.example.com' });
  // A second request shares the session in that TLS.
  const second = await h2c('open.shop');
  assert.equal(JSON.parse(second.body).version, '2.0');
});

test('an HTTP/1.1 client through the same rule still reaches the app in HTTP/1.1', async () => {
  const res = await request(await client.port('virtualOutbound'), '/hello', { host: 'open.shop' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { version: string; sni: string };
  assert.equal(seen.version, '1.1');
  assert.equal(seen.sni, 'api.example.com');
});

test('a server the rule does not name fails the h2 handshake: 503 UF, a connection failure', async () => {
  const res = await h2c('wrong.shop');
  assert.equal(res.status, 503, res.body);
  assert.match(res.body, /reset reason: connection failure/);
});

test('a STRICT port refuses the tunnel CONNECT under the h2 session: 503 UF, the app never sees it', async () => {
  let reached = 0;
  const count = () => reached++;
  app.on('secureConnection', count);
  try {
    const res = await h2c('locked.shop');
    assert.equal(res.status, 503, res.body);
    assert.match(res.body, /reset reason: connection failure/);
    assert.equal(reached, 0);
  } finally {
    app.off('secureConnection', count);
  }
});
