import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId, newSpanId, newTraceId } from './ids.ts';
import { Sampler } from './sampler.ts';
import { extractTraceContext, injectTraceContext, parseTraceparent } from './trace-context.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

const cases: { name: string; headers: Record<string, string>; traceId?: string; spanId?: string; sampled: boolean | undefined }[] = [
  { name: 'W3C sampled', headers: { traceparent: `00-${T}-${S}-01` }, traceId: T, spanId: S, sampled: true },
  { name: 'W3C not sampled', headers: { traceparent: `00-${T}-${S}-00` }, traceId: T, spanId: S, sampled: false },
  { name: 'W3C all-zero trace id is invalid', headers: { traceparent: `00-${'0'.repeat(32)}-${S}-01` }, sampled: undefined },
  { name: 'W3C version ff is invalid', headers: { traceparent: `ff-${T}-${S}-01` }, sampled: undefined },
  { name: 'W3C wins over B3', headers: { traceparent: `00-${T}-${S}-01`, 'x-b3-traceid': 'a'.repeat(32), 'x-b3-spanid': 'b'.repeat(16) }, traceId: T, spanId: S, sampled: true },
  { name: 'B3 multi, 64-bit trace id padded', headers: { 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': S, 'x-b3-sampled': '1' }, traceId: `0000000000000000a3ce929d0e0e4736`, spanId: S, sampled: true },
  { name: 'B3 multi without decision', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S }, traceId: T, spanId: S, sampled: undefined },
  { name: 'B3 debug flag samples', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' }, traceId: T, spanId: S, sampled: true },
  { name: 'B3 single', headers: { b3: `${T}-${S}-1-${'c'.repeat(16)}` }, traceId: T, spanId: S, sampled: true },
  { name: 'B3 single deny only', headers: { b3: '0' }, sampled: false },
  { name: 'B3 sampled alone', headers: { 'x-b3-sampled': '0' }, sampled: false },
  { name: 'nothing', headers: {}, sampled: undefined },
];

for (const c of cases) {
  test(`extract: ${c.name}`, () => {
    const got = extractTraceContext((n) => c.headers[n]);
    assert.equal(got.context?.traceId, c.traceId);
    assert.equal(got.context?.spanId, c.spanId);
    assert.equal(got.sampled, c.sampled);
  });
}

test('inject writes W3C and B3, keeps tracestate, and B3 single when the caller used it', () => {
  const out: Record<string, string> = {};
  const incoming = extractTraceContext((n) => ({ b3: `${T}-${S}-1`, tracestate: 'x=1' })[n]).context;
  injectTraceContext((n, v) => (out[n] = v), T, '1111111111111111', S, true, incoming);
  assert.equal(out['traceparent'], `00-${T}-1111111111111111-01`);
  assert.equal(out['x-b3-parentspanid'], S);
  assert.equal(out['x-b3-sampled'], '1');
  assert.equal(out['b3'], `${T}-1111111111111111-1-${S}`);
  assert.deepEqual(parseTraceparent(out['traceparent'] ?? ''), { traceId: T, spanId: '1111111111111111', sampled: true });
});

test('ids come from the injected random source and have the right shapes', () => {
  let i = 0;
  const seq = () => [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8][i++ % 8] ?? 0;
  assert.match(newTraceId(seq), /^[0-9a-f]{32}$/);
  assert.match(newSpanId(seq), /^[0-9a-f]{16}$/);
  assert.match(newRequestId(seq), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(newSpanId(() => 0), '0000000000000001', 'never all zeros');
  assert.equal(newTraceId(() => 0), `${'0'.repeat(31)}1`, 'never all zeros');
  // Each draw is 32 bits, written big-endian as 8 hex digits, in draw order.
  const draws = [0x01234567, 0x89abcdef, 0xfedcba98, 0x0000000f].map((n) => n / 0x1_0000_0000);
  let j = 0;
  const exact = () => draws[j++ % 4] as number;
  assert.equal(newTraceId(exact), '0123456789abcdeffedcba980000000f');
  assert.equal(newSpanId(exact), '0123456789abcdef');
});

test('sampler: caller decision first, then the first matching path rule, then the default', () => {
  let r = 0.05;
  const s = new Sampler(100, [{ url: '.*/(healthz|readyz|livez)(\\?.*)?$', percentage: 10 }, { url: '.*/(metrics|stats/prometheus)(\\?.*)?$', percentage: 1 }], () => r);
  assert.equal(s.decide(false, 'http://a/'), false);
  assert.equal(s.decide(undefined, 'http://a/api'), true);
  assert.equal(s.decide(undefined, 'http://a/healthz'), true, '0.05 < 10 %');
  r = 0.5;
  assert.equal(s.decide(undefined, 'http://a/healthz?full=1'), false, '0.5 ≥ 10 %');
  r = 0.005;
  assert.equal(s.decide(undefined, 'http://a/metrics'), true);
  r = 0.02;
  assert.equal(s.decide(undefined, 'http://a/stats/prometheus'), false);
  assert.throws(() => new Sampler(101, [], Math.random), { code: 'SAMPLING_CONFIG' });
});
