// The connection manager's filter walk: synchronous verdicts run in the same turn, a promised verdict
// suspends the walk and resumes it, a reply stops it, onDone runs once per stream, and a throwing filter
// becomes a rejection of handleHttp (never a throw into the server's 'request' event).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { HttpChain } from '../listener/compile-listener.ts';
import { handleHttp, type HcmRuntime } from './connection-manager.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type StreamOutcome } from './filter.ts';
import { compilePathNormalizer } from './normalize-path.ts';

const calls: string[] = [];
const outcomes: StreamOutcome[] = [];
let rejected = 0;

function recorder(name: string, verdict: () => FilterVerdict | Promise<FilterVerdict>): { name: string; filter: HttpFilter } {
  return {
    name,
    filter: {
      onRequest: () => {
        calls.push(name);
        return verdict();
      },
      onDone: (_ctx, o) => {
        if (name === 'telemetry') outcomes.push(o);
      },
    },
  };
}

const respond = (status: number): FilterVerdict => ({ action: 'respond', reply: { status, details: `by_filter_${status}`, body: '' } });

/** Chains by path: each request picks the filter sequence named by its path. */
const chains: Record<string, HttpChain['filters']> = {
  '/sync-deny': [recorder('a', () => CONTINUE), recorder('deny', () => respond(403)), recorder('never', () => CONTINUE), recorder('telemetry', () => CONTINUE)],
  '/async-then-sync-deny': [recorder('async', () => Promise.resolve(CONTINUE)), recorder('deny', () => respond(401)), recorder('never', () => CONTINUE), recorder('telemetry', () => CONTINUE)],
  '/async-deny': [recorder('async-deny', () => Promise.resolve(respond(429))), recorder('never', () => CONTINUE), recorder('telemetry', () => CONTINUE)],
  '/all-continue': [recorder('a', () => CONTINUE), recorder('async', () => Promise.resolve(CONTINUE)), recorder('b', () => CONTINUE), recorder('telemetry', () => CONTINUE)],
  '/throws': [
    recorder('boom', () => {
      throw new Error('filter bug');
    }),
  ],
};

function chainFor(path: string): HttpChain {
  return { kind: 'http', statPrefix: 'test', filters: chains[path] ?? [], websocket: false, normalize: compilePathNormalizer('BASE'), useRemoteAddress: false, xffTrustedHops: 0, serverHeader: null, suppressEnvoyHeaders: false, generateRequestId: true };
}

const rt: HcmRuntime = {
  clusters: { get: () => undefined } as unknown as ClusterManager,
  routeTable: () => undefined,
  normalize: compilePathNormalizer('BASE'),
  random: () => 0.5,
  now: () => 1000,
  draining: () => false,
};

let server: http.Server;
let port = 0;

before(async () => {
  server = http.createServer((req, res) => {
    const conn = { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 8080, tls: false };
    handleHttp(rt, chainFor(req.url ?? ''), conn, req, res).catch(() => {
      rejected++;
      res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => server.close());

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host: 'svc' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/** onDone runs on the response's close, which may follow the client's read of the body. */
async function outcomeCount(n: number): Promise<number> {
  for (let i = 0; i < 200 && outcomes.length < n; i++) await new Promise((r) => setImmediate(r));
  return outcomes.length;
}

test('a synchronous reply stops the walk; later filters never run; onDone sees the status once', async () => {
  calls.length = 0;
  outcomes.length = 0;
  assert.equal(await get('/sync-deny'), 403);
  assert.deepEqual(calls, ['a', 'deny']);
  assert.equal(await outcomeCount(1), 1);
  assert.equal(outcomes[0]?.status, 403);
});

test('a promised continue resumes the walk with the next filter', async () => {
  calls.length = 0;
  outcomes.length = 0;
  assert.equal(await get('/async-then-sync-deny'), 401);
  assert.deepEqual(calls, ['async', 'deny']);
  assert.equal(await outcomeCount(1), 1);
});

test('a promised reply stops the walk', async () => {
  calls.length = 0;
  assert.equal(await get('/async-deny'), 429);
  assert.deepEqual(calls, ['async-deny']);
});

test('every filter runs in order when all continue (no route: 404 after them)', async () => {
  calls.length = 0;
  outcomes.length = 0;
  assert.equal(await get('/all-continue'), 404);
  assert.deepEqual(calls, ['a', 'async', 'b', 'telemetry']);
  assert.equal(await outcomeCount(1), 1);
  assert.equal(outcomes[0]?.status, 404);
});

test('a filter that throws rejects handleHttp instead of throwing into the server', async () => {
  const before = rejected;
  await assert.rejects(get('/throws'));
  assert.equal(rejected, before + 1);
});
