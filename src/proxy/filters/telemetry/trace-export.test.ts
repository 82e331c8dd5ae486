// The telemetry filter exports a provider's spans as its kind and protocol say (no traceEndpoint, as in
// a cluster): OTLP/gRPC, OTLP/HTTP protobuf and Zipkin, each to its own real collector, all sent when
// the factory closes. And the provider fields a config may carry are validated.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import type { TelemetryFilterConfig, TracingProviderConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import type { ExportTimers } from '../../../telemetry/tracing/exporter.ts';
import { EXPORT_PATH } from '../../../telemetry/tracing/otlp-grpc.ts';
import { FilterConfigError } from '../../http/filter.ts';
import { createTelemetryFilterFactory } from './index.ts';

const manualTimers: ExportTimers = { setInterval: () => 0, clearInterval: () => {} };
const workload = { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' } };
const withProvider = (provider: TracingProviderConfig): TelemetryFilterConfig => ({ reporter: 'destination', workload, metrics: false, tracing: { sampling: 100, provider } });

test('each provider gets its own protocol: OTLP/gRPC, OTLP/HTTP protobuf, Zipkin v2 JSON', { timeout: 10_000 }, async () => {
  const grpcCalls: { body: Buffer; metadata: grpc.Metadata }[] = [];
  const grpcServer = new grpc.Server();
  const raw = (b: Buffer) => b;
  grpcServer.addService(
    { Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        grpcCalls.push({ body: call.request, metadata: call.metadata });
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const posts: { url: string | undefined; type: string | undefined; key: string | undefined; body: Buffer }[] = [];
  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ url: req.url, type: req.headers['content-type'], key: req.headers['x-api-key'] as string | undefined, body: Buffer.concat(chunks) });
      res.end();
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const httpPort = (httpServer.address() as AddressInfo).port;
  const factory = createTelemetryFilterFactory({ registry: new MetricsRegistry(), env: { INSTANCE_IP: '10.1.2.3', OTEL_KEY: 'k-123' }, exportTimers: manualTimers });
  try {
    const key = [{ name: 'x-api-key', env_name: 'OTEL_KEY' }];
    const filters = [
      factory.create(telemetryConfig(withProvider({ name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: '127.0.0.1', port: grpcPort, headers: key }))),
      factory.create(telemetryConfig(withProvider({ name: 'otel-http', kind: 'opentelemetry', protocol: 'http', service: '127.0.0.1', port: httpPort, path: '/v1/traces', headers: key }))),
      factory.create(telemetryConfig(withProvider({ name: 'jaeger', kind: 'zipkin', service: '127.0.0.1', port: httpPort }))),
    ];
    for (const f of filters) await drive(f, { authority: 'podinfo.podinfo:9898', path: '/api/info', status: 200 });
    await factory.close();
    assert.equal(grpcCalls.length, 1);
    assert.deepEqual(grpcCalls[0]?.metadata.get('x-api-key'), ['k-123']);
    assert.ok(grpcCalls[0]?.body.includes('podinfo.podinfo'), 'the service name is in the protobuf request');
    const otlp = posts.find((p) => p.url === '/v1/traces');
    assert.equal(otlp?.type, 'application/x-protobuf');
    assert.equal(otlp?.key, 'k-123');
    const zipkin = posts.find((p) => p.url === '/api/v2/spans');
    assert.equal(zipkin?.type, 'application/json');
    const [span] = JSON.parse(String(zipkin?.body)) as { kind: string; localEndpoint: unknown; tags: Record<string, unknown> }[];
    assert.equal(span?.kind, 'SERVER');
    assert.deepEqual(span?.localEndpoint, { ipv4: '10.1.2.3', port: 0, serviceName: 'podinfo.podinfo' });
    assert.equal(span?.tags['http.status_code'], '200');
  } finally {
    grpcServer.forceShutdown();
    httpServer.close();
  }
});

test('provider fields are checked: protocol, timeout, headers with exactly one of value and env_name', () => {
  const factory = createTelemetryFilterFactory({ registry: new MetricsRegistry(), exportTimers: manualTimers });
  const bad = {
    name: 'otel',
    kind: 'opentelemetry',
    protocol: 'udp',
    service: 'otel.observability',
    port: 4317,
    timeout_ms: 0,
    headers: [{ name: 'x-a', value: 'v', env_name: 'A' }, { name: 'x-b' }, { name: 'bad name', value: 'v' }, { name: 'x-c', env_name: '' }, { name: 'x-d', value: 'a\r\nx-evil: 1' }, { name: 'x-e', value: 'a\u0000' }],
  };
  const message = (() => {
    try {
      factory.create(telemetryConfig(withProvider(bad as unknown as TracingProviderConfig)));
    } catch (e) {
      assert.ok(e instanceof FilterConfigError);
      return e.message;
    }
    assert.fail('a bad provider was accepted');
  })();
  for (const problem of [
    'tracing.provider.protocol: expected one of "grpc", "http"',
    'tracing.provider.timeout_ms: must be at least 1',
    'tracing.provider.headers.0: expected exactly one of value, env_name',
    'tracing.provider.headers.1: expected exactly one of value, env_name',
    'tracing.provider.headers.2.name: not a valid header name',
    'tracing.provider.headers.3.env_name: must not be empty',
    // Refused once here, not failed silently by every export.
    'tracing.provider.headers.4.value: not a valid header value (CR, LF or NUL)',
    'tracing.provider.headers.5.value: not a valid header value (CR, LF or NUL)',
  ]) {
    assert.ok(message.includes(problem), `missing "${problem}" in: ${message}`);
  }
});

test("a provider's changed settings replace its exporter: the one before sends its spans and closes, so edits pile up nothing", async () => {
  const posts: string[] = [];
  const collector = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts.push(String(req.headers['x-edit']));
      res.end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as AddressInfo).port;
  const live = new Set<number>();
  let next = 0;
  const countingTimers: ExportTimers = {
    setInterval: () => {
      live.add(++next);
      return next;
    },
    clearInterval: (handle) => live.delete(handle as number),
  };
  const factory = createTelemetryFilterFactory({ registry: new MetricsRegistry(), exportTimers: countingTimers });
  const provider = (edit: number): TracingProviderConfig => ({ name: 'jaeger', kind: 'zipkin', service: '127.0.0.1', port, timeout_ms: 1000 + edit, headers: [{ name: 'x-edit', value: String(edit) }] });
  try {
    for (let edit = 0; edit < 50; edit++) {
      const filter = factory.create(telemetryConfig(withProvider(provider(edit))));
      await drive(filter, { authority: 'podinfo.podinfo:9898', path: '/api/info', status: 200 });
    }
    assert.equal(live.size, 1, 'one exporter left running');
    // The same settings again share the running exporter.
    factory.create(telemetryConfig(withProvider(provider(49))));
    assert.equal(live.size, 1);
    await factory.close();
    assert.equal(live.size, 0);
    assert.deepEqual(posts.map(Number).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), "each exporter's span was sent, by that exporter");
  } finally {
    collector.close();
  }
});
