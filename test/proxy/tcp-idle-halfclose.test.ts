// tcp_proxy's idle timeout holds after one side closed: a client that sends FIN has its proxy-side socket
// closed, the upstream left half-closed; an upstream that never answers the FIN is still closed when the
// idle timeout runs out, not held with no timer at all.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { FakeClock } from '../resilience/fake-clock.ts';
import { cla, cluster, listener, push, startProxy, tcpProxy } from './harness.ts';

test('an upstream left open after the client half-closed is still closed at the idle timeout', async (t) => {
  const clock = new FakeClock();
  const upstreams: net.Socket[] = [];
  // An upstream that never answers a FIN (a peer gone, or an app that ignores the half-close).
  const backend = net.createServer({ allowHalfOpen: true }, (s) => {
    upstreams.push(s);
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const env = await startProxy({ timers: clock });
  t.after(async () => {
    await env.close();
    for (const s of upstreams) s.destroy();
    backend.close();
  });
  push(env.proxy, [cluster('b'), cla('b', [{ port: (backend.address() as net.AddressInfo).port }]), listener('tcp', 9000, [{ filter: tcpProxy('b') }])]);
  const client = net.connect(await env.port('tcp'), '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((r) => client.once('connect', () => r()));
  client.write('hello');
  while (upstreams.length === 0) await new Promise((r) => setImmediate(r));
  const up = upstreams[0] as net.Socket;
  const upGotFin = new Promise<void>((r) => up.once('end', () => r()));
  client.end();
  await upGotFin;
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
  const active = () =>
    env.proxy.metrics
      .renderPrometheus()
      .split('\n')
      .find((l) => l.startsWith('envoy_cluster_upstream_cx_active{') && l.includes('"b"'));
  assert.match(active() ?? '', / 1$/, 'one upstream connection open, half-closed');
  clock.advance(3_600_000 + 1);
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
  assert.match(active() ?? '', / 0$/, `an hour without a byte either way: the proxy's upstream connection is closed too (${active()})`);
});
