// An upgrade is routed as a request is: a redirect or direct_response route answers it (Envoy's router
// answers those routes whatever the request), and a try that gets no answer head, timed out (504 UT) or
// closed by the endpoint first, counts for outlier detection as the router's does. Timers are the test's.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, ManualTimers, push, startProxy } from './harness.ts';

const ROUTE_TIMEOUT_MS = 2_345;
const timers = new ManualTimers();
let env: Awaited<ReturnType<typeof startProxy>>;
let silent: net.Server;
let closing: net.Server;
/** Upgrade heads the silent endpoint has received. */
let heads = 0;

const ejectAt = (n: number) => ({ outlier_detection: { consecutive_5xx: { value: n }, max_ejection_percent: { value: 100 } } });
const timeout = { seconds: '2', nanos: 345_000_000 };

before(async () => {
  silent = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      if (c.includes('\r\n\r\n')) heads++;
    });
  });
  // Closes each connection once the upgrade's head is in, without an answer.
  closing = net.createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
  env = await startProxy({ timers });
  push(env.proxy, [
    { ...cluster('silent'), ...ejectAt(2) },
    { ...cluster('closing'), ...ejectAt(2) },
    cla('silent', [{ port: (silent.address() as AddressInfo).port }]),
    cla('closing', [{ port: (closing.address() as AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { upgrade_configs: [{ upgrade_type: 'websocket' }] }) }]),
    {
      '@type': TypeUrl.RouteConfiguration,
      name: 'r',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { name: 'moved', match: { prefix: '/moved' }, redirect: { https_redirect: true } },
            { name: 'denied', match: { prefix: '/denied' }, direct_response: { status: 403, body: { inline_string: 'no' } } },
            { name: 'silent', match: { prefix: '/silent' }, route: { cluster: 'silent', timeout } },
            { name: 'closing', match: { prefix: '/closing' }, route: { cluster: 'closing', timeout } },
          ],
        },
      ],
    },
  ]);
});

after(async () => {
  await env.close();
  silent.close();
  closing.close();
});

/** Sends an upgrade; resolves with the answer's head once it is in, or '' if the proxy closed without one. */
async function upgrade(path: string, whileWaiting?: () => Promise<void>): Promise<string> {
  const port = await env.port('0.0.0.0_8080');
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  const answered = new Promise<string>((resolve) => {
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve(got.slice(0, got.indexOf('\r\n\r\n')));
    });
    s.on('close', () => resolve(''));
  });
  s.write(`GET ${path} HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  await whileWaiting?.();
  const head = await answered;
  s.destroy();
  return head;
}

async function until(ok: () => boolean): Promise<void> {
  for (let t = 0; t < 200 && !ok(); t++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok());
}

test('an upgrade on a redirect route is redirected', async () => {
  const head = await upgrade('/moved');
  assert.equal(head.split('\r\n')[0], 'HTTP/1.1 301 Moved Permanently');
  assert.match(head, /\r\nlocation: https:\/\/chat\/moved\r\n/);
});

test('an upgrade on a direct_response route gets it', async () => {
  assert.equal((await upgrade('/denied')).split('\r\n')[0], 'HTTP/1.1 403 Forbidden');
});

test('upgrades that time out before an answer head eject the endpoint, as requests do', async () => {
  const c = env.proxy.clusters.get('silent');
  for (let i = 1; i <= 2; i++) {
    const head = await upgrade('/silent', async () => {
      await until(() => heads === i);
      assert.ok(timers.fire(ROUTE_TIMEOUT_MS), 'the route timer');
    });
    assert.equal(head.split('\r\n')[0], 'HTTP/1.1 504 Gateway Timeout');
  }
  assert.equal(c?.stats.upstream_rq_timeout.value, 2);
  assert.equal(c?.outlier?.stats.ejections_active, 1);
});

test('upgrades whose endpoint closes before an answer head eject it', async () => {
  for (let i = 0; i < 2; i++) await upgrade('/closing');
  assert.equal(env.proxy.clusters.get('closing')?.outlier?.stats.ejections_active, 1);
});
