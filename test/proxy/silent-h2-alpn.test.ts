// A connection whose TLS handshake chose h2 by ALPN (the session reads the socket itself) and that sends
// nothing is closed at the head timeout too; one whose client sent its SETTINGS keeps no timer.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { ClusterManager } from '../../src/proxy/cluster/cluster-manager.ts';
import type { HcmRuntime } from '../../src/proxy/http/connection-manager.ts';
import { compilePathNormalizer } from '../../src/proxy/http/normalize-path.ts';
import type { HttpChain } from '../../src/proxy/listener/compile-listener.ts';
import { HttpServers } from '../../src/proxy/listener/http-servers.ts';
import { ManualTimers } from './harness.ts';

const normalize = compilePathNormalizer('BASE');
const timers = new ManualTimers();
const rt: HcmRuntime = { clusters: {} as ClusterManager, routeTable: () => undefined, normalize, random: Math.random, now: () => performance.now(), draining: () => false, timers };
const chain: HttpChain = { kind: 'http', statPrefix: 'test', filters: [], websocket: false, normalize, useRemoteAddress: false, xffTrustedHops: 0, serverHeader: null, suppressEnvoyHeaders: false, generateRequestId: true };
const connection = { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: true };

const silentTimer = () => [...timers.pending.values()].some((x) => x.ms === 60_000);
/** The HTTP/2 connection preface and an empty SETTINGS frame: what a client sends first. */
const preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** A client connected to a fresh listener whose connections the test serves, ALPN h2 or not. */
async function connect(t: { after(fn: () => void): void }, knownH2: boolean): Promise<net.Socket> {
  const servers = new HttpServers(rt);
  const outer = net.createServer((s) => servers.serve(s, { connection, chain }, knownH2));
  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
  t.after(() => {
    servers.destroy();
    outer.close();
  });
  const client = net.connect((outer.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  t.after(() => client.destroy());
  await new Promise<void>((r) => client.once('connect', () => r()));
  return client;
}

for (const knownH2 of [false, true]) {
  test(`a connection that never sends a byte is closed at the head timeout (ALPN h2: ${knownH2})`, async (t) => {
    timers.pending.clear();
    const client = await connect(t, knownH2);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    // The proxy's side is set up once it accepted the connection (a few turns): wait for its timer.
    for (let i = 0; i < 1000 && !silentTimer(); i++) await new Promise((r) => setImmediate(r));
    assert.equal(timers.fire(60_000), true, 'a 60 s timer runs on the silent connection');
    await closed;
  });

  test(`a client that sends its preface and SETTINGS keeps no head timer (ALPN h2: ${knownH2})`, async (t) => {
    timers.pending.clear();
    const client = await connect(t, knownH2);
    for (let i = 0; i < 1000 && !silentTimer(); i++) await new Promise((r) => setImmediate(r));
    assert.ok(silentTimer(), 'armed while it is silent');
    client.write(preface);
    for (let i = 0; i < 1000 && silentTimer(); i++) await new Promise((r) => setImmediate(r));
    assert.equal(silentTimer(), false, 'cleared once it spoke');
  });
}
