// VirtualService match clauses as Istio translates and selects them: withoutHeaders counts a missing
// header as empty; sourceLabels are the proxy's own labels, a gateway's too; a clause naming gateways
// ignores sourceLabels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyView } from '../model/proxy-view.ts';
import { qualifyGateway } from '../model/virtual-service-merge.ts';
import { matchApplies, type RouteContext, translateRouteMatch } from './route-match.ts';

test('gateway references resolve as Istio\'s resolveGatewayName', () => {
  const table: [string, string][] = [
    ['gw', 'shop/gw'],
    ['./gw', 'shop/gw'],
    ['istio-system/gw', 'istio-system/gw'],
    ['gw.istio-system', 'istio-system/gw'],
    ['gw.istio-system.svc.cluster.local', 'istio-system/gw'],
    ['mesh', 'mesh'],
  ];
  for (const [ref, want] of table) assert.equal(qualifyGateway(ref, 'shop'), want, ref);
});

test('@request.auth.claims keys become jwt_authn payload matchers (translateMetadataMatch), inverted for withoutHeaders', () => {
  const m = translateRouteMatch({
    headers: { '@request.auth.claims.group': { exact: 'admin' }, 'x-a': { exact: '1' } },
    withoutHeaders: { '@request.auth.claims[org][team]': { prefix: 'ops' } },
  }) as { headers: unknown[]; dynamic_metadata: unknown[] };
  assert.deepEqual(m.headers, [{ name: 'x-a', string_match: { exact: '1' } }]);
  const value = (v: unknown) => ({ or_match: { value_matchers: [{ list_match: { one_of: v } }, v] } });
  assert.deepEqual(m.dynamic_metadata, [
    { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'group' }], value: value({ string_match: { exact: 'admin' } }) },
    { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'org' }, { key: 'team' }], value: value({ string_match: { prefix: 'ops' } }), invert: true },
  ]);
});

test('queryParams: exact "" stays an exact match (only a match without a value is presence)', () => {
  const m = translateRouteMatch({ queryParams: { debug: { exact: '' }, trace: {} } }) as { query_parameters: unknown[] };
  assert.deepEqual(m.query_parameters, [
    { name: 'debug', string_match: { exact: '' } },
    { name: 'trace', present_match: true },
  ]);
});

test('withoutHeaders: a value match treats a missing header as empty; a presence-only one does not', () => {
  const m = translateRouteMatch({ withoutHeaders: { 'x-d': { exact: 'no' }, 'x-internal': {} } }) as { headers: Record<string, unknown>[] };
  const byName = Object.fromEntries(m.headers.map((h) => [h['name'], h]));
  assert.deepEqual(byName['x-d'], { name: 'x-d', string_match: { exact: 'no' }, invert_match: true, treat_missing_header_as_empty: true });
  assert.deepEqual(byName['x-internal'], { name: 'x-internal', present_match: true, invert_match: true });
  // A positive match keeps Envoy's meaning: a missing header does not match.
  const plain = translateRouteMatch({ headers: { 'x-d': { exact: 'no' } } }) as { headers: Record<string, unknown>[] };
  assert.equal(plain.headers[0]?.['treat_missing_header_as_empty'], undefined);
});

const gateway = { id: 'router~x', role: 'router', namespace: 'istio-system', workloadName: 'istio-ingressgateway', serviceAccount: 'gw', labels: { istio: 'ingressgateway' }, ip: '', appPorts: {} } as unknown as ProxyView;
const ctx = (proxy: ProxyView, gateways: string[], vsGateways: string[]): RouteContext => ({ proxy, port: 80, gateways, vsGateways, vsNamespace: 'apps' });

test('sourceLabels select a gateway by its own labels, as a sidecar', () => {
  const onGateway = ctx(gateway, ['apps/gw'], ['mesh', 'apps/gw']);
  assert.equal(matchApplies({ sourceLabels: { istio: 'ingressgateway' } }, onGateway), true);
  assert.equal(matchApplies({ sourceLabels: { app: 'client' } }, onGateway), false);
});

test('a clause naming gateways applies on them whatever its sourceLabels say', () => {
  const onGateway = ctx(gateway, ['apps/gw'], ['mesh', 'apps/gw']);
  assert.equal(matchApplies({ gateways: ['gw'], sourceLabels: { app: 'client' } }, onGateway), true);
  assert.equal(matchApplies({ gateways: ['mesh'] }, onGateway), false);
});

test('a TCP or TLS clause naming gateways still needs its sourceLabels (Istio\'s matchTCP)', () => {
  const onGateway = ctx(gateway, ['apps/gw'], ['mesh', 'apps/gw']);
  assert.equal(matchApplies({ gateways: ['gw'], sourceLabels: { app: 'client' } }, onGateway, 'tcp'), false);
  assert.equal(matchApplies({ gateways: ['gw'], sourceLabels: { istio: 'ingressgateway' } }, onGateway, 'tcp'), true);
  assert.equal(matchApplies({ gateways: ['mesh'] }, onGateway, 'tcp'), false);
});
