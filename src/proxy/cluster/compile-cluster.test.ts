import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInboundCluster } from '../../translate/clusters.ts';
import type { MeshService } from '../../model/service.ts';
import { istioMutualContext } from '../../translate/client-tls.ts';
import { toStruct } from '../../xds/any.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
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

test("secure naming: the service's accounts are read from the mesh TLS context, explicit (ISTIO_MUTUAL) or auto mTLS", () => {
  const sans = ['spiffe://cluster.local/ns/shop/sa/cart', 'spiffe://cluster.local/ns/shop/sa/cart-canary'];
  const ctx = istioMutualContext('outbound|8080||cart.shop.svc.cluster.local', sans);
  const base: EnvoyCluster = { name: 'outbound|8080||cart.shop.svc.cluster.local', type: 'EDS' };
  const explicit = compileCluster({ ...base, transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: ctx } });
  assert.equal(explicit.tlsMode, 'istio-mutual');
  assert.deepEqual(explicit.meshSans, sans);
  const auto = compileCluster({
    ...base,
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: toStruct({ tlsMode: 'istio' }), transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: ctx } },
      { name: 'tlsMode-disabled', transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } },
    ],
  });
  assert.deepEqual(auto.meshSans, sans);
  assert.deepEqual(compileCluster(base).meshSans, [], 'no mesh TLS context: no names to check');
  assert.deepEqual(compileCluster({ ...base, transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: istioMutualContext('x', []) } }).meshSans, []);
});

test('a SAN matcher other than exact is refused, on mesh and origination TLS alike, rather than dropped (which could turn the check off)', () => {
  const prefixed = {
    '@type': TypeUrl.UpstreamTlsContext,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: 'default' }],
      combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] } },
    },
  };
  const mesh = { name: 'outbound|80||a.b.svc.cluster.local', type: 'EDS', transport_socket: { name: 'tls', typed_config: prefixed } };
  assert.throws(() => compileCluster(mesh), (err: Error) => {
    assert.match(err.message, /transport_socket\.common_tls_context: match_typed_subject_alt_names\[0\]\.matcher: only `exact` SAN matchers are supported/);
    return true;
  });
  const origination = { ...prefixed, common_tls_context: { ...prefixed.common_tls_context, tls_certificate_sds_secret_configs: [{ name: 'kubernetes://client' }] } };
  assert.throws(() => compileCluster({ ...mesh, transport_socket: { name: 'tls', typed_config: origination } }), /only `exact` SAN matchers/);
});

test("origination TLS whose SNI or SAN is the word 'default' is still origination, not the mesh's context", () => {
  const simple = {
    '@type': TypeUrl.UpstreamTlsContext,
    sni: 'default',
    common_tls_context: { validation_context: { trusted_ca: { inline_string: 'CA' }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'default' } }] } },
  };
  const settings = compileCluster({ name: 'outbound|443||api.example.com', type: 'STRICT_DNS', transport_socket: { name: 'tls', typed_config: simple } });
  assert.equal(settings.tlsMode, 'simple');
  assert.deepEqual(settings.origination?.sans, ['default']);
  assert.deepEqual(settings.meshSans, []);
});

test('without a mesh TLS context (DISABLE, SIMPLE, auto mTLS off) the accounts come from the metadata the control plane adds', () => {
  const sans = ['spiffe://cluster.local/ns/shop/sa/cart'];
  const metadata = { filter_metadata: { outrigger: toStruct({ secure_naming: sans }) } };
  const base: EnvoyCluster = { name: 'outbound|8080||cart.shop.svc.cluster.local', type: 'EDS', metadata };
  assert.deepEqual(compileCluster(base).meshSans, sans, 'plaintext cluster, meshed endpoints: still checked');
  const explicit = istioMutualContext('x', ['spiffe://cluster.local/ns/shop/sa/from-destination-rule']);
  assert.deepEqual(compileCluster({ ...base, transport_socket: { name: 'tls', typed_config: explicit } }).meshSans, ['spiffe://cluster.local/ns/shop/sa/from-destination-rule'], "the mesh TLS context's names win");
  assert.throws(() => compileCluster({ ...base, metadata: { filter_metadata: { outrigger: toStruct({ secure_naming: [''] }) } } }), /secure_naming: must be a list of SPIFFE IDs/);
});
