// Auto mTLS through real proxies, config translated from YAML: the client sidecar reaches a server whose
// PeerAuthentication is DISABLE in plaintext, through that server's sidecar as Istio's inbound capture
// sends it there (its AuthorizationPolicy applies; the app learns no verified caller), and a STRICT one
// over the mutual-TLS tunnel (the app sees the verified caller).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, request, startProxy } from '../proxy/harness.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: legacy}
spec: {selector: {app: legacy}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec: {selector: {app: orders}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: legacy}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: legacy-mtls, namespace: legacy}
spec: {selector: {app: legacy}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy-mtls, namespace: legacy}
spec: {host: legacy-mtls.legacy.svc.cluster.local, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: legacy, namespace: legacy}
spec: {selector: {matchLabels: {app: legacy}}, rules: [{to: [{operation: {paths: [/hello]}}]}]}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
type App = Awaited<ReturnType<typeof echoBackend>>;
let ca: TestCa;
let legacyApp: App;
let ordersApp: App;
let server: Proxy;
let legacy: Proxy;
let client: Proxy;

const view = (ns: string, name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.${ns}~${ns}.svc.cluster.local`, role: 'sidecar', namespace: ns, workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const workload = (ns: string, name: string, appPort: number, tunnelPort: number): WorkloadInstance => ({
  name: `${name}-0`,
  namespace: ns,
  labels: { app: name },
  serviceAccount: name,
  address: '127.0.0.1',
  appPorts: { 8080: appPort },
  tunnelAddress: `127.0.0.1:${tunnelPort}`,
  healthy: true,
  source: 'deployment',
});

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const snapshot = buildSnapshot(loadText(yaml).resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

const rootSecret = (): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } });

before(async () => {
  ca = await makeCa();
  legacyApp = await echoBackend();
  ordersApp = await echoBackend();
  const ordersView = view('shop', 'orders', { 8080: ordersApp.port });
  server = await startProxy({ nodeId: ordersView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'orders', LABELS: { app: 'orders' } } });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/orders'));
  push(server.proxy, [...translated([workload('shop', 'orders', ordersApp.port, 15008)], ordersView), rootSecret()]);
  const ordersTunnel = await server.port('connect_terminate');
  const legacyView = view('legacy', 'legacy', { 8080: legacyApp.port });
  legacy = await startProxy({ nodeId: legacyView.id, metadata: { NAMESPACE: 'legacy', WORKLOAD_NAME: 'legacy', LABELS: { app: 'legacy' } } });
  legacy.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/legacy/sa/legacy'));
  push(legacy.proxy, [...translated([workload('legacy', 'legacy', legacyApp.port, 15008)], legacyView), rootSecret()]);
  const legacyTunnel = await legacy.port('connect_terminate');
  const workloads = [workload('legacy', 'legacy', legacyApp.port, legacyTunnel), workload('shop', 'orders', ordersApp.port, ordersTunnel)];
  const cartView = view('shop', 'cart', {});
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated(workloads, cartView), rootSecret()]);
});

after(async () => {
  await client?.close();
  await server?.close();
  await legacy?.close();
  legacyApp?.server.close();
  ordersApp?.server.close();
});

test('a DISABLE destination is reached in plaintext through its sidecar: its policy applies, its app learns no caller', async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://legacy.legacy/hello', { host: 'legacy.legacy' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/hello');
  assert.equal(seen.headers['x-forwarded-client-cert'], undefined, 'plaintext: no verified peer');
  assert.equal(legacyApp.requests.length, 1);
  // The destination's AuthorizationPolicy allows /hello only: a plaintext caller is judged by it too.
  const denied = await request(out, 'http://legacy.legacy/admin', { host: 'legacy.legacy' });
  assert.equal(denied.status, 403, denied.body);
  assert.match(denied.body, /^RBAC: access denied/);
  assert.equal(legacyApp.requests.length, 1, 'the app never saw the denied request');
});

test('a STRICT destination is reached over the mTLS tunnel with the caller identity', async () => {
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://orders.shop/hello', { host: 'orders.shop' });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.match(seen.headers['x-forwarded-client-cert'] ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
  assert.equal(ordersApp.requests.length, 1);
});

test('an explicit ISTIO_MUTUAL toward a DISABLE port fails (503), as the handshake fails in Istio, never an answer', async () => {
  const before = legacyApp.requests.length;
  const out = await client.port('virtualOutbound');
  const res = await request(out, 'http://legacy-mtls.legacy/hello', { host: 'legacy-mtls.legacy' });
  assert.equal(res.status, 503, res.body);
  assert.equal(legacyApp.requests.length, before, 'the app never saw it');
});
