// A request with trailers goes on the HTTP/1.1 upstream's trailer requester (an https.Agent of its own).
// Against an upstream that keeps its connections, the agent's kept-alive socket closes on the cluster's
// idle_timeout, as undici's do, so a per-host pool used only for such requests is dropped once idle
// (onIdle) rather than kept with its socket forever. The timeout runs on the test's timers.
import assert from 'node:assert/strict';
import https from 'node:https';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { H1Upstream } from '../../src/proxy/upstream/h1-upstream.ts';
import type { UpstreamHead, UpstreamSink } from '../../src/proxy/upstream/upstream.ts';
import { makeCa } from './certs.ts';
import { ManualTimers } from './harness.ts';

test("a trailer request's kept-alive socket closes on idle_timeout, and the upstream reports idle", async (t) => {
  const ca = await makeCa('trailer-idle');
  const pair = await ca.issueWithSans([{ type: 'dns', value: 'localhost' }]);
  const srv = https.createServer(pair, (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  srv.keepAliveTimeout = 0; // the upstream never closes an idle connection itself
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const port = (srv.address() as { port: number }).port;
  const timers = new ManualTimers();
  const idle = Promise.withResolvers<void>();
  const u = new H1Upstream(`https://127.0.0.1:${port}`, { connectTimeoutMs: 1000, maxConnections: 4, idleTimeoutMs: 100, maxRequestsPerConnection: 0, tls: { ca: ca.ca, servername: 'localhost' }, timers, onIdle: () => idle.resolve() });
  t.after(() => u.close());
  const head = { method: 'POST', path: '/', authority: 'localhost', headers: { trailer: 'x-t' }, trailers: () => ({ 'x-t': '1' }) } as unknown as UpstreamHead;
  await new Promise<void>((resolve, reject) => {
    const sink = { onHead() {}, onData: () => true, onEnd: () => resolve(), onError: reject } as unknown as UpstreamSink;
    u.request(head, Readable.from([Buffer.from('a')]), sink);
  });
  // The socket is back in the agent's free list: its idle_timeout is armed, and nothing else closes it.
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(u.connections(), 1, 'the kept-alive socket is held');
  assert.ok(timers.fire(100), 'an idle_timeout timer is armed for the free socket');
  await idle.promise;
  assert.equal(u.connections(), 0);
});
