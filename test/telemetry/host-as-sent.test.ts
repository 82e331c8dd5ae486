// The request's Host as the client sent it, its case kept, wherever Envoy and Istio's stats filter read the
// header, through a real proxy exporting to a real collector. Only virtual-host selection lower-cases a
// copy (`Web.Example.COM` still matches the domain `web.example.com`). Envoy's CEL `request.host`
// (extensions/filters/common/expr/context.cc, RequestWrapper: the Host header entry), the span's
// `http.url` (tracing/http_tracer_impl.cc, buildUrl: forwarded proto, getHostValue(), then the path cut at
// max_path_tag_length) and a span's default name (HttpTracerImpl::startSpan: `egress ` + getHostValue())
// all read the header; so does the stats filter's Host fallback for `destination_service`
// (test/telemetry/no-upstream-host-labels.test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

const collector = new TraceCollector({ maxTraces: 10 });
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
});

after(async () => {
  backend.server.closeAllConnections();
  backend.server.close();
  await collector.close();
});

function stats(collectorPort: number): TypedAny {
  return {
    ...hcm('r'),
    http_filters: [
      {
        name: 'istio.stats',
        typed_config: telemetryConfig({
          reporter: 'source',
          workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } },
          metrics: true,
          metric_overrides: [{ name: 'requests_total', dimensions: { request_host: 'request.host' } }],
          tracing: { sampling: 100, max_path_tag_length: 12, provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: collectorPort } },
        }),
      },
      { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
    ],
  };
}

test("request.host, the span's http.url and its default name `egress <Host>` read the Host as sent", async () => {
  const collectorPort = await collector.listen(0);
  const proxy = await startProxy({ traceEndpoint: `http://127.0.0.1:${collectorPort}/v1/traces` });
  let metrics = '';
  try {
    push(proxy.proxy, [
      cluster('web'),
      cla('web', [{ port: backend.port }]),
      listener('outbound', 15001, [{ filter: stats(collectorPort) }]),
      routeConfig('r', [{ domains: ['web.example.com'], routes: [{ prefix: '/', cluster: 'web' }] }]),
    ]);
    const res = await request(await proxy.port('outbound'), '/api/Items/0123456789?q=1', { host: 'Web.Example.COM' });
    assert.equal(res.status, 200, 'the virtual host matched a lower-cased copy');
    assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers['host'], 'Web.Example.COM', 'the app got it as sent');
    assert.equal((await request(await proxy.port('outbound'), '/', { host: 'NoSuch.Example.COM:8080' })).status, 404);
    metrics = (await request(proxy.metricsPort, '/stats/prometheus')).body;
  } finally {
    await proxy.close();
  }
  const requestHost = /istio_requests_total\{[^}]*request_host="([^"]*)"/.exec(metrics)?.[1];
  const spans = collector.traces({ limit: 10 }).flatMap((t) => t.spans);
  const span = spans.find((s) => s.name.toLowerCase() === 'egress web.example.com');
  const unrouted = spans.find((s) => s.name.toLowerCase() === 'egress nosuch.example.com:8080');
  assert.ok(span && unrouted, 'both spans were exported');
  const attr = (k: string) => span.attributes.find((a) => a.key === k)?.value.stringValue;
  assert.deepEqual(
    { requestHost, name: span.name, url: attr('http.url'), cluster: attr('upstream_cluster') },
    // Envoy cuts the path (with its query) at max_path_tag_length, never the scheme and host.
    { requestHost: 'Web.Example.COM', name: 'egress Web.Example.COM', url: 'http://Web.Example.COM/api/Items/0', cluster: 'web' },
  );
  // No route, no cluster: Envoy's span has no upstream_cluster tags (finalizeSpan sets them from the
  // stream's cluster info only).
  assert.deepEqual(
    { name: unrouted.name, tags: unrouted.attributes.filter((a) => a.key.startsWith('upstream_cluster')).map((a) => a.key) },
    { name: 'egress NoSuch.Example.COM:8080', tags: [] },
  );
});
