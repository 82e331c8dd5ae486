// The seed's circuit breaker, seen working: the seed's YAML (examples/seed) translated for the ingress
// gateway and podinfo sidecars, podinfo-stable scaled to two replicas (one replica per subset can never be
// ejected under the seed's 50 % cap, as in Envoy), each a real demo podinfo behind a real sidecar over
// mutual TLS. One replica is made sick with podinfo's own `POST /fault_injection/enable`; the gateway's
// outlier detection ejects it after 5 consecutive 5xx, which shows in its Envoy stats, its admin
// `/clusters` health flags and the dashboard, and returns it on the interval tick after the 30 s
// ejection, on an injected clock.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { loadPaths } from '../../src/config/load-paths.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { type Dashboard, startDashboard } from '../../src/dashboard/server.ts';
import type { ServiceDetail, ServiceRow } from '../../src/dashboard/services-view.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { type PodinfoServer, startPodinfo } from '../../src/runtime/demo/podinfo.ts';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';
import { advanceUntilSettled, FakeClock } from './fake-clock.ts';

type Proxy = Awaited<ReturnType<typeof startProxy>>;

const seed = loadPaths([path.resolve(import.meta.dirname, '../../examples/seed')]);
const STABLE = 'outbound|9898|stable|podinfo.podinfo.svc.cluster.local';
const pods = [
  { name: 'podinfo-stable-0', version: 'stable' },
  { name: 'podinfo-stable-1', version: 'stable' },
  { name: 'podinfo-canary-0', version: 'canary' },
] as const;
type PodName = (typeof pods)[number]['name'];

const gatewayView: ProxyView = {
  id: 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local',
  role: 'router',
  namespace: 'istio-system',
  workloadName: 'istio-ingressgateway',
  serviceAccount: 'istio-ingressgateway-service-account',
  labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  ip: '127.0.0.1',
  appPorts: {},
};
const podView = (p: (typeof pods)[number], appPort: number): ProxyView => ({
  id: `sidecar~127.0.0.1~${p.name}.podinfo~podinfo.svc.cluster.local`,
  role: 'sidecar',
  namespace: 'podinfo',
  workloadName: `podinfo-${p.version}`,
  serviceAccount: 'podinfo',
  labels: { app: 'podinfo', version: p.version },
  ip: '127.0.0.1',
  appPorts: { 9898: appPort },
});
const instance = (p: (typeof pods)[number], appPort: number, tunnelPort: number): WorkloadInstance => ({
  name: p.name,
  namespace: 'podinfo',
  labels: { app: 'podinfo', version: p.version },
  serviceAccount: 'podinfo',
  address: '127.0.0.1',
  appPorts: { 9898: appPort },
  tunnelAddress: `127.0.0.1:${tunnelPort}`,
  healthy: true,
  source: 'deployment',
});
const metadata = (v: ProxyView) => ({ NAMESPACE: v.namespace, WORKLOAD_NAME: v.workloadName, LABELS: v.labels });
const translated = (workloads: WorkloadInstance[], view: ProxyView): TypedAny[] =>
  [...buildProxyResources(buildSnapshot(seed.resources, workloads, '1'), view).values()].flatMap((m) => [...m.values()]);

// The seed's Telemetry logs every request to /dev/stdout: kept out of the test's output.
const quiet = () => new Writable({ write: (_c, _e, done) => done() });
const clock = new FakeClock();
const dashboardClock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
const collector = new TraceCollector({ maxTraces: 10 });
const apps = {} as Record<PodName, PodinfoServer>;
const sidecars: Proxy[] = [];
let gateway: Proxy;
let ingress: number;
let dashboard: Dashboard;
let workloads: WorkloadInstance[];

// A fixed sequence, so the split and the load balancer draw the same way every run.
let seedValue = 7;
const random = () => {
  seedValue = (seedValue * 1103515245 + 12345) % 2147483648;
  return seedValue / 2147483648;
};

before(async () => {
  assert.deepEqual(seed.diagnostics.filter((d) => d.severity === 'error'), []);
  const traces = `http://127.0.0.1:${await collector.listen(0)}/v1/traces`;
  const ca = await makeCa();
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  workloads = [];
  for (const p of pods) {
    apps[p.name] = await startPodinfo({ version: '6.14.1', hostname: p.name, message: `podinfo ${p.version}` });
    const view = podView(p, apps[p.name].port);
    const sidecar = await startProxy({ nodeId: view.id, metadata: metadata(view), traceEndpoint: traces, output: quiet(), identity: 'spiffe://cluster.local/ns/podinfo/sa/podinfo' });
    sidecar.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
    push(sidecar.proxy, [...translated([instance(p, apps[p.name].port, 15008)], view), root]);
    sidecars.push(sidecar);
    workloads.push(instance(p, apps[p.name].port, await sidecar.port('connect_terminate')));
  }
  gateway = await startProxy({ role: 'router', nodeId: gatewayView.id, metadata: metadata(gatewayView), traceEndpoint: traces, output: quiet(), timers: clock, now: clock.now, random });
  gateway.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'));
  push(gateway.proxy, [...translated(workloads, gatewayView), root]);
  ingress = await gateway.port('0.0.0.0_8080');
  dashboard = await startDashboard({
    controlPlane: { snapshot: buildSnapshot(seed.resources, workloads, '1'), connections: [] },
    clock: dashboardClock,
    scrapeIntervalMs: 0,
    address: '127.0.0.1:0',
    scrapeTargets: () => [{ name: 'istio-system/istio-ingressgateway-0', url: `http://127.0.0.1:${gateway.metricsPort}/stats/prometheus` }],
  });
  await dashboard.scrapeNow();
});

after(async () => {
  await dashboard?.close();
  await gateway?.close();
  for (const s of sidecars) await s.close();
  for (const app of Object.values(apps)) await app.close();
  await collector.close();
});

/** One request through the ingress, as a client outside the mesh sends it; retry back-offs run on the fake clock. */
async function viaIngress(): Promise<{ status: number; pod: string }> {
  const res = await advanceUntilSettled(clock, request(ingress, '/', { host: 'podinfo.example.com' }), 'a request through the ingress');
  return { status: res.status, pod: res.status === 200 ? String((JSON.parse(res.body) as { hostname?: string }).hostname) : '' };
}

const stableCluster = () => gateway.proxy.clusters.get(STABLE);
/** A meshed endpoint's address as the gateway dials it: the pod's sidecar tunnel (HBONE style). */
const endpointOf = (pod: PodName) => workloads.find((w) => w.name === pod)?.tunnelAddress ?? '';
const sickKey = () => endpointOf('podinfo-stable-1');
const text = async (port: number, p: string) => (await request(port, p)).body;
/** Requests the sick replica's app answered with its injected 500. */
const refused = async () => Number(/^http_requests_total\{method="GET",path="fault_injection",status="500"\} (\d+)$/m.exec(await text(apps['podinfo-stable-1'].port, '/metrics'))?.[1] ?? 0);

async function podinfoRow(): Promise<ServiceRow> {
  dashboardClock.advance(10_000);
  await dashboard.scrapeNow();
  const res = await fetch(new URL('/api/services/podinfo/podinfo?window=600', dashboard.url));
  assert.equal(res.status, 200);
  return (await res.json()) as ServiceDetail;
}

test("a replica answering 500 (podinfo's /fault_injection/enable) is ejected by the seed's outlier detection, seen in stats, /clusters and the dashboard, and returns after the ejection time", { timeout: 120_000 }, async () => {
  // Both stable replicas serve before anything breaks.
  const served = new Set<string>();
  for (let i = 0; i < 60 && !(served.has('podinfo-stable-0') && served.has('podinfo-stable-1')); i++) served.add((await viaIngress()).pod);
  assert.ok(served.has('podinfo-stable-1') && served.has('podinfo-stable-0'), [...served].join(', '));
  assert.equal(stableCluster()?.outlier?.stats.ejections_active, 0);

  // One replica turns sick, as `kubectl exec deploy/podinfo-stable -- curl -X POST localhost:9898/fault_injection/enable` would make it.
  assert.equal((await request(apps['podinfo-stable-1'].port, '/fault_injection/enable', { method: 'POST' })).status, 202);
  for (let i = 0; i < 200 && stableCluster()?.outlier?.stats.ejections_active !== 1; i++) {
    // The seed's retries (5xx, other host) hide the sick replica from clients while it is being detected.
    assert.equal((await viaIngress()).status, 200);
  }
  const ejectedAt = clock.now();
  assert.equal(await refused(), 5, 'ejected at its fifth consecutive 500');

  // Envoy's stats on the gateway's /stats/prometheus (what the seed's Prometheus scrapes).
  const stats = await text(gateway.metricsPort, '/stats/prometheus');
  const series = (name: string) => new RegExp(`^envoy_cluster_outlier_detection_${name}\\{cluster_name="${STABLE.replaceAll('|', '\\|')}"\\} (\\d+)$`, 'm').exec(stats)?.[1];
  assert.deepEqual([series('ejections_active'), series('ejections_enforced_consecutive_5xx'), series('ejections_enforced_total'), series('ejections_overflow')], ['1', '1', '1', '0']);

  // The admin /clusters health flags (what `istioctl proxy-config endpoint` reads as OUTLIER CHECK).
  const flags = (await text(gateway.admin, '/clusters')).split('\n').filter((l) => l.startsWith(`${STABLE}::`) && l.includes('::health_flags::'));
  assert.deepEqual(flags.sort(), [`${STABLE}::${endpointOf('podinfo-stable-0')}::health_flags::healthy`, `${STABLE}::${sickKey()}::health_flags::/failed_outlier_check`].sort());
  const json = JSON.parse(await text(gateway.admin, '/clusters?format=json')) as { cluster_statuses: { name: string; host_statuses: { address: { socket_address: { port_value: number } }; health_status: { failed_outlier_check?: boolean } }[] }[] };
  const hosts = json.cluster_statuses.find((c) => c.name === STABLE)?.host_statuses ?? [];
  assert.deepEqual(
    hosts.filter((h) => h.health_status.failed_outlier_check).map((h) => `127.0.0.1:${h.address.socket_address.port_value}`),
    [sickKey()],
  );

  // The dashboard's podinfo service.
  assert.deepEqual((await podinfoRow()).outlier, { ejectionsActive: 1, ejections: 1, overflows: 0 });

  // While ejected, the sick replica gets nothing, and clients see no error.
  for (let i = 0; i < 20; i++) {
    const r = await viaIngress();
    assert.equal(r.status, 200);
    assert.notEqual(r.pod, 'podinfo-stable-1');
  }
  assert.equal(await refused(), 5, 'no request reached the ejected replica');

  // It heals; the detector brings it back on the first interval tick (30 s) at least 30 s after the ejection.
  assert.equal((await request(apps['podinfo-stable-1'].port, '/fault_injection/disable', { method: 'POST' })).status, 202);
  clock.advance(ejectedAt + 30_000 - 1 - clock.now());
  assert.equal(stableCluster()?.outlier?.stats.ejections_active, 1, 'still out just before the ejection time');
  for (let step = 0; step < 30 && stableCluster()?.outlier?.stats.ejections_active !== 0; step++) clock.advance(1_000);
  const outFor = clock.now() - ejectedAt;
  assert.ok(outFor >= 30_000 && outFor <= 60_000, `returned after ${outFor} ms: the ejection time, up to one interval more`);
  assert.match(await text(gateway.metricsPort, '/stats/prometheus'), new RegExp(`^envoy_cluster_outlier_detection_ejections_active\\{cluster_name="${STABLE.replaceAll('|', '\\|')}"\\} 0$`, 'm'));
  assert.match(await text(gateway.admin, '/clusters'), new RegExp(`${sickKey().replaceAll('.', '\\.')}::health_flags::healthy`));
  assert.deepEqual((await podinfoRow()).outlier, { ejectionsActive: 0, ejections: 1, overflows: 0 });

  // Back in rotation: it answers again.
  const back = new Set<string>();
  for (let i = 0; i < 60 && !back.has('podinfo-stable-1'); i++) back.add((await viaIngress()).pod);
  assert.ok(back.has('podinfo-stable-1'), [...back].join(', '));
});
