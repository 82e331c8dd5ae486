// A cluster's mesh SNI: the sni of its mesh TLS context (explicit, or auto mTLS's `tlsMode-istio`
// match), none without one. Its tunnel streams carry it, so an update that changes it closes the pools
// that carry the old one: no connection, carried or not, goes on naming what the cluster no longer is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterStatsFamilies } from '../../telemetry/metrics/cluster-stats.ts';
import { MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import { istioMutualContext } from '../../translate/client-tls.ts';
import { toStruct } from '../../xds/any.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment } from '../config/envoy-shapes.ts';
import { Cluster } from './cluster.ts';
import { compileCluster } from './compile-cluster.ts';
import { compileLoadAssignment } from './endpoint.ts';

const TLS = 'envoy.transport_sockets.tls';
const base = { name: 'c', type: 'EDS', connect_timeout: { seconds: '1' }, eds_cluster_config: { service_name: 'c' } };
const explicit = (sni: string) => ({ ...base, transport_socket: { name: TLS, typed_config: istioMutualContext(sni, []) } }) as unknown as EnvoyCluster;
const auto = (sni: string) =>
  ({
    ...base,
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: toStruct({ tlsMode: 'istio' }), transport_socket: { name: TLS, typed_config: istioMutualContext(sni, []) } },
      { name: 'tlsMode-disabled', transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } },
    ],
  }) as unknown as EnvoyCluster;

test('the mesh SNI comes from the mesh TLS context, explicit or auto mTLS; none without one', () => {
  assert.equal(compileCluster(explicit('outbound_.80_.v1_.a.shop.svc.cluster.local')).meshSni, 'outbound_.80_.v1_.a.shop.svc.cluster.local');
  assert.equal(compileCluster(auto('outbound_.80_._.a.shop.svc.cluster.local')).meshSni, 'outbound_.80_._.a.shop.svc.cluster.local');
  assert.equal(compileCluster(base as unknown as EnvoyCluster).meshSni, '');
  const simple = { ...base, transport_socket: { name: TLS, typed_config: { '@type': TypeUrl.UpstreamTlsContext, sni: 'api.example.com' } } } as unknown as EnvoyCluster;
  assert.equal(compileCluster(simple).meshSni, '', "a DestinationRule's own TLS is not the mesh's");
});

test('an update that changes the mesh SNI closes the pools that carry the old one', async () => {
  const c = new Cluster(compileCluster(auto('outbound_.80_._.a.shop.svc.cluster.local')), {
    stats: new ClusterStatsFamilies(new MetricsRegistry()).bind('c'),
    random: () => 0,
    now: () => 0,
    tunnelTls: () => undefined,
  });
  const meta = { filter_metadata: { istio: toStruct({ tlsMode: 'istio' }), outrigger: toStruct({ target_port: 8080 }) } };
  const eps = compileLoadAssignment({ cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 15008 } } }, metadata: meta }] }] } as unknown as EnvoyClusterLoadAssignment);
  c.setEndpoints(eps);
  const first = c.upstream(eps[0]!);
  c.update(compileCluster(auto('outbound_.80_._.a.shop.svc.cluster.local')));
  assert.equal(c.upstream(eps[0]!), first, 'the same SNI keeps the pool');
  const generation = c.generation;
  c.update(compileCluster(auto('custom.example.com')));
  assert.notEqual(c.upstream(eps[0]!), first, 'another SNI: another pool');
  assert.ok(c.generation > generation, 'streams dialed before (an ext_authz session) are stale');
  await c.close();
});
