// When a cluster gets `locality_weighted_lb_config`: Istio 1.24+ sets it for `distribute`, or for outlier
// detection with an explicit `failover`/`failoverPriority`, never for the mesh default alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const rule = (trafficPolicy: string) => `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 8080, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy: ${trafficPolicy}
`;

const web = { id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web', 'istio-locality': 'r1.z1' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;
const api = (name: string, locality: string) => ({ name, namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts: { 8080: 48080 }, tunnelAddress: '127.0.0.1:49008', healthy: true, source: 'deployment' as const, locality });

function commonLbConfig(trafficPolicy: string): Record<string, unknown> | undefined {
  const { resources, diagnostics } = loadText(rule(trafficPolicy));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [api('api-0', 'r1/z2'), api('api-1', 'r2/z3')], '1'), web);
  const c = out.get(TypeUrl.Cluster)?.get('outbound|8080||api.shop.svc.cluster.local') as Record<string, Record<string, unknown>> | undefined;
  assert.ok(c);
  return c['common_lb_config'];
}

test('mesh-default locality LB with outlierDetection alone: no locality_weighted_lb_config (Istio 1.24+)', () => {
  assert.equal(commonLbConfig('{outlierDetection: {consecutive5xxErrors: 3}}')?.['locality_weighted_lb_config'], undefined);
});

test('explicit failover with outlierDetection, or distribute: locality_weighted_lb_config', () => {
  const failover = '{outlierDetection: {consecutive5xxErrors: 3}, loadBalancer: {localityLbSetting: {enabled: true, failover: [{from: r1, to: r2}]}}}';
  assert.deepEqual(commonLbConfig(failover)?.['locality_weighted_lb_config'], {});
  const distribute = "{loadBalancer: {localityLbSetting: {enabled: true, distribute: [{from: 'r1/z1/*', to: {'r1/z2/*': 100}}]}}}";
  assert.deepEqual(commonLbConfig(distribute)?.['locality_weighted_lb_config'], {});
});
