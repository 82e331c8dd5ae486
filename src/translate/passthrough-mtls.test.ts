// Mesh mTLS toward passthrough services and endpoints without a tunnel. Outrigger's mesh mTLS is its
// tunnel, so a sidecar's ORIGINAL_DST cluster (the proxy dials the original destination itself) and an
// endpoint labelled `security.istio.io/tlsMode: istio` with no tunnel registered get plaintext, where
// Istio sends mTLS (docs/security-mtls.md). A gateway never gets an ORIGINAL_DST cluster
// (convertResolution), and infers its auto mTLS as Istio's BestEffortInferServiceMTLSMode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { clientTlsFor } from '../explain/upstream-trace.ts';
import type { EnvoyCluster } from '../proxy/config/envoy-shapes.ts';
import { compileCluster } from '../proxy/cluster/compile-cluster.ts';
import { compileEndpoint } from '../proxy/cluster/endpoint.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { bareTranslateOptions } from './options.ts';
import { buildProxyResources } from './proxy-resources.ts';

const client: ProxyView = { id: 'sidecar~127.0.0.1~c-0.cli~cli.svc.cluster.local', role: 'sidecar', namespace: 'cli', workloadName: 'c', serviceAccount: 'c', labels: { app: 'c' }, ip: '127.0.0.1', appPorts: {} };
const gateway: ProxyView = { ...client, id: 'router~127.0.0.1~gw-0.cli~cli.svc.cluster.local', role: 'router', labels: { istio: 'ingressgateway' } };

const workload = (name: string, labels: Record<string, string>, tunnel = true): WorkloadInstance => ({
  name,
  namespace: 'shop',
  labels,
  serviceAccount: 'db',
  address: '127.0.0.1',
  appPorts: { 8080: 41080 },
  ...(tunnel ? { tunnelAddress: '127.0.0.1:41008' } : {}),
  healthy: true,
  source: 'deployment',
});

const serviceEntry = (extra = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.internal]
  addresses: [10.10.0.5]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP, targetPort: 8080}]
${extra}`;
const selecting = '  workloadSelector: {labels: {app: db}}\n';

function resources(yaml: string, workloads: WorkloadInstance[], proxy = client, options = undefined as typeof bareTranslateOptions | undefined) {
  const { resources: rs, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildProxyResources(buildSnapshot(rs, workloads, '1'), proxy, options);
}
// biome-ignore lint/suspicious/noExplicitAny: the cluster is read as the JSON it is
const cluster = (r: ReturnType<typeof resources>, name: string): any => r.get(TypeUrl.Cluster)?.get(name);
// biome-ignore lint/suspicious/noExplicitAny: the load assignment is read as the JSON it is
const loadAssignment = (r: ReturnType<typeof resources>, name: string): any => r.get(TypeUrl.ClusterLoadAssignment)?.get(name);

/** The cluster carries no TLS, the proxy compiles it so, and explain reads it as plaintext. */
function assertPlaintext(c: EnvoyCluster, why: string): void {
  assert.equal(c.transport_socket, undefined, why);
  assert.equal(c.transport_socket_matches, undefined, why);
  assert.equal(compileCluster(c).tlsMode, 'none', why);
  assert.equal(clientTlsFor(c, undefined).uses, 'plaintext', why);
}

const istioMutual = `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: shop}
spec: {host: db.internal, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
`;

test('a sidecar’s ORIGINAL_DST cluster carries no mesh TLS, auto or ISTIO_MUTUAL: the proxy dials the original destination in plaintext', () => {
  const sidecars = [workload('db-0', { app: 'db' }), workload('db-1', { app: 'db' })];
  for (const options of [undefined, bareTranslateOptions]) {
    const c = cluster(resources(serviceEntry(selecting), sidecars, client, options), 'outbound|5432||db.internal');
    assert.equal(c.type, 'ORIGINAL_DST');
    assertPlaintext(c, 'every endpoint with a sidecar (Istio: mTLS for the whole cluster)');
  }
  assertPlaintext(cluster(resources(serviceEntry(selecting) + istioMutual, sidecars), 'outbound|5432||db.internal'), 'a rule’s ISTIO_MUTUAL');
});

test('resolution NONE with no endpoint, or one without a sidecar: no TLS at all (Istio infers DISABLE)', () => {
  const none = cluster(resources(serviceEntry(), []), 'outbound|5432||db.internal');
  assert.equal(none.transport_socket_matches, undefined);
  assert.equal(none.transport_socket, undefined);
  const mixed = cluster(resources(serviceEntry(selecting), [workload('db-0', { app: 'db' }), workload('db-1', { app: 'db' }, false)]), 'outbound|5432||db.internal');
  assert.equal(mixed.transport_socket_matches, undefined);
  assert.equal(mixed.transport_socket, undefined);
});

const api = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
`;
const passthroughRule = (subsets = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
${subsets}`;

test('a rule balancing PASSTHROUGH: no mesh TLS on its ORIGINAL_DST cluster, though every endpoint has a sidecar', () => {
  const c = cluster(resources(api + passthroughRule(), [workload('api-0', { app: 'api' })]), 'outbound|80||api.shop.svc.cluster.local');
  assert.equal(c.type, 'ORIGINAL_DST');
  assertPlaintext(c, 'PASSTHROUGH');
});

test('a rule balancing PASSTHROUGH over an endpoint without a sidecar: no TLS, for its subset that balances PASSTHROUGH too', () => {
  const subsets = '  subsets: [{name: v1, labels: {app: api}, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}]\n';
  const r = resources(api + passthroughRule(subsets), [workload('api-0', { app: 'api' }), workload('api-1', { app: 'api' }, false)]);
  const c = cluster(r, 'outbound|80||api.shop.svc.cluster.local');
  assert.equal(c.transport_socket, undefined);
  assert.equal(c.transport_socket_matches, undefined);
  // The subset's own level decides for its cluster (Istio's buildSubsetCluster), and it balances PASSTHROUGH too.
  assert.equal(cluster(r, 'outbound|80|v1|api.shop.svc.cluster.local').transport_socket, undefined);
});

test('a gateway gets EDS for resolution NONE, with the endpoints behind it (Istio convertResolution)', () => {
  const r = resources(serviceEntry(selecting), [workload('db-0', { app: 'db' })], gateway);
  const c = cluster(r, 'outbound|5432||db.internal');
  assert.equal(c.type, 'EDS');
  assert.ok(c.transport_socket_matches, 'EDS keeps the per-endpoint matches');
  assert.equal(loadAssignment(r, 'outbound|5432||db.internal').endpoints[0].lb_endpoints.length, 1);
  assert.equal(cluster(resources(serviceEntry(selecting), [workload('db-0', { app: 'db' })]), 'outbound|5432||db.internal').type, 'ORIGINAL_DST', 'a sidecar keeps ORIGINAL_DST');
  // An endpoint without a sidecar: Istio infers DISABLE for the whole cluster.
  const mixed = cluster(resources(serviceEntry(selecting), [workload('db-0', { app: 'db' }), workload('db-1', { app: 'db' }, false)], gateway), 'outbound|5432||db.internal');
  assert.equal(mixed.transport_socket_matches, undefined);
  assert.equal(mixed.transport_socket, undefined);
});

const vm = (labels: string, rule = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: shop}
spec:
  hosts: [vm.shop.internal]
  addresses: [10.20.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 10.20.0.9, labels: ${labels}}]
${rule}`;
const vmEndpoint = (yaml: string) => loadAssignment(resources(yaml, []), 'outbound|80||vm.shop.internal').endpoints[0].lb_endpoints[0];

/** The endpoint as the proxy compiles it: `mesh` is its tunnel, which only a registered Outrigger proxy answers. */
// biome-ignore lint/suspicious/noExplicitAny: the endpoint is read as the JSON it is
const compiled = (ep: any) => compileEndpoint(ep, 'test');

test('a ServiceEntry endpoint labelled security.istio.io/tlsMode: istio has no tunnel: plaintext to its address, whatever the rule', () => {
  const rule = (mode: string) => `---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: vm, namespace: shop}\nspec: {host: vm.shop.internal, trafficPolicy: {tls: {mode: ${mode}}}}\n`;
  for (const extra of ['', rule('ISTIO_MUTUAL')]) {
    const ep = vmEndpoint(vm('{security.istio.io/tlsMode: istio}', extra));
    assert.equal(ep.metadata, undefined, extra);
    assert.equal(ep.endpoint.address.socket_address.address, '10.20.0.9');
    assert.equal(compiled(ep).mesh, false, 'not the mesh tunnel at the app port');
  }
  const external = vm('{security.istio.io/tlsMode: istio}').replace('MESH_INTERNAL', 'MESH_EXTERNAL');
  assert.equal(compiled(vmEndpoint(external)).mesh, false, 'MESH_EXTERNAL');
  const noAuto = `${vm('{security.istio.io/tlsMode: istio}')}---\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: istio-system}\nspec: {meshConfig: {enableAutoMtls: false}}\n`;
  assert.equal(compiled(vmEndpoint(noAuto)).mesh, false, 'enableAutoMtls: false');
});

test('a WorkloadEntry labelled tlsMode istio without a registered tunnel is reached in plaintext at its own address', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: vm, namespace: shop}
spec: {selector: {app: vm}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-0, namespace: shop}
spec: {address: 10.20.0.9, labels: {app: vm, security.istio.io/tlsMode: istio}, serviceAccount: vm}
`;
  const ep = loadAssignment(resources(yaml, []), 'outbound|80||vm.shop.svc.cluster.local').endpoints[0].lb_endpoints[0];
  assert.equal(ep.metadata, undefined);
  assert.deepEqual(ep.endpoint.address.socket_address, { address: '10.20.0.9', port_value: 8080 });
  assert.equal(compiled(ep).mesh, false);
});

test('the client verifies a ServiceEntry endpoint’s serviceAccount, in the ServiceEntry’s namespace (secure naming)', () => {
  const yaml = vm('{security.istio.io/tlsMode: istio}').replace('labels: {security', 'serviceAccount: vm, labels: {security');
  const c = cluster(resources(yaml, []), 'outbound|80||vm.shop.internal');
  const sans = c.transport_socket_matches[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names;
  assert.deepEqual(sans, [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/vm' } }]);
});
