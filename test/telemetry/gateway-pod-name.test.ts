// The seed's ingress gateway, as `outrigger up` plans and starts it, has one pod name wherever it shows:
// the node id its proxy connects with (and so its proxy-status row and its spans' `node_id` tag, as
// Envoy's), the POD_NAME its spans' `pod_name` tag reads (a real proxy, exporting to a real collector),
// and the `pod` label Prometheus scrapes it by.
// Istio's form: the Deployment's name and a suffix, which the seed's IstioGatewayUnhealthy alert
// (`pod=~"istio-ingressgateway-.*"`) needs; its workload labels stay the Deployment's.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { loadPaths } from '../../src/config/load-paths.ts';
import { buildPrometheusConfig } from '../../src/runtime/prometheus-config.ts';
import { planMesh } from '../../src/runtime/plan.ts';
import { gatewayProxyMeta, proxyArgs } from '../../src/runtime/proxy-process.ts';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import { toStruct } from '../../src/xds/any.ts';
import { parseNode } from '../../src/xds/node-view.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { component, meshState } from '../mesh-state-fixture.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

const seed = path.resolve(import.meta.dirname, '../../examples/seed');
const collector = new TraceCollector({ maxTraces: 10 });
after(() => collector.close());

function flag(args: readonly string[], name: string): string {
  const v = args[args.indexOf(name) + 1];
  assert.ok(v !== undefined, name);
  return v;
}

test("the ingress gateway's pod has one name: node id, proxy-status, its spans' node_id and pod_name, Prometheus' pod label", async () => {
  const gateway = planMesh(loadPaths([seed]).resources).gateways.find((g) => g.kind === 'ingress');
  assert.ok(gateway, 'the seed has an ingress gateway');
  const meta = gatewayProxyMeta(gateway);
  const args = proxyArgs({ role: 'router', xdsAddress: '127.0.0.1:15010', tokenFile: 'token', meta });
  const nodeId = flag(args, '--node-id');
  const metadata = JSON.parse(flag(args, '--metadata-json')) as Record<string, unknown>;

  // The control plane's view of the node: what proxy-status prints and verify matches components by.
  const node = parseNode({ id: nodeId, metadata: toStruct(metadata) });
  const proxyStatusName = `${node.podName}.${node.view.namespace}`;

  // A real gateway proxy with that node, its span carrying the seed's `pod_name` custom tag.
  const collectorPort = await collector.listen(0);
  const backend = await echoBackend();
  const proxy = await startProxy({ role: 'router', nodeId, metadata, traceEndpoint: `http://127.0.0.1:${collectorPort}/v1/traces` });
  let metrics = '';
  try {
    const stats = {
      name: 'istio.stats',
      typed_config: telemetryConfig({
        reporter: 'source',
        workload: { workload: String(metadata['WORKLOAD_NAME']), namespace: String(metadata['NAMESPACE']), labels: meta.labels },
        metrics: true,
        tracing: {
          sampling: 100,
          provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: 4317 },
          custom_tags: { pod_name: { environment: { name: 'POD_NAME', default_value: 'unknown' } } },
        },
      }),
    };
    push(proxy.proxy, [
      cluster('outbound|9898||podinfo.podinfo.svc.cluster.local'),
      cla('outbound|9898||podinfo.podinfo.svc.cluster.local', [{ port: backend.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
      routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'outbound|9898||podinfo.podinfo.svc.cluster.local' }] }]),
    ]);
    const res = await request(await proxy.port('0.0.0.0_8080'), '/', { host: 'podinfo.example.com' });
    assert.equal(res.status, 200);
    metrics = (await request(proxy.metricsPort, '/stats/prometheus')).body;
  } finally {
    await proxy.close();
    backend.server.close();
  }
  const span = collector.traces({ limit: 1 })[0]?.spans[0];
  assert.ok(span, 'the gateway exported its span');

  // Prometheus scrapes the gateway's component, named as the runtime names it.
  const state = meshState([component(`${meta.namespace}/${meta.name}`, 'gateway', { ports: { 'proxy:15090': 15090 } })]);
  const config = parse(buildPrometheusConfig(state)) as { scrape_configs: { job_name: string; static_configs?: { labels: Record<string, string> }[] }[] };
  const labels = config.scrape_configs.find((j) => j.job_name === 'envoy-stats')?.static_configs?.[0]?.labels;

  assert.deepEqual(
    {
      nodeId,
      proxyStatus: proxyStatusName,
      spanPodName: span.attributes.find((a) => a.key === 'pod_name')?.value.stringValue,
      spanNodeId: span.attributes.find((a) => a.key === 'node_id')?.value.stringValue,
      prometheusPod: labels?.['pod'],
    },
    {
      nodeId: 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local',
      proxyStatus: 'istio-ingressgateway-0.istio-system',
      spanPodName: 'istio-ingressgateway-0',
      spanNodeId: 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local',
      prometheusPod: 'istio-ingressgateway-0',
    },
  );
  assert.match(labels?.['pod'] ?? '', /^istio-ingressgateway-.*$/, "the seed's IstioGatewayUnhealthy selector");
  // The workload is the Deployment, in metrics and in the span's service, as Istio's gateway reports.
  assert.match(metrics, /istio_requests_total\{reporter="source",source_workload="istio-ingressgateway",source_workload_namespace="istio-system",/);
  assert.equal(span.serviceName, 'istio-ingressgateway.istio-system');
  assert.equal(labels?.['app'], 'istio-ingressgateway');
});
