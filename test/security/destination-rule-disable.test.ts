// A DestinationRule `tls.mode: DISABLE` toward workloads with a sidecar, through real proxies, config
// translated from YAML. Istio sends plaintext there: a PERMISSIVE port serves it without the caller's
// identity (so a principal-based ALLOW denies it), a STRICT port closes the connection (503 UC).
// Outrigger still crosses the tunnel (the client checks the server's identity), but asks the
// destination to serve the request as that plaintext connection.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, rawExchange, request, startProxy } from '../proxy/harness.ts';

const service = (name: string, targetPort: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {app: orders}, ports: [{name: http, port: 80, targetPort: ${targetPort}}]}
`;
const disable = (host: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: shop}
spec: {host: ${host}.shop.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}
`;
// One workload behind five services: `plain` and `guarded` PERMISSIVE with DISABLE rules (`guarded`
// allows only the cart account), `strict` STRICT with a DISABLE rule, `meshed` PERMISSIVE without one,
// `db`, TCP, PERMISSIVE with a DISABLE rule, allowing only the cart account, and `vault`, TCP, STRICT
// with a DISABLE rule (and a VirtualService that tries to set the tunnel's marker back).
const base = [
  service('plain', 8080),
  service('guarded', 8081),
  service('strict', 8082),
  service('meshed', 8083),
  `apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {selector: {app: orders}, ports: [{name: tcp-db, port: 5432, targetPort: 8084}]}
`,
  `apiVersion: v1
kind: Service
metadata: {name: vault, namespace: shop}
spec: {selector: {app: orders}, ports: [{name: tcp-vault, port: 8200, targetPort: 8085}]}
`,
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: strict, namespace: shop}
spec:
  hosts: [strict.shop.svc.cluster.local]
  http: [{route: [{destination: {host: strict.shop.svc.cluster.local}}], headers: {request: {set: {x-outrigger-transport: tls}}}}]
`,
  `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: orders, namespace: shop}
spec: {selector: {matchLabels: {app: orders}}, mtls: {mode: PERMISSIVE}, portLevelMtls: {8082: {mode: STRICT}, 8085: {mode: STRICT}}}
`,
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
    - from: [{source: {principals: [cluster.local/ns/shop/sa/cart]}}]
      to: [{operation: {ports: ["8081", "8084"]}}]
    - to: [{operation: {ports: ["8080", "8082", "8083", "8085"]}}]
`,
  disable('guarded'),
  disable('strict'),
  disable('db'),
  disable('vault'),
];

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let ca: TestCa;
let app: Awaited<ReturnType<typeof echoBackend>>;
let db: net.Server;
let dbConnections = 0;
let server: Proxy;
let client: Proxy;
let workloads: WorkloadInstance[];

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const cartView = view('cart', {});

function translated(yaml: string[], proxy: ProxyView): TypedAny[] {
  const { resources, diagnostics } = loadText(yaml.join('---\n'));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

const rootSecret = (): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } });
const call = async (host: string) => request(await client.port('virtualOutbound'), '/hello', { host: `${host}.shop` });
const seenXfcc = (body: string) => (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'];

before(async () => {
  ca = await makeCa();
  app = await echoBackend();
  db = net.createServer((s) => {
    dbConnections++;
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => db.listen(0, '127.0.0.1', r));
  const dbPort = (db.address() as net.AddressInfo).port;
  const appPorts = { 8080: app.port, 8081: app.port, 8082: app.port, 8083: app.port, 8084: dbPort, 8085: dbPort };
  const ordersView = view('orders', appPorts);
  server = await startProxy({ nodeId: ordersView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'orders', LABELS: { app: 'orders' } } });
  server.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/orders'));
  workloads = [{ name: 'orders-0', namespace: 'shop', labels: { app: 'orders' }, serviceAccount: 'orders', address: '127.0.0.1', appPorts, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' }];
  push(server.proxy, [...translated([...base, disable('plain')], ordersView), rootSecret()]);
  const tunnel = await server.port('connect_terminate');
  workloads = [{ ...workloads[0]!, tunnelAddress: `127.0.0.1:${tunnel}` }];
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  client.proxy.secrets.setLocal('default', await ca.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated([...base, disable('plain')], cartView), rootSecret()]);
});

after(async () => {
  await client?.close();
  await server?.close();
  app?.server.close();
  db?.close();
});

test('DISABLE to a PERMISSIVE port: served as plaintext, the app sees no verified caller', async () => {
  const res = await call('plain');
  assert.equal(res.status, 200, res.body);
  assert.equal(seenXfcc(res.body), undefined);
  // Without the rule, the same workload is reached in mTLS and learns who called.
  const meshed = await call('meshed');
  assert.equal(meshed.status, 200, meshed.body);
  assert.match(seenXfcc(meshed.body) ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
});

test('DISABLE to a port whose ALLOW names the caller: denied, as Istio denies a plaintext caller', async () => {
  const res = await call('guarded');
  assert.equal(res.status, 403, res.body);
  assert.match(res.body, /^RBAC: access denied/);
});

function clientStat(name: string): number {
  const m = new RegExp(`^${name.replaceAll('.', '\\.').replaceAll('|', '\\|')}: (\\d+)$`, 'm').exec(client.proxy.metrics.renderStats());
  return m ? Number(m[1]) : 0;
}

test('DISABLE to a STRICT port: the destination closes it under the request, 503 UC, whatever a route sets', async () => {
  const before = app.requests.length;
  const res = await call('strict');
  assert.equal(res.status, 503, res.body);
  assert.match(res.body, /reset reason: connection termination/);
  assert.equal(app.requests.length, before, 'the app never saw it');
});

test('DISABLE to a TCP port whose ALLOW names the caller: the connection is refused, the app never sees it', async () => {
  // CONNECT through the client's forward proxy: the tunnel carries it as a CONNECT stream.
  const out = await rawExchange(await client.port('virtualOutbound'), 'CONNECT db.shop:5432 HTTP/1.1\r\nhost: db.shop:5432\r\n\r\nping');
  assert.doesNotMatch(out, /ping/, out);
  assert.equal(dbConnections, 0);
});

test('DISABLE to a STRICT TCP port: accepted, then closed, as Istio closes it (not a connection failure)', async () => {
  const vault = 'outbound|8200||vault.shop.svc.cluster.local';
  const out = await rawExchange(await client.port('virtualOutbound'), 'CONNECT vault.shop:8200 HTTP/1.1\r\nhost: vault.shop:8200\r\n\r\nping');
  assert.doesNotMatch(out, /ping/, out);
  assert.equal(dbConnections, 0);
  assert.equal(clientStat(`cluster.${vault}.upstream_cx_connect_fail`), 0);
});

test('removing the rule reconnects the cluster in mTLS: the caller is verified again', async () => {
  assert.equal(seenXfcc((await call('plain')).body), undefined);
  push(client.proxy, [...translated(base, cartView), rootSecret()], 'v2');
  const res = await call('plain');
  assert.equal(res.status, 200, res.body);
  assert.match(seenXfcc(res.body) ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
});
