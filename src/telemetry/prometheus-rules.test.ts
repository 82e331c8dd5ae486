import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { proxyContainerAlerts } from './prometheus-rules.ts';

test("proxyContainerAlerts: the seed's alerts that read the istio-proxy container's CPU or memory, once each", () => {
  const seed = loadText(readFileSync(new URL('../../examples/seed/04-observability.yaml', import.meta.url), 'utf8'), '04-observability.yaml');
  const rules = seed.resources.filter((r) => r.kind === 'PrometheusRule');
  assert.deepEqual(proxyContainerAlerts(rules), ['IstioProxyHighResourceUsage']);
  assert.deepEqual(proxyContainerAlerts([...rules, ...rules]), ['IstioProxyHighResourceUsage']);
  const other = { metadata: { name: 'x', namespace: 'y' }, spec: { groups: [{ name: 'g', rules: [{ record: 'r', expr: 'container_memory_working_set_bytes' }, { alert: 'A', expr: 'up == 0' }] }] } };
  assert.deepEqual(proxyContainerAlerts([other]), [], 'a recording rule and an alert on other series');
});
