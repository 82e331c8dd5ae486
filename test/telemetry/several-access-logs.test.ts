// Several access-log providers through a real proxy, the istio.stats config translated from a Telemetry:
// as pilot builds one Envoy access log per provider (buildAccessLogFromTelemetry), every provider in
// scope writes its own file in its own format, and one with a filter only the streams and connections
// it holds true for; on HTTP (HCM) and on tcp_proxy.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { Telemetry } from '../../src/config/resource.ts';
import { translateTelemetryFilter } from '../../src/translate/telemetry.ts';
import type { TrafficDirection } from '../../src/translate/options.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, closedPort, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy, tcpProxy } from '../proxy/harness.ts';
import { until } from './tcp-authz-pair.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'several-logs-'));
const allLog = path.join(dir, 'all.log');
const errorLog = path.join(dir, 'errors.log');

const telemetries = loadText(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh, namespace: istio-system }
spec:
  accessLogging:
  - providers: [{ name: all }, { name: errors }]
  - providers: [{ name: errors }]
    filter: { expression: "response.code >= 400 || response.flags != 0" }
`).resources.filter((r): r is Telemetry => r.kind === 'Telemetry');

const mesh = {
  extensionProviders: [
    { name: 'all', envoyFileAccessLog: { path: allLog, logFormat: { text: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } } },
    { name: 'errors', envoyFileAccessLog: { path: errorLog, logFormat: { labels: { path: '%REQ(:PATH)%', code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%' } } } },
  ],
};

/** The istio.stats entry translation writes for a workload in `shop`, for one direction. */
const stats = (direction: TrafficDirection) =>
  translateTelemetryFilter({ mesh, rootNamespace: 'istio-system', telemetries, collectors: [], workload: { namespace: 'shop', labels: { app: 'sleep' } }, direction });

/** A TCP chain: istio.stats in front of tcp_proxy, as translation builds it. */
const tcpListener = (name: string, clusterName: string): TypedAny => ({
  '@type': TypeUrl.Listener,
  name,
  address: { socket_address: { address: '0.0.0.0', port_value: 0 } },
  filter_chains: [{ filters: [stats('inbound'), { name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(clusterName) }] }],
});

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let tcpBackend: net.Server;

before(async () => {
  backend = await echoBackend((req, res) => {
    req.resume();
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end('ok');
  });
  tcpBackend = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => tcpBackend.listen(0, '127.0.0.1', r));
  env = await startProxy();
  push(env.proxy, [
    cluster('web'),
    cla('web', [{ port: backend.port }]),
    cluster('db'),
    cla('db', [{ port: (tcpBackend.address() as net.AddressInfo).port }]),
    cluster('dead'),
    cla('dead', [{ port: await closedPort() }]),
    listener('outbound', 15001, [{ filter: hcm('r', { http_filters: [stats('outbound'), { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'web' }] }]),
    tcpListener('db', 'db'),
    tcpListener('dead', 'dead'),
  ]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
  tcpBackend.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
/** The file's lines once it has `n` of them. */
const linesOnce = (file: string, n: number): Promise<string[]> => until(() => (lines(file).length >= n ? lines(file) : undefined));

/** One TCP connection through a listener: a byte out and, when the upstream takes it, back. */
async function connect(port: number): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => {
    s.once('data', () => s.end());
    s.once('close', () => resolve());
    s.once('error', () => resolve());
    s.write('x');
  });
}

test('HTTP: each provider writes its own file in its own format; the filtered one only failed requests', async () => {
  const port = await env.port('outbound');
  assert.equal((await request(port, '/ok', { host: 'web' })).status, 200);
  assert.equal((await request(port, '/missing', { host: 'web' })).status, 404);
  assert.deepEqual(await linesOnce(allLog, 2), ['/ok 200 -', '/missing 404 -']);
  assert.deepEqual((await linesOnce(errorLog, 1)).map((l) => JSON.parse(l)), [{ path: '/missing', code: 404, flags: '-' }]);
});

test('TCP: each provider logs the connection in its own format; the filtered one only the failed connect', async () => {
  await connect(await env.port('db'));
  await connect(await env.port('dead'));
  assert.deepEqual((await linesOnce(allLog, 4)).slice(2).sort(), ['- 0 -', '- 0 UF'].sort());
  const errors = await linesOnce(errorLog, 2);
  assert.deepEqual(JSON.parse(errors[1] ?? ''), { path: null, code: 0, flags: 'UF' });
  assert.equal(errors.length, 2);
});
