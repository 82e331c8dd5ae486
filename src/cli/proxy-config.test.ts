// `proxy-config` argument handling and tables: istioctl's kind names, the route and cluster tables'
// columns, endpoint filters, and JSON as Envoy prints it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadGoldenCase } from '../translate/golden.ts';
import { buildProxyResources } from '../translate/proxy-resources.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { envoyJson } from '../xds/envoy-json.ts';
import { parseProxyConfigKind, proxyConfigData, type RenderOptions, renderProxyConfig } from './proxy-config.ts';
import { renderRouteTable, virtualServiceOf } from './route-table.ts';

test('proxy-config takes the kinds as istioctl spells them: singular, plural and short', () => {
  for (const [text, kind] of [
    ['listener', 'listener'],
    ['listeners', 'listener'],
    ['routes', 'route'],
    ['clusters', 'cluster'],
    ['endpoints', 'endpoint'],
    ['ep', 'endpoint'],
    ['secrets', 'secret'],
    ['all', 'all'],
    ['Clusters', 'cluster'],
  ] as const) {
    assert.equal(parseProxyConfigKind(text), kind, text);
  }
  assert.equal(parseProxyConfigKind('bootstrap'), undefined);
});

const vsMeta = (ns: string, name: string) => ({ filter_metadata: { istio: { fields: { config: { stringValue: `/apis/networking.istio.io/v1/namespaces/${ns}/virtual-service/${name}` } } } } });

test('the route table names the virtual host and, in its own column, the VirtualService behind its routes', () => {
  assert.equal(virtualServiceOf({ metadata: vsMeta('podinfo', 'podinfo-routes') }), 'podinfo-routes.podinfo');
  assert.equal(virtualServiceOf({ metadata: { filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/a/virtual-service/b' } } } }), 'b.a');
  assert.equal(virtualServiceOf({}), undefined);
  const table = renderRouteTable(
    [
      {
        name: '9898',
        virtual_hosts: [
          { name: 'podinfo.podinfo.svc.cluster.local:9898', domains: ['podinfo'], routes: [{ metadata: vsMeta('podinfo', 'podinfo-routes') }, { metadata: vsMeta('podinfo', 'podinfo-routes') }] },
          { name: 'allow_any', domains: ['*'], routes: [{}] },
        ],
      },
    ],
    false,
  );
  const [header, first, second] = table.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME\s+VIRTUAL HOST\s+DOMAINS\s+ROUTES\s+VIRTUAL SERVICE$/);
  assert.match(first ?? '', /^9898\s+podinfo\.podinfo\.svc\.cluster\.local:9898\s+podinfo\s+2\s+podinfo-routes\.podinfo$/);
  assert.match(second ?? '', /^9898\s+allow_any\s+\*\s+1\s+-$/);
});

/** The seed's config for the podinfo-stable sidecar, as the translator builds it, in config_dump shape. */
function seedDump() {
  const c = loadGoldenCase(path.join(import.meta.dirname, '../../test/fixtures/translate/seed'));
  const view = c.proxies.find((p) => p.workloadName === 'podinfo-stable-0');
  assert.ok(view);
  const r = buildProxyResources(c.snapshot, view);
  const all = (t: string) => [...(r.get(t)?.values() ?? [])];
  return {
    configs: [
      { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: all(TypeUrl.Cluster).map((cluster) => ({ cluster })) },
      { '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: all(TypeUrl.RouteConfiguration).map((route_config) => ({ route_config })) },
      { '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: all(TypeUrl.ClusterLoadAssignment).map((endpoint_config) => ({ endpoint_config })) },
    ],
  };
}

test("proxy-config -o json and -o yaml print metadata as Envoy's config_dump does: plain JSON, not protobuf Struct form", () => {
  const dump = seedDump();
  const text = renderProxyConfig('route', dump, { output: 'json', name: '9898' });
  assert.doesNotMatch(text, /"fields"|stringValue|structValue|listValue/);
  const routes = (JSON.parse(text) as { dynamic_route_configs: { route_config: { virtual_hosts: { routes: { metadata?: unknown }[] }[] } }[] }).dynamic_route_configs[0]?.route_config.virtual_hosts.flatMap((vh) => vh.routes);
  assert.deepEqual(routes?.find((r) => r.metadata)?.metadata, { filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/podinfo/virtual-service/podinfo-routes' } } });
  const clusters = proxyConfigData('cluster', dump, { fqdn: 'podinfo.podinfo.svc.cluster.local', subset: 'canary' }) as { dynamic_active_clusters: { cluster: { metadata: unknown } }[] };
  assert.deepEqual(clusters.dynamic_active_clusters[0]?.cluster.metadata, {
    filter_metadata: {
      istio: {
        services: [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }],
        subset: 'canary',
        config: '/apis/networking.istio.io/v1/namespaces/podinfo/destination-rule/podinfo',
      },
    },
  });
  // A dump already in plain JSON (the proxy's own admin API) prints and tabulates the same.
  const plain = envoyJson(dump) as typeof dump;
  for (const kind of ['cluster', 'route', 'endpoint', 'listener']) {
    for (const output of ['json', 'table', 'wide'] as const) assert.equal(renderProxyConfig(kind, plain, { output }), renderProxyConfig(kind, dump, { output }), `${kind} -o ${output}`);
  }
  // Only a real Struct (only `fields`, each a protobuf Value) is rewritten.
  assert.deepEqual(envoyJson({ fields: { a: { stringValue: 'x' }, b: { numberValue: 1 }, c: { nullValue: 0 }, d: { listValue: { values: [{ boolValue: true }] } } } }), { a: 'x', b: 1, c: null, d: [true] });
  assert.deepEqual(envoyJson({ fields: { a: { other: 1 } } }), { fields: { a: { other: 1 } } });
  assert.deepEqual(envoyJson({ fields: 'x', name: 'n' }), { fields: 'x', name: 'n' });
});

test("proxy-config cluster's default table has istioctl's DESTINATION RULE column", () => {
  const table = renderProxyConfig('cluster', seedDump(), { output: 'table' });
  const lines = table.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE\s+DESTINATION RULE$/);
  assert.ok(lines.some((l) => /^podinfo\.podinfo\.svc\.cluster\.local\s+9898\s+canary\s+outbound\s+EDS\s+podinfo\.podinfo$/.test(l)), table);
  assert.ok(lines.some((l) => /^BlackHoleCluster\s+-\s+-\s+-\s+STATIC\s+-$/.test(l)), table);
});

test('proxy-config endpoint takes istioctl --cluster, --port (the app port too), --address and --status', () => {
  const dump = seedDump();
  const canary = 'outbound|9898|canary|podinfo.podinfo.svc.cluster.local';
  const rows = (o: Partial<RenderOptions>) => renderProxyConfig('endpoint', dump, { output: 'table', ...o }).trimEnd().split('\n').slice(1);
  const all = rows({});
  assert.ok(all.length > 2, all.join('\n'));
  assert.ok(rows({ cluster: canary }).length > 0);
  assert.ok(rows({ cluster: canary }).every((l) => l.endsWith(` ${canary}`)));
  assert.deepEqual(rows({ cluster: 'outbound|1|nope|x' }), []);
  assert.deepEqual(rows({ port: '9898' }), all, 'every seed endpoint serves app port 9898 through its tunnel');
  assert.deepEqual(rows({ port: '1' }), []);
  assert.deepEqual(rows({ status: 'healthy' }), all);
  assert.deepEqual(rows({ status: 'UNHEALTHY' }), []);
  const address = /^(\S+):\d+/.exec(all[0] ?? '')?.[1] ?? '';
  assert.deepEqual(rows({ address }), all.filter((l) => l.startsWith(`${address}:`)));
  const json = proxyConfigData('endpoint', dump, { cluster: canary }) as { dynamic_endpoint_configs: { endpoint_config: { cluster_name: string } }[] };
  assert.deepEqual(json.dynamic_endpoint_configs.map((e) => e.endpoint_config.cluster_name), [canary]);
});
