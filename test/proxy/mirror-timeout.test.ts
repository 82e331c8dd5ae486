// Review of 05b5f46 (route timers from the request's end): a mirror's copy is a request whose body has
// all arrived (Envoy's shadow is sent with the buffered body, onRequestComplete has run), so its route
// timer runs from the moment it is sent. A copy queued behind the shadow cluster's max_connections, whose
// body nothing reads, must still time out (upstream_rq_timeout on the shadow cluster), not wait forever.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { FakeClock, until } from '../resilience/fake-clock.ts';
import { cla, cluster, echoBackend, hcm, listener, push, startProxy } from './harness.ts';

async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('a mirror copy queued behind the shadow cluster\'s max_connections times out (route timeout), as Envoy\'s shadow', async () => {
  const clock = new FakeClock();
  let shadowRequests = 0;
  const silent = http.createServer(() => {
    shadowRequests++;
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const primary = await echoBackend();
  const p = await startProxy({ timers: clock });
  const shadow = { ...cluster('s'), circuit_breakers: { thresholds: [{ max_connections: { value: 1 } }] } };
  push(p.proxy, [
    cluster('p'),
    shadow,
    cla('p', [{ port: primary.port }]),
    cla('s', [{ port: (silent.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { stream_idle_timeout: { seconds: '100' } }) }]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'r',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { name: 'hold', match: { prefix: '/hold' }, route: { cluster: 's', timeout: { seconds: '0' } } },
            { name: 'm', match: { prefix: '/' }, route: { cluster: 'p', timeout: { seconds: '3' }, request_mirror_policies: [{ cluster: 's', runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } } }] } },
          ],
        },
      ],
    },
  ]);
  const port = await p.port('0.0.0.0_8080');
  const a = net.connect(port, '127.0.0.1');
  a.on('error', () => {});
  const b = net.connect(port, '127.0.0.1');
  b.on('error', () => {});
  try {
    // The shadow cluster's only connection is held by a request its upstream never answers.
    a.write('GET /hold HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    await until(() => shadowRequests === 1, 'the holder reached the shadow upstream');
    let out = '';
    b.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    b.write('POST /m HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 7\r\n\r\npayload');
    await until(() => out.includes('\r\n\r\n'), 'the primary answered');
    assert.match(out, /^HTTP\/1\.1 200 /);
    await turns();
    clock.advance(3_100); // the copy's route timeout (3 s) from when it was sent, its body whole
    await turns(50);
    const prom = await (await fetch(`http://127.0.0.1:${p.admin}/stats/prometheus`)).text();
    const line = prom.split('\n').find((l) => l.startsWith('envoy_cluster_upstream_rq_timeout{') && l.includes('cluster_name="s"'));
    assert.equal(line?.split(' ').pop(), '1', `the queued copy timed out on the shadow cluster: ${line}`);
  } finally {
    a.destroy();
    b.destroy();
    await p.close();
    primary.server.close();
    silent.closeAllConnections();
    silent.close();
  }
});
