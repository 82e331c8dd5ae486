// Seeded fuzz of the proxy's HTTP/1.1 upstream codec: an origin answers each request with a mutated
// response (bad status lines, CL/TE mixes, bad chunks, truncated bodies, bytes after the end) and
// closes. Oracle, per case: the process stays up; the client gets a well-formed answer within the
// deadline, never an empty close; a response a strict parser accepts is relayed faithfully (status and
// whole body); anything else is relayed as the origin's status with a body never shown complete when it
// was cut (a head whose body breaks later included), or refused as 502 UPE / 503 UC.
// OUTRIGGER_FUZZ_CASES / OUTRIGGER_FUZZ_SEED run more.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from '../proxy/harness.ts';
import { exchange } from './fuzz-client.ts';
import { caseRng, fuzzBudget, showBytes } from './fuzz-rng.ts';
import { originResponse, splits } from './h1-fuzz-cases.ts';
import { parseResponses, type RefResponse } from './strict-h1-reference.ts';

const { seed, cases } = fuzzBudget(200);

const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

let env: Awaited<ReturnType<typeof startProxy>>;
let origin: net.Server;
let port: number;
/** What the origin answers the next request with. */
let answer: { bytes: Buffer; cuts: number[] } = { bytes: Buffer.alloc(0), cuts: [] };

before(async () => {
  process.on('uncaughtException', onUncaught);
  origin = net.createServer((s) => {
    let head = '';
    s.on('error', () => {});
    s.on('data', async (c: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const { bytes, cuts } = answer;
      let at = 0;
      for (const cut of [...cuts, bytes.length]) {
        if (s.destroyed) return;
        s.write(bytes.subarray(at, cut));
        at = cut;
        await new Promise((r) => setImmediate(r));
      }
      s.end();
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    // One request per connection: an origin that closes after each answer never leaves a pooled one behind.
    { ...cluster('origin'), max_requests_per_connection: { value: 1 } },
    cla('origin', [{ port: (origin.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
    routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'origin' }] }]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  await env.close();
  origin.close();
});

const tallies = new Map<string, number>();
const tally = (what: string): void => void tallies.set(what, (tallies.get(what) ?? 0) + 1);

/** The first response a strict client reads from the origin's bytes, or why there is none. */
function strictFirst(bytes: Buffer): RefResponse | string {
  const headEnd = bytes.indexOf('\r\n\r\n');
  // The proxy's response head budget (Envoy's max_response_headers_kb, 60).
  if (headEnd < 0 || headEnd + 4 > 60 * 1024) return 'no head within 60 KiB';
  try {
    const list = parseResponses(bytes, { firstOnly: true });
    return list[0] ?? 'no response';
  } catch (err) {
    return (err as Error).message;
  }
}

const GET = Buffer.from('GET /fuzz HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n', 'latin1');

async function runCase(i: number): Promise<string | undefined> {
  const rng = caseRng(seed, i);
  const bytes = originResponse(rng);
  answer = { bytes, cuts: splits(rng, bytes.length) };
  const ref = strictFirst(bytes);
  const x = await exchange(port, GET, [], 1);
  const where = `case ${i} (seed ${seed}), origin sent ${showBytes(bytes)}, cuts ${JSON.stringify(answer.cuts)}, strict: ${typeof ref === 'string' ? ref : `${ref.status} ${ref.complete ? 'complete' : 'cut'}`}`;
  if (x.hung) return `hung: ${where}\nanswered: ${showBytes(x.out)}`;
  let got: RefResponse | undefined;
  try {
    got = parseResponses(x.out)[0];
  } catch (err) {
    return `malformed answer (${(err as Error).message}): ${where}\nanswered: ${showBytes(x.out)}`;
  }
  // Never an empty close: a head the proxy refuses is answered 502 UPE; one it takes is relayed, and a
  // body it then cannot frame or that is cut only cuts the body (Envoy resets the stream after the head).
  if (!got) return `no answer: ${where}\nanswered: ${showBytes(x.out)}`;
  const flag = got.headers.get('x-envoy-response-flags');
  tally(`${typeof ref === 'string' ? 'strict refuses' : 'strict reads'} → ${got.status}${flag ? ` ${flag}` : ''}`);
  if (flag !== undefined) {
    // The proxy's own answer: the right one for what went wrong.
    const right = (got.status === 502 && flag === 'UPE' && got.body.endsWith('protocol error')) || (got.status === 503 && flag === 'UC' && got.body.endsWith('connection termination'));
    if (!right) return `local reply ${got.status} ${flag} ${JSON.stringify(got.body)}: ${where}`;
    if (typeof ref !== 'string' && ref.complete) return `a response a strict client reads whole was refused (${got.status} ${flag}): ${where}`;
    return undefined;
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(bytes.toString('latin1'))?.[1]);
  if (got.status !== status) return `relayed status ${got.status}, origin said ${status}: ${where}\nanswered: ${showBytes(x.out)}`;
  if (typeof ref === 'string') {
    // Relayed although malformed somewhere: at least never a cut body shown as whole.
    return undefined;
  }
  if (ref.complete && (!got.complete || got.body !== ref.body)) return `relayed body ${JSON.stringify(got.body)} (${got.complete ? 'whole' : 'cut'}), origin's ${JSON.stringify(ref.body)}: ${where}`;
  // The client codec takes a bare LF as a line end from a server (lenient where a client may be): a
  // body it reads whole that way was not cut.
  const lenient = strictFirst(Buffer.from(bytes.toString('latin1').replace(/(?<!\r)\n/g, '\r\n'), 'latin1'));
  if (!ref.complete && got.complete && (typeof lenient === 'string' || !lenient.complete)) return `a cut body relayed as whole: ${where}\nanswered: ${showBytes(x.out)}`;
  return undefined;
}

test(`fuzzed origin responses: ${cases} cases, seed ${seed}`, async () => {
  const failures: string[] = [];
  const only = process.env['OUTRIGGER_FUZZ_ONLY'];
  for (let i = only ? Number(only) : 0; i < (only ? Number(only) + 1 : cases) && failures.length < 5; i++) {
    const why = await runCase(i);
    if (why) failures.push(why);
    if (uncaught.length > 0) failures.push(`uncaught after case ${i}: ${String(uncaught[0])}`);
  }
  if (process.env['OUTRIGGER_FUZZ_VERBOSE']) console.log(Object.fromEntries([...tallies].sort()));
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
});
