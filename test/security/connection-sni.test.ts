// The SNI of mesh traffic as Istio's destination sidecar sees it, through real proxies configured from
// YAML: the source's cluster names `outbound_.PORT_._.HOST` (its mesh TLS context's sni), and the
// destination takes it as the connection's requested server name, for HTTP/1.1 (once per carried
// connection), HTTP/2 (each stream) and TCP (each CONNECT). An AuthorizationPolicy `when:
// connection.sni` allows one service's traffic and denies another's to the same workload, and the
// inbound access line shows it (`%REQUESTED_SERVER_NAME%`). A stream asking to be served as plaintext
// has no TLS, so no SNI, whatever it names.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { echoBackend, push, request, startProxy } from '../proxy/harness.ts';
import { tcpExchange, until } from './tcp-through-sidecar.ts';

// Two services in front of one workload: `allowed` and `denied`, each with an HTTP/1.1, an HTTP/2 and
// a TCP port. The policy allows by SNI only, so the service a caller names decides.
const service = (name: string, tcpPort: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {app: orders}
  ports:
    - {name: http, port: 80, targetPort: 8080}
    - {name: http2-api, port: 9090, targetPort: 8090}
    - {name: tcp-db, port: ${tcpPort}, targetPort: 8084}
`;
const yaml = [
  service('allowed', 5432),
  service('denied', 5433),
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-sni, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
    - when:
        - key: connection.sni
          values: [outbound_.80_._.allowed.shop.svc.cluster.local, outbound_.9090_._.allowed.shop.svc.cluster.local, "*_.allowed.shop.svc.cluster.local"]
`,
  `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig: {accessLogFile: /dev/stdout}
`,
].join('---\n');

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let ca: TestCa;
let app: Awaited<ReturnType<typeof echoBackend>>;
let h2App: http2.Http2Server;
let tcpApp: net.Server;
let server: Proxy;
let client: Proxy;
const serverLog: string[] = [];
const h2Seen: http2.IncomingHttpHeaders[] = [];

const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;
const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const node = (v: ProxyView) => ({ nodeId: v.id, identity: spiffe(v.workloadName), metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: v.workloadName, LABELS: v.labels } });

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return [...buildProxyResources(buildSnapshot(resources, workloads, '1'), proxy).values()].flatMap((m) => [...m.values()]);
}

async function listen(s: net.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}


before(async () => {
  ca = await makeCa();
  app = await echoBackend();
  h2App = http2.createServer((req, res) => {
    h2Seen.push(req.headers);
    res.end('h2 ok');
  });
  tcpApp = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPorts = { 8080: app.port, 8090: await listen(h2App), 8084: await listen(tcpApp) };
  const ordersView = view('orders', appPorts);
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      serverLog.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  server = await startProxy({ ...node(ordersView), output });
  server.proxy.secrets.setLocal('default', await ca.issue(spiffe('orders')));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const orders = (tunnelPort: number): WorkloadInstance => ({
    name: 'orders-0',
    namespace: 'shop',
    labels: { app: 'orders' },
    serviceAccount: 'orders',
    address: '127.0.0.1',
    appPorts,
    tunnelAddress: `127.0.0.1:${tunnelPort}`,
    healthy: true,
    source: 'deployment',
  });
  push(server.proxy, [...translated([orders(15008)], ordersView), root]);
  const cartView = view('cart', {});
  client = await startProxy(node(cartView));
  client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
  push(client.proxy, [...translated([orders(await server.port('connect_terminate'))], cartView), root]);
});

after(async () => {
  await client?.close();
  await server?.close();
  app?.server.close();
  h2App?.close();
  tcpApp?.close();
});

const bounded = { timeout: 30_000 };
const call = async (host: string) => request(await client.port('virtualOutbound'), '/hello', { host });

test('HTTP/1.1 (carried connections): the SNI of the service named decides, and the inbound line shows it', bounded, async () => {
  const ok = await call('allowed.shop');
  assert.equal(ok.status, 200, ok.body);
  const denied = await call('denied.shop');
  assert.equal(denied.status, 403, denied.body);
  assert.match(denied.body, /RBAC: access denied/);
  // Istio's TEXT line ends with `%REQUESTED_SERVER_NAME% %ROUTE_NAME%`.
  const served = await until(() => serverLog.find((l) => l.includes(' 200 ') && l.includes('"allowed.shop"')));
  assert.match(served, / inbound\|8080\|\| .* outbound_\.80_\._\.allowed\.shop\.svc\.cluster\.local \S+$/);
  const refused = await until(() => serverLog.find((l) => l.includes(' 403 ') && l.includes('"denied.shop"')));
  assert.match(refused, / outbound_\.80_\._\.denied\.shop\.svc\.cluster\.local \S+$/);
});

test('HTTP/2 (a stream per request on the cluster\'s session): the SNI of the service named decides', bounded, async () => {
  const ok = await call('allowed.shop:9090');
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.body, 'h2 ok');
  const denied = await call('denied.shop:9090');
  assert.equal(denied.status, 403, denied.body);
  assert.equal(h2Seen.length, 1, 'the denied request never reached the app');
});

test('TCP (a CONNECT per connection): the allowed service is echoed, the denied one closed unanswered', bounded, async () => {
  assert.equal(await tcpExchange(await client.port('virtualOutbound'), 'allowed.shop:5432', 'ping'), 'ping');
  assert.equal(await tcpExchange(await client.port('virtualOutbound'), 'denied.shop:5433', 'ping'), '');
  // The allowed connection's line (the denied one names the policy that refused it).
  const line = await until(() => serverLog.find((l) => l.includes('"- - -"') && !l.includes('rbac_access_denied')));
  assert.match(line, / outbound_\.5432_\._\.allowed\.shop\.svc\.cluster\.local \S+$/);
});

test('a stream served as plaintext (raw_buffer) has no SNI, whatever it names', bounded, async () => {
  const cert = await ca.issue(spiffe('cart'));
  // The session names the allowed service's SNI in its ClientHello, as a source cluster's sessions do.
  const session = http2.connect(`https://127.0.0.1:${await server.port('connect_terminate')}`, { ...cert, ca: ca.ca, servername: 'outbound_.80_._.allowed.shop.svc.cluster.local', checkServerIdentity: () => undefined });
  session.on('error', () => {});
  const ask = (extra: http2.OutgoingHttpHeaders) =>
    new Promise<number>((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': '/hello', ':authority': 'allowed.shop', 'x-outrigger-target-port': '8080', ...extra });
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', reject);
      s.resume();
    });
  try {
    assert.equal(await ask({}), 200, 'in mesh TLS the session’s SNI is the stream’s');
    assert.equal(await ask({ 'x-outrigger-transport': 'raw_buffer' }), 403, 'as plaintext there is none');
  } finally {
    session.close();
  }
});

test('an HTTP/1.1 connection of its own (TLS, no carrier) names its SNI in the ClientHello', bounded, async () => {
  const cert = await ca.issue(spiffe('cart'));
  const port = await server.port('connect_terminate');
  const status = (servername: string) =>
    new Promise<number>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername, ...cert, ca: ca.ca, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });
      let head = '';
      s.on('secureConnect', () => s.write('GET /hello HTTP/1.1\r\nhost: orders.shop\r\nx-outrigger-target-port: 8080\r\nconnection: close\r\n\r\n'));
      s.on('data', (c: Buffer) => {
        head += c.toString('latin1');
      });
      s.on('error', reject);
      s.on('close', () => resolve(Number(head.slice(9, 12))));
    });
  assert.equal(await status('outbound_.80_._.allowed.shop.svc.cluster.local'), 200);
  assert.equal(await status('outbound_.80_._.denied.shop.svc.cluster.local'), 403);
});
