// The seed's podinfo through real proxies, config translated from YAML: the ingress gateway routes
// `Host: podinfo.example.com` to `podinfo`, split by subset over two workloads that three Services select
// on one port. The destination sidecars name their inbound cluster's first service, as Istio's do; the
// dashboard still counts each request once, under `podinfo`, with the mutual TLS the sidecars saw.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { loadText } from '../../src/config/load.ts';
import type { ServiceGraph } from '../../src/dashboard/graph.ts';
import { type Dashboard, startDashboard } from '../../src/dashboard/server.ts';
import type { ServiceDetail, ServiceRow } from '../../src/dashboard/services-view.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { echoBackend, push, request, startProxy } from '../proxy/harness.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: podinfo}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}]}
---
apiVersion: v1
kind: Service
metadata: {name: podinfo-stable, namespace: podinfo}
spec: {selector: {app: podinfo, version: stable}, ports: [{name: http, port: 9898}]}
---
apiVersion: v1
kind: Service
metadata: {name: podinfo-canary, namespace: podinfo}
spec: {selector: {app: podinfo, version: canary}, ports: [{name: http, port: 9898}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: podinfo-gateway, namespace: podinfo}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [podinfo.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: podinfo-routes, namespace: podinfo}
spec:
  hosts: [podinfo.podinfo.svc.cluster.local, podinfo.example.com]
  gateways: [mesh, podinfo/podinfo-gateway]
  http:
    - match: [{headers: {x-canary: {exact: "true"}}}]
      route: [{destination: {host: podinfo.podinfo.svc.cluster.local, subset: canary, port: {number: 9898}}}]
    - route:
        - {destination: {host: podinfo.podinfo.svc.cluster.local, subset: stable, port: {number: 9898}}, weight: 90}
        - {destination: {host: podinfo.podinfo.svc.cluster.local, subset: canary, port: {number: 9898}}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: podinfo, namespace: podinfo}
spec:
  host: podinfo.podinfo.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets: [{name: stable, labels: {version: stable}}, {name: canary, labels: {version: canary}}]
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
type App = Awaited<ReturnType<typeof echoBackend>>;

const gatewayView: ProxyView = {
  id: 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local',
  role: 'router',
  namespace: 'istio-system',
  workloadName: 'istio-ingressgateway',
  serviceAccount: 'istio-ingressgateway-service-account',
  labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  ip: '127.0.0.1',
  appPorts: {},
};

const versions = ['stable', 'canary'] as const;
type Version = (typeof versions)[number];
const podinfoView = (v: Version, appPort: number): ProxyView => ({
  id: `sidecar~127.0.0.1~podinfo-${v}-0.podinfo~podinfo.svc.cluster.local`,
  role: 'sidecar',
  namespace: 'podinfo',
  workloadName: `podinfo-${v}`,
  serviceAccount: 'podinfo',
  labels: { app: 'podinfo', version: v },
  ip: '127.0.0.1',
  appPorts: { 9898: appPort },
});
const instance = (v: Version, appPort: number, tunnelPort: number): WorkloadInstance => ({
  name: `podinfo-${v}-0`,
  namespace: 'podinfo',
  labels: { app: 'podinfo', version: v },
  serviceAccount: 'podinfo',
  address: '127.0.0.1',
  appPorts: { 9898: appPort },
  tunnelAddress: `127.0.0.1:${tunnelPort}`,
  healthy: true,
  source: 'deployment',
});
const nodeMetadata = (v: ProxyView) => ({ NAMESPACE: v.namespace, WORKLOAD_NAME: v.workloadName, LABELS: v.labels });

const resources = loadText(yaml).resources;
const translated = (workloads: WorkloadInstance[], view: ProxyView): TypedAny[] =>
  [...buildProxyResources(buildSnapshot(resources, workloads, '1'), view).values()].flatMap((m) => [...m.values()]);

const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
const apps = {} as Record<Version, App>;
const sidecars = {} as Record<Version, Proxy>;
const inboundServices = {} as Record<Version, string[]>;
let gateway: Proxy;
let dashboard: Dashboard;

before(async () => {
  const ca = await makeCa();
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const tunnels = {} as Record<Version, number>;
  for (const v of versions) {
    apps[v] = await echoBackend();
    const view = podinfoView(v, apps[v].port);
    sidecars[v] = await startProxy({ nodeId: view.id, metadata: nodeMetadata(view) });
    sidecars[v].proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
    const own = translated([instance(v, apps[v].port, 15008)], view);
    push(sidecars[v].proxy, [...own, root]);
    tunnels[v] = await sidecars[v].port('connect_terminate');
    const inbound = own.find((r) => r['@type'] === TypeUrl.Cluster && r['name'] === 'inbound|9898||') as { metadata?: { filter_metadata?: { istio?: { fields?: { services?: { listValue: { values: { structValue: { fields: { name: { stringValue: string } } } }[] } } } } } } } | undefined;
    inboundServices[v] = (inbound?.metadata?.filter_metadata?.istio?.fields?.services?.listValue.values ?? []).map((s) => s.structValue.fields.name.stringValue);
  }
  const workloads = versions.map((v) => instance(v, apps[v].port, tunnels[v]));
  gateway = await startProxy({ role: 'router', nodeId: gatewayView.id, metadata: nodeMetadata(gatewayView) });
  gateway.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'));
  push(gateway.proxy, [...translated(workloads, gatewayView), root]);
  const proxies: [string, Proxy][] = [['istio-system/istio-ingressgateway-0', gateway], ...versions.map((v): [string, Proxy] => [`podinfo/podinfo-${v}-0`, sidecars[v]])];
  dashboard = await startDashboard({
    controlPlane: { snapshot: buildSnapshot(resources, workloads, '1'), connections: [] },
    clock,
    scrapeIntervalMs: 0,
    address: '127.0.0.1:0',
    scrapeTargets: () => proxies.map(([name, p]) => ({ name, url: `http://127.0.0.1:${p.metricsPort}/stats/prometheus` })),
  });
});

after(async () => {
  await dashboard?.close();
  await gateway?.close();
  for (const v of versions) {
    await sidecars[v]?.close();
    apps[v]?.server.close();
  }
});

async function get<T>(path: string): Promise<T> {
  const res = await fetch(new URL(path, dashboard.url));
  assert.equal(res.status, 200);
  return (await res.json()) as T;
}

const bounded = { timeout: 30_000 };

test('through the gateway to podinfo: one edge, one service, each request once, all over mutual TLS', bounded, async () => {
  // Istio's pilot lists a port's services by creation time, then hostname: `podinfo-stable.…` sorts before `podinfo.…`.
  assert.deepEqual(inboundServices, { stable: ['podinfo-stable', 'podinfo'], canary: ['podinfo-canary', 'podinfo'] });
  await dashboard.scrapeNow();
  const port = await gateway.port('0.0.0.0_8080');
  const sent = 40;
  for (let i = 0; i < sent; i++) {
    // A few ask for the canary by header, so both subsets see traffic whatever the split draws.
    const res = await request(port, '/api/info', { host: 'podinfo.example.com', headers: i % 8 === 0 ? { 'x-canary': 'true' } : {} });
    assert.equal(res.status, 200, res.body);
  }
  clock.advance(10_000);
  await dashboard.scrapeNow();
  const received = { stable: apps.stable.requests.length, canary: apps.canary.requests.length };
  assert.equal(received.stable + received.canary, sent);

  // The metrics are Istio's: the gateway names the service it routed to, each sidecar its cluster's first.
  const stats = async (p: Proxy) => (await request(p.metricsPort, '/stats/prometheus')).body;
  const gw = await stats(gateway);
  for (const v of versions) {
    assert.match(gw, new RegExp(`istio_requests_total\\{reporter="source",source_workload="istio-ingressgateway",[^}]*destination_workload="podinfo-${v}",[^}]*destination_service_name="podinfo",[^}]*response_code="200"[^}]*\\} ${received[v]}\\n`));
    assert.match(await stats(sidecars[v]), new RegExp(`istio_requests_total\\{reporter="destination",source_workload="istio-ingressgateway",[^}]*destination_service_name="${inboundServices[v][0]}",[^}]*connection_security_policy="mutual_tls"\\} ${received[v]}\\n`));
  }

  const g = await get<ServiceGraph>('/api/graph');
  const fromGateway = g.edges.filter((e) => e.source === 'workload:istio-system/istio-ingressgateway' && e.stats.requests > 0);
  assert.deepEqual(
    fromGateway.map((e) => [e.target, e.stats.requests, e.stats.mtlsRatio]),
    [['service:podinfo/podinfo', sent, 1]],
  );
  for (const v of versions) {
    const e = g.edges.find((x) => x.source === 'service:podinfo/podinfo' && x.target === `workload:podinfo/podinfo-${v}`);
    assert.equal(e?.stats.requests, received[v]);
    assert.equal(e?.stats.mtlsRatio, 1);
  }

  const { services } = await get<{ services: ServiceRow[] }>('/api/services');
  assert.deepEqual(
    services.filter((s) => s.stats.requests > 0).map((s) => [s.name, s.stats.requests, s.stats.mtlsRatio]),
    [['podinfo', sent, 1]],
  );
  const detail = await get<ServiceDetail>('/api/services/podinfo/podinfo');
  assert.deepEqual(Object.fromEntries(detail.byDestination.map((d) => [d.version, d.stats.requests])), received);
});
