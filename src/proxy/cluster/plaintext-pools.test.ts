// A DISABLE endpoint (reached through its sidecar's tunnel, marked plaintext) has pools of its own. An
// endpoint update that keeps it keeps them; one that flips it to mTLS (or back) closes the old ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import { ClusterStatsFamilies } from '../../telemetry/metrics/cluster-stats.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment } from '../config/envoy-shapes.ts';
import { Cluster } from './cluster.ts';
import { compileCluster } from './compile-cluster.ts';
import { compileLoadAssignment } from './endpoint.ts';
import type { Upstream } from '../upstream/upstream.ts';

const struct = (o: Record<string, unknown>) => ({ fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'boolean' ? { boolValue: v } : typeof v === 'number' ? { numberValue: v } : { stringValue: v }])) });

function endpoints(plaintext: boolean) {
  const metadata = plaintext
    ? { filter_metadata: { istio: struct({ workload: 'legacy-0;legacy' }), outrigger: struct({ target_port: 8080, via_tunnel: true }) } }
    : { filter_metadata: { istio: struct({ tlsMode: 'istio', workload: 'legacy-0;legacy' }), outrigger: struct({ target_port: 8080 }) } };
  return compileLoadAssignment({ cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 15008 } } }, metadata }] }] } as unknown as EnvoyClusterLoadAssignment);
}

test('an update that keeps a plaintext endpoint keeps its pools; a flip closes them', async () => {
  const c = new Cluster(compileCluster({ name: 'c', type: 'EDS', connect_timeout: { seconds: '1' }, eds_cluster_config: { service_name: 'c' } } as unknown as EnvoyCluster), {
    stats: new ClusterStatsFamilies(new MetricsRegistry()).bind('c'),
    random: () => 0,
    now: () => 0,
    tunnelTls: () => undefined,
  });
  const plain = endpoints(true);
  assert.equal(plain[0]?.plaintext, true);
  assert.equal(plain[0]?.mesh, true, 'through the tunnel');
  c.setEndpoints(plain);
  const first: Upstream = c.upstream(plain[0]!);
  c.setEndpoints(endpoints(true));
  assert.equal(c.upstream(endpoints(true)[0]!), first, 'the same pool after an update that keeps the endpoint');
  const meshed = endpoints(false);
  c.setEndpoints(meshed);
  assert.notEqual(c.upstream(meshed[0]!), first, 'mTLS to the same tunnel is another pool');
  c.setEndpoints(endpoints(true));
  assert.notEqual(c.upstream(endpoints(true)[0]!), first, 'the old plaintext pool was closed at the flip');
  await c.close();
});
