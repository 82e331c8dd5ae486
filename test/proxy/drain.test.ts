// Drain on /quitquitquit: stop accepting, report not ready, let the in-flight request finish, then
// stop — without waiting out the deadline when nothing is left (deadline on an injected clock).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { Timers } from '../../src/proxy/http/router.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

test('drains: in-flight finishes, new connections are refused, then the proxy exits', async (t) => {
  let release!: () => void;
  const arrived = Promise.withResolvers<void>();
  const backend = await echoBackend((req, res) => {
    req.resume();
    arrived.resolve();
    release = () => res.end('finished');
  });
  t.after(() => backend.server.close());
  const armed: (() => void)[] = [];
  const timers: Timers = { set: (fn) => armed.push(fn), clear: () => {} };
  const exited = Promise.withResolvers<void>();
  const env = await startProxy({ timers, drainDeadlineMs: 60_000, onExit: () => exited.resolve() });
  t.after(() => env.close());
  push(env.proxy, [cluster('b'), cla('b', [{ port: backend.port }]), listener('0.0.0.0_8080', 8080, [{ filter: hcm('r') }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }])]);
  const port = await env.port('0.0.0.0_8080');
  const inflight = request(port, '/slow');
  await arrived.promise;
  const quit = await fetch(`http://127.0.0.1:${env.admin}/quitquitquit`, { method: 'POST' });
  assert.equal(quit.status, 200);
  assert.equal(env.proxy.ready(), false);
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  assert.ok(refused, 'the listener no longer accepts');
  release();
  const res = await inflight;
  assert.equal(res.body, 'finished');
  assert.equal(res.headers.connection, 'close');
  await exited.promise;
  assert.equal(env.proxy.inflight, 0);
});
