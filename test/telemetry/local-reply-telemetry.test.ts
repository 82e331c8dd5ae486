// What telemetry reads of the proxy's own replies, through a real proxy, as Envoy and Istio's stats filter do:
// - Utility::prepareLocalReply fills the head (content-type, a gRPC request's grpc-status) before the
//   filters' encodeHeaders, so they and the access log see it; a reply's grpc_status is never a plain
//   request's (the fault filter's grpc_status abort).
// - getGrpcStatus reads a gRPC local reply's grpc-status (UNAVAILABLE for a 503 UF), for the metric's
//   grpc_response_status and the span's grpc.status_code.
// - A span started for a request a filter before istio.stats answered injects nothing into the request
//   (Envoy injects in the router only); x-request-id comes from the connection manager, before the
//   filters, and only with generate_request_id on.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, closedPort, cluster, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
const abort = (a: Record<string, unknown>) => ({ name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault, abort: { ...a, percentage: { numerator: 100, denominator: 'HUNDRED' } } } });
const stats = (format: string, tracing?: { port: number }): { name: string; typed_config: TypedAny } => ({
  name: 'istio.stats',
  typed_config: telemetryConfig({
    reporter: 'source',
    workload: { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } },
    metrics: true,
    access_log: { path: '/dev/stdout', encoding: 'TEXT', format },
    ...(tracing ? { tracing: { sampling: 100, provider: { name: 'otel', kind: 'opentelemetry', service: 'c', port: tracing.port } } } : {}),
  }),
});

function capture(): { output: Writable; lines: string[] } {
  const lines: string[] = [];
  const output = new Writable({
    write(c: Buffer, _e, cb) {
      lines.push(...c.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { output, lines };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

test('a grpc_status fault abort on a plain request: its filters and access log see text/plain and no grpc-status', async () => {
  const { output, lines } = capture();
  const env = await startProxy({ output });
  try {
    const filters = [abort({ grpc_status: 14 }), stats('%RESPONSE_CODE% grpc=%RESP(GRPC-STATUS)% ct=%RESP(CONTENT-TYPE)%\n'), router];
    push(env.proxy, [cluster('web'), cla('web', [{ port: 1 }]), listener('o', 15001, [{ filter: { ...hcm('r'), http_filters: filters } }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'web' }] }])]);
    const r = await request(await env.port('o'), '/', { host: 'web' });
    assert.equal(r.headers['grpc-status'], undefined);
    await settle();
    assert.deepEqual(lines, ['200 grpc=- ct=text/plain']);
  } finally {
    await env.close();
  }
});

test('a gRPC request answered 503 UF: grpc_response_status and the span say 14, as the client is told', async () => {
  const collector = new TraceCollector({ maxTraces: 10 });
  const cport = await collector.listen(0);
  const { output } = capture();
  const env = await startProxy({ traceEndpoint: `http://127.0.0.1:${cport}/v1/traces`, output });
  try {
    const dead = await closedPort();
    push(env.proxy, [cluster('web'), cla('web', [{ port: dead }]), listener('o', 15001, [{ filter: { ...hcm('r'), http_filters: [stats('-\n', { port: cport }), router] } }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'web' }] }])]);
    const g = await request(await env.port('o'), '/', { host: 'web', method: 'POST', headers: { 'content-type': 'application/grpc' }, body: 'x' });
    assert.equal(g.headers['grpc-status'], '14');
    await settle();
    const uf = (await request(env.metricsPort, '/stats/prometheus')).body.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_flags="UF"'));
    await env.close();
    await settle();
    const span = collector.traces({ limit: 10 }).flatMap((t) => t.spans)[0];
    assert.deepEqual({ metric: /grpc_response_status="(\d*)"/.exec(uf ?? '')?.[1], span: span?.attributes.find((a) => a.key === 'grpc.status_code')?.value.stringValue }, { metric: '14', span: '14' });
  } finally {
    await env.close().catch(() => {});
    await collector.close();
  }
});

test('a request a filter answered before istio.stats: traced, nothing injected; x-request-id only from generate_request_id', async () => {
  const collector = new TraceCollector({ maxTraces: 10 });
  const cport = await collector.listen(0);
  const { output, lines } = capture();
  const env = await startProxy({ traceEndpoint: `http://127.0.0.1:${cport}/v1/traces`, output });
  try {
    const filters = (name: string) => [abort({ http_status: 418 }), stats(`${name} %RESPONSE_FLAGS% rid=%REQ(X-REQUEST-ID)% tp=%REQ(TRACEPARENT)% b3=%REQ(X-B3-TRACEID)%\n`, { port: cport }), router];
    push(env.proxy, [
      cluster('web'),
      cla('web', [{ port: 1 }]),
      listener('generated', 15001, [{ filter: { ...hcm('r'), http_filters: filters('generated') } }]),
      listener('none', 15002, [{ filter: { ...hcm('r', { generate_request_id: { value: false } }), http_filters: filters('none') } }]),
      routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'web' }] }]),
    ]);
    assert.equal((await request(await env.port('generated'), '/', { host: 'web' })).status, 418);
    assert.equal((await request(await env.port('none'), '/', { host: 'web' })).status, 418);
    await settle();
    const line = (name: string) => lines.find((l) => l.startsWith(`${name} `)) ?? '';
    assert.match(line('generated'), /^generated FI rid=[0-9a-f-]{36} tp=- b3=-$/);
    assert.equal(line('none'), 'none FI rid=- tp=- b3=-');
    await env.close();
    await settle();
    assert.equal(collector.traces({ limit: 10 }).flatMap((t) => t.spans).length, 2, 'both traced');
  } finally {
    await env.close().catch(() => {});
    await collector.close();
  }
});
