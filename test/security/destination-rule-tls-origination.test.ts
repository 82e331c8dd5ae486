// A DestinationRule `tls.mode: SIMPLE` or `MUTUAL` toward workloads with a sidecar, through real proxies,
// config translated from YAML. Istio's client sidecar then originates the rule's TLS (its CA, SNI, SANs,
// client certificate) instead of the mesh's mTLS, and the server sidecar sees TLS that is not Istio's: a
// PERMISSIVE TCP or undeclared port passes it to the app, which terminates it; a STRICT port refuses
// it. Outrigger carries that TLS inside a tunnel stream marked `plain_tls`, so the server sidecar decides.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-dr-tls-'));
const file = (name: string) => path.join(dir, name);

const service = (name: string, portName: string, targetPort: number, port = 80) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {app: api}, ports: [{name: ${portName}, port: ${port}, targetPort: ${targetPort}}]}
`;
const rule = (host: string, tlsSettings: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: shop}
spec: {host: ${host}.shop.svc.cluster.local, trafficPolicy: {tls: ${tlsSettings}}}
`;
const simple = `{mode: SIMPLE, caCertificates: ${file('ca.pem')}, sni: api.example.com, subjectAltNames: [api.example.com]}`;
// One workload, `api`, serving TLS itself on every port. `open` (undeclared) and `tcp` are PERMISSIVE,
// `locked` STRICT, `mutual` PERMISSIVE with a MUTUAL rule, `declared` PERMISSIVE but declared HTTP.
const yaml = [
  service('open', 'web', 9443),
  service('locked', 'web', 9444),
  service('mutual', 'web', 9445),
  service('tcp', 'tcp-echo', 9446, 5432),
  service('declared', 'http', 9447),
  `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: api, namespace: shop}
spec: {selector: {matchLabels: {app: api}}, mtls: {mode: PERMISSIVE}, portLevelMtls: {9444: {mode: STRICT}}}
`,
  rule('open', simple),
  rule('locked', simple),
  rule('tcp', simple),
  rule('declared', simple),
  rule('mutual', `{mode: MUTUAL, caCertificates: ${file('ca.pem')}, clientCertificate: ${file('client.pem')}, privateKey: ${file('client-key.pem')}, sni: api.example.com}`),
].join('---\n');

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let meshCa: TestCa;
let app: https.Server;
let echo: tls.Server;
let appConnections = 0;
let server: Proxy;
let client: Proxy;
let workloads: WorkloadInstance[];

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const cartView = view('cart', {});

function translated(proxy: ProxyView): TypedAny[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

const rootSecret = (): TypedAny => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: meshCa.ca } } });
const call = async (host: string) => request(await client.port('virtualOutbound'), '/hello', { host: `${host}.shop` });
const listening = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));

before(async () => {
  meshCa = await makeCa();
  // The app's own PKI, which the mesh knows nothing of.
  const appCa = await makeCa('app-root');
  const serving = await appCa.issueWithSans([{ type: 'dns', value: 'api.example.com' }]);
  const clientPair = await appCa.issueWithSans([{ type: 'dns', value: 'cart.example.com' }]);
  writeFileSync(file('ca.pem'), appCa.ca);
  writeFileSync(file('client.pem'), clientPair.cert);
  writeFileSync(file('client-key.pem'), clientPair.key);
  app = https.createServer({ ...serving, ca: appCa.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const s = req.socket as tls.TLSSocket;
    const peer = s.getPeerCertificate();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sni: (s as unknown as { servername?: string }).servername, client: peer.subjectaltname ?? null, authorized: s.authorized, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  // Any connection at all, TLS or not: a refused one never reaches the app.
  app.on('connection', () => appConnections++);
  echo = tls.createServer({ ...serving }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPort = await listening(app);
  const echoPort = await listening(echo);
  const appPorts = { 9443: appPort, 9444: appPort, 9445: appPort, 9446: echoPort, 9447: appPort };
  const apiView = view('api', appPorts);
  server = await startProxy({ nodeId: apiView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  server.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/api'));
  workloads = [{ name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' }];
  push(server.proxy, [...translated(apiView), rootSecret()]);
  const tunnel = await server.port('connect_terminate');
  workloads = [{ ...workloads[0]!, tunnelAddress: `127.0.0.1:${tunnel}` }];
  client = await startProxy({ nodeId: cartView.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'cart', LABELS: { app: 'cart' } } });
  client.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated(cartView), rootSecret()]);
});

after(async () => {
  await client?.close();
  await server?.close();
  app?.close();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('SIMPLE to a PERMISSIVE port: the app terminates the rule’s TLS (its SNI, its CA), not the mesh’s', async () => {
  const res = await call('open');
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { sni: string; client: string | null; xfcc: string | null };
  assert.equal(seen.sni, 'api.example.com');
  // No mesh certificate reached the app, and no sidecar spoke for the caller.
  assert.equal(seen.client, null);
  assert.equal(seen.xfcc, null);
});

test('MUTUAL to a PERMISSIVE port: the app sees the rule’s client certificate', async () => {
  const res = await call('mutual');
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as { client: string | null; authorized: boolean };
  assert.equal(seen.client, 'DNS:cart.example.com');
  assert.equal(seen.authorized, true);
});

test('SIMPLE to a STRICT port: the server sidecar refuses the TLS, 503, the app never sees it', async () => {
  const before = appConnections;
  const res = await call('locked');
  assert.equal(res.status, 503, res.body);
  // A connection failure (UF), as Istio's failed handshake: never an answer from the destination.
  assert.match(res.body, /reset reason: connection failure/);
  assert.equal(appConnections, before);
});

test('SIMPLE to a PERMISSIVE port declared HTTP: no chain takes TLS there, 503, the app never sees it', async () => {
  const before = appConnections;
  const res = await call('declared');
  assert.equal(res.status, 503, res.body);
  // A connection failure (UF), as Istio's failed handshake: never an answer from the destination.
  assert.match(res.body, /reset reason: connection failure/);
  assert.equal(appConnections, before);
});

test('SIMPLE on a TCP port: the client sidecar wraps the bytes in the rule’s TLS, the app answers in it', { timeout: 10_000 }, async () => {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  s.write('CONNECT tcp.shop:5432 HTTP/1.1\r\nhost: tcp.shop:5432\r\n\r\nping');
  let out = '';
  // Until the echo comes back, or the connection ends without it.
  await new Promise<void>((resolve) => {
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (out.endsWith('ping')) resolve();
    });
    s.on('close', () => resolve());
    s.on('error', () => {});
  });
  s.destroy();
  assert.match(out, /^HTTP\/1\.1 200/);
  assert.match(out, /ping$/, out);
});
