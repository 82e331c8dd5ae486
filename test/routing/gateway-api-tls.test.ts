// Simulation tests for TLS listeners of Gateway API Gateways (docs/gateway-api.md): a Passthrough
// listener routes TLSRoutes by the ClientHello's SNI, unterminated; a Terminate listener decrypts and
// hands the connection to its TCPRoutes; a TLSRoute with a Service parent routes sidecars' connections
// by SNI. YAML in, the gateway's (or client sidecar's) decision out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { runAnalyzers } from '../../src/analysis/run.ts';

const services = ['a', 'b', 'db']
  .map(
    (n) => `apiVersion: v1
kind: Service
metadata: {name: ${n}, namespace: edge}
spec: {selector: {app: ${n}}, ports: [{name: tls, port: 8443}]}
---
`,
  )
  .join('');

const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sni, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
  - {name: passthrough, port: 443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
  - {name: web, port: 80, protocol: HTTP}
---
`;

const tlsRoute = (name: string, hostnames: string, backend: string, apiVersion = 'v1alpha2', parent = '{name: sni}') => `apiVersion: gateway.networking.k8s.io/${apiVersion}
kind: TLSRoute
metadata: {name: ${name}, namespace: edge}
spec:
  parentRefs: [${parent}]
  ${hostnames ? `hostnames: [${hostnames}]` : ''}
  rules: [{backendRefs: [{name: ${backend}, port: 8443}]}]
---
`;

function source(yaml: string): OfflineSource {
  const { resources, diagnostics } = loadText(services + yaml, 'tls.yaml');
  assert.deepEqual(
    diagnostics.filter((d) => d.severity !== 'info').map((d) => `${d.code} ${d.message}`),
    [],
  );
  return new OfflineSource(resources);
}

/** What `outrigger analyze` says of the Gateway API references: code, resource, field. */
function analyzeFor(yaml: string): string[][] {
  const { resources } = loadText(yaml, 'tls.yaml');
  return runAnalyzers(resources)
    .filter((d) => d.code === 'OR2010' || d.code === 'IST0101')
    .map((d) => [d.code, d.resource ?? '', d.field ?? ''])
    .sort((x, y) => (x[1] ?? '').localeCompare(y[1] ?? ''));
}

/** The gateway's decision for a TLS connection with this SNI to port 443: the chain and the cluster it sends to. */
async function connect(src: OfflineSource, sni: string, port = 443) {
  const t = await explain(src, { from: 'sni-istio', request: parseExplainRequest(`https://${sni}:${port}/`), random: () => 0 });
  return { listener: t.source.listener, detail: t.outcome.detail, status: t.outcome.status };
}

const A = /outbound\|8443\|\|a\.edge\.svc\.cluster\.local/;
const B = /outbound\|8443\|\|b\.edge\.svc\.cluster\.local/;

test('a Passthrough listener sends each TLS connection, by its SNI, to the TLSRoute that names the host', async () => {
  const src = source(gateway + tlsRoute('a', 'a.example.com', 'a') + tlsRoute('b', 'b.example.com', 'b', 'v1'));
  const a = await connect(src, 'a.example.com');
  assert.equal(a.listener, '0.0.0.0_443');
  assert.match(a.detail, A);
  assert.match((await connect(src, 'b.example.com')).detail, B);
  // An SNI no route names finds no filter chain on the listener.
  assert.doesNotMatch((await connect(src, 'c.example.com')).detail, /outbound\|/);
});

test('a TLSRoute without hostnames takes every SNI of the listener\'s hostname; a named host is more specific', async () => {
  const src = source(gateway + tlsRoute('a', 'a.example.com', 'a') + tlsRoute('rest', '', 'b'));
  assert.match((await connect(src, 'a.example.com')).detail, A);
  assert.match((await connect(src, 'z.example.com')).detail, B);
  assert.doesNotMatch((await connect(src, 'z.example.org')).detail, /outbound\|/);
});

test('a TLSRoute whose hostnames do not intersect the listener\'s attaches nowhere, and says so', async () => {
  const yaml = gateway + tlsRoute('other', 'a.example.org', 'a');
  assert.doesNotMatch((await connect(source(yaml), 'a.example.org')).detail, /outbound\|/);
  assert.deepEqual(analyzeFor(services + yaml), [['OR2010', 'TLSRoute edge/other', 'spec.parentRefs[0]']]);
});

test("a TLSRoute attaches to a Passthrough listener, not an HTTP one; a Service parent is mesh routing for the Service's own SNI", () => {
  const yaml =
    gateway +
    tlsRoute('on-http', 'a.example.com', 'a', 'v1alpha2', '{name: sni, sectionName: web}') +
    tlsRoute('mesh', 'a.edge.svc.cluster.local', 'a', 'v1alpha2', '{group: "", kind: Service, name: a}') +
    tlsRoute('elsewhere', 'a.example.com', 'a', 'v1alpha2', '{group: "", kind: Service, name: a}');
  assert.deepEqual(analyzeFor(services + yaml), [
    ['OR2010', 'TLSRoute edge/elsewhere', 'spec.parentRefs[0]'],
    ['OR2010', 'TLSRoute edge/on-http', 'spec.parentRefs[0]'],
  ]);
});

test('a TLSRoute whose backends are all invalid refuses the connections of its SNI, and only those', async () => {
  const src = source(
    gateway +
      tlsRoute('a', 'a.example.com', 'nowhere') +
      tlsRoute('b', 'b.example.com', 'a, namespace: other') +
      tlsRoute('rest', '', 'b'),
  );
  for (const [sni, host] of [
    ['a.example.com', 'nowhere.edge'],
    ['b.example.com', 'a.other'],
  ] as const) {
    const c = await connect(src, sni);
    assert.equal(c.listener, '0.0.0.0_443');
    assert.match(c.detail, new RegExp(`cluster outbound\\|8443\\|\\|${host.replace('.', '\\.')}\\.backend\\.invalid not found`), sni);
  }
  assert.match((await connect(src, 'c.example.com')).detail, B);
});

/** The edge namespace in the mesh: a client, and a Deployment behind each of a and b. */
const edgeMesh = `apiVersion: v1
kind: Namespace
metadata: {name: edge, labels: {istio-injection: enabled}}
---
${['client', 'a', 'b']
  .map(
    (n) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${n}, namespace: edge}
spec:
  selector: {matchLabels: {app: ${n}}}
  template:
    metadata: {labels: {app: ${n}}}
    spec: {containers: [{name: ${n}, image: ghcr.io/stefanprodan/podinfo:6.5.3, ports: [{containerPort: 8443}]}]}
---
`,
  )
  .join('')}`;

/** Where the client's TLS connection to port 8443 with this SNI goes: the workloads of the cluster picked. */
async function fromClient(src: OfflineSource, sni: string) {
  const t = await explain(src, { from: 'client', request: parseExplainRequest(`https://${sni}:8443/`), random: () => 0 });
  return t.endpoints.map((e) => e.workload);
}

test("a TLSRoute with a Service parent routes the connections with that Service's SNI (mesh routing), and no other host's", async () => {
  const named = source(edgeMesh + tlsRoute('to-b', 'a.edge.svc.cluster.local', 'b', 'v1', '{group: "", kind: Service, name: a, port: 8443}'));
  assert.deepEqual(await fromClient(named, 'a.edge.svc.cluster.local'), ['b-0.edge']);
  // Without hostnames, the SNI is the Service's own name too.
  const unnamed = source(edgeMesh + tlsRoute('to-b', '', 'b', 'v1', '{group: "", kind: Service, name: a}'));
  assert.deepEqual(await fromClient(unnamed, 'a.edge.svc.cluster.local'), ['b-0.edge']);
  // A hostname that is not the Service's (another namespace's Service, an outside host) captures nothing:
  // connections with that SNI go where they went without the route.
  const foreign = source(edgeMesh + tlsRoute('grab', 'b.edge.svc.cluster.local, login.partner.com', 'a', 'v1', '{group: "", kind: Service, name: a, port: 8443}'));
  assert.deepEqual(await fromClient(foreign, 'b.edge.svc.cluster.local'), ['b-0.edge']);
});

test('a Terminate TLS listener decrypts with its certificate and hands the connection to its TCPRoute', async () => {
  const src = source(`apiVersion: v1
kind: Secret
metadata: {name: db-cert, namespace: edge}
type: kubernetes.io/tls
stringData: {tls.crt: "cert", tls.key: "key"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sni, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
  - {name: db, port: 5433, protocol: TLS, hostname: db.example.com, tls: {mode: Terminate, certificateRefs: [{name: db-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: edge}
spec:
  parentRefs: [{name: sni, sectionName: db}]
  rules: [{backendRefs: [{name: db, port: 8443}]}]
`);
  const t = await explain(src, { from: 'sni-istio', request: parseExplainRequest('https://db.example.com:5433/'), random: () => 0 });
  assert.equal(t.source.listener, '0.0.0.0_5433');
  assert.match(t.outcome.detail, /outbound\|8443\|\|db\.edge\.svc\.cluster\.local/);
  // The chain is chosen by the SNI of the listener's hostname and terminates TLS before tcp_proxy.
  assert.match(t.source.chainMatch, /SNI db\.example\.com/);
  const listener = (await src.resources(await src.sourceProxy('sni-istio'))).get(TypeUrl.Listener)?.get('0.0.0.0_5433') as unknown as { filter_chains: { filter_chain_match?: unknown; transport_socket?: { name: string } }[] };
  assert.deepEqual(
    listener.filter_chains.map((c) => [c.filter_chain_match, c.transport_socket?.name]),
    [[{ server_names: ['db.example.com'] }, 'envoy.transport_sockets.tls']],
  );
  assert.doesNotMatch((await explain(src, { from: 'sni-istio', request: parseExplainRequest('https://other.example.com:5433/'), random: () => 0 })).outcome.detail, /outbound\|/);
});

test("docs/gateway-api.md: the TLSRoute examples route unterminated: a.example.com at the gateway to a, the Service a's own SNI in the mesh to b", async () => {
  const page = readFileSync(path.join(import.meta.dirname, '../../docs/gateway-api.md'), 'utf8');
  const examples = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => (m[1] as string).replaceAll('namespace: shop', 'namespace: edge').replaceAll('.shop.svc.cluster.local', '.edge.svc.cluster.local')).filter((y) => y.includes('kind: TLSRoute'));
  const atGateway = examples.find((y) => !y.includes('kind: Service'));
  const inMesh = examples.find((y) => y.includes('kind: Service'));
  assert.ok(atGateway && inMesh, 'the page has a TLSRoute example of each');
  const src = source(atGateway);
  assert.match((await connect(src, 'a.example.com')).detail, A);
  assert.doesNotMatch((await connect(src, 'b.example.com')).detail, /outbound\|/);
  assert.deepEqual(await fromClient(source(edgeMesh + inMesh), 'a.edge.svc.cluster.local'), ['b-0.edge']);
});

test('a TLSRoute without hostnames on a Passthrough listener without a hostname takes every SNI', async () => {
  const src = source(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sni, namespace: edge}
spec:
  gatewayClassName: istio
  listeners: [{name: passthrough, port: 443, protocol: TLS, tls: {mode: Passthrough}}]
---
${tlsRoute('any', '', 'a')}`);
  assert.match((await connect(src, 'a.example.com')).detail, A);
  assert.match((await connect(src, 'anything.example.org')).detail, A);
});
