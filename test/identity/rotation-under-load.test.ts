// Certificate rotation with a one-minute TTL under steady load, driven by injected timers: every
// rotation applies to new handshakes, existing sessions keep going, and no request fails.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { clientOptions } from './mesh-tls-options.ts';
import { ManualTimers, MeshFixture, startTunnelServer } from './mesh-tls-harness.ts';
import type { CertificateManager } from '../../src/proxy/tls/certificate-manager.ts';

const serverId = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';

function get(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
    req.end();
  });
}

function connect(port: number, manager: CertificateManager): Promise<{ session: http2.ClientHttp2Session; serial: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, clientOptions(manager, [serverId], 'podinfo.podinfo'));
    session.on('error', reject);
    session.on('connect', (_s, socket) => {
      resolve({ session, serial: (socket as TLSSocket).getPeerX509Certificate()!.serialNumber });
    });
  });
}

test('12 rotations of each side under load: zero failed requests, new handshakes get new certificates', async () => {
  const fx = await MeshFixture.create();
  const serverTimers = new ManualTimers();
  const clientTimers = new ManualTimers();
  const serverManager = await fx.manager('podinfo', 'podinfo', { ttlSeconds: 60, graceRatio: 0.75, clock: serverTimers });
  const clientManager = await fx.manager('frontend', 'frontend', { ttlSeconds: 60, graceRatio: 0.75, clock: clientTimers });
  const server = await startTunnelServer(serverManager);
  const persistent = await connect(server.port, clientManager);
  let ok = 0;
  const failures: string[] = [];
  const serials = new Set<string>();
  let running = true;
  // Steady load: one loop on a long-lived session, one loop opening a fresh connection per request.
  const longLived = (async () => {
    for (let i = 0; running && i < 10_000; i++) {
      try {
        if ((await get(persistent.session)).startsWith('ok spiffe://cluster.local/ns/frontend/')) ok++;
        else failures.push('bad body');
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();
  const fresh = (async () => {
    for (let i = 0; running && i < 10_000; i++) {
      try {
        const c = await connect(server.port, clientManager);
        serials.add(c.serial);
        if ((await get(c.session)).startsWith('ok ')) ok++;
        else failures.push('bad body');
        c.session.close();
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();
  const delays: number[] = [];
  try {
    for (let r = 0; r < 12; r++) {
      delays.push(serverTimers.fireNext(), clientTimers.fireNext());
      // The timers started renewals; renew() joins the one in flight rather than starting another.
      await Promise.all([serverManager.renew(), clientManager.renew()]);
      // Let some traffic through on the new certificates before the next rotation.
      const target = ok + 6;
      for (let spin = 0; spin < 2000 && ok < target; spin++) await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    running = false;
    await Promise.all([longLived, fresh]);
    persistent.session.close();
    await server.close();
    serverManager.stop();
    clientManager.stop();
    fx.close();
  }
  assert.deepEqual(failures, []);
  assert.equal(serverManager.rotations, 13);
  assert.equal(clientManager.rotations, 13);
  assert.ok(serials.size >= 10, `fresh handshakes saw ${serials.size} server certificates`);
  assert.ok(ok >= 12 * 6, `only ${ok} requests`);
  // Istio's grace period: renewal when 75 % of the 60 s lifetime (from installation; notBefore is
  // backdated) is left, ±1 % jitter: about 15 s after each certificate arrived.
  for (const d of delays) assert.ok(d > 10_000 && d <= 15_600, `renewal delay ${d}`);
});
