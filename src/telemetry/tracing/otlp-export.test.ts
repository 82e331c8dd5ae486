// Spans exported as each provider kind asks, against real servers: OTLP/gRPC to a grpc-js server,
// OTLP/HTTP protobuf and Zipkin v2 JSON to node:http ones. Protobuf bodies are decoded with protobufjs
// from the OTLP messages below, so the hand-written encoder is checked against a real decoder.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { TracingProviderConfig } from '../filter-config.ts';
import { type ExportTimers, SpanExporter } from './exporter.ts';
import { EXPORT_PATH } from './otlp-grpc.ts';
import { encodeExportTraceRequest } from './otlp-proto.ts';
import { providerSender } from './provider-sender.ts';
import type { SpanRecord } from './span.ts';

const manualTimers: ExportTimers = { setInterval: () => 0, clearInterval: () => {} };

// opentelemetry-proto's messages, as much of them as the exporter writes.
const root = new protobuf.Root();
protobuf.parse(
  `syntax = "proto3"; package opentelemetry.proto.common.v1;
   message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; bytes bytes_value = 7; } }
   message KeyValue { string key = 1; AnyValue value = 2; }
   message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }`,
  root,
);
protobuf.parse(
  `syntax = "proto3"; package opentelemetry.proto.resource.v1;
   message Resource { repeated opentelemetry.proto.common.v1.KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }`,
  root,
);
protobuf.parse(
  `syntax = "proto3"; package opentelemetry.proto.trace.v1;
   message ResourceSpans { opentelemetry.proto.resource.v1.Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
   message ScopeSpans { opentelemetry.proto.common.v1.InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
   message Span {
     bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16; string name = 5;
     int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
     repeated opentelemetry.proto.common.v1.KeyValue attributes = 9; uint32 dropped_attributes_count = 10; Status status = 15;
   }
   message Status { string message = 2; int32 code = 3; }`,
  root,
);
protobuf.parse(
  `syntax = "proto3"; package opentelemetry.proto.collector.trace.v1;
   message ExportTraceServiceRequest { repeated opentelemetry.proto.trace.v1.ResourceSpans resource_spans = 1; }`,
  root,
);
const ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

interface DecodedValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
}
interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: DecodedValue }[];
  status?: { code?: number };
}
interface Decoded {
  resourceSpans: { resource: { attributes: { key: string; value: DecodedValue }[] }; scopeSpans: { scope: { name: string }; spans: DecodedSpan[] }[] }[];
}

function decode(body: Uint8Array): Decoded {
  const message = ExportTraceServiceRequest.decode(body);
  return ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String, defaults: false }) as Decoded;
}

/** protobufjs writes bytes as base64: the ids as the exporter's hex. */
const hex = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('hex'));

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const root1: SpanRecord = {
  traceId: TRACE,
  spanId: 'b7ad6b7169203331',
  name: 'podinfo.podinfo.svc.cluster.local:9898/*',
  kind: 'SERVER',
  startMs: 1_700_000_000_123.456,
  endMs: 1_700_000_000_125.956,
  attributes: { 'http.status_code': '503', request_size: 12, ratio: 1.5, negative: -7, error: true },
  error: true,
};
const child: SpanRecord = {
  traceId: TRACE,
  spanId: '00f067aa0ba902b7',
  parentSpanId: 'b7ad6b7169203331',
  name: 'egress db:5432',
  kind: 'CLIENT',
  startMs: 1_700_000_000_124,
  endMs: 1_700_000_000_125,
  attributes: { 'upstream_cluster': 'outbound|5432||db' },
  error: false,
};

function assertOtlp(body: Uint8Array): void {
  const [rs] = decode(body).resourceSpans;
  assert.deepEqual(rs?.resource.attributes, [
    { key: 'service.name', value: { stringValue: 'podinfo.podinfo' } },
    { key: 'k8s.namespace.name', value: { stringValue: 'podinfo' } },
  ]);
  assert.equal(rs?.scopeSpans[0]?.scope.name, 'outrigger');
  const [a, b] = rs?.scopeSpans[0]?.spans ?? [];
  assert.ok(a && b);
  assert.equal(hex(a.traceId), TRACE);
  assert.equal(hex(a.spanId), 'b7ad6b7169203331');
  assert.equal(a.parentSpanId, undefined, 'a root span has no parent');
  assert.equal(a.name, 'podinfo.podinfo.svc.cluster.local:9898/*');
  assert.equal(a.kind, 2, 'SPAN_KIND_SERVER');
  assert.equal(a.startTimeUnixNano, '1700000000123456000');
  assert.equal(a.endTimeUnixNano, '1700000000125956000');
  assert.deepEqual(a.attributes, [
    { key: 'http.status_code', value: { stringValue: '503' } },
    { key: 'request_size', value: { intValue: '12' } },
    { key: 'ratio', value: { doubleValue: 1.5 } },
    { key: 'negative', value: { intValue: '-7' } },
    { key: 'error', value: { boolValue: true } },
  ]);
  assert.deepEqual(a.status, { code: 2 }, 'STATUS_CODE_ERROR');
  assert.equal(hex(b.traceId), TRACE);
  assert.equal(hex(b.parentSpanId), 'b7ad6b7169203331');
  assert.equal(b.kind, 3, 'SPAN_KIND_CLIENT');
  assert.equal(b.status, undefined, 'an unset status is left out');
}

/** A grpc-js server with a generic Export handler: raw request bytes in, `answer` decides the reply. */
async function grpcCollector(answer: () => grpc.ServiceError | null, port = 0) {
  const calls: { body: Buffer; metadata: grpc.Metadata }[] = [];
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  const service: grpc.ServiceDefinition = {
    Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls.push({ body: call.request, metadata: call.metadata });
      const error = answer();
      // An empty ExportTraceServiceResponse: every span taken.
      if (error) callback(error);
      else callback(null, Buffer.alloc(0));
    },
  });
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { calls, server, port: bound };
}

async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const grpcProvider = (port: number): TracingProviderConfig => ({
  name: 'otel',
  kind: 'opentelemetry',
  protocol: 'grpc',
  service: '127.0.0.1',
  port,
  timeout_ms: 5_000,
  headers: [
    { name: 'x-tenant', value: 'shop' },
    { name: 'x-api-key', env_name: 'OTEL_KEY' },
  ],
});

test('OTLP/gRPC: Export calls with the protobuf request and metadata, one HTTP/2 session for every batch, closed with the exporter', { timeout: 10_000 }, async () => {
  const collector = await grpcCollector(() => null);
  const sessions: ClientHttp2Session[] = [];
  const connect = (authority: string) => {
    const s = http2.connect(authority);
    sessions.push(s);
    return s;
  };
  const sender = providerSender(grpcProvider(collector.port), { env: { OTEL_KEY: 'k-123' }, connect });
  const exporter = new SpanExporter({ sender, serviceName: 'podinfo.podinfo', resource: { 'k8s.namespace.name': 'podinfo' }, timers: manualTimers });
  try {
    exporter.record(root1);
    exporter.record(child);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 2, dropped: 0, failed: 0 });
    const [call] = collector.calls;
    assert.ok(call);
    assertOtlp(call.body);
    assert.deepEqual(call.metadata.get('x-tenant'), ['shop']);
    assert.deepEqual(call.metadata.get('x-api-key'), ['k-123'], "an env_name header's value comes from the proxy's environment");
    exporter.record(child);
    await exporter.flush();
    assert.equal(exporter.stats.exported, 3);
    assert.equal(collector.calls.length, 2);
    assert.equal(sessions.length, 1, 'the second batch went on the same session');
    const closed = new Promise<boolean>((r) => sessions[0]?.once('close', () => r(true)));
    await exporter.close();
    assert.equal(await Promise.race([closed, setTimeout(2_000, false)]), true, 'the session closed with the exporter');
  } finally {
    collector.server.forceShutdown();
  }
});

test('OTLP/gRPC: a grpc-status other than 0 fails the batch; a session that went away is made again', { timeout: 10_000 }, async () => {
  let status: grpc.status = grpc.status.UNAVAILABLE;
  const first = await grpcCollector(() => (status === grpc.status.OK ? null : { name: 'Error', message: 'busy', code: status, details: 'busy', metadata: new grpc.Metadata() }));
  const sessions: ClientHttp2Session[] = [];
  const sender = providerSender(grpcProvider(first.port), {
    env: {},
    connect: (authority) => {
      const s = http2.connect(authority);
      sessions.push(s);
      return s;
    },
  });
  const exporter = new SpanExporter({ sender, serviceName: 'podinfo.podinfo', timers: manualTimers });
  let second: Awaited<ReturnType<typeof grpcCollector>> | undefined;
  try {
    exporter.record(root1);
    await exporter.flush();
    assert.equal(first.calls.length, 1, 'the call reached the collector');
    assert.deepEqual(exporter.stats, { exported: 0, dropped: 0, failed: 1 }, 'UNAVAILABLE: not taken');
    // The collector restarts on the same port: the old session is gone, the next batch makes a new one.
    first.server.forceShutdown();
    await new Promise<void>((r) => (sessions[0]?.closed ? r() : sessions[0]?.once('close', () => r())));
    status = grpc.status.OK;
    second = await grpcCollector(() => null, first.port);
    exporter.record(child);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 1, dropped: 0, failed: 1 });
    assert.equal(second.calls.length, 1);
    assert.equal(sessions.length, 2);
  } finally {
    await exporter.close();
    first.server.forceShutdown();
    second?.server.forceShutdown();
  }
});

test('OTLP/gRPC: a collector that is down fails the batch at once, without a throw', { timeout: 10_000 }, async () => {
  const port = await closedPort();
  const exporter = new SpanExporter({ sender: providerSender(grpcProvider(port), { env: {} }), serviceName: 'podinfo.podinfo', timers: manualTimers });
  const started = performance.now();
  exporter.record(root1);
  await exporter.flush();
  assert.ok(performance.now() - started < 2_000, 'a refused connection is not waited out to the 5 s timeout');
  assert.deepEqual(exporter.stats, { exported: 0, dropped: 0, failed: 1 });
  // And again, on a new session: the refused one is not reused.
  exporter.record(root1);
  await exporter.flush();
  assert.deepEqual(exporter.stats, { exported: 0, dropped: 0, failed: 2 });
  await exporter.close();
});

/** A node:http server recording each POST; `status` answers it. */
async function httpCollector(status: () => number) {
  const got: { url: string | undefined; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { got, server, port: (server.address() as AddressInfo).port };
}

test('OTLP/HTTP: protobuf POSTed to the path with the configured headers; a non-2xx answer fails the batch', async () => {
  let status = 200;
  const collector = await httpCollector(() => status);
  const provider: TracingProviderConfig = {
    name: 'otel-http',
    kind: 'opentelemetry',
    protocol: 'http',
    service: '127.0.0.1',
    port: collector.port,
    path: '/otlp/v1/traces',
    headers: [
      { name: 'Authorization', value: 'Api-Token t-1' },
      { name: 'x-api-key', env_name: 'OTEL_KEY' },
      { name: 'x-unset', env_name: 'NOT_SET' },
    ],
  };
  const exporter = new SpanExporter({ sender: providerSender(provider, { env: { OTEL_KEY: 'k-123' } }), serviceName: 'podinfo.podinfo', resource: { 'k8s.namespace.name': 'podinfo' }, timers: manualTimers });
  try {
    exporter.record(root1);
    exporter.record(child);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 2, dropped: 0, failed: 0 });
    const [req] = collector.got;
    assert.ok(req);
    assert.equal(req.url, '/otlp/v1/traces');
    assert.equal(req.headers['content-type'], 'application/x-protobuf');
    assert.equal(req.headers['authorization'], 'Api-Token t-1');
    assert.equal(req.headers['x-api-key'], 'k-123');
    assert.equal(req.headers['x-unset'], '', 'an unset variable is an empty value, as Istio sends it');
    assertOtlp(req.body);
    status = 503;
    exporter.record(child);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 2, dropped: 0, failed: 1 });
  } finally {
    await exporter.close();
    collector.server.close();
  }
});

test('Zipkin: v2 JSON POSTed to /api/v2/spans, microsecond integers, string tags, the pod as local endpoint', async () => {
  const collector = await httpCollector(() => 202);
  const provider: TracingProviderConfig = { name: 'jaeger', kind: 'zipkin', service: '127.0.0.1', port: collector.port, headers: [{ name: 'x-tenant', value: 'shop' }] };
  const exporter = new SpanExporter({ sender: providerSender(provider, { env: { INSTANCE_IP: '10.1.2.3' } }), serviceName: 'podinfo.podinfo', timers: manualTimers });
  try {
    exporter.record(root1);
    exporter.record(child);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 2, dropped: 0, failed: 0 }, 'Zipkin answers 202');
    const [req] = collector.got;
    assert.ok(req);
    assert.equal(req.url, '/api/v2/spans');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-tenant'], 'shop');
    const local = { ipv4: '10.1.2.3', port: 0, serviceName: 'podinfo.podinfo' };
    assert.deepEqual(JSON.parse(req.body.toString()), [
      {
        traceId: TRACE,
        id: 'b7ad6b7169203331',
        name: 'podinfo.podinfo.svc.cluster.local:9898/*',
        kind: 'SERVER',
        timestamp: 1_700_000_000_123_456,
        duration: 2500,
        localEndpoint: local,
        tags: { 'http.status_code': '503', request_size: '12', ratio: '1.5', negative: '-7', error: 'true' },
      },
      {
        traceId: TRACE,
        parentId: 'b7ad6b7169203331',
        id: '00f067aa0ba902b7',
        name: 'egress db:5432',
        kind: 'CLIENT',
        timestamp: 1_700_000_000_124_000,
        duration: 1000,
        localEndpoint: local,
        tags: { upstream_cluster: 'outbound|5432||db' },
      },
    ]);
    // Integers as JSON writes them: never 1.7e+15.
    assert.match(req.body.toString(), /"timestamp":1700000000123456,/);
  } finally {
    await exporter.close();
    collector.server.close();
  }
});

test('OTLP protobuf: a full batch (512 spans, lengths of three varint bytes) decodes whole', () => {
  const spans = Array.from({ length: 512 }, (_, i): SpanRecord => ({ ...child, spanId: i.toString(16).padStart(16, '0'), name: `span ${i} ${'é'.repeat(i % 7)}` }));
  const body = encodeExportTraceRequest({ serviceName: 'podinfo.podinfo', resource: {}, spans });
  assert.ok(body.length > 16_384);
  const decoded = decode(body).resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
  assert.equal(decoded.length, 512);
  assert.equal(hex(decoded[511]?.spanId), (511).toString(16).padStart(16, '0'));
  assert.equal(decoded[511]?.name, `span 511 ${'é'.repeat(511 % 7)}`);
  assert.equal(decoded[300]?.attributes[0]?.value.stringValue, 'outbound|5432||db');
});

test('OTLP/gRPC: a collector that never answers fails the batch at the timeout, and the next batch connects again', { timeout: 10_000 }, async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const { port } = silent.address() as AddressInfo;
  const sessions: ClientHttp2Session[] = [];
  const sender = providerSender(
    { ...grpcProvider(port), timeout_ms: 100 },
    {
      env: {},
      connect: (authority) => {
        const s = http2.connect(authority);
        sessions.push(s);
        return s;
      },
    },
  );
  const exporter = new SpanExporter({ sender, serviceName: 'podinfo.podinfo', timers: manualTimers });
  try {
    exporter.record(root1);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 0, dropped: 0, failed: 1 });
    assert.equal(sessions[0]?.destroyed, true, 'the session of an unanswered call is not kept');
    exporter.record(root1);
    await exporter.flush();
    assert.equal(sessions.length, 2);
  } finally {
    await exporter.close();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('OTLP/HTTP and Zipkin: a collector that trickles its answer fails the batch at the timeout (a deadline for the whole exchange, not the socket idle time)', { timeout: 10_000 }, async () => {
  const trickling = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    const drip = setInterval(() => res.write(' '), 20);
    res.on('close', () => clearInterval(drip));
  });
  await new Promise<void>((r) => trickling.listen(0, '127.0.0.1', r));
  const { port } = trickling.address() as AddressInfo;
  try {
    for (const provider of [{ name: 'otel', kind: 'opentelemetry', protocol: 'http', service: '127.0.0.1', port, timeout_ms: 150 }, { name: 'zipkin', kind: 'zipkin', service: '127.0.0.1', port, timeout_ms: 150 }] as const) {
      const sender = providerSender(provider, { env: {} });
      const started = performance.now();
      assert.equal(await sender.send({ serviceName: 's', resource: {}, spans: [root1] }), false, provider.kind);
      assert.ok(performance.now() - started < 2_000, `${provider.kind}: failed at its deadline`);
    }
  } finally {
    trickling.closeAllConnections();
    trickling.close();
  }
});
