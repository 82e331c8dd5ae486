// Seeded fuzz of the proxy's other ports: the admin port with mutated HTTP/1.1 requests and garbage; the
// mesh tunnel (15008-style, mutual TLS) with garbage before or in place of a TLS handshake, and, from a
// peer holding a valid mesh certificate, mutated HTTP/1.1 requests (ALPN http/1.1) and fuzzed HTTP/2
// frames (ALPN h2). Oracle, per case: the process stays up; each connection ends with well-formed
// answers or a close within the deadline (an HTTP/2 session the peer left with GOAWAY once silent for
// the tunnel's bound, run at once when the case stalls); the admin port and the tunnel still serve
// afterwards.
// OUTRIGGER_FUZZ_CASES / OUTRIGGER_FUZZ_SEED run more.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from '../../src/proxy/http/stream-timeouts.ts';
import { TCP_PROXY_IDLE_TIMEOUT_MS } from '../../src/proxy/listener/compile-listener.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { headers, PREFACE, settings } from '../proxy/h2-frames.ts';
import { makeCa } from '../proxy/certs.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { exchange } from './fuzz-client.ts';
import { caseRng, fuzzBudget, type Rng, showBytes } from './fuzz-rng.ts';
import { ExpirableTimers, LAST, makeCase, request as h2Request, runCase } from './h2-fuzz-cases.ts';
import { clientStream, splits } from './h1-fuzz-cases.ts';
import { parseRequests, parseResponses } from './strict-h1-reference.ts';

// 100: the first cases of the seed whose mesh peer says GOAWAY and then breaks the session come after 60.
const { seed, cases } = fuzzBudget(100);

const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

let env: Awaited<ReturnType<typeof startProxy>>;
let app: Awaited<ReturnType<typeof echoBackend>>;
let tunnelPort: number;
let cert: { cert: string; key: string };
let caPem: string;
const timers = new ExpirableTimers();
/** A stalled session's streams time out, and the tunnel's bound after a peer's GOAWAY runs out. */
const expireIdle = (): void => {
  timers.expire(DEFAULT_STREAM_IDLE_TIMEOUT_MS);
  timers.expire(TCP_PROXY_IDLE_TIMEOUT_MS);
};

before(async () => {
  process.on('uncaughtException', onUncaught);
  const ca = await makeCa();
  caPem = ca.ca;
  app = await echoBackend();
  env = await startProxy({ nodeId: 'sidecar~127.0.0.1~podinfo.podinfo~podinfo.svc.cluster.local', timers });
  env.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/podinfo/sa/podinfo'));
  push(env.proxy, [
    cluster('inbound|9898||'),
    cla('inbound|9898||', [{ port: app.port }]),
    listener('virtualInbound', 15006, [{ port: 9898, filter: hcm('inbound|9898||') }]),
    listener('connect_terminate', 15008, []),
    routeConfig('inbound|9898||', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'inbound|9898||' }] }]),
    { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } },
  ]);
  tunnelPort = await env.port('connect_terminate');
  cert = await ca.issue('spiffe://cluster.local/ns/frontend/sa/web');
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  await env.close();
  app.server.close();
});

const mesh = (alpn: string) => (): net.Socket => tls.connect({ host: '127.0.0.1', port: tunnelPort, ...cert, ca: caPem, ALPNProtocols: [alpn], checkServerIdentity: () => undefined });

/** Mutated HTTP/1.1 through `to`: well-formed answers or a close, in time. */
async function h1Case(to: number | (() => net.Socket), rng: Rng, i: number, prefix: string): Promise<string | undefined> {
  let bytes = clientStream(rng, `c${i}`);
  // Tunnelled HTTP/1.1 names its port; most cases do, some do not.
  if (prefix !== '' && rng.chance(0.8)) bytes = Buffer.from(bytes.toString('latin1').replace(/\r\n/, `\r\n${prefix}`), 'latin1');
  const cuts = splits(rng, bytes.length);
  const ref = parseRequests(bytes);
  const x = await exchange(to, bytes, cuts, ref.requests.length);
  const where = `case ${i} (seed ${seed}), cuts ${JSON.stringify(cuts)}: ${showBytes(bytes)}`;
  if (x.hung) return `hung: ${where}\nanswered: ${showBytes(x.out)}`;
  // HTTP/2's preface on an HTTP/1.1 port is answered in HTTP/2 (or refused): not parsed here.
  if (bytes.subarray(0, 3).toString() === 'PRI') return undefined;
  try {
    parseResponses(x.out);
  } catch (err) {
    return `malformed answer (${(err as Error).message}): ${where}\nanswered: ${showBytes(x.out)}`;
  }
  return undefined;
}

/** Bytes that are not a TLS handshake, or a broken one: the connection closes once the client is done. */
function garbage(rng: Rng): Buffer {
  const random = Buffer.from(Array.from({ length: rng.range(0, 600) }, () => rng.int(256)));
  switch (rng.int(4)) {
    case 0:
      return random;
    case 1: // a handshake record header promising more than follows
      return Buffer.concat([Buffer.from([0x16, 0x03, rng.int(5), rng.int(256), rng.int(256)]), random]);
    case 2: // an alert, or change cipher spec, first
      return Buffer.from([rng.pick([0x15, 0x14, 0x17]), 0x03, 0x03, 0x00, 0x02, rng.int(256), rng.int(256)]);
    default:
      return Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  }
}

function closesAfter(bytes: Buffer, deadlineMs = 4000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(tunnelPort, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, deadlineMs);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.once('connect', () => s.end(bytes));
  });
}

test(`fuzzed requests and garbage on the admin port: ${cases} cases, seed ${seed}`, async () => {
  const failures: string[] = [];
  for (let i = 0; i < cases && failures.length < 5; i++) {
    const rng = caseRng(seed, i);
    const why = await h1Case(env.admin, rng, i, '');
    if (why) failures.push(why);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
  assert.equal((await request(env.admin, '/ready')).status, 200, 'still up');
});

test(`garbage on the mesh tunnel port instead of a TLS handshake: ${cases} cases, seed ${seed}`, async () => {
  const failures: string[] = [];
  for (let i = 0; i < cases && failures.length < 5; i++) {
    const bytes = garbage(caseRng(seed, i));
    if (!(await closesAfter(bytes))) failures.push(`still open: case ${i}: ${showBytes(bytes)}`);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
});

test(`a mesh peer's fuzzed HTTP/1.1 and HTTP/2 on the tunnel: ${cases} cases each, seed ${seed}`, async () => {
  const failures: string[] = [];
  const tallies = new Map<string, number>();
  const port = { 'x-outrigger-target-port': '9898' };
  for (let i = 0; i < cases && failures.length < 5; i++) {
    const why = await h1Case(mesh('http/1.1'), caseRng(seed, i), i, 'x-outrigger-target-port: 9898\r\n');
    if (why) failures.push(`HTTP/1.1 ${why}`);
    const rng = caseRng(seed ^ 0x5bd1e995, i);
    const { input, goaway, fin } = makeCase(rng, rng.chance(0.8) ? port : {});
    // As on a listener (fuzz-h2.test.ts): a session held open after the peer's GOAWAY ends once silent
    // for the tunnel's bound (tcp_proxy's idle timeout), run as soon as such a case stalls.
    const o = await runCase(mesh('h2'), input, [], fin, 4000, goaway ? expireIdle : undefined);
    const what = o.hung ? 'hung' : o.answered ? 'answered' : `${o.goaway !== undefined ? `GOAWAY ${o.goaway}` : 'closed'}${o.expired ? ' once silent' : ''}`;
    tallies.set(what, (tallies.get(what) ?? 0) + 1);
    if (o.hung) failures.push(`HTTP/2 hung${o.expired ? ' past its bound' : ''}: case ${i}: ${showBytes(input, 400)}\nreceived ${o.frames.join(' ')}`);
    if (o.garbled) failures.push(`HTTP/2 ${o.garbled}: case ${i}`);
  }
  if (process.env['OUTRIGGER_FUZZ_VERBOSE']) console.log(Object.fromEntries([...tallies].sort()));
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
  // The tunnel still serves a clean request.
  const o = await runCase(mesh('h2'), Buffer.concat([PREFACE, settings(), headers(LAST, h2Request('/after', port), true)]), []);
  assert.ok(o.answered, 'a clean tunnelled request after the fuzz is answered');
});
