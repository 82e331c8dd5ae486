// The dashboard's JSON API over real sockets: rates, 5xx ratio and latency quantiles from scraped
// Istio metrics, reporter de-duplication, counter resets, a dead target, traces, proxy sync, certificates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import type { CertificatesReport } from '../../src/dashboard/certificates-view.ts';
import type { ServiceGraph } from '../../src/dashboard/graph.ts';
import type { ProxiesReport } from '../../src/dashboard/proxies-view.ts';
import type { ServiceDetail, ServiceRow } from '../../src/dashboard/services-view.ts';
import type { TraceDetail, TraceListItem } from '../../src/dashboard/traces-view.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from '../controlplane/raw-ads-client.ts';
import { MeshFixture } from './mesh-fixture.ts';

let mesh: MeshFixture;

before(async () => {
  mesh = await new MeshFixture().start();
});

after(async () => {
  await mesh.close();
});

const edge = (g: ServiceGraph, source: string, target: string) => g.edges.find((e) => e.source === source && e.target === target);
const node = (g: ServiceGraph, id: string) => g.nodes.find((n) => n.id === id);

test('before any traffic the graph has the configured services and workloads, idle', async () => {
  const { status, body } = await mesh.get<ServiceGraph>('/api/graph');
  assert.equal(status, 200);
  assert.equal(body.at, null);
  assert.equal(node(body, 'service:podinfo/podinfo')?.health, 'idle');
  assert.equal(node(body, 'workload:podinfo/podinfo-stable')?.instances, 1);
  assert.ok(edge(body, 'service:podinfo/podinfo', 'workload:podinfo/podinfo-canary'), 'service → workload edges from the registry');
});

test('rates, 5xx ratio and latency over the window, each request counted once', async () => {
  await mesh.dashboard.scrapeNow();
  mesh.traffic('stable', 90, { errors: 9, slow: 9 });
  mesh.traffic('canary', 30, { slow: 1 });
  mesh.clock.advance(10_000);
  await mesh.dashboard.scrapeNow();

  const { body: g } = await mesh.get<ServiceGraph>('/api/graph');
  assert.equal(g.windowSeconds, 10);
  const inbound = edge(g, 'workload:istio-system/istio-ingressgateway', 'service:podinfo/podinfo');
  // 120 requests in 10 s, reported by the gateway (source) and by podinfo (destination): 12 rps, not 24.
  assert.equal(inbound?.stats.rps, 12);
  assert.equal(inbound?.stats.errorRatio, 9 / 120);
  assert.equal(inbound?.health, 'failing');
  assert.equal(inbound?.stats.mtlsRatio, 1);
  // 110 at 3 ms (bucket 1–5], 10 at 400 ms (bucket 250–500]: p50 = 1 + 4·60/110, p95 = 250 + 250·4/10.
  assert.equal(inbound?.stats.p50, Math.round((1 + (4 * 60) / 110) * 100) / 100);
  assert.equal(inbound?.stats.p95, 350);
  const toStable = edge(g, 'service:podinfo/podinfo', 'workload:podinfo/podinfo-stable');
  const toCanary = edge(g, 'service:podinfo/podinfo', 'workload:podinfo/podinfo-canary');
  assert.equal(toStable?.stats.rps, 9);
  assert.equal(toCanary?.stats.rps, 3);
  assert.equal(toCanary?.health, 'healthy');
  assert.equal(node(g, 'workload:istio-system/istio-ingressgateway')?.kind, 'workload');

  const { body: list } = await mesh.get<{ services: ServiceRow[] }>('/api/services');
  const row = list.services.find((s) => s.name === 'podinfo');
  assert.equal(row?.stats.requests, 120);
  assert.equal(row?.endpoints, 2);
  assert.equal(row?.hostname, 'podinfo.podinfo.svc.cluster.local');
});

test('one service: the split by destination workload, by source, and a point per scrape interval', async () => {
  const { status, body } = await mesh.get<ServiceDetail>('/api/services/podinfo/podinfo');
  assert.equal(status, 200);
  assert.deepEqual(
    body.byDestination.map((d) => [d.workload, d.version, d.stats.requests]),
    [
      ['podinfo-stable', 'stable', 90],
      ['podinfo-canary', 'canary', 30],
    ],
  );
  assert.deepEqual(
    body.bySource.map((s) => [s.namespace, s.workload, s.stats.rps]),
    [['istio-system', 'istio-ingressgateway', 12]],
  );
  assert.equal(body.history.length, 1);
  assert.equal(body.history[0]?.rps, 12);
  assert.deepEqual(body.instances.map((i) => i.workload).sort(), ['podinfo-canary', 'podinfo-stable']);
  assert.equal((await mesh.get('/api/services/podinfo/nope')).status, 404);
});

test('a dead target is reported down while the others are scraped', async () => {
  const { body } = await mesh.get<ProxiesReport>('/api/proxies');
  const dead = body.scrapeTargets.find((t) => t.name === 'podinfo/gone-0');
  assert.equal(dead?.up, false);
  assert.match(dead?.error ?? '', /ECONNREFUSED|fetch failed/);
  assert.equal(body.scrapeTargets.find((t) => t.name === 'podinfo/podinfo-stable-0')?.up, true);
});

test('a proxy restart (counters back to zero) never yields a negative rate', async () => {
  mesh.targets.canary.restart();
  mesh.targets.gateway.restart();
  mesh.traffic('canary', 20);
  mesh.clock.advance(10_000);
  await mesh.dashboard.scrapeNow();
  const { body } = await mesh.get<ServiceGraph>('/api/graph?window=10');
  assert.equal(edge(body, 'service:podinfo/podinfo', 'workload:podinfo/podinfo-canary')?.stats.rps, 2);
  assert.equal(edge(body, 'service:podinfo/podinfo', 'workload:podinfo/podinfo-stable')?.stats.rps, 0);
  // The 60 s default window spans both intervals: 140 requests over 20 s.
  const { body: wide } = await mesh.get<ServiceGraph>('/api/graph');
  assert.equal(edge(wide, 'workload:istio-system/istio-ingressgateway', 'service:podinfo/podinfo')?.stats.rps, 7);
});

test('traces: a list filtered by service, and a waterfall ordered as a call tree', async () => {
  const id = 'aaaabbbbccccdddd0000111122223333';
  mesh.trace('ffffeeeeddddcccc0000111122223333', Date.parse('2030-01-01T00:00:00Z'));
  mesh.trace(id, Date.parse('2030-01-01T00:00:01Z'), true);
  const { body } = await mesh.get<{ enabled: boolean; traces: TraceListItem[] }>('/api/traces?service=podinfo-stable.podinfo');
  assert.equal(body.enabled, true);
  assert.deepEqual(
    body.traces.map((t) => [t.traceId, t.spans, t.durationMs, t.error]),
    [
      [id, 3, 12, true],
      ['ffffeeeeddddcccc0000111122223333', 3, 12, false],
    ],
  );
  assert.equal(body.traces[0]?.root, 'istio-ingressgateway.istio-system: podinfo.example.com:8080/*');
  const { body: t } = await mesh.get<TraceDetail>(`/api/traces/${id}`);
  assert.deepEqual(
    t.spans.map((s) => [s.service, s.kind, s.depth, s.offsetMs, s.durationMs]),
    [
      ['istio-ingressgateway.istio-system', 'server', 0, 0, 12],
      ['istio-ingressgateway.istio-system', 'client', 1, 1, 10],
      ['podinfo-stable.podinfo', 'server', 2, 2, 8],
    ],
  );
  assert.equal(t.spans[2]?.attributes['http.status_code'], '503');
  assert.equal((await mesh.get(`/api/traces/${'0'.repeat(32)}`)).status, 404);
});

test('proxies: STALE until the ACK, NACKED with the reason when the proxy rejects the pending version', async () => {
  const c = new RawAdsClient(mesh.cp.xdsAddress, sidecarNode('podinfo', 'podinfo-stable-0', 'default', 'podinfo-stable', { LABELS: { app: 'podinfo', version: 'stable' } }));
  const bad = new RawAdsClient(mesh.cp.xdsAddress, sidecarNode('podinfo', 'podinfo-canary-0', 'default', 'podinfo-canary'));
  try {
    c.subscribe(TypeUrl.Cluster);
    const res = await c.next();
    const before = (await mesh.get<ProxiesReport>('/api/proxies')).body.proxies.find((p) => p.name === 'podinfo-stable-0.podinfo');
    assert.equal(before?.status, 'STALE');
    c.ack(res);
    await c.barrier();
    bad.subscribe(TypeUrl.Cluster);
    bad.nack(await bad.next(), '', 'cluster podinfo: unsupported field');
    await bad.barrier();
    const { body } = await mesh.get<ProxiesReport>('/api/proxies');
    const p = body.proxies.find((x) => x.name === 'podinfo-stable-0.podinfo');
    assert.equal(p?.types['CDS']?.status, 'SYNCED');
    assert.equal(p?.workload, 'podinfo-stable');
    const n = body.proxies.find((x) => x.name === 'podinfo-canary-0.podinfo');
    assert.equal(n?.status, 'NACKED');
    assert.equal(n?.types['CDS']?.lastNack?.message, 'cluster podinfo: unsupported field');
    const { body: g } = await mesh.get<ServiceGraph>('/api/graph');
    assert.equal(node(g, 'workload:podinfo/podinfo-stable')?.sidecar, true);
  } finally {
    c.close();
    bad.close();
  }
});

test('certificates: the root with 10 years left and each issued workload certificate', async () => {
  const id = { namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-stable' };
  const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/podinfo/sa/podinfo');
  await mesh.ca.sign(csrPem, id, 3600);
  const { body } = await mesh.get<CertificatesReport>('/api/certificates');
  assert.equal(body.trustDomain, 'cluster.local');
  const root = body.certificates.find((c) => c.kind === 'root');
  assert.equal(root?.status, 'valid');
  assert.ok((root?.secondsLeft ?? 0) > 9 * 365 * 86_400);
  assert.match(root?.fingerprint ?? '', /^[0-9a-f]{64}$/);
  const leaf = body.certificates.find((c) => c.kind === 'workload');
  assert.equal(leaf?.name, 'spiffe://cluster.local/ns/podinfo/sa/podinfo');
  // One hour left is under the 6 h a 24 h certificate has after its renewal point: flagged.
  assert.equal(leaf?.status, 'expiring');
});

test('unknown paths and methods are refused with a code', async () => {
  const r = await mesh.get<{ code: string }>('/api/nope');
  assert.equal(r.status, 404);
  assert.equal(r.body.code, 'DASHBOARD_NOT_FOUND');
  const post = await fetch(new URL('/api/graph', mesh.dashboard.url), { method: 'POST' });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

test('bad query parameters and malformed paths are refused with 400 and a code, not answered with a default', async () => {
  for (const path of ['/api/graph?window=abc', '/api/graph?window=-5', '/api/graph?window=0', '/api/graph?window=3601', '/api/graph?window=', '/api/graph?window=0x10', '/api/services?window=1e400', '/api/services/podinfo/podinfo?window=NaN', '/api/traces?limit=abc', '/api/traces?limit=0', '/api/traces?limit=501']) {
    const r = await mesh.get<{ code: string; error: string }>(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.code, 'DASHBOARD_BAD_PARAM', path);
  }
  for (const path of ['/api/traces/%zz', '/api/services/%E0%A4%A/x']) {
    const r = await mesh.get<{ code: string }>(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.code, 'DASHBOARD_BAD_URL', path);
  }
  assert.equal((await mesh.get('/api/graph?window=300')).status, 200);
  assert.equal((await mesh.get('/api/traces?limit=500')).status, 200);
});
