// Bad input never takes a process down: the proxy's admin port, the control plane's debug API and its
// trace collector each answer a request target WHATWG's URL parser refuses (absolute-form with a port
// past 65535, `GET http://a:99999/`, which Node's HTTP parser accepts) and an OTLP body of the wrong
// shape with an error of their own. Before, `new URL()` threw inside the request handler and the
// collector's ingest walked `null` or a number: each an uncaught exception, i.e. a dead process.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { startDebugApi } from '../../src/controlplane/debug-api.ts';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import { rawExchange, request, startProxy } from '../proxy/harness.ts';

const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};
before(() => process.on('uncaughtException', onUncaught));
after(() => process.removeListener('uncaughtException', onUncaught));

const badTargets = ['GET http://a:99999/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 'GET //a:99999/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'];

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

test("the proxy's admin port answers a target URL cannot parse with 400", async () => {
  const env = await startProxy();
  try {
    for (const t of badTargets) assert.equal(statusOf(await rawExchange(env.admin, t)), 400, t);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uncaught, []);
    assert.equal((await request(env.admin, '/ready')).status, 200, 'still up');
  } finally {
    await env.close();
  }
});

test("the control plane's debug API answers a target URL cannot parse with 400", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-bad-target-'));
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, log: () => {} });
  const debug = await startDebugApi(cp, '127.0.0.1:0');
  try {
    const port = Number(debug.address.split(':').at(-1));
    for (const t of badTargets) assert.equal(statusOf(await rawExchange(port, t)), 400, t);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uncaught, []);
    assert.equal((await request(port, '/version', { host: '127.0.0.1' })).status, 200, 'still up');
  } finally {
    await debug.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  }
});

function post(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the trace collector answers a bad target and OTLP bodies of the wrong shape with 400, and keeps the good spans', async () => {
  const collector = new TraceCollector();
  const port = await collector.listen(0);
  try {
    for (const t of badTargets) assert.equal(statusOf(await rawExchange(port, t)), 400, t);
    const traceId = 'a'.repeat(32);
    const good = { traceId, spanId: 'b'.repeat(16), name: 'GET /', kind: 2, startTimeUnixNano: '1000000', endTimeUnixNano: '2000000', attributes: [], status: { code: 0 } };
    const bodies = [
      'null',
      '5',
      '"x"',
      '{"resourceSpans":5}',
      '{"resourceSpans":[null]}',
      '{"resourceSpans":[{"scopeSpans":7}]}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":{"length":3}}]}]}',
      '{"resourceSpans":[{"resource":{"attributes":5},"scopeSpans":[]}]}',
      '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name"}]},"scopeSpans":[]}]}',
      '{"resourceSpans":[{"resource":{"attributes":[null]},"scopeSpans":[]}]}',
    ];
    for (const b of bodies) assert.ok([200, 400].includes(await post(port, b)), b);
    assert.equal(await post(port, JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'web.shop' } }] }, scopeSpans: [{ spans: [good, null, 3, { ...good, spanId: 5 }] }] }] })), 200);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uncaught, []);
    assert.deepEqual(
      collector.trace(traceId)?.spans.map((s) => [s.spanId, s.serviceName]),
      [['b'.repeat(16), 'web.shop']],
    );
  } finally {
    await collector.close();
  }
});

test('the trace collector holds a bounded number of spans: per trace, and in all', async () => {
  const collector = new TraceCollector({ maxSpans: 1500 });
  const port = await collector.listen(0);
  try {
    const span = (traceId: string, i: number) => ({ traceId, spanId: i.toString(16).padStart(16, '0'), name: 'GET /', kind: 2, startTimeUnixNano: '1000000', endTimeUnixNano: '2000000', attributes: [], status: { code: 0 } });
    const send = (spans: object[]) => post(port, JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans }] }] }));
    // A client that sends the same traceparent on every request: one trace id, spans without end.
    const hot = 'c'.repeat(32);
    for (let batch = 0; batch < 5; batch++) assert.equal(await send(Array.from({ length: 500 }, (_, i) => span(hot, batch * 500 + i))), 200);
    assert.equal(collector.trace(hot)?.spans.length, 1000, 'a trace keeps at most 1,000 spans');
    assert.equal(collector.dropped, 1500);
    // Many traces: the oldest go once the total passes maxSpans.
    for (let t = 0; t < 20; t++) await send(Array.from({ length: 50 }, (_, i) => span(t.toString(16).padStart(32, '0'), i)));
    assert.ok(collector.spanCount <= 1500, `${collector.spanCount} spans held`);
    assert.equal(collector.trace(hot), undefined, 'the least recently active trace was evicted');
    assert.equal(collector.trace((19).toString(16).padStart(32, '0'))?.spans.length, 50);
  } finally {
    await collector.close();
  }
});
