// VirtualService match clauses as Istio translates and selects them: withoutHeaders counts a missing
// header as empty; sourceLabels are the proxy's own labels, a gateway's too; a clause naming gateways
// ignores sourceLabels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyView } from '../model/proxy-view.ts';
import { matchApplies, type RouteContext, translateRouteMatch } from './route-match.ts';

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
