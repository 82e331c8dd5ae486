// The fault upstream itself, over real sockets: each fault is seen by a plain HTTP client as intended.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, test } from 'node:test';
import { type Fault, FaultUpstream, firstN } from './fault-upstream.ts';

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/x', headers, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

const up = new FaultUpstream(firstN(3, { kind: 'status', status: 503 }));
await up.listen();
after(() => up.close());

test('a 5xx storm for the first 3 requests, then normal answers, all counted', async () => {
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await get(up.port));
  assert.deepEqual(results.map((r) => ('status' in r ? r.status : r.error)), [503, 503, 503, 200, 200]);
  assert.equal(up.seen.length, 5);
});

test('reset, truncation and slow bodies as a client sees them', async () => {
  const reset = await get(up.port, { 'x-fault': JSON.stringify({ kind: 'reset' } satisfies Fault) });
  assert.ok('error' in reset && /ECONNRESET|socket hang up/.test(reset.error), JSON.stringify(reset));
  const cut = await get(up.port, { 'x-fault': JSON.stringify({ kind: 'truncate', sendBytes: 3, declaredBytes: 10 } satisfies Fault) });
  assert.ok('error' in cut, JSON.stringify(cut));
  const slow = await get(up.port, { 'x-fault': JSON.stringify({ kind: 'slow-body', chunks: 3, intervalMs: 1 } satisfies Fault) });
  assert.deepEqual(slow, { status: 200, body: '...' });
  assert.deepEqual(up.seen.slice(-3).map((s) => s.fault), ['reset', 'truncate', 'slow-body']);
});
