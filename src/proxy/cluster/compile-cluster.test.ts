import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInboundCluster } from '../../translate/clusters.ts';
import type { MeshService } from '../../model/service.ts';
import { toStruct } from '../../xds/any.ts';
import type { EnvoyCluster } from '../config/envoy-shapes.ts';
import { compileCluster } from './compile-cluster.ts';

test("an inbound cluster's istio.services metadata is what the proxy reads back", () => {
  const services = [
    { hostname: 'cart.shop.svc.cluster.local', name: 'cart', namespace: 'shop' },
    { hostname: 'cart-v1.shop.svc.cluster.local', name: 'cart-v1', namespace: 'shop' },
  ] as MeshService[];
  const settings = compileCluster(buildInboundCluster(8080, 41000, 'HTTP', services) as unknown as EnvoyCluster);
  assert.deepEqual(settings.services, [
    { host: 'cart.shop.svc.cluster.local', name: 'cart', namespace: 'shop' },
    { host: 'cart-v1.shop.svc.cluster.local', name: 'cart-v1', namespace: 'shop' },
  ]);
  assert.deepEqual(compileCluster(buildInboundCluster(8080, 41000, 'HTTP') as unknown as EnvoyCluster).services, []);
});

test('malformed istio.services metadata is skipped, as Envoy treats metadata as opaque: the cluster is still accepted', () => {
  const withServices = (services: unknown): EnvoyCluster => ({ name: 'inbound|8080||', type: 'STATIC', metadata: { filter_metadata: { istio: toStruct({ services }) } } });
  assert.deepEqual(compileCluster(withServices('cart')).services, []);
  assert.deepEqual(compileCluster(withServices([{ name: 'no-host' }, null, { host: 'cart.shop.svc.cluster.local', name: 'cart', namespace: 'shop' }])).services, [
    { host: 'cart.shop.svc.cluster.local', name: 'cart', namespace: 'shop' },
  ]);
});
