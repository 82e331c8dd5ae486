import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextWithRoute, request } from '../../../../test/routing/filter-helpers.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { newStreamInfo } from '../../http/connection-manager.ts';
import { FilterConfigError, type FilterVerdict } from '../../http/filter.ts';
import { sendLocalReply } from '../../local-reply.ts';
import { createFaultFilterFactory, type FaultTimer } from './filter.ts';

/** A timer that records requested delays and fires at once (a microtask later): tests never wait. */
function manualTimer(): FaultTimer & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    set: (fn, ms) => {
      slept.push(ms);
      queueMicrotask(fn);
    },
    clear: () => {},
  };
}

/** A timer the test fires by hand; `pending` holds what is armed and not cleared. */
function heldTimer(): FaultTimer & { pending: Map<number, () => void>; fire(): void } {
  const pending = new Map<number, () => void>();
  let next = 0;
  return {
    pending,
    set: (fn) => {
      pending.set(++next, fn);
      return next;
    },
    clear: (h) => void pending.delete(h as number),
    fire() {
      for (const [h, fn] of pending) {
        pending.delete(h);
        fn();
      }
    },
  };
}

function sequence(...draws: number[]): () => number {
  let i = 0;
  return () => {
    const d = draws[i++];
    if (d === undefined) throw new Error('ran out of draws');
    return d;
  };
}

const fault = (f: Record<string, unknown>) => ({ '@type': TypeUrl.HttpFault, ...f });
const pct = (n: number) => ({ numerator: n, denominator: 'HUNDRED' });

test('a delay at 100% waits the fixed delay and records DI', async () => {
  const timer = manualTimer();
  const factory = createFaultFilterFactory({ random: sequence(0.99), timer });
  const filter = factory.create(fault({ delay: { fixed_delay: { seconds: '5' }, percentage: pct(100) } }));
  const ctx = contextWithRoute([factory], null, request('GET'));
  const v = await filter.onRequest?.(ctx);
  assert.deepEqual(v, { action: 'continue' });
  assert.deepEqual(timer.slept, [5000]);
  assert.deepEqual([...ctx.info.responseFlags], ['DI']);
});

test('abort percentages decide per draw; aborted requests get FI and the status', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0.49, 0.5), timer: manualTimer() });
  const filter = factory.create(fault({ abort: { http_status: 503, percentage: pct(50) } }));
  const first = contextWithRoute([factory], null, request('GET'));
  const v1 = (await filter.onRequest?.(first)) as FilterVerdict;
  assert.equal(v1.action, 'respond');
  assert.equal(v1.action === 'respond' && v1.reply.status, 503);
  assert.equal(v1.action === 'respond' && v1.reply.flag, 'FI');
  assert.ok(first.info.responseFlags.has('FI'));
  const second = contextWithRoute([factory], null, request('GET'));
  assert.deepEqual(await filter.onRequest?.(second), { action: 'continue' });
  assert.equal(second.info.responseFlags.size, 0);
});

test('delay then abort: both flags, delay first', async () => {
  const timer = manualTimer();
  const factory = createFaultFilterFactory({ random: sequence(0, 0), timer });
  const filter = factory.create(fault({ delay: { fixed_delay: { seconds: '0', nanos: 250_000_000 }, percentage: pct(100) }, abort: { http_status: 500, percentage: pct(100) } }));
  const ctx = contextWithRoute([factory], null, request('GET'));
  const v = (await filter.onRequest?.(ctx)) as FilterVerdict;
  assert.deepEqual(timer.slept, [250]);
  assert.equal(v.action === 'respond' && v.reply.status, 500);
  assert.deepEqual([...ctx.info.responseFlags].sort(), ['DI', 'FI']);
});

test('a gRPC abort answers 200 with its gRPC status beside the headers, never in them (a plain request must not see it)', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0), timer: manualTimer() });
  const filter = factory.create(fault({ abort: { grpc_status: 14, percentage: pct(100) } }));
  const v = (await filter.onRequest?.(contextWithRoute([factory], null, request('POST')))) as FilterVerdict;
  assert.equal(v.action, 'respond');
  if (v.action === 'respond') {
    assert.equal(v.reply.status, 200);
    assert.equal(v.reply.grpcStatus, 14);
    assert.equal(v.reply.headers, undefined);
  }
});

test('the route override replaces the listener config', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0), timer: manualTimer() });
  const filter = factory.create(fault({}));
  const ctx = contextWithRoute([factory], { 'envoy.filters.http.fault': fault({ abort: { http_status: 418, percentage: pct(100) } }) }, request('GET'));
  const v = (await filter.onRequest?.(ctx)) as FilterVerdict;
  assert.equal(v.action === 'respond' && v.reply.status, 418);
});

test('header matchers gate the fault', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0), timer: manualTimer() });
  const filter = factory.create(fault({ abort: { http_status: 503, percentage: pct(100) }, headers: [{ name: 'x-chaos', present_match: true }] }));
  assert.deepEqual(await filter.onRequest?.(contextWithRoute([factory], null, request('GET'))), { action: 'continue' });
  const v = (await filter.onRequest?.(contextWithRoute([factory], null, request('GET', { 'x-chaos': '1' })))) as FilterVerdict;
  assert.equal(v.action, 'respond');
});

test('unsupported or malformed config is refused with FilterConfigError', () => {
  const factory = createFaultFilterFactory();
  assert.throws(() => factory.create(fault({ abort: { percentage: pct(1) } })), FilterConfigError);
  assert.throws(() => factory.create(fault({ upstream_cluster: 'x' })), /upstream_cluster/);
  assert.throws(() => factory.create(fault({ delay: { percentage: pct(1) } })), /fixed_delay/);
  assert.throws(() => factory.create({ '@type': 'type.googleapis.com/other' }), FilterConfigError);
});

test("a stream that ends during its delay: onDestroy disarms the timer and releases max_active_faults (Envoy's onDestroy)", async () => {
  const timer = heldTimer();
  const factory = createFaultFilterFactory({ random: () => 0, timer });
  const filter = factory.create(fault({ delay: { fixed_delay: { seconds: '5' }, percentage: pct(100) }, max_active_faults: { value: 1 } }));
  const left = contextWithRoute([factory], null, request('GET'));
  let settled = false;
  const pending = filter.onRequest?.(left) as Promise<FilterVerdict>;
  void pending.then(() => {
    settled = true;
  });
  assert.equal(timer.pending.size, 1);
  // At max_active_faults: a second request passes unfaulted while the first is delayed.
  const meanwhile = contextWithRoute([factory], null, request('GET'));
  assert.deepEqual(filter.onRequest?.(meanwhile), { action: 'continue' });
  filter.onDestroy?.(left);
  assert.equal(timer.pending.size, 0, 'the delay timer is disarmed');
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'the verdict never settles: nothing after the fault runs');
  // The fault is released: the next request is delayed.
  const next = contextWithRoute([factory], null, request('GET'));
  const v = filter.onRequest?.(next) as Promise<FilterVerdict>;
  assert.equal(timer.pending.size, 1);
  timer.fire();
  assert.deepEqual(await v, { action: 'continue' });
});

test('a delay that runs out without an abort stops counting as active; an abort counts until the stream is done', async () => {
  const timer = heldTimer();
  const factory = createFaultFilterFactory({ random: sequence(0, 0.99, 0, 0, 0), timer });
  const filter = factory.create(fault({ delay: { fixed_delay: { seconds: '1' }, percentage: pct(100) }, abort: { http_status: 503, percentage: pct(50) }, max_active_faults: { value: 1 } }));
  const delayed = contextWithRoute([factory], null, request('GET'));
  const v = filter.onRequest?.(delayed) as Promise<FilterVerdict>;
  timer.fire();
  assert.deepEqual(await v, { action: 'continue' }, 'delayed, not aborted (draw 0.99)');
  // Released at the end of the delay (Envoy's postDelayInjection): the next request is faulted.
  const aborted = contextWithRoute([factory], null, request('GET'));
  const a = filter.onRequest?.(aborted) as Promise<FilterVerdict>;
  timer.fire();
  assert.equal(((await a) as FilterVerdict).action, 'respond');
  // The aborted stream has not ended: it still counts, so the next request is not faulted.
  assert.deepEqual(filter.onRequest?.(contextWithRoute([factory], null, request('GET'))), { action: 'continue' });
  filter.onDone?.(aborted, { status: 503, requestBytes: 0, responseBytes: 0, requestHeadBytes: 0, responseHeadBytes: 0, durationMs: 0, downstreamReset: false });
  assert.ok(filter.onRequest?.(contextWithRoute([factory], null, request('GET'))) instanceof Promise, 'released once done: delayed again');
});

// Envoy's abortWithStatus: sendLocalReply(200, "fault filter abort", grpc_status); prepareLocalReply uses
// grpc_status only when the request is gRPC.
test('a grpc_status abort: trailers-only gRPC reply to a gRPC request, a plain 200 "fault filter abort" to any other', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0, 0), timer: manualTimer() });
  const filter = factory.create(fault({ abort: { grpc_status: 14, percentage: pct(100) } }));
  const sent = async (grpc: boolean) => {
    const v = (await filter.onRequest?.(contextWithRoute([factory], null, request('POST')))) as FilterVerdict;
    assert.equal(v.action, 'respond');
    const out = { status: 0, headers: {} as Record<string, string | number>, body: '' };
    const target = { headersSent: false, writeHead: (s: number, h: Record<string, string | number>) => Object.assign(out, { status: s, headers: h }), end: (b?: string) => Object.assign(out, { body: b ?? '' }) };
    if (v.action === 'respond') sendLocalReply(target, v.reply, newStreamInfo(0), grpc);
    return { status: out.status, ct: out.headers['content-type'], gs: out.headers['grpc-status'], gm: out.headers['grpc-message'], body: out.body };
  };
  assert.deepEqual(await sent(true), { status: 200, ct: 'application/grpc', gs: '14', gm: 'fault filter abort', body: '' });
  assert.deepEqual(await sent(false), { status: 200, ct: 'text/plain', gs: undefined, gm: undefined, body: 'fault filter abort' });
});
