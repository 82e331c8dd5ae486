// TCP connections an AuthorizationPolicy refuses, through real sidecars translated from YAML: the
// destination's network RBAC (DENY) or ext_authz (CUSTOM, a real gRPC Authorization server) closes the
// connection, and Istio's TCP metrics count it opened and closed, and its access log has a line with
// the refusal's details, as Envoy's istio.stats and tcp_proxy access log report it.
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

// `db` serves `vault` (5434, denied by policy) and `ledger` (5435, checked by the `grpc-authz` provider).
const yaml = `apiVersion: v1
kind: Service
metadata: {name: vault, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-vault, port: 5434}]
---
apiVersion: v1
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
metadata: {name: deny-vault, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: DENY
  rules: [{to: [{operation: {ports: ["5434"]}}]}]
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
      envoyExtAuthzGrpc: {service: authz.shop.svc.cluster.local, port: 9000}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let app: net.Server;
let authz: grpc.Server;
let server: Proxy;
let client: Proxy;
let appConnections = 0;
let checks = 0;
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
      cb(null, { status: { code: 7 } });
    },
  });
  const authzPort = await new Promise<number>((resolve, reject) => authz.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));

  const appPorts = { 5434: appPort, 5435: appPort };
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

test('a connection network RBAC refuses is counted opened and closed (no bytes, no flag), logged with the policy that denied it, and in tcp.rbac.denied', bounded, async () => {
  const before = appConnections;
  assert.equal(await refusedConnection('vault.shop:5434'), '', 'nothing comes back');
  const labels = { ...destination('vault'), response_flags: '-' };
  assert.equal(await until(() => series(server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await series(server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await series(server, 'istio_tcp_sent_bytes_total', labels), 0);
  const line = await until(() => logs.find((l) => l.includes(' inbound|5434|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 - - rbac_access_denied_matched_policy\[ns\[shop\]-policy\[deny-vault\]-rule\[0\]\] "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5434\|\| - 127\.0\.0\.1:5434 \S+ outbound_\.5434_\._\.vault\.shop\.svc\.cluster\.local -$/);
  assert.equal(appConnections, before, 'the app was never dialled');
  // Envoy's network RBAC counters, under the names Istio's proxies give them.
  const stats = (await request(server.admin, '/stats')).body;
  assert.match(stats, /^tcp\.rbac\.denied: 1$/m);
  assert.match(stats, /^tcp\.rbac\.allowed: 0$/m);
  assert.equal(await series(server, 'envoy_tcp_denied', { tcp_prefix: 'rbac' }), 1);
});

test('a connection ext_authz refuses is counted without UAEX (set after the close) and logged with UAEX and ext_authz_denied', bounded, async () => {
  const before = appConnections;
  assert.equal(await refusedConnection('ledger.shop:5435'), '', 'nothing comes back');
  assert.equal(checks, 1, 'the provider was asked once');
  const labels = { ...destination('ledger'), response_flags: '-' };
  assert.equal(await until(() => series(server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await series(server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', { ...labels, response_flags: 'UAEX' }), undefined);
  const line = await until(() => logs.find((l) => l.includes(' inbound|5435|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 UAEX ext_authz_denied - "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5435\|\| - 127\.0\.0\.1:5435 \S+ outbound_\.5435_\._\.ledger\.shop\.svc\.cluster\.local -$/);
  assert.equal(appConnections, before, 'the app was never dialled');
  // The CUSTOM marker's shadow rules chose the connection for the check; no RBAC filter denied it.
  const stats = (await request(server.admin, '/stats')).body;
  assert.match(stats, /^tcp\.rbac\.istio_ext_authz_shadow_allowed: 1$/m);
  assert.match(stats, /^tcp\.rbac\.denied: 1$/m);
  assert.equal(await series(server, 'envoy_tcp_istio_ext_authz_shadow_allowed', { tcp_prefix: 'rbac' }), 1);
});
