// The source side's principals, translated config through real proxies. Istio's stats filter
// (istio_stats.cc, populatePeerInfo, ClientSidecar) takes source_principal from the upstream SSL
// connection's local certificate and destination_principal from its peer's: with no upstream TLS
// connection made (a refused tunnel: UF) or a plaintext hop (DestinationRule tls DISABLE), both are
// `unknown`, whatever the endpoint is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { closedPort, echoBackend, push, request, startProxy } from '../proxy/harness.ts';

const service = `apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  selector: {app: orders}
  ports:
    - {name: http, port: 80, targetPort: 8080}
`;
const disable = `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: permissive, namespace: shop}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders.shop.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
`;

const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;
const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const node = (v: ProxyView) => ({ nodeId: v.id, identity: spiffe(v.workloadName), metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: v.workloadName, LABELS: v.labels } });
const orders = (appPorts: Record<number, number>, tunnelPort: number): WorkloadInstance => ({ name: 'orders-0', namespace: 'shop', labels: { app: 'orders' }, serviceAccount: 'orders', address: '127.0.0.1', appPorts, tunnelAddress: `127.0.0.1:${tunnelPort}`, healthy: true, source: 'deployment' });

function translated(yaml: string, workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const { resources } = loadText(yaml);
  return [...buildProxyResources(buildSnapshot(resources, workloads, '1'), proxy).values()].flatMap((m) => [...m.values()]);
}

/** The labels of the istio_requests_total series with this response code. */
async function series(metricsPort: number, code: number): Promise<Record<string, string>> {
  await new Promise((r) => setTimeout(r, 200));
  const line = (await request(metricsPort, '/stats/prometheus')).body.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes(`response_code="${code}"`)) ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]));
}

test('an mTLS endpoint whose tunnel refuses (503 UF, no upstream TLS connection made): source_principal unknown', { timeout: 30_000 }, async () => {
  const ca = await makeCa();
  const client = await startProxy(node(view('cart', {})));
  try {
    const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
    client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
    push(client.proxy, [...translated(service, [orders({ 8080: 1 }, await closedPort())], view('cart', {})), root]);
    const r = await request(await client.port('virtualOutbound'), '/hello', { host: 'orders.shop' });
    assert.equal(r.status, 503, r.body);
    const s = await series(client.metricsPort, 503);
    assert.deepEqual({ flags: s['response_flags'], src: s['source_principal'], dst: s['destination_principal'] }, { flags: 'URX,UF', src: 'unknown', dst: 'unknown' });
  } finally {
    await client.close();
  }
});

test('DestinationRule tls DISABLE (a plaintext hop through the tunnel): both principals unknown on both sides; mTLS names both', { timeout: 30_000 }, async () => {
  const ca = await makeCa();
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const principals = async (yaml: string) => {
    const app = await echoBackend();
    const appPorts = { 8080: app.port };
    const ordersView = view('orders', appPorts);
    const server = await startProxy(node(ordersView));
    const client = await startProxy(node(view('cart', {})));
    try {
      server.proxy.secrets.setLocal('default', await ca.issue(spiffe('orders')));
      push(server.proxy, [...translated(yaml, [orders(appPorts, 15008)], ordersView), root]);
      client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
      push(client.proxy, [...translated(yaml, [orders(appPorts, await server.port('connect_terminate'))], view('cart', {})), root]);
      const r = await request(await client.port('virtualOutbound'), '/hello', { host: 'orders.shop' });
      assert.equal(r.status, 200, r.body);
      const [cl, sv] = [await series(client.metricsPort, 200), await series(server.metricsPort, 200)];
      return { server: [sv['connection_security_policy'], sv['source_principal'], sv['destination_principal']], client: [cl['destination_workload'], cl['source_principal'], cl['destination_principal']] };
    } finally {
      await client.close();
      await server.close();
      app.server.close();
    }
  };
  assert.deepEqual(await principals(service + disable), { server: ['none', 'unknown', 'unknown'], client: ['orders', 'unknown', 'unknown'] });
  assert.deepEqual(await principals(service), { server: ['mutual_tls', spiffe('cart'), spiffe('orders')], client: ['orders', spiffe('cart'), spiffe('orders')] });
});
