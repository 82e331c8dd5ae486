// The collector's name is looked up once at a time and its answer used again for a while: with a
// resolver that hangs (CoreDNS down), exports that time out leave one lookup behind, not one each on
// libuv's four threads. Deadlines run on a manual clock; nothing waits a timeout out.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { test } from 'node:test';
import { type ResolveAll, sharedLookup } from './collector-lookup.ts';
import type { DeadlineTimers } from './deadline-timers.ts';
import { providerSender } from './provider-sender.ts';
import type { SpanBatch } from './sender.ts';

const batch: SpanBatch = {
  serviceName: 'web.shop',
  resource: {},
  spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', name: 'ingress', kind: 'SERVER', startMs: 1, endMs: 2, attributes: {}, error: false }],
};

/** Deadlines fired by hand, in the order they were set. */
function manualDeadlines() {
  const pending = new Map<number, () => void>();
  let next = 0;
  const timers: DeadlineTimers = {
    setTimeout(fn) {
      pending.set(++next, fn);
      return next;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  const fireAll = () => {
    for (const [id, fn] of [...pending]) {
      pending.delete(id);
      fn();
    }
  };
  return { timers, fireAll };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('a hung resolver: every sender kind, batch after timed-out batch, waits on the one lookup', async () => {
  let calls = 0;
  const hung: ResolveAll = () => void calls++;
  const lookup = sharedLookup(hung);
  const { timers, fireAll } = manualDeadlines();
  const providers = [
    { name: 'o', kind: 'opentelemetry', protocol: 'grpc', service: 'collector.observability', port: 4317, timeout_ms: 1000 },
    { name: 'h', kind: 'opentelemetry', protocol: 'http', service: 'collector.observability', port: 4318, timeout_ms: 1000 },
    { name: 'z', kind: 'zipkin', service: 'collector.observability', port: 9411, timeout_ms: 1000 },
  ] as const;
  for (const p of providers) {
    const sender = providerSender(p, { env: {}, lookup, timers });
    for (let i = 0; i < 8; i++) {
      const sent = sender.send(batch);
      await turns();
      fireAll();
      assert.equal(await sent, false, `${p.name}: failed at its deadline`);
    }
    sender.close();
  }
  assert.equal(calls, 1, 'one getaddrinfo for 24 exports');
});

test('an answer is used again until it expires; a failure is not kept; callers get the form they asked for', () => {
  let clock = 0;
  const answers: ((err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void)[] = [];
  const asked: unknown[] = [];
  const lookup = sharedLookup(
    (host, options, callback) => {
      asked.push([host, options.family, options.all]);
      answers.push(callback);
    },
    () => clock,
    5_000,
  );
  const got: unknown[] = [];
  lookup('collector', { family: 0, hints: 0 }, (err, address, family) => got.push(['one', err, address, family]));
  lookup('collector', { family: 0, hints: 0, all: true }, (err, addresses) => got.push(['all', err, addresses]));
  assert.equal(answers.length, 1, 'the second waits on the first');
  answers[0]?.(null, [
    { address: '10.0.0.7', family: 4 },
    { address: 'fd00::7', family: 6 },
  ]);
  assert.deepEqual(got, [
    ['one', null, '10.0.0.7', 4],
    [
      'all',
      null,
      [
        { address: '10.0.0.7', family: 4 },
        { address: 'fd00::7', family: 6 },
      ],
    ],
  ]);
  clock = 4_999;
  lookup('collector', { family: 0, hints: 0 }, () => {});
  assert.equal(answers.length, 1, 'still fresh');
  clock = 5_000;
  lookup('collector', { family: 0, hints: 0 }, () => {});
  assert.equal(answers.length, 2, 'expired: looked up again');
  const enotfound = Object.assign(new Error('getaddrinfo ENOTFOUND collector'), { code: 'ENOTFOUND' });
  answers[1]?.(enotfound, []);
  let failed: unknown;
  lookup('collector', { family: 0, hints: 0 }, (err) => {
    failed = err;
  });
  assert.equal(answers.length, 3, 'a failure is not kept');
  answers[2]?.(enotfound, []);
  assert.equal(failed, enotfound);
  assert.deepEqual(asked[0], ['collector', 0, true]);
});
