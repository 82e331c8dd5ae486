// An ORIGINAL_DST cluster's sweep never closes a pool a request still waits on at the cluster's
// connection gate (past max_connections): the queued request is served when a connection frees. Only a
// request for a host that already has a connection waits there: a host with none gets its first past
// the limit, as Envoy's ConnPoolImplBase::tryCreateNewConnection.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import { push, startProxy } from './harness.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

test('a request queued for a connection on an ORIGINAL_DST host survives the cleanup sweep', async (t) => {
  let releaseSlow: (() => void) | undefined;
  const backend = http.createServer((req, res) => {
    if (req.url === '/slow') releaseSlow = () => res.end('slow');
    else res.end('fast');
  });
  await new Promise<void>((r) => backend.listen(0, '0.0.0.0', r));
  const port = (backend.address() as net.AddressInfo).port;
  let clock = 1_000_000;
  const timers = { set: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(), clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout), now: () => clock };
  const env = await startProxy({ timers });
  t.after(async () => {
    await env.close();
    backend.closeAllConnections();
    backend.close();
  });
  push(env.proxy, [
    { '@type': TypeUrl.Cluster, name: 'od', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: '1' }, circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } },
  ]);
  const cluster = env.proxy.clusters.get('od');
  assert.ok(cluster);
  cluster.useTimers(timers);
  const send = (address: string, path: string) =>
    new Promise<string>((resolve) => {
      const e = cluster.pick({ originalDestination: { address, port } });
      assert.ok(e);
      let body = '';
      const x = cluster.send(e, { method: 'GET', path, authority: `${address}:${port}`, scheme: 'http', headers: {} }, null, {
        onHead: () => {},
        onData: (c) => {
          body += c.toString();
          return true;
        },
        onEnd: () => resolve(`ok ${body}`),
        onError: (err) => resolve(`error ${err.message}`),
      });
      assert.ok(x, 'not an overflow');
    });
  const slow = send('127.0.0.1', '/slow');
  while (!releaseSlow) await new Promise((r) => setImmediate(r));
  // Another host, with no connection yet, gets one past the limit (Envoy's per-host exemption): not queued.
  assert.equal(await send('127.0.0.2', '/fast'), 'ok fast');
  assert.equal(cluster.stats.upstream_rq_pending_active.value, 0);
  const queued = send('127.0.0.1', '/fast'); // waits in the gate: max_connections 1 is taken, and its host has one busy
  assert.equal(cluster.stats.upstream_rq_pending_active.value, 1);
  clock += 6_000; // past cleanup_interval (5 s) and connect_timeout (1 s)
  cluster.pick({ originalDestination: { address: '127.0.0.3', port } }); // any use runs the sweep
  releaseSlow();
  assert.equal(await slow, 'ok slow');
  assert.equal(await queued, 'ok fast', 'the queued request is served, not failed on a pool the sweep closed');
});
