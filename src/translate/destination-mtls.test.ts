// Auto mTLS honours the destination's PeerAuthentication: DISABLE (namespace, workload or port level)
// means plaintext to that endpoint, and to the whole cluster when every workload behind it is DISABLE.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { autoMtlsTransport } from './auto-mtls.ts';
import { clientTlsTransport } from './client-tls.ts';
import { endpointMtlsDisabled, serviceMtlsDisabled } from './destination-mtls.ts';
import { buildLoadAssignment } from './endpoints.ts';

const services = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}, {name: tcp, port: 5432}]}
`;
const workload = (name: string, labels: Record<string, string>, tunnel = true): WorkloadInstance => ({
  name,
  namespace: 'shop',
  labels,
  serviceAccount: 'api',
  address: '127.0.0.1',
  appPorts: { 8080: 41080 },
  ...(tunnel ? { tunnelAddress: '127.0.0.1:41008' } : {}),
  healthy: true,
  source: 'deployment',
});

function snapshotWith(policies: string, workloads = [workload('api-0', { app: 'api', tier: 'a' }), workload('api-1', { app: 'api', tier: 'b' })]) {
  const { resources, diagnostics } = loadText(`${services}---\n${policies}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildSnapshot(resources, workloads, '1');
}

const pa = (ns: string, name: string, body: string) =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${body}\n`;
const proxy = {} as ProxyView;
const clusterName = 'outbound|80||api.shop.svc.cluster.local';

function transports(s: ReturnType<typeof snapshotWith>, port = 80) {
  const cluster = { service: s.services[0]!, port, subset: '', tls: undefined, clusterName };
  return [clientTlsTransport(s, proxy, cluster), autoMtlsTransport(s, proxy, cluster)];
}

test('no policy, STRICT or PERMISSIVE: auto mTLS matches tlsMode=istio endpoints', () => {
  for (const body of ['', pa('shop', 'default', '{mtls: {mode: STRICT}}'), pa('istio-system', 'default', '{mtls: {mode: PERMISSIVE}}')]) {
    const s = snapshotWith(body);
    assert.equal(serviceMtlsDisabled(s, s.services[0]!, 80), false);
    for (const t of transports(s)) assert.equal(t.transport_socket_matches?.[0]?.name, 'tlsMode-istio');
  }
});

test('namespace or mesh DISABLE: the cluster is plaintext and its endpoints are reached through their tunnels as plaintext', () => {
  for (const body of [pa('shop', 'default', '{mtls: {mode: DISABLE}}'), pa('istio-system', 'default', '{mtls: {mode: DISABLE}}')]) {
    const s = snapshotWith(body);
    for (const t of transports(s)) assert.deepEqual(t, {});
    const cla = JSON.stringify(buildLoadAssignment(s, clusterName, s.services[0]!, s.services[0]!.ports[0]!, undefined));
    assert.doesNotMatch(cla, /tlsMode/);
    // Through the sidecar (so its authorization and telemetry apply), marked plaintext; never the app's own port.
    assert.match(cla, /"port_value":41008/, 'the tunnel');
    assert.match(cla, /via_tunnel/);
    assert.doesNotMatch(cla, /"port_value":41080/);
  }
});

test('UNSET inherits: a workload policy with UNSET under a DISABLE namespace stays DISABLE', () => {
  const s = snapshotWith(pa('shop', 'default', '{mtls: {mode: DISABLE}}') + '---\n' + pa('shop', 'api', '{selector: {matchLabels: {app: api}}, mtls: {mode: UNSET}}'));
  for (const t of transports(s)) assert.deepEqual(t, {});
});

test('port level: DISABLE on 8080 only makes the http port plaintext, the tcp port keeps mTLS', () => {
  const s = snapshotWith(pa('shop', 'api', "{selector: {matchLabels: {app: api}}, mtls: {mode: STRICT}, portLevelMtls: {'8080': {mode: DISABLE}}}"));
  const w = s.workloads[0]!;
  assert.equal(endpointMtlsDisabled(s, w, 8080), true);
  assert.equal(endpointMtlsDisabled(s, w, 5432), false);
  for (const t of transports(s, 80)) assert.deepEqual(t, {});
  for (const t of transports(s, 5432)) assert.equal(t.transport_socket_matches?.[0]?.name, 'tlsMode-istio');
});

test('one workload DISABLE, one not: the cluster keeps the match, only that endpoint is plaintext', () => {
  const s = snapshotWith(pa('shop', 'legacy', '{selector: {matchLabels: {tier: a}}, mtls: {mode: DISABLE}}'));
  for (const t of transports(s)) assert.equal(t.transport_socket_matches?.[0]?.name, 'tlsMode-istio');
  const cla = buildLoadAssignment(s, clusterName, s.services[0]!, s.services[0]!.ports[0]!, undefined) as { endpoints: { lb_endpoints: unknown[] }[] };
  const eps = cla.endpoints.flatMap((g) => g.lb_endpoints).map((e) => JSON.stringify(e));
  assert.equal(eps.filter((e) => e.includes('tlsMode')).length, 1);
  assert.equal(eps.filter((e) => e.includes('via_tunnel')).length, 1);
  assert.equal(eps.filter((e) => e.includes('"port_value":41080')).length, 0, 'neither goes straight to the app');
});

test('a workload without a sidecar is never "disabled": it has no tunnel to avoid', () => {
  const s = snapshotWith(pa('shop', 'default', '{mtls: {mode: DISABLE}}'), [workload('api-0', { app: 'api' }, false)]);
  assert.equal(endpointMtlsDisabled(s, s.workloads[0]!, 8080), false);
});

test('an explicit ISTIO_MUTUAL keeps a DISABLE endpoint on its tunnel with tlsMode=istio', () => {
  const s = snapshotWith(pa('shop', 'default', '{mtls: {mode: DISABLE}}'));
  const w = s.workloads[0]!;
  assert.equal(endpointMtlsDisabled(s, w, 8080), true, 'auto mTLS: plaintext');
  assert.equal(endpointMtlsDisabled(s, w, 8080, 'ISTIO_MUTUAL'), false, 'the rule says mTLS');
  assert.equal(endpointMtlsDisabled(s, w, 8080, 'DISABLE'), true);
  const cache = new Map();
  const explicit = JSON.stringify(buildLoadAssignment(s, clusterName, s.services[0]!, s.services[0]!.ports[0]!, undefined, cache, 'ISTIO_MUTUAL'));
  assert.match(explicit, /tlsMode/);
  assert.match(explicit, /"port_value":41008/, 'the tunnel, not the app port');
  // The same cache serves an auto-mTLS cluster of the same port without leaking the explicit choice.
  const auto = JSON.stringify(buildLoadAssignment(s, clusterName, s.services[0]!, s.services[0]!.ports[0]!, undefined, cache));
  assert.doesNotMatch(auto, /tlsMode/);
});
