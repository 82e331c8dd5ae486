// `proxy-status PROXY`'s comparison with metadata in either form: the control plane's dump holds Struct
// values in protobuf's `{fields}` form, the proxy's admin API prints them as plain JSON, as Envoy does.
// Both sides go through the same protobuf round trip, so only a real difference shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envoyJson, structForm } from '../xds/envoy-json.ts';
import { typedStruct, toStruct } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { type ConfigDump, compareConfigDumps } from './config-compare.ts';

const admin = 'type.googleapis.com/envoy.admin.v3.';
const config = '/apis/networking.istio.io/v1/namespaces/app/destination-rule/web';

/** A cluster as the translator makes it: a 64-bit Duration as a number, metadata in protobuf form. */
function cluster(subset: string): Record<string, unknown> {
  return {
    '@type': TypeUrl.Cluster,
    name: 'outbound|80||web.app.svc.cluster.local',
    type: 'EDS',
    connect_timeout: { seconds: 10 },
    eds_cluster_config: { service_name: 'outbound|80||web.app.svc.cluster.local', eds_config: { ads: {}, resource_api_version: 'V3' } },
    metadata: { filter_metadata: { istio: toStruct({ config, subset, services: [{ host: 'web.app.svc.cluster.local', port: 80 }] }) } },
  };
}

/** A route configuration whose route carries metadata and a TypedStruct (a Struct inside an Any). */
function routes(vs: string): Record<string, unknown> {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: '80',
    virtual_hosts: [
      {
        name: 'web:80',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster: 'outbound|80||web.app.svc.cluster.local', timeout: { seconds: 0 } },
            metadata: { filter_metadata: { istio: toStruct({ config: `/apis/networking.istio.io/v1/namespaces/app/virtual-service/${vs}` }) } },
            typed_per_filter_config: { 'outrigger.test': typedStruct('type.googleapis.com/outrigger.test.Config', { limit: 3 }) },
          },
        ],
      },
    ],
  };
}

function dump(c: Record<string, unknown>, r: Record<string, unknown>): ConfigDump {
  return {
    configs: [
      { '@type': `${admin}ClustersConfigDump`, dynamic_active_clusters: [{ version_info: '1', cluster: c }] },
      { '@type': `${admin}ListenersConfigDump`, dynamic_listeners: [] },
      { '@type': `${admin}RoutesConfigDump`, dynamic_route_configs: [{ version_info: '1', route_config: r, last_updated: '2026-01-01T00:00:00.000Z' }] },
    ],
  };
}

const matches = (a: ConfigDump, b: ConfigDump) => compareConfigDumps(a, b).map((t) => [t.type, t.match]);

test('plain-JSON metadata (the admin API) against protobuf-form metadata (the control plane) is a match', () => {
  const controlPlane = dump(cluster('v1'), routes('web'));
  // The proxy's side as its admin API prints it: every Struct as plain JSON, the rest as it was.
  const proxy = envoyJson(dump(cluster('v1'), routes('web'))) as ConfigDump;
  assert.doesNotMatch(JSON.stringify(proxy), /"fields"|stringValue/);
  const all = [
    ['Clusters', true],
    ['Listeners', true],
    ['Routes', true],
  ];
  assert.deepEqual(matches(controlPlane, proxy), all);
  assert.deepEqual(matches(proxy, controlPlane), all);
  assert.deepEqual(matches(proxy, proxy), all);
  assert.deepEqual(matches(controlPlane, controlPlane), all);
});

test('a metadata value that differs shows in the diff, printed as plain JSON on both sides', () => {
  const [clusters, , route] = compareConfigDumps(dump(cluster('v1'), routes('web')), envoyJson(dump(cluster('v2'), routes('web-2'))) as ConfigDump);
  // Only the lines that differ: nothing from the form the metadata came in, nor from 64-bit numbers.
  const changed = (diff: string | undefined) => (diff ?? '').split('\n').filter((l) => /^[-+]\s/.test(l)).map((l) => l.replace(/\s+/g, ' ').replace(/,$/, ''));
  assert.equal(clusters?.match, false);
  assert.deepEqual(changed(clusters?.diff), ['- "subset": "v1"', '+ "subset": "v2"']);
  assert.equal(route?.match, false);
  assert.deepEqual(changed(route?.diff), ['- "config": "/apis/networking.istio.io/v1/namespaces/app/virtual-service/web"', '+ "config": "/apis/networking.istio.io/v1/namespaces/app/virtual-service/web-2"']);
});

test('structForm puts Structs in protobuf form by the schema, whichever form they came in, and leaves the rest', () => {
  const plain = envoyJson(cluster('v1')) as Record<string, unknown>;
  assert.deepEqual(structForm(TypeUrl.Cluster, plain), cluster('v1'));
  assert.deepEqual(structForm(TypeUrl.Cluster, cluster('v1')), cluster('v1'));
  // Inside an Any (TypedStruct's value), in a map (filter_metadata), in a list (virtual_hosts, routes).
  assert.deepEqual(structForm(TypeUrl.RouteConfiguration, envoyJson(routes('web')) as Record<string, unknown>), routes('web'));
  // A key that is not a field stays as it is (the encoder names it), `__proto__` included.
  const odd = JSON.parse('{"name": "x", "no_such_field": {"a": 1}, "__proto__": {"b": 2}}') as Record<string, unknown>;
  const out = structForm(TypeUrl.Cluster, odd);
  assert.deepEqual(Object.keys(out), ['name', 'no_such_field', '__proto__']);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});
