import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { roundTrip } from './golden.ts';
import { bareTranslateOptions, type HttpFilterBuilder } from './options.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: front }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }, { name: tcp-db, port: 5432 }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: front }
spec:
  hosts: [web]
  http: [{ route: [{ destination: { host: web } }] }]
`;

const proxy: ProxyView = {
  id: 'sidecar~127.0.0.1~web-0.front~front.svc.cluster.local',
  role: 'sidecar',
  namespace: 'front',
  workloadName: 'web',
  serviceAccount: 'web',
  labels: { app: 'web' },
  ip: '127.0.0.1',
  appPorts: { 8080: 41000 },
  tunnelAddress: '127.0.0.1:41008',
};

const snapshot = () => buildSnapshot(loadText(yaml).resources, [], '7');

function hcmFilters(listener: unknown, chainName: string): string[] {
  const chains = (listener as { filter_chains: { name: string; filters: { typed_config: { http_filters?: { name: string }[] } }[] }[] }).filter_chains;
  const chain = chains.find((c) => c.name === chainName);
  return chain?.filters[0]?.typed_config.http_filters?.map((f) => f.name) ?? [];
}

test('injected HTTP filters run before fault, cors and router (inbound too), with the port and direction they serve', () => {
  const calls: string[] = [];
  const rbac: HttpFilterBuilder = (_s, p, port, direction) => {
    calls.push(`${p.workloadName}:${port}:${direction}`);
    return direction === 'inbound' ? [{ name: 'envoy.filters.http.rbac', typed_config: { '@type': TypeUrl.HttpRbac } }] : [];
  };
  const out = buildProxyResources(snapshot(), proxy, { ...bareTranslateOptions, httpFilters: [rbac] });
  const listeners = out.get(TypeUrl.Listener)!;
  assert.deepEqual(hcmFilters(listeners.get('virtualInbound'), 'inbound|8080||'), ['envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  assert.deepEqual(hcmFilters(listeners.get('virtualOutbound'), '0.0.0.0_80'), [
    'envoy.filters.http.fault',
    'envoy.filters.http.cors',
    'envoy.filters.http.router',
  ]);
  assert.deepEqual(calls.sort(), ['web:8080:inbound', 'web:80:outbound']);
});

test("Istio's HTTP filter order on inbound and outbound listeners: fault, cors, istio.stats, router (buildHTTPConnectionManager)", () => {
  const listeners = buildProxyResources(snapshot(), proxy).get(TypeUrl.Listener)!;
  const tail = (names: string[]) => names.filter((n) => n !== 'envoy.filters.http.rbac' && !n.startsWith('envoy.filters.http.jwt'));
  const order = ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'istio.stats', 'envoy.filters.http.router'];
  assert.deepEqual(tail(hcmFilters(listeners.get('virtualInbound'), 'inbound|8080||')), order);
  assert.deepEqual(tail(hcmFilters(listeners.get('virtualOutbound'), '0.0.0.0_80')), order);
});

test('a sidecar gets its three listeners, inbound clusters to the app port, and valid Envoy protos', () => {
  const out = buildProxyResources(snapshot(), proxy);
  assert.deepEqual([...out.get(TypeUrl.Listener)!.keys()].sort(), ['connect_terminate', 'virtualInbound', 'virtualOutbound']);
  const inbound = out.get(TypeUrl.Cluster)!.get('inbound|8080||')!;
  assert.deepEqual(inbound['load_assignment'], {
    cluster_name: 'inbound|8080||',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 41000 } } } }] }],
  });
  for (const [typeUrl, byName] of out) for (const r of byName.values()) assert.doesNotThrow(() => roundTrip(typeUrl, r));
});

test('translation is pure: the same snapshot and proxy give the same resources', () => {
  const s = snapshot();
  const json = (m: ReturnType<typeof buildProxyResources>) => JSON.stringify([...m].map(([t, b]) => [t, [...b]]));
  assert.equal(json(buildProxyResources(s, proxy)), json(buildProxyResources(s, proxy)));
});

test('a client-TLS seam replaces the auto-mTLS transport on every outbound cluster', () => {
  const out = buildProxyResources(snapshot(), proxy, { ...bareTranslateOptions, clientTls: () => ({}) });
  const c = out.get(TypeUrl.Cluster)!.get('outbound|80||web.front.svc.cluster.local')!;
  assert.equal(c['transport_socket_matches'], undefined);
  const auto = buildProxyResources(snapshot(), proxy).get(TypeUrl.Cluster)!.get('outbound|80||web.front.svc.cluster.local')!;
  assert.equal((auto['transport_socket_matches'] as unknown[]).length, 2);
});

/** The HCM of one named chain. */
function hcmOf(listener: unknown, chainName: string): Record<string, unknown> {
  const chains = (listener as { filter_chains: { name: string; filters: { typed_config: Record<string, unknown> }[] }[] }).filter_chains;
  return chains.find((c) => c.name === chainName)?.filters[0]?.typed_config ?? {};
}

const routerOf = (h: Record<string, unknown>) => (h['http_filters'] as { name: string; typed_config: Record<string, unknown> }[]).find((f) => f.name === 'envoy.filters.http.router')?.typed_config;

test("the Server header as Istio writes it: istio-envoy inbound, Envoy's default outbound; proxyHeaders rename, pass through, and turn off router headers and request ids", () => {
  const listeners = (resources: string) => buildProxyResources(buildSnapshot(loadText(resources).resources, [], '7'), proxy).get(TypeUrl.Listener)!;
  const plain = listeners(yaml);
  const inbound = hcmOf(plain.get('virtualInbound'), 'inbound|8080||');
  const outbound = hcmOf(plain.get('virtualOutbound'), '0.0.0.0_80');
  assert.equal(inbound['server_name'], 'istio-envoy');
  assert.equal(outbound['server_name'], undefined);
  assert.equal(inbound['server_header_transformation'], undefined); // OVERWRITE, Envoy's default
  assert.equal(routerOf(outbound)?.['suppress_envoy_headers'], undefined);
  assert.equal(outbound['generate_request_id'], undefined);
  const operator = (proxyHeaders: string) => `${yaml}---\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: { name: mesh, namespace: istio-system }\nspec:\n  meshConfig:\n    defaultConfig:\n      proxyHeaders: ${proxyHeaders}\n`;
  const named = listeners(operator('{ server: { value: acme }, envoyDebugHeaders: { disabled: true }, requestId: { disabled: true } }'));
  for (const [l, chain] of [['virtualInbound', 'inbound|8080||'], ['virtualOutbound', '0.0.0.0_80']] as const) {
    const h = hcmOf(named.get(l), chain);
    assert.equal(h['server_name'], 'acme', chain);
    assert.equal(routerOf(h)?.['suppress_envoy_headers'], true, chain);
    assert.deepEqual(h['generate_request_id'], { value: false }, chain);
  }
  const passed = hcmOf(listeners(operator('{ server: { disabled: true } }')).get('virtualInbound'), 'inbound|8080||');
  assert.equal(passed['server_header_transformation'], 'PASS_THROUGH');
  assert.equal(passed['server_name'], undefined);
});
