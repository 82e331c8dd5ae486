// A TCP connection whose client leaves while the destination's network ext_authz check is out, through
// real sidecars translated from YAML and a real gRPC Authorization server that holds its answer: Envoy's
// ext_authz cancels the check, and Istio's TCP metrics still count the connection opened and closed, and
// its access log has a line for it, with no UAEX (nothing refused it) and no upstream (none was dialled).
// The answer that comes later changes nothing.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { protoIncludeDirs } from '../../src/xds/protos.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

// `db` serves `ledger` (5435, checked by the `grpc-authz` provider).
const yaml = `apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-ledger, port: 5435}]
---
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: shop}
spec:
  selector: {app: authz}
  ports: [{name: grpc, port: 9000}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: check-ledger, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: CUSTOM
  provider: {name: grpc-authz}
  rules: [{to: [{operation: {ports: ["5435"]}}]}]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: grpc-authz
      # Well past the test: the check must still be out when the client leaves (the default is 200 ms).
      envoyExtAuthzGrpc: {service: authz.shop.svc.cluster.local, port: 9000, timeout: 60s}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let app: net.Server;
let authz: grpc.Server;
let server: Proxy;
let client: Proxy;
let appConnections = 0;
let checks = 0;
/** Answers to checks still out, in order; the provider says nothing until the test calls one. */
const held: ((code: number) => void)[] = [];
const logs: string[] = [];

const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;
const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name, version: 'v1' }, ip: '127.0.0.1', appPorts }) as ProxyView;
const node = (v: ProxyView) => ({ nodeId: v.id, identity: spiffe(v.workloadName), metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: v.workloadName, LABELS: v.labels } });

/** The proxy's own output (where `/dev/stdout` access logs go), kept line by line. */
function output(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
}

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const snapshot = buildSnapshot(loadText(yaml).resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

async function listen(s: net.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** A raw TCP connection through the client sidecar's forward proxy (CONNECT); resolves when it has closed. */
async function refusedConnection(authority: string): Promise<string> {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  let got = '';
  s.on('data', (c: Buffer) => {
    got += c.toString('latin1');
    // Past the CONNECT's answer, the app would echo: it must never get the chance.
    if (got.includes('\r\n\r\n')) s.write('ping');
  });
  s.on('error', () => {});
  s.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  await new Promise((r) => s.once('close', r));
  return got.slice(got.indexOf('\r\n\r\n') + 4);
}

/** One series' value from a proxy's /stats/prometheus: the line of `metric` whose labels include all of `labels`. */
async function series(p: Proxy, metric: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = (await request(p.admin, '/stats/prometheus')).body;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls a check until it holds (the destination closes after the client has seen the close), for at most 10 s. */
async function until<T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  const ca = await makeCa();
  app = net.createServer((s) => {
    appConnections++;
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPort = await listen(app);
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  authz = new grpc.Server();
  authz.addService(pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition, {
    Check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      checks++;
      held.push((code) => cb(null, { status: { code } }));
    },
  });
  const authzPort = await new Promise<number>((resolve, reject) => authz.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));

  const appPorts = { 5435: appPort };
  const dbView = view('db', appPorts);
  server = await startProxy({ ...node(dbView), output: output(logs) });
  server.proxy.secrets.setLocal('default', await ca.issue(spiffe('db')));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const db = (tunnelPort: number): WorkloadInstance => ({
    name: 'db-0',
    namespace: 'shop',
    labels: { app: 'db', version: 'v1' },
    serviceAccount: 'db',
    address: '127.0.0.1',
    appPorts,
    tunnelAddress: `127.0.0.1:${tunnelPort}`,
    healthy: true,
    source: 'deployment',
  });
  // The provider has no sidecar: the destination dials it as it is.
  const provider: WorkloadInstance = { name: 'authz-0', namespace: 'shop', labels: { app: 'authz' }, serviceAccount: 'authz', address: '127.0.0.1', appPorts: { 9000: authzPort }, healthy: true, source: 'deployment' };
  push(server.proxy, [...translated([db(15008), provider], dbView), root]);
  const cartView = view('cart', {});
  client = await startProxy({ ...node(cartView), output: output([]) });
  client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
  push(client.proxy, [...translated([db(await server.port('connect_terminate')), provider], cartView), root]);
});

after(async () => {
  await client?.close();
  await server?.close();
  app?.close();
  authz?.forceShutdown();
});

const bounded = { timeout: 30_000 };
const destination = (service: string) => ({
  reporter: 'destination',
  source_workload: 'cart',
  source_principal: spiffe('cart'),
  destination_workload: 'db',
  destination_service: `${service}.shop.svc.cluster.local`,
  destination_service_name: service,
  request_protocol: 'tcp',
  connection_security_policy: 'mutual_tls',
});

test('a connection whose client leaves while ext_authz is out is counted opened and closed (no flag, no bytes) and logged, and the late answer dials nothing', bounded, async () => {
  const before = appConnections;
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  const answered = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve();
    }),
  );
  s.write('CONNECT ledger.shop:5435 HTTP/1.1\r\nhost: ledger.shop:5435\r\n\r\n');
  await answered;
  s.write('ping');
  // The destination has asked the provider, which holds its answer; the client goes meanwhile.
  await until(() => (held.length === 1 ? true : undefined));
  s.resetAndDestroy();
  const labels = { ...destination('ledger'), response_flags: '-' };
  assert.equal(await until(() => series(server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await series(server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await series(server, 'istio_tcp_connections_closed_total', { ...labels, response_flags: 'UAEX' }), undefined);
  const line = await until(() => logs.find((l) => l.includes(' inbound|5435|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 - - - "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5435\|\| - 127\.0\.0\.1:5435 \S+ outbound_\.5435_\._\.ledger\.shop\.svc\.cluster\.local -$/);
  // The provider allows it after all: the connection is gone, nothing is dialled, nothing counted twice.
  (held.shift() as (code: number) => void)(0);
  // A second connection, refused: its answer comes after the first's on the provider's one connection,
  // so once it is logged the first's late answer has been handled.
  const second = refusedConnection('ledger.shop:5435');
  await until(() => (held.length === 1 ? true : undefined));
  (held.shift() as (code: number) => void)(7);
  assert.equal(await second, '');
  await until(() => logs.find((l) => l.includes(' inbound|5435|| ') && l.includes(' UAEX ext_authz_denied ')));
  assert.equal(appConnections, before, 'the app was never dialled');
  assert.equal(await until(() => series(server, 'istio_tcp_connections_closed_total', labels).then((n) => (n === 2 ? n : undefined))), 2);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', labels), 2, 'each connection opened once');
  assert.equal(logs.filter((l) => l.includes(' inbound|5435|| ')).length, 2, 'one line per connection');
  assert.equal(checks, 2);
});

