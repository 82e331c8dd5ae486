// Seeded fuzz of the proxy's HTTP/2 downstream: after a valid preface, a mix of valid requests and bad
// frames (wrong lengths, unknown types, bad HPACK, stream id misuse, window overflow, bad SETTINGS,
// padding and CONTINUATION errors), split across writes, then one last valid request on a fresh stream.
// Oracle, per case: the process stays up; within the deadline the last request is answered (HEADERS or
// RST_STREAM) or the connection is closed (GOAWAY or not), a session the client left with GOAWAY once
// silent for the stream idle timeout (run at once when the case stalls); what the proxy sends parses as
// frames; and the listener still serves a clean request afterwards. OUTRIGGER_FUZZ_CASES /
// OUTRIGGER_FUZZ_SEED run more.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from '../../src/proxy/http/stream-timeouts.ts';
import { headers, PREFACE, settings } from '../proxy/h2-frames.ts';
import { cla, cluster, echoBackend, hcm, listener, push, routeConfig, startProxy } from '../proxy/harness.ts';
import { caseRng, fuzzBudget, showBytes } from './fuzz-rng.ts';
import { describe, ExpirableTimers, LAST, makeCase, request, runCase } from './h2-fuzz-cases.ts';

const { seed, cases } = fuzzBudget(150);

const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let port: number;
const timers = new ExpirableTimers();
const expireIdle = (): void => timers.expire(DEFAULT_STREAM_IDLE_TIMEOUT_MS);

before(async () => {
  process.on('uncaughtException', onUncaught);
  backend = await echoBackend();
  env = await startProxy({ timers });
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  await env.close();
  backend.server.close();
});

const open = (): net.Socket => net.connect({ port, host: '127.0.0.1', noDelay: true });

test(`fuzzed HTTP/2 frames: ${cases} cases, seed ${seed}`, async () => {
  const failures: string[] = [];
  const tallies = new Map<string, number>();
  const only = process.env['OUTRIGGER_FUZZ_ONLY'];
  for (let i = only ? Number(only) : 0; i < (only ? Number(only) + 1 : cases) && failures.length < 5; i++) {
    const rng = caseRng(seed, i);
    const { input, goaway, fin } = makeCase(rng);
    const cuts: number[] = [];
    for (let k = rng.range(0, 4); k > 0; k--) cuts.push(rng.range(1, input.length - 1));
    cuts.sort((a, b) => a - b);
    if (only) console.log(describe(input.subarray(PREFACE.length)));
    // Node's HTTP/2 itself (a plain http2 server does the same): after a client's GOAWAY, a frame nghttp2
    // answers with a connection error leaves the session open, reading nothing more. The proxy ends it
    // once silent for the stream idle timeout (fuzz-regressions.test.ts), run here as soon as such a case
    // stalls (its streams' idle timers too).
    const o = await runCase(open, input, cuts, fin, 4000, goaway ? expireIdle : undefined);
    const what = o.hung ? 'hung' : o.answered ? 'answered' : `${o.goaway !== undefined ? `GOAWAY ${o.goaway}` : 'closed'}${o.expired ? ' once silent' : ''}`;
    tallies.set(what, (tallies.get(what) ?? 0) + 1);
    const where = `case ${i} (seed ${seed}), cuts ${JSON.stringify(cuts)}: ${showBytes(input, 400)}`;
    if (o.hung) failures.push(`hung${o.expired ? ' past its bound' : ''}: ${where}\nreceived ${o.frames.join(' ')}`);
    if (o.garbled) failures.push(`${o.garbled}: ${where}`);
    if (uncaught.length > 0) failures.push(`uncaught after case ${i}: ${String(uncaught[0])}`);
  }
  if (process.env['OUTRIGGER_FUZZ_VERBOSE']) console.log(Object.fromEntries([...tallies].sort()));
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
  // Still serving: a clean request on a new connection is answered.
  const o = await runCase(open, Buffer.concat([PREFACE, settings(), headers(LAST, request('/after'), true)]), []);
  assert.ok(o.answered, 'a clean request after the fuzz is answered');
});
