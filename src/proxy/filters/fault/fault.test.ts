import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextWithRoute, request } from '../../../../test/routing/filter-helpers.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { FilterConfigError, type FilterVerdict } from '../../http/filter.ts';
import { createFaultFilterFactory, type FaultTimer } from './filter.ts';

/** A timer that records requested delays and resolves at once: tests never wait. */
function manualTimer(): FaultTimer & { slept: number[] } {
  const slept: number[] = [];
  return { slept, sleep: async (ms) => void slept.push(ms) };
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

test('a gRPC abort answers 200 with grpc-status', async () => {
  const factory = createFaultFilterFactory({ random: sequence(0), timer: manualTimer() });
  const filter = factory.create(fault({ abort: { grpc_status: 14, percentage: pct(100) } }));
  const v = (await filter.onRequest?.(contextWithRoute([factory], null, request('POST')))) as FilterVerdict;
  assert.equal(v.action, 'respond');
  if (v.action === 'respond') {
    assert.equal(v.reply.status, 200);
    assert.equal(v.reply.headers?.['grpc-status'], '14');
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
