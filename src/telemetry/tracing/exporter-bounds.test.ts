// The exporter's bounds in bytes as well as in spans: a batch a 4 MiB gRPC collector takes whole, a span
// too large for any batch dropped alone, a queue a stuck collector cannot grow past its bytes, and a full
// batch sent after the request that filled it, not inside it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type ExportTimers, SpanExporter } from './exporter.ts';
import { EXPORT_PATH } from './otlp-grpc.ts';
import { providerSender } from './provider-sender.ts';
import type { SpanBatch, SpanSender } from './sender.ts';
import type { SpanRecord } from './span.ts';

const manualTimers: ExportTimers = { setInterval: () => 0, clearInterval: () => {} };
const turn = () => new Promise((r) => setImmediate(r));

function span(i: number, userAgent = 'curl/8.5'): SpanRecord {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name: 'web.shop.svc.cluster.local:80/*',
    kind: 'SERVER',
    startMs: 1_700_000_000_000,
    endMs: 1_700_000_000_001,
    attributes: { 'http.status_code': '200', user_agent: userAgent, upstream_cluster: 'inbound|80||' },
    error: false,
  };
}
/** A user agent as long as the proxy's 60 KB request head allows, a different string each time. */
const bigAgent = (i: number) => `${i} ${'u'.repeat(58_000)}`;

/** A sender that records the batches it is given and answers them when told. */
function heldSender() {
  const batches: SpanBatch[] = [];
  const answers: ((ok: boolean) => void)[] = [];
  const sender: SpanSender = {
    send(batch) {
      batches.push(batch);
      return new Promise((resolve) => answers.push(resolve));
    },
    close() {},
  };
  return { sender, batches, answers };
}

test('a batch with a few spans as large as a request head reaches a collector with gRPC\'s default 4 MiB limit: it is cut by bytes', { timeout: 10_000 }, async () => {
  const received: number[] = [];
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  server.addService(
    { Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        received.push(call.request.length);
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const sender = providerSender({ name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: '127.0.0.1', port, timeout_ms: 5_000 }, { env: {} });
  const exporter = new SpanExporter({ sender, serviceName: 'web.shop', timers: manualTimers });
  try {
    // 440 ordinary spans and 72 with a 58 KB user agent: 4.2 MB in one message, refused whole.
    for (let i = 0; i < 512; i++) exporter.record(span(i, i % 7 === 0 && i < 7 * 72 ? bigAgent(i) : undefined));
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: 512, dropped: 0, failed: 0 });
    assert.ok(received.length >= 2, 'more than one Export call');
    assert.ok(Math.max(...received) < 3_500_000, `each message under 3.5 MB: ${received.join(', ')}`);
  } finally {
    await exporter.close();
    server.forceShutdown();
  }
});

test('a span larger than a batch may be is dropped and counted; the spans around it go out', async () => {
  const { sender, batches, answers } = heldSender();
  const exporter = new SpanExporter({ sender, serviceName: 'web.shop', timers: manualTimers });
  exporter.record(span(0));
  exporter.record(span(1, 'u'.repeat(4_000_000)));
  exporter.record(span(2));
  assert.equal(exporter.queued, 2);
  assert.equal(exporter.stats.dropped, 1);
  const flushed = exporter.flush();
  answers[0]?.(true);
  await flushed;
  assert.deepEqual(
    batches.map((b) => b.spans.map((s) => s.spanId.slice(-1))),
    [['1', '3']],
  );
  assert.deepEqual(exporter.stats, { exported: 2, dropped: 1, failed: 0 });
});

test('the span that fills a batch is recorded without the batch being encoded in its request: it is sent on the next turn', async () => {
  for (const [name, agent, count] of [['by count', () => undefined, 512], ['by bytes', bigAgent, 70]] as const) {
    const { sender, batches, answers } = heldSender();
    const exporter = new SpanExporter({ sender, serviceName: 'web.shop', timers: manualTimers });
    for (let i = 0; i < count; i++) exporter.record(span(i, agent(i)));
    assert.equal(batches.length, 0, `${name}: not inside record()`);
    await turn();
    assert.equal(batches.length, 1, name);
    // 60 spans of 58 KB make 3.5 MB: the batch is full before the 70th.
    assert.equal(batches[0]?.spans.length, name === 'by count' ? 512 : 60, name);
    answers[0]?.(true);
    await turn();
    answers[1]?.(true);
    await exporter.flush();
    assert.deepEqual(exporter.stats, { exported: count, dropped: 0, failed: 0 }, name);
  }
});

test('a stuck collector holds the queue to its bytes bound, not 2048 spans of any size; the rest is dropped and counted', async () => {
  const { sender, batches } = heldSender();
  const exporter = new SpanExporter({ sender, serviceName: 'web.shop', timers: manualTimers });
  for (let i = 0; i < 2048 + 512 + 100; i++) {
    exporter.record(span(i, bigAgent(i)));
    if (i % 64 === 0) await turn();
  }
  assert.equal(batches.length, 1, 'one batch in flight, never answered');
  const inFlight = batches[0]?.spans.length ?? 0;
  // 16 MiB of queue at about 58 KB a span.
  assert.ok(exporter.queued <= 290, `queued: ${exporter.queued}`);
  assert.equal(exporter.stats.dropped, 2048 + 512 + 100 - inFlight - exporter.queued);
  void exporter.close(0);
});
