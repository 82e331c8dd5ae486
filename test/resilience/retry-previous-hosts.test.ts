// previous_hosts (Istio sets it on every retry policy) through the real router: a retry goes to a host
// not yet tried, even where the load balancer would pick the same one again (a consistent hash).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { request } from '../proxy/harness.ts';
import { FaultUpstream } from './fault-upstream.ts';
import { assignment, edsCluster, startFront } from './router-front.ts';

const ups = [new FaultUpstream(), new FaultUpstream()];
for (const u of ups) await u.listen();
after(() => Promise.all(ups.map((u) => u.close())));

const retry = { retry_on: '5xx', num_retries: { value: 2 } };
const hashed = (prefix: string, retryPolicy: Record<string, unknown>) => ({
  match: { prefix },
  route: { cluster: 'c', hash_policy: [{ header: { header_name: 'x-user' } }], retry_policy: retryPolicy },
});
const front = await startFront({
  clusters: [edsCluster('c', { lb_policy: 'RING_HASH' })],
  assignments: [assignment('c', ups.map((u) => u.port))],
  routes: {
    name: 'r',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          hashed('/previous', { ...retry, retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }], host_selection_retry_max_attempts: '5' }),
          hashed('/same', retry),
        ],
      },
    ],
  },
});
after(() => front.close());

/** Attempts per upstream for one request that every attempt answers 503. */
async function spread(path: string): Promise<number[]> {
  const before = ups.map((u) => u.seen.length);
  const res = await request(front.port, path, { headers: { 'x-user': 'alice', 'x-fault': JSON.stringify({ kind: 'status', status: 503 }) } });
  assert.equal(res.status, 503);
  return ups.map((u, i) => u.seen.length - (before[i] as number));
}

test('without previous_hosts a consistent hash sends every retry to the same host', async () => {
  assert.deepEqual((await spread('/same')).sort(), [0, 3]);
});

test('previous_hosts sends the first retry to the host not yet tried', async () => {
  // Three attempts over two hosts: the second goes to the other host; the third finds both tried and,
  // after host_selection_retry_max_attempts re-picks, takes the last pick.
  const per = await spread('/previous');
  assert.ok(per.every((n) => n >= 1), `both hosts tried: ${per.join(', ')}`);
  assert.equal(per.reduce((a, b) => a + b), 3);
});
