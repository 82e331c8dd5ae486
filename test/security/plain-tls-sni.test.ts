// The SNI of TLS a DestinationRule SIMPLE originates toward a sidecar (a `plain_tls` tunnel stream), as
// Istio's destination sidecar reads it with tls_inspector from the source's ClientHello: the connection's
// requested server name, so AuthorizationPolicy `connection.sni` and the inbound access line's
// `%REQUESTED_SERVER_NAME%` see the rule's `sni`, through real proxies configured from YAML.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
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
import { push, startProxy } from '../proxy/harness.ts';
import { tcpExchange, until } from './tcp-through-sidecar.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-plain-tls-sni-'));
const caFile = path.join(dir, 'ca.pem');

// Two TCP services in front of one PERMISSIVE workload, each with a SIMPLE rule naming its own SNI; the
// policy allows one of those names only.
const service = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {selector: {app: api}, ports: [{name: tcp-db, port: ${port}, targetPort: 9446}]}
`;
const rule = (name: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: shop}
spec: {host: ${name}.shop.svc.cluster.local, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ${caFile}, sni: ${name}.example.com}}}
`;
const yaml = [
  service('alpha', 5432),
  service('beta', 5433),
  rule('alpha'),
  rule('beta'),
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: api-sni, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  rules: [{when: [{key: connection.sni, values: [alpha.example.com]}]}]
`,
  `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: {accessLogFile: /dev/stdout}}
`,
].join('---\n');

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let meshCa: TestCa;
let echo: tls.Server;
const appSni: string[] = [];
let server: Proxy;
let client: Proxy;
const serverLog: string[] = [];

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name }, ip: '127.0.0.1', appPorts }) as ProxyView;
const node = (v: ProxyView) => ({ nodeId: v.id, metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: v.workloadName, LABELS: v.labels } });

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return [...buildProxyResources(buildSnapshot(resources, workloads, '1'), proxy).values()].flatMap((m) => [...m.values()]);
}


before(async () => {
  meshCa = await makeCa();
  const appCa = await makeCa('app-root');
  writeFileSync(caFile, appCa.ca);
  // The app terminates the rule's TLS for both names.
  echo = tls.createServer({ ...(await appCa.issueWithSans([{ type: 'dns', value: 'alpha.example.com' }, { type: 'dns', value: 'beta.example.com' }])) }, (s) => {
    appSni.push(String((s as tls.TLSSocket & { servername?: string }).servername));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const appPorts = { 9446: (echo.address() as net.AddressInfo).port };
  const apiView = view('api', appPorts);
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      serverLog.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  server = await startProxy({ ...node(apiView), output });
  server.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/api'));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: meshCa.ca } } };
  const api = (tunnelPort: number): WorkloadInstance => ({ name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts, tunnelAddress: `127.0.0.1:${tunnelPort}`, healthy: true, source: 'deployment' });
  push(server.proxy, [...translated([api(15008)], apiView), root]);
  const cartView = view('cart', {});
  client = await startProxy(node(cartView));
  client.proxy.secrets.setLocal('default', await meshCa.issue('spiffe://cluster.local/ns/shop/sa/cart'));
  push(client.proxy, [...translated([api(await server.port('connect_terminate'))], cartView), root]);
});

after(async () => {
  await client?.close();
  await server?.close();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

const bounded = { timeout: 30_000 };

test('the rule’s SNI, read from the ClientHello in the stream, decides connection.sni', bounded, async () => {
  assert.equal(await tcpExchange(await client.port('virtualOutbound'), 'alpha.shop:5432', 'ping'), 'ping');
  assert.equal(await tcpExchange(await client.port('virtualOutbound'), 'beta.shop:5433', 'ping'), '', 'the other name is denied');
  // The denied connection never reached the app: the allowed one did, with its own SNI.
  assert.deepEqual(appSni, ['alpha.example.com']);
});

test('the inbound access line shows the ClientHello’s SNI as %REQUESTED_SERVER_NAME%', bounded, async () => {
  // Istio's TCP line ends with `%REQUESTED_SERVER_NAME% %ROUTE_NAME%`.
  const allowed = await until(() => serverLog.find((l) => l.includes('"- - -"') && !l.includes('rbac_access_denied')));
  assert.match(allowed, / alpha\.example\.com \S+$/);
  const denied = await until(() => serverLog.find((l) => l.includes('rbac_access_denied')));
  assert.match(denied, / beta\.example\.com \S+$/);
});
