// Telemetry `disableSpanReporting: true` through a real proxy, the istio.stats config translated from
// YAML: pilot marks the tracing spec Disabled and configureTracingFromTelemetry gives the connection
// manager no tracing config, so Envoy neither samples nor traces the request. The upstream gets the
// caller's trace headers as they came (no new span id, no sampling flag rewritten) and none where the
// caller sent none, x-request-id still (the connection manager's, not tracing's), and no span is
// exported. The other direction, with reporting on, is the control.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { Telemetry } from '../../src/config/resource.ts';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import type { TrafficDirection } from '../../src/translate/options.ts';
import { translateTelemetryFilter } from '../../src/translate/telemetry.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';

const telemetries = loadText(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  tracing:
  - providers: [{ name: otel }]
    randomSamplingPercentage: 100
  - match: { mode: CLIENT }
    disableSpanReporting: true
`).resources.filter((r): r is Telemetry => r.kind === 'Telemetry');

const collector = new TraceCollector({ maxTraces: 10 });
let backend: Awaited<ReturnType<typeof echoBackend>>;
let env: Awaited<ReturnType<typeof startProxy>>;

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const SERVER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = 'b7ad6b7169203331';

before(async () => {
  backend = await echoBackend();
  const collectorPort = await collector.listen(0);
  const mesh = { extensionProviders: [{ name: 'otel', opentelemetry: { service: 'otel-collector.observability.svc.cluster.local', port: collectorPort } }] };
  const chain = (direction: TrafficDirection) => ({
    ...hcm('r'),
    http_filters: [
      translateTelemetryFilter({ mesh, rootNamespace: 'istio-system', telemetries, collectors: [], workload: { namespace: 'shop', labels: { app: 'sleep' } }, direction }),
      { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
    ],
  });
  env = await startProxy({ traceEndpoint: `http://127.0.0.1:${collectorPort}/v1/traces` });
  push(env.proxy, [
    cluster('web'),
    cla('web', [{ port: backend.port }]),
    listener('outbound', 15001, [{ filter: chain('outbound') }]),
    listener('virtualInbound', 15006, [{ filter: chain('inbound') }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'web' }] }]),
  ]);
});

let closing: Promise<void> | undefined;
/** Closes the proxy once (it flushes its spans): in the test, or after it when an assertion failed first. */
const closeProxy = (): Promise<void> => (closing ??= env.close());

after(async () => {
  await closeProxy();
  backend.server.closeAllConnections();
  backend.server.close();
  await collector.close();
});

/** The headers the app got for one request through `listenerName`. */
async function upstreamHeaders(listenerName: string, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const res = await request(await env.port(listenerName), '/', { host: 'web', headers });
  assert.equal(res.status, 200);
  return (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
}

const traceHeaders = (trace: string) => ({
  traceparent: `00-${trace}-${CALLER_SPAN}-00`,
  'x-b3-traceid': trace,
  'x-b3-spanid': CALLER_SPAN,
  'x-b3-sampled': '0',
});

test('reporting disabled (CLIENT): trace headers pass as sent, none are added, no span is exported; SERVER traces', async () => {
  // The caller's context and its not-sampled decision reach the app untouched: Envoy's router injects
  // nothing without an active span, and no sampling decision is made (100 % would have flipped it).
  const passed = await upstreamHeaders('outbound', traceHeaders(CLIENT_TRACE));
  assert.deepEqual(
    { traceparent: passed['traceparent'], id: passed['x-b3-traceid'], span: passed['x-b3-spanid'], sampled: passed['x-b3-sampled'], parent: passed['x-b3-parentspanid'] },
    { traceparent: `00-${CLIENT_TRACE}-${CALLER_SPAN}-00`, id: CLIENT_TRACE, span: CALLER_SPAN, sampled: '0', parent: undefined },
  );
  const bare = await upstreamHeaders('outbound');
  assert.deepEqual(
    Object.keys(bare).filter((h) => h === 'traceparent' || h.startsWith('x-b3-') || h === 'b3'),
    [],
    'no trace context is started',
  );
  assert.match(bare['x-request-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'the connection manager still sets x-request-id');

  // The control: with reporting on, a span of its own goes upstream, sampled by its caller's decision.
  const traced = await upstreamHeaders('virtualInbound', { ...traceHeaders(SERVER_TRACE), traceparent: `00-${SERVER_TRACE}-${CALLER_SPAN}-01`, 'x-b3-sampled': '1' });
  assert.equal(traced['x-b3-traceid'], SERVER_TRACE);
  assert.notEqual(traced['x-b3-spanid'], CALLER_SPAN);
  assert.equal(traced['x-b3-parentspanid'], CALLER_SPAN);
  await closeProxy();
  const spans = collector.traces({ limit: 10 }).flatMap((t) => t.spans);
  assert.deepEqual(
    spans.map((s) => ({ trace: s.traceId, kind: s.kind })),
    [{ trace: SERVER_TRACE, kind: 2 }],
    'one span, the server side one (SPAN_KIND_SERVER)',
  );
});
