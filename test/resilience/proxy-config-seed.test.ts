// The seed's resilience numbers as `proxy-config cluster|route -o wide|json` shows them: the seed's YAML
// translated for the podinfo sidecar (the `seed` golden case), then the same resources pushed to a real
// proxy and read back from its admin /config_dump.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { renderProxyConfig } from '../../src/cli/proxy-config.ts';
import { loadGoldenCase } from '../../src/translate/golden.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { push, startProxy } from '../proxy/harness.ts';

const fqdn = 'podinfo.podinfo.svc.cluster.local';

function seedResources(): { clusters: TypedAny[]; routes: TypedAny[] } {
  const c = loadGoldenCase(path.join(import.meta.dirname, '../fixtures/translate/seed'));
  const view = c.proxies.find((p) => p.workloadName === 'podinfo-stable-0');
  assert.ok(view);
  const r = buildProxyResources(c.snapshot, view);
  return { clusters: [...(r.get(TypeUrl.Cluster)?.values() ?? [])], routes: [...(r.get(TypeUrl.RouteConfiguration)?.values() ?? [])] };
}

const dumpOf = (clusters: TypedAny[], routes: TypedAny[]) => ({
  configs: [
    { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: clusters.map((cluster) => ({ cluster })) },
    { '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: routes.map((route_config) => ({ route_config })) },
  ],
});

type Dump = ReturnType<typeof dumpOf>;

function assertSeedNumbers(dump: Dump): void {
  const table = renderProxyConfig('cluster', dump, { output: 'wide', fqdn, subset: 'stable' });
  const lines = table.trimEnd().split('\n');
  assert.equal(lines.length, 2, table);
  const row = lines[1] ?? '';
  assert.match(row, /^podinfo\.podinfo\.svc\.cluster\.local\s+9898\s+stable\s+outbound\s+EDS\s+podinfo\.podinfo\s/);
  for (const cell of ['max_connections=100', 'max_pending_requests=50', 'max_requests_per_connection=2']) assert.ok(row.includes(cell), `${cell} in ${row}`);
  assert.ok(!row.includes('4294967295'), 'unset thresholds (2^32 - 1) are not shown as numbers');
  for (const cell of ['consecutive_5xx=5', 'interval=30s', 'base_ejection_time=30s', 'max_ejection_percent=50%']) assert.ok(row.includes(cell), `${cell} in ${row}`);

  const json = JSON.parse(renderProxyConfig('cluster', dump, { output: 'json', fqdn, port: '9898', subset: 'canary' })) as { dynamic_active_clusters: { cluster: Record<string, unknown> }[] };
  assert.deepEqual(
    json.dynamic_active_clusters.map((e) => e.cluster['name']),
    [`outbound|9898|canary|${fqdn}`],
  );
  const cluster = json.dynamic_active_clusters[0]?.cluster as { circuit_breakers: { thresholds: Record<string, { value: number }>[] }; outlier_detection: Record<string, unknown> };
  assert.equal(cluster.circuit_breakers.thresholds[0]?.['max_connections']?.value, 100);
  assert.equal(cluster.circuit_breakers.thresholds[0]?.['max_pending_requests']?.value, 50);
  assert.deepEqual(cluster.outlier_detection['consecutive_5xx'], { value: 5 });

  const routes = renderProxyConfig('route', dump, { output: 'wide', name: '9898' });
  const podinfo = routes.split('\n').filter((l) => l.includes(`${fqdn}:9898`));
  assert.deepEqual(
    podinfo.map((l) => l.split(/\s{3,}/)[2]),
    ['canary-header', 'ab-test-beta-users', 'ab-test-beta-users', 'canary-split'],
  );
  for (const l of podinfo) assert.match(l, /\s3 x 2s on 5xx,connect-failure,reset other-host$/);
  assert.match(podinfo[3] ?? '', /outbound\|9898\|stable\|podinfo\S+ 90%, outbound\|9898\|canary\|podinfo\S+ 10%\s+10s\s/);
  assert.match(podinfo[0] ?? '', /\/\* x-canary=true\s+outbound\|9898\|canary\|\S+\s+none\s/, 'no VirtualService timeout: Istio disables the route timeout');
}

test('proxy-config cluster/route -o wide and -o json show the seed podinfo circuit breaker, outlier detection and retries', () => {
  const { clusters, routes } = seedResources();
  assertSeedNumbers(dumpOf(clusters, routes));
});

test('the same numbers from a real proxy admin /config_dump', async () => {
  const { clusters, routes } = seedResources();
  const p = await startProxy();
  try {
    push(p.proxy, [...clusters.filter((c) => String(c['name']).includes(fqdn)), ...routes]);
    const res = await fetch(`http://127.0.0.1:${p.admin}/config_dump`);
    assert.equal(res.status, 200);
    assertSeedNumbers((await res.json()) as Dump);
  } finally {
    await p.close();
  }
});
