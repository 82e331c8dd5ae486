// The policy each cluster runs with, merged as Istio's MergeSubsetTrafficPolicy merges it: a
// port-level entry replaces its level (omitted fields take defaults, not the level's values); a
// subset's fields replace the destination's one by one; a subset's port-level entry replaces all four.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DestinationRule } from '../config/resource.ts';
import { effectivePolicy } from './destination-policy.ts';

const rule = (spec: DestinationRule['spec']): DestinationRule => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'shop' }, spec }) as DestinationRule;

const outlier = { consecutive5xxErrors: 5 };
const pool = { tcp: { maxConnections: 10 } };
const mtls = { mode: 'ISTIO_MUTUAL' as const };

test('a port-level entry replaces the destination level for its port: what it omits is not inherited', () => {
  const dr = rule({ host: 'cart', trafficPolicy: { outlierDetection: outlier, connectionPool: pool, portLevelSettings: [{ port: { number: 9090 }, tls: mtls }] } });
  assert.deepEqual(effectivePolicy(dr, '', 8080), { outlierDetection: outlier, connectionPool: pool });
  assert.deepEqual(effectivePolicy(dr, '', 9090), { tls: mtls });
});

test("a subset's fields replace the destination's one by one; its port-level entry replaces all four", () => {
  const subsetLb = { simple: 'RANDOM' as const };
  const dr = rule({
    host: 'cart',
    trafficPolicy: { outlierDetection: outlier, connectionPool: pool, tls: mtls },
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: subsetLb } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: subsetLb, portLevelSettings: [{ port: { number: 8080 }, connectionPool: { tcp: { maxConnections: 1 } } }] } },
    ],
  });
  assert.deepEqual(effectivePolicy(dr, 'v1', 8080), { outlierDetection: outlier, connectionPool: pool, tls: mtls, loadBalancer: subsetLb });
  assert.deepEqual(effectivePolicy(dr, 'v2', 8080), { connectionPool: { tcp: { maxConnections: 1 } } }, 'the subset port-level entry: tls, outlier detection and load balancer back to defaults');
  assert.deepEqual(effectivePolicy(dr, 'v2', 9090), { outlierDetection: outlier, connectionPool: pool, tls: mtls, loadBalancer: subsetLb }, 'other ports take the subset level');
});
