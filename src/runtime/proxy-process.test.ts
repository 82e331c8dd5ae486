// What the runtime hands each proxy (node metadata from proxyArgs), and a proxy run as the proxy host
// runs it, writing its `/dev/stdout` access log into its own log (`outrigger logs --proxy`).
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { telemetryConfig } from '../../test/telemetry/drive-filter.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig } from '../../test/proxy/harness.ts';
import { parseProxyArgs } from '../cli/proxy-host.ts';
import { runProxy } from '../proxy/run-proxy.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { ProxyMeta } from './mesh-runtime.ts';
import { proxyArgs, proxyFiles, proxyPortNumbers, waitReady } from './proxy-process.ts';
import { Supervised } from './supervisor.ts';

const stateDir = mkdtempSync(path.join(tmpdir(), 'outrigger-proxy-process-'));
mkdirSync(path.join(stateDir, 'tokens'));
mkdirSync(path.join(stateDir, 'logs'));
after(() => rmSync(stateDir, { recursive: true, force: true }));

const cp = { issueBootstrapToken: () => 'token' };
const podinfo = (): ProxyMeta => ({ name: 'podinfo-stable-0', workload: 'podinfo-stable', namespace: 'podinfo', serviceAccount: 'podinfo', labels: { app: 'podinfo' }, appPorts: {} });

function metadataOf(args: readonly string[]): Record<string, unknown> {
  return JSON.parse(args[args.indexOf('--metadata-json') + 1] ?? '{}') as Record<string, unknown>;
}

test("the node metadata names the pod, under Istio's key", () => {
  const meta = podinfo();
  const { tokenFile } = proxyFiles(cp, stateDir, meta);
  assert.equal(metadataOf(proxyArgs({ role: 'sidecar', xdsAddress: '127.0.0.1:15010', tokenFile, meta }))['NAME'], 'podinfo-stable-0');
});

/**
 * A control plane that accepts connections and never answers: the proxy's first CSR stays pending until
 * the test ends, so no retry runs meanwhile. Config is pushed to the proxy directly.
 */
async function silentControlPlane(): Promise<{ address: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test("a proxy in the proxy host writes its /dev/stdout access log to its own log, after its startup line", async () => {
  const meta = podinfo();
  const { tokenFile, logFile } = proxyFiles(cp, stateDir, meta);
  const ports = Object.fromEntries(proxyPortNumbers.map((p) => [p, 0]));
  const controlPlane = await silentControlPlane();
  // As `outrigger proxy-host` runs each proxy: the same flags, its log lines appended to its own file.
  const flags = parseProxyArgs('podinfo/podinfo-stable-0', proxyArgs({ role: 'sidecar', xdsAddress: controlPlane.address, tokenFile, ports, meta }));
  const out = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  const running = await runProxy(flags, (level, message) => out.write(`${new Date().toISOString()} ${level} ${message}\n`), { output: out });
  const backend = await echoBackend();
  try {
    const stats = {
      name: 'istio.stats',
      typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'podinfo-stable', namespace: 'podinfo', labels: {} }, metrics: false, access_log: { path: '/dev/stdout', encoding: 'JSON' } }),
    };
    const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
    push(running.proxy, [
      cluster('app'),
      cla('app', [{ port: backend.port }]),
      listener('virtualInbound', 15006, [{ filter: hcm('inbound', { http_filters: [stats, router] }) }]),
      routeConfig('inbound', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
    ]);
    const port = (await running.proxy.listeners.boundPorts())['virtualInbound'] ?? 0;
    assert.equal((await request(port, '/api/info', { host: 'podinfo.podinfo:9898' })).status, 200);

    // The sink writes once per turn of the event loop, asynchronously: wait (bounded) for the line.
    let lines: string[] = [];
    for (let i = 0; i < 200 && !lines.some((l) => l.startsWith('{')); i++) {
      await new Promise((r) => setTimeout(r, 10));
      lines = readFileSync(logFile, 'utf8').split('\n');
    }
    assert.ok(lines.some((l) => / info proxy sidecar~127\.0\.0\.1~podinfo-stable-0\.podinfo~.*: admin /.test(l)), `the startup line:\n${lines.join('\n')}`);
    const access = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(access.length, 1, `one JSON access line, as written:\n${lines.join('\n')}`);
    assert.equal(access[0]?.['path'], '/api/info');
    assert.equal(access[0]?.['response_code'], 200);
  } finally {
    await running.drain();
    controlPlane.close();
    out.end();
    backend.server.close();
  }
});

test('a proxy the proxy host never started is named when up gives up on it, with the host log saying how far it got', async () => {
  const hostLog = path.join(stateDir, 'logs', 'proxy-host.log');
  const ownLog = path.join(stateDir, 'logs', 'podinfo-stable-0.proxy.log');
  writeFileSync(hostLog, 'proxy host: starting 5 proxies\n');
  writeFileSync(ownLog, '');
  // A port nothing listens on: the probe is refused each time, and the test clock runs out.
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  const host = new Supervised({ label: 'proxy host', file: process.execPath, args: [], env: {}, logFile: hostLog });
  let t = 0;
  const pause = async (): Promise<void> => {
    t += 10_000;
  };
  const waited = waitReady(host, { port, logFile: ownLog, label: 'podinfo/podinfo-stable-0 in the proxy host', timeoutMs: 30_000, now: () => t, pause });
  await assert.rejects(waited, (err: Error) => {
    assert.match(err.message, /^podinfo\/podinfo-stable-0 in the proxy host was not ready on 127\.0\.0\.1:\d+ within 30s; its log is empty \(never started\); proxy host's log ends:\nproxy host: starting 5 proxies/);
    return true;
  });
});

test('a proxy of its own process that wrote nothing is said to have an empty log, not a log that ends in nothing', async () => {
  const ownLog = path.join(stateDir, 'logs', 'silent.proxy.log');
  writeFileSync(ownLog, '');
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  const proxy = new Supervised({ label: 'shop/web-0 proxy', file: process.execPath, args: [], env: {}, logFile: ownLog });
  let t = 0;
  const pause = async (): Promise<void> => {
    t += 10_000;
  };
  await assert.rejects(waitReady(proxy, { port, timeoutMs: 30_000, now: () => t, pause }), (err: Error) => {
    assert.equal(err.message, `shop/web-0 proxy was not ready on 127.0.0.1:${port} within 30s; its log (${ownLog}) is empty`);
    return true;
  });
});

test('waiting for a proxy ends when its host is stopped (Ctrl-C while up starts), not at the timeout', async () => {
  const hostLog = path.join(stateDir, 'logs', 'stopped-host.log');
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  // A host that never gets its proxies ready: it only waits to be stopped.
  const host = new Supervised({ label: 'proxy host', file: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {}, logFile: hostLog });
  host.start();
  // The test's clock: still at 0 while the host runs; 200 probes after its stop, past the deadline,
  // so a wait that outlives the stop ends with the timeout's message instead.
  let stopped = false;
  let probesAfterStop = 0;
  const pause = async (): Promise<void> => {
    if (stopped) probesAfterStop++;
    await new Promise((r) => setImmediate(r));
  };
  const waited = waitReady(host, { port, label: 'podinfo/podinfo-stable-0 in the proxy host', timeoutMs: 30_000, now: () => (probesAfterStop > 200 ? 60_000 : 0), pause });
  await host.stop();
  stopped = true;
  await assert.rejects(waited, /podinfo\/podinfo-stable-0 in the proxy host: proxy host was stopped before it was ready/);
});
