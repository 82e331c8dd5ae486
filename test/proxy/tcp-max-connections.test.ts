// tcp_proxy under the cluster's circuit breaker, as Envoy's Filter::initializeUpstreamConnection: at
// max_connections a new downstream connection is closed at once (flag UO, upstream_cx_overflow counted,
// no upstream dialled); each connection holds its slot until it closes. Istio writes a
// DestinationRule's connectionPool.tcp.maxConnections there for TCP services too.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { cla, listener, push, startProxy, tcpProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: net.Server;
let accepted = 0;
let port: number;

before(async () => {
  backend = net.createServer((s) => {
    accepted++;
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    {
      '@type': TypeUrl.Cluster, name: 'db', type: 'EDS', connect_timeout: { seconds: '1' }, eds_cluster_config: { service_name: 'db' },
      circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] },
    },
    cla('db', [{ port: (backend.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_5432', 5432, [{ filter: tcpProxy('db') }]),
  ]);
  port = await env.port('0.0.0.0_5432');
});

after(async () => {
  await env.close();
  backend.close();
});

/** Connects and waits for `text` to come back, or for the proxy to close the connection. */
function exchange(text: string): Promise<{ socket: net.Socket; outcome: 'echoed' | 'closed' }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(text));
    socket.on('data', (d) => {
      got += d;
      if (got === text) resolve({ socket, outcome: 'echoed' });
    });
    socket.on('close', () => resolve({ socket, outcome: 'closed' }));
  });
}

test('max_connections 1: a second connection while the first is open is closed (UO, upstream_cx_overflow); the slot returns when the first closes', async () => {
  const db = env.proxy.clusters.get('db')!;
  const first = await exchange('hold');
  assert.equal(first.outcome, 'echoed');
  assert.equal(db.resources().connections.current, 1);
  const second = await exchange('ping');
  assert.equal(second.outcome, 'closed');
  assert.equal(db.stats.upstream_cx_overflow.value, 1);
  assert.equal(db.breakers.stats.upstream_cx_overflow, 1);
  assert.equal(accepted, 1, 'no upstream connection was dialled for it');
  first.socket.destroy();
  await until(() => db.resources().connections.current === 0, 'the first connection gave its slot back');
  const third = await exchange('again');
  assert.equal(third.outcome, 'echoed');
  third.socket.destroy();
  await until(() => db.resources().connections.current === 0, 'the third connection gave its slot back');
});
