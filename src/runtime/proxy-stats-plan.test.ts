// The stats matcher's way from YAML to a proxy: planned per sidecar from the mesh default and its pod
// template's annotations (not its Deployment's), per gateway from the mesh default, and written into
// the proxy's node metadata as PROXY_CONFIG, which the proxy compiles at start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { statsMatcherFromMetadata } from '../proxy/run-proxy.ts';
import { planMesh } from './plan.ts';
import { gatewayProxyMeta, proxyArgs } from './proxy-process.ts';

const operator = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    defaultConfig:
      proxyStatsMatcher: { inclusionRegexps: [".*upstream_rq_pending_overflow"] }
`;

const workloads = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop, annotations: { sidecar.istio.io/statsInclusionPrefixes: ignored } }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels: { app: web }
      annotations: { sidecar.istio.io/statsInclusionPrefixes: "cluster.outbound|9898|" }
    spec: { containers: [{ name: web, image: web }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: api, image: api }] }
`;

function plan(text: string) {
  const { resources, diagnostics } = loadText(text);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return planMesh(resources);
}

const metadataOf = (args: string[]) => JSON.parse(args[args.indexOf('--metadata-json') + 1] as string) as Record<string, unknown>;

test('sidecars take the mesh default with their pod annotations over it; gateways the mesh default', () => {
  const p = plan(`${operator}---\n${workloads}`);
  const byName = new Map(p.workloads.map((w) => [w.name, w]));
  assert.deepEqual(byName.get('web-0')?.statsMatcher, { inclusionPrefixes: ['cluster.outbound|9898|'], inclusionRegexps: ['.*upstream_rq_pending_overflow'] });
  assert.deepEqual(byName.get('api-0')?.statsMatcher, { inclusionRegexps: ['.*upstream_rq_pending_overflow'] });
  assert.ok(p.gateways.length > 0);
  for (const g of p.gateways) assert.deepEqual(g.statsMatcher, { inclusionRegexps: ['.*upstream_rq_pending_overflow'] });
});

test('the plan reaches the proxy as PROXY_CONFIG in its node metadata, which it compiles; none configured, none sent', () => {
  const gateway = plan(`${operator}---\n${workloads}`).gateways[0];
  assert.ok(gateway);
  const metadata = metadataOf(proxyArgs({ role: 'router', xdsAddress: '127.0.0.1:15010', tokenFile: '/t', meta: gatewayProxyMeta(gateway) }));
  assert.deepEqual(metadata['PROXY_CONFIG'], { proxyStatsMatcher: { inclusionRegexps: ['.*upstream_rq_pending_overflow'] } });
  const matcher = statsMatcherFromMetadata(metadata);
  assert.equal(matcher?.includes('cluster.outbound|80||a.example.com.upstream_rq_pending_overflow'), true);
  assert.equal(matcher?.includes('cluster.outbound|80||a.example.com.upstream_rq_total'), false);

  const none = plan(workloads);
  assert.equal(none.workloads.find((w) => w.name === 'api-0')?.statsMatcher, undefined);
  const plainGateway = none.gateways[0];
  assert.ok(plainGateway);
  assert.equal(metadataOf(proxyArgs({ role: 'router', xdsAddress: '127.0.0.1:15010', tokenFile: '/t', meta: gatewayProxyMeta(plainGateway) }))['PROXY_CONFIG'], undefined);
});
