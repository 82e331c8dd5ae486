// The trailer requester's idle_timeout timers go with their sockets: one closed by the upstream, or by
// close(), leaves no timer armed holding it.
import assert from 'node:assert/strict';
import https from 'node:https';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { H1Upstream } from '../../src/proxy/upstream/h1-upstream.ts';
import type { UpstreamHead, UpstreamSink } from '../../src/proxy/upstream/upstream.ts';
import { makeCa } from './certs.ts';
import { ManualTimers } from './harness.ts';

async function setup(t: import("node:test").TestContext) {
  const ca = await makeCa('trailer-idle');
  const pair = await ca.issueWithSans([{ type: 'dns', value: 'localhost' }]);
  const srv = https.createServer(pair, (req, res) => { req.resume(); req.on('end', () => res.end('ok')); });
  srv.keepAliveTimeout = 0;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { srv.closeAllConnections(); srv.close(); });
  const port = (srv.address() as { port: number }).port;
  const timers = new ManualTimers();
  const idle = Promise.withResolvers<void>();
  const u = new H1Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 1000, maxConnections: 4, idleTimeoutMs: 100, maxRequestsPerConnection: 0, tls: { ca: ca.ca, servername: 'localhost' }, timers, onIdle: () => idle.resolve() });
  const head = { method: 'POST', path: '/', authority: 'localhost', headers: { trailer: 'x-t' }, trailers: () => ({ 'x-t': '1' }) } as unknown as UpstreamHead;
  await new Promise<void>((resolve, reject) => {
    u.request(head, Readable.from([Buffer.from('a')]), { onHead() {}, onData: () => true, onEnd: () => resolve(), onError: reject } as unknown as UpstreamSink);
  });
  await new Promise<void>((r) => setImmediate(r));
  return { srv, timers, u, idle };
}
const idleTimers = (t: ManualTimers) => [...t.pending.values()].filter((p) => p.ms === 100).length;

test('upstream closes the idle socket: its idle_timeout timer is cleared', async (t) => {
  const { srv, timers, u, idle } = await setup(t);
  t.after(() => u.close());
  assert.equal(idleTimers(timers), 1);
  srv.closeAllConnections();
  await idle.promise;
  assert.equal(u.connections(), 0);
  assert.equal(idleTimers(timers), 0, 'idle timer (holding the dead socket) still armed after the socket closed');
});

test('close(): no idle_timeout timer is left armed', async (t) => {
  const { timers, u } = await setup(t);
  u.close();
  await new Promise<void>((r) => setTimeout(r, 20));
  assert.equal(idleTimers(timers), 0, 'idle timer still armed after close()');
});
