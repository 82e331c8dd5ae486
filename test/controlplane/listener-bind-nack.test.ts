// A sidecar whose tunnel port (connect_terminate, 15008 through --port-map) is held by another process,
// against a real control plane: the proxy binds while it applies LDS and NACKs the update in Envoy's
// words, so `proxy-status` shows it STALE (NACK) with the reason rather than SYNCED; its other listeners
// apply and serve. Once the port is free, the next push binds it and is ACKed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import type { ProxySync } from '../../src/controlplane/sync-report.ts';
import { startProxy } from '../proxy/harness.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
const service = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: test}
spec: {selector: {app: ${name}}, ports: [{name: http, port: ${port}}]}
`;

/** Every proxy port ephemeral, but the tunnel's (15008) on the port the test holds. */
class PortMap extends Map<number, number> {
  override get(port: number): number {
    return super.get(port) ?? 0;
  }
}

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
let holder: net.Server;
let held = 0;
let proxy: Awaited<ReturnType<typeof startProxy>>;
const proxyLog: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-bind-nack-'));
  await writeFile(path.join(dir, 'client.yaml'), service('client', 8080));
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  held = (holder.address() as net.AddressInfo).port;
  proxy = await startProxy({
    xdsAddress: cp.xdsAddress,
    nodeId: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local',
    metadata: { NAMESPACE: 'test', WORKLOAD_NAME: 'client', LABELS: { app: 'client' } },
    portMap: new PortMap([[15008, held]]),
    onLog: (level, message) => proxyLog.push(`${level} ${message}`),
  });
});

after(async () => {
  await proxy.close();
  holder.close();
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

/** The control plane's view of the proxy, once `ready` holds for it (bounded). */
async function syncUntil(ready: (s: ProxySync) => boolean, what: string): Promise<ProxySync> {
  for (let i = 0; ; i++) {
    const [sync] = (await (await fetch(`http://${debug.address}/debug/syncz`)).json()) as ProxySync[];
    if (sync && ready(sync)) return sync;
    assert.ok(i < 300, `${what}: ${JSON.stringify(sync?.types)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `outrigger proxy-status` as a person runs it, in a process of its own. */
function proxyStatus(): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'proxy-status', '--control-plane', debug.address], { timeout: 60_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

const reason = () => `Error adding/updating listener(s) connect_terminate: cannot bind '0.0.0.0:15008': Address already in use (port map: 127.0.0.1:${held})`;

test('a tunnel port that is taken NACKs LDS with the reason: proxy-status shows STALE (NACK), not SYNCED; the other listeners serve', async () => {
  const sync = await syncUntil((s) => s.types['LDS']?.lastNack !== undefined && s.types['RDS']?.status === 'SYNCED', 'LDS NACKed and routes ACKed');
  assert.equal(sync.types['LDS']?.status, 'STALE');
  assert.equal(sync.types['LDS']?.lastNack?.message, reason());
  assert.equal(sync.types['CDS']?.status, 'SYNCED');

  const r = await proxyStatus();
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^client-0\.test\s+SYNCED \(\S+\)\s+STALE \(NACK\) \(\S+\)\s+/m);
  assert.ok(r.out.includes(`\nNACKs:\n  client-0.test LDS ${sync.types['LDS']?.sentVersion}: ${reason()}\n`), r.out);

  // As Envoy: the listeners that could bind did, and serve; the one that could not is not listed.
  const bound = await proxy.proxy.listeners.boundPorts();
  assert.equal(bound['connect_terminate'], undefined);
  assert.ok(bound['virtualOutbound'] !== undefined && bound['virtualInbound'] !== undefined, JSON.stringify(bound));
  const admin = await (await fetch(`http://127.0.0.1:${proxy.admin}/listeners?format=json`)).text();
  assert.doesNotMatch(admin, /connect_terminate/);
  assert.ok(proxyLog.includes(`error listener 'connect_terminate' failed to bind or apply socket options: cannot bind '0.0.0.0:15008': Address already in use (port map: 127.0.0.1:${held})`), proxyLog.join('\n'));
  assert.match(proxy.proxy.metrics.renderPrometheus(), /^envoy_listener_manager_listener_create_failure 1$/m);
});

test('once the port is free, the next push binds the tunnel and is ACKed: proxy-status shows SYNCED', async () => {
  await new Promise<void>((r) => holder.close(() => r()));
  const nacked = (await syncUntil(() => true, 'proxy connected')).types['LDS']?.sentVersion;
  await writeFile(path.join(dir, 'echo.yaml'), service('echo', 9090));
  await cp.rescan();
  cp.flush();
  const sync = await syncUntil((s) => s.types['LDS']?.status === 'SYNCED' && s.types['LDS']?.sentVersion !== nacked, 'the next LDS push ACKed');
  assert.equal(sync.types['LDS']?.ackedVersion, sync.types['LDS']?.sentVersion);
  assert.equal((await proxy.proxy.listeners.boundPorts())['connect_terminate'], held);
  // The tunnel answers on the port: a TLS handshake begins (no certificate is asked for here).
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(held, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
  const r = await proxyStatus();
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^client-0\.test\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+/m);
});
