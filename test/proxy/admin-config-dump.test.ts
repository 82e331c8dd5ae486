// The proxy's admin /config_dump prints metadata as Envoy does, plain JSON (`{"istio": {"config": ...}}`),
// not protobuf's Struct form (`{"fields": {"config": {"stringValue": ...}}}`); the config the proxy runs is
// left in its own form. What the CLI reads from it still works: proxy-config's tables, and proxy-status's
// comparison with the control plane's dump, which keeps the protobuf form.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ConfigDump, compareConfigDumps } from '../../src/cli/config-compare.ts';
import { renderProxyConfig } from '../../src/cli/proxy-config.ts';
import { type TypedAny, toStruct } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

const name = 'outbound|80|v1|web.app.svc.cluster.local';
const drConfig = '/apis/networking.istio.io/v1/namespaces/app/destination-rule/web';
const vsConfig = '/apis/networking.istio.io/v1/namespaces/app/virtual-service/web';

let env: Awaited<ReturnType<typeof startProxy>>;
let pushed: TypedAny[];

before(async () => {
  env = await startProxy();
  const routes = routeConfig('80', [{ domains: ['*'], routes: [{ prefix: '/', direct: { status: 200, body: 'ok' } }] }]) as TypedAny & { virtual_hosts: { routes: Record<string, unknown>[] }[] };
  for (const r of routes.virtual_hosts.flatMap((vh) => vh.routes)) r['metadata'] = { filter_metadata: { istio: toStruct({ config: vsConfig }) } };
  pushed = [
    // A 64-bit Duration as a number, as the translator writes it (the wire decodes it as a string): the
    // comparison below matches only if both sides go through the same protobuf round trip.
    { ...cluster(name), connect_timeout: { seconds: 1 }, metadata: { filter_metadata: { istio: toStruct({ config: drConfig, subset: 'v1', services: [{ host: 'web.app.svc.cluster.local', name: 'web', namespace: 'app' }] }) } } },
    cla(name, [{ port: 9 }]),
    listener('0.0.0.0_80', 80, [{ filter: hcm('80') }]),
    routes,
  ];
  push(env.proxy, pushed);
});

after(() => env.close());

async function adminDump(): Promise<{ text: string; dump: ConfigDump }> {
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/config_dump`)).text();
  return { text, dump: JSON.parse(text) as ConfigDump };
}

test('admin /config_dump: metadata as plain JSON, as Envoy prints it; the running config keeps its form', async () => {
  const { text, dump } = await adminDump();
  assert.doesNotMatch(text, /"fields"|"stringValue"|"structValue"|"listValue"/);
  const clusters = dump.configs.find((c) => String(c['@type']).endsWith('.ClustersConfigDump')) as { dynamic_active_clusters: { cluster: { name: string; metadata?: unknown } }[] };
  assert.deepEqual(clusters.dynamic_active_clusters.find((c) => c.cluster.name === name)?.cluster.metadata, {
    filter_metadata: { istio: { config: drConfig, subset: 'v1', services: [{ host: 'web.app.svc.cluster.local', name: 'web', namespace: 'app' }] } },
  });
  const routes = dump.configs.find((c) => String(c['@type']).endsWith('.RoutesConfigDump')) as { dynamic_route_configs: { route_config: { virtual_hosts: { routes: { metadata?: unknown }[] }[] } }[] };
  assert.deepEqual(routes.dynamic_route_configs[0]?.route_config.virtual_hosts[0]?.routes[0]?.metadata, { filter_metadata: { istio: { config: vsConfig } } });
  // The dump is a copy: what the proxy runs still has its Structs in protobuf form.
  const running = env.proxy.xds.dump(TypeUrl.Cluster).get(name)?.resource as unknown as { metadata: { filter_metadata: { istio: unknown } } };
  assert.deepEqual(Object.keys(running.metadata.filter_metadata.istio as object), ['fields']);
});

test("from the plain dump: proxy-config's tables read the metadata, and it matches the control plane's protobuf-form dump", async () => {
  const { text, dump } = await adminDump();
  assert.doesNotMatch(text, /"stringValue"/, 'the dump is plain JSON');
  assert.match(renderProxyConfig('cluster', dump, { output: 'table' }), /^web\.app\.svc\.cluster\.local\s+80\s+v1\s+outbound\s+EDS\s+web\.app$/m);
  assert.match(renderProxyConfig('route', dump, { output: 'table' }), /\sweb\.app\s/);
  // What the control plane would dump for the same resources: Structs in protobuf form.
  const of = (t: string) => pushed.filter((r) => r['@type'] === t);
  const admin = 'type.googleapis.com/envoy.admin.v3.';
  const controlPlane: ConfigDump = {
    configs: [
      { '@type': `${admin}ClustersConfigDump`, dynamic_active_clusters: of(TypeUrl.Cluster).map((cluster) => ({ cluster })) },
      { '@type': `${admin}ListenersConfigDump`, dynamic_listeners: of(TypeUrl.Listener).map((listener) => ({ name: listener['name'], active_state: { listener } })) },
      { '@type': `${admin}RoutesConfigDump`, dynamic_route_configs: of(TypeUrl.RouteConfiguration).map((route_config) => ({ route_config })) },
    ],
  };
  assert.deepEqual(
    compareConfigDumps(controlPlane, dump).map((t) => [t.type, t.match, t.diff]),
    [
      ['Clusters', true, ''],
      ['Listeners', true, ''],
      ['Routes', true, ''],
    ],
  );
});
