// Span names as Envoy's connection manager gives them: the route's decorator, handed from a client
// span to its server span in x-envoy-decorator-operation (and from a server span back to a client
// that had none); without a decorator, `egress <host>` and `ingress`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import { TraceCollector } from '../../../telemetry/tracing/collector.ts';
import type { RouteView } from '../../http/filter.ts';
import { createTelemetryFilterFactory } from './index.ts';

const collector = new TraceCollector({ maxTraces: 20 });
const collectorPort = await collector.listen(0);
after(() => collector.close());

const tracing = { sampling: 100, provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: 4318 } } satisfies TelemetryFilterConfig['tracing'];
const sleep = { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } };
const web = { workload: 'web', namespace: 'shop', labels: { app: 'web' } };
const mesh = { tls: true, peerPrincipal: 'spiffe://cluster.local/ns/shop/sa/sleep', peer: sleep };

// One sequence for every factory: each test's trace gets its own id in the shared collector.
let seq = 0;

function filters() {
  const factory = createTelemetryFilterFactory({
    registry: new MetricsRegistry(),
    random: () => ((seq++ * 0.1370731) % 1) + 0.0001,
    traceEndpoint: () => `http://127.0.0.1:${collectorPort}/v1/traces`,
    exportTimers: { setInterval: () => 0, clearInterval: () => {} },
  });
  const client = factory.create(telemetryConfig({ reporter: 'source', workload: sleep, metrics: false, tracing }));
  const server = factory.create(telemetryConfig({ reporter: 'destination', workload: web, metrics: false, tracing }));
  return { factory, client, server };
}

const routed = (operation: string, propagate = true): RouteView => ({ name: 'r', decorator: { operation, propagate }, perFilterConfig: () => undefined });

async function spanNames(factory: { close(): Promise<void> }, traceparent: unknown): Promise<{ client: string | undefined; server: string | undefined }> {
  await factory.close();
  const spans = collector.trace(String(traceparent).split('-')[1] ?? '')?.spans ?? [];
  return { client: spans.find((s) => s.kind === 3)?.name, server: spans.find((s) => s.kind === 2)?.name };
}

test("a client span is named by its route and hands the name to the server span, which keeps it to itself", async () => {
  const { factory, client, server } = filters();
  const out = await drive(client, { authority: 'web:80', path: '/api/items', status: 200, route: routed('web.shop.svc.cluster.local:80/*') });
  const sent = Object.fromEntries(out.ctx.request.headers) as Record<string, string>;
  assert.equal(sent['x-envoy-decorator-operation'], 'web.shop.svc.cluster.local:80/*', 'sent upstream with the request');
  const inbound = await drive(server, { authority: 'web:80', path: '/api/items', status: 200, headers: sent, connection: mesh, route: routed('api.shop.svc.cluster.local:9090/*') });
  assert.equal(inbound.ctx.request.headers.has('x-envoy-decorator-operation'), false, 'the app never sees it');
  assert.equal(inbound.responseHeaders.has('x-envoy-decorator-operation'), false, 'a server span named by its caller answers with no name');
  assert.deepEqual(await spanNames(factory, sent['traceparent']), { client: 'web.shop.svc.cluster.local:80/*', server: 'web.shop.svc.cluster.local:80/*' });
});

test('a server span named by its own route tells a client that had no name, which takes it and strips it', async () => {
  const { factory, client, server } = filters();
  const inbound = await drive(server, { authority: 'web:80', status: 200, connection: mesh, route: routed('web.shop.svc.cluster.local:80/*') });
  const answer = inbound.responseHeaders.get('x-envoy-decorator-operation');
  assert.equal(answer, 'web.shop.svc.cluster.local:80/*');
  // A client without a decorator (a passthrough route), given that answer as the tunnel delivers it.
  const out = await drive(client, { authority: 'web:80', status: 200, responseHeaders: { 'x-envoy-decorator-operation': String(answer) } });
  assert.equal(out.ctx.request.headers.has('x-envoy-decorator-operation'), false, 'no name sent upstream');
  assert.equal(out.responseHeaders.has('x-envoy-decorator-operation'), false, 'the app never sees it');
  assert.equal((await spanNames(factory, out.ctx.request.headers.get('traceparent'))).client, 'web.shop.svc.cluster.local:80/*');
});

test("without a decorator, Envoy's names: `egress` and the Host, `ingress`; propagate: false keeps the name home", async () => {
  const { factory, client, server } = filters();
  const out = await drive(client, { authority: 'web:80', path: '/x', status: 200 });
  const sent = Object.fromEntries(out.ctx.request.headers) as Record<string, string>;
  await drive(server, { authority: 'web:80', path: '/x', status: 200, headers: sent });
  assert.deepEqual(await spanNames(factory, sent['traceparent']), { client: 'egress web:80', server: 'ingress' });

  const quiet = filters();
  const q = await drive(quiet.client, { authority: 'web:80', status: 200, route: routed('op', false) });
  assert.equal(q.ctx.request.headers.has('x-envoy-decorator-operation'), false);
  const s = await drive(quiet.server, { authority: 'web:80', status: 200, route: routed('op', false) });
  assert.equal(s.responseHeaders.has('x-envoy-decorator-operation'), false);
  await quiet.factory.close();
});

test("an unsampled stream sends and answers its name all the same, as Envoy's connection manager does whenever it traces", async () => {
  const factory = createTelemetryFilterFactory({ registry: new MetricsRegistry(), random: () => 0.5, exportTimers: { setInterval: () => 0, clearInterval: () => {} } });
  const unsampled = { ...tracing, sampling: 0 };
  const client = factory.create(telemetryConfig({ reporter: 'source', workload: sleep, metrics: false, tracing: unsampled }));
  const server = factory.create(telemetryConfig({ reporter: 'destination', workload: web, metrics: false, tracing: unsampled }));
  const out = await drive(client, { authority: 'web:80', status: 200, route: routed('web.shop.svc.cluster.local:80/*') });
  assert.equal(out.ctx.request.headers.get('traceparent')?.toString().endsWith('-00'), true, 'not sampled');
  assert.equal(out.ctx.request.headers.get('x-envoy-decorator-operation'), 'web.shop.svc.cluster.local:80/*', 'sent upstream (Envoy: traceRequest on egress)');
  const inbound = await drive(server, { authority: 'web:80', status: 200, connection: mesh, route: routed('api.shop.svc.cluster.local:9090/*') });
  assert.equal(inbound.responseHeaders.get('x-envoy-decorator-operation'), 'api.shop.svc.cluster.local:9090/*', 'answered (Envoy: encodeHeaders on ingress)');
  // No tracing at all (Envoy: an HCM without `tracing` never calls traceRequest): no name either way.
  const untraced = factory.create(telemetryConfig({ reporter: 'source', workload: sleep, metrics: true }));
  const plain = await drive(untraced, { authority: 'web:80', status: 200, route: routed('web.shop.svc.cluster.local:80/*') });
  assert.equal(plain.ctx.request.headers.has('x-envoy-decorator-operation'), false);
  await factory.close();
});
