// What the sidecar's virtualOutbound listener matches before any route: ServiceEntry CIDR addresses
// (Istio's ConvertAddressToCidr), headless services by their endpoints' IPs (buildSidecarOutboundListeners),
// and the catch-all to a Sidecar's egressProxy (buildOutboundCatchAllNetworkFiltersOnly,
// buildCatchAllVirtualHost). The CIDR listener is also compiled by the proxy, which must accept it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { CompiledProxy } from '../explain/compiled-proxy.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { selectChain } from '../proxy/listener/select-chain.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const client: ProxyView = { id: 'sidecar~10.0.0.9~c-0.cli~cli.svc.cluster.local', role: 'sidecar', namespace: 'cli', workloadName: 'c', serviceAccount: 'c', labels: { app: 'c' }, ip: '10.0.0.9', appPorts: {} };

function snap(yaml: string, workloads: WorkloadInstance[] = []): MeshSnapshot {
  const { resources, diagnostics } = loadText(yaml, 'input.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildSnapshot(resources, workloads, '1');
}

type Chain = { name: string; filter_chain_match: Record<string, unknown>; filters: { name: string; typed_config: { cluster?: string } }[] };
type Listener = { filter_chains: Chain[]; default_filter_chain: Chain };

function outbound(s: MeshSnapshot, proxy: ProxyView = client): Listener {
  return buildProxyResources(s, proxy).get(TypeUrl.Listener)?.get('virtualOutbound') as unknown as Listener;
}

const chainsNamed = (l: Listener, name: string) => l.filter_chains.filter((c) => c.name === name);
const tcpCluster = (c: Chain) => c.filters.find((f) => f.name === 'envoy.filters.network.tcp_proxy')?.typed_config.cluster;

const pod = (name: string, ns: string, app: string, address: string): WorkloadInstance => ({
  name,
  namespace: ns,
  labels: { app },
  serviceAccount: app,
  address,
  appPorts: {},
  tunnelAddress: `${address}:15008`,
  healthy: true,
  source: 'deployment',
});

const cidrEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: net, namespace: shop}
spec:
  hosts: [net.internal]
  addresses: [10.10.0.0/16]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP}]
`;

test('a ServiceEntry CIDR address is a prefix range with its length, which the proxy accepts and matches', () => {
  const resources = buildProxyResources(snap(cidrEntry), client);
  const [chain] = chainsNamed(resources.get(TypeUrl.Listener)?.get('virtualOutbound') as unknown as Listener, 'outbound|5432||net.internal');
  assert.deepEqual(chain?.filter_chain_match['prefix_ranges'], [{ address_prefix: '10.10.0.0', prefix_len: { value: 16 } }]);
  // The proxy refused `10.10.0.0/16` as an address (a NACK of the whole listener); now it compiles.
  const compiled = new CompiledProxy(resources).listener('virtualOutbound');
  assert.ok(compiled);
  const pick = (ip: string) => selectChain(compiled, { destinationPort: 5432, destinationIp: ip, transportProtocol: 'raw_buffer' })?.name;
  assert.equal(pick('10.10.3.4'), 'outbound|5432||net.internal');
  assert.equal(pick('10.11.0.1'), 'PassthroughCluster', 'outside the range: the default chain');
});

test('a CIDR address is listed in the route domains as written, a /32 one as its IP (Istio)', () => {
  const s = snap(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.internal]
  addresses: [10.20.0.0/16, 10.30.0.1/32]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP}]
`);
  const rc = buildProxyResources(s, client).get(TypeUrl.RouteConfiguration)?.get('80') as unknown as { virtual_hosts: { name: string; domains: string[] }[] };
  const vh = rc.virtual_hosts.find((v) => v.name === 'web.internal:80');
  assert.deepEqual(vh?.domains, ['web.internal', 'web.internal:80', '10.20.0.0/16', '10.20.0.0/16:80', '10.30.0.1', '10.30.0.1:80']);
});

const headless = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
`;

test('a headless Service port is matched by its endpoints IPs only, not by every destination on the port', () => {
  const l = outbound(snap(headless, [pod('db-1', 'shop', 'db', '10.0.0.8'), pod('db-0', 'shop', 'db', '10.0.0.7')]));
  const [chain] = chainsNamed(l, 'outbound|5432||db.shop.svc.cluster.local');
  assert.deepEqual(chain?.filter_chain_match, {
    destination_port: { value: 5432 },
    prefix_ranges: [
      { address_prefix: '10.0.0.7', prefix_len: { value: 32 } },
      { address_prefix: '10.0.0.8', prefix_len: { value: 32 } },
    ],
  });
});

test('a headless Service without endpoints gets no chain: its port falls to the catch-all', () => {
  const l = outbound(snap(headless));
  assert.deepEqual(chainsNamed(l, 'outbound|5432||db.shop.svc.cluster.local'), []);
});

test('a Service without a clusterIP in the file is not headless: its chain takes the whole port', () => {
  const l = outbound(snap(headless.replace('clusterIP: None, ', ''), [pod('db-0', 'shop', 'db', '10.0.0.7')]));
  assert.deepEqual(chainsNamed(l, 'outbound|5432||db.shop.svc.cluster.local')[0]?.filter_chain_match, { destination_port: { value: 5432 } });
});

test('two headless Services over the same pods: the first to an IP and port keeps it (one listener per IP in Istio)', () => {
  const l = outbound(snap(`${headless}---\n${headless.replace('name: db,', 'name: pg,')}`, [pod('db-0', 'shop', 'db', '10.0.0.7')]));
  assert.equal(chainsNamed(l, 'outbound|5432||db.shop.svc.cluster.local').length, 1);
  assert.deepEqual(chainsNamed(l, 'outbound|5432||pg.shop.svc.cluster.local'), []);
});

test('a resolution NONE ServiceEntry without addresses: its selected workloads IPs, the whole port when it selects nothing', () => {
  const entry = (extra: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [ext.internal]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 6379, name: tcp, protocol: TCP}]
${extra}`;
  // (Istio's validation refuses endpoints with resolution NONE: a workloadSelector is the way to have some.)
  const selecting = outbound(snap(entry('  workloadSelector: {labels: {app: cache}}\n'), [pod('cache-0', 'shop', 'cache', '10.1.0.5')]));
  assert.deepEqual(chainsNamed(selecting, 'outbound|6379||ext.internal')[0]?.filter_chain_match['prefix_ranges'], [{ address_prefix: '10.1.0.5', prefix_len: { value: 32 } }]);
  const bare = outbound(snap(entry('')));
  assert.deepEqual(chainsNamed(bare, 'outbound|6379||ext.internal')[0]?.filter_chain_match, { destination_port: { value: 6379 } });
  // A selector that picks no workload yet: no chain, as Istio (endpoints may come, a wildcard would conflict).
  const selectingNone = outbound(snap(entry('  workloadSelector: {labels: {app: nothing}}\n')));
  assert.deepEqual(chainsNamed(selectingNone, 'outbound|6379||ext.internal'), []);
});

const egressSidecar = (policy: string) => `apiVersion: v1
kind: Service
metadata: {name: a, namespace: cli}
spec: {selector: {app: a}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: cli}
spec:
  outboundTrafficPolicy:
${policy}`;

function catchAll(s: MeshSnapshot): { tcp: string | undefined; http: string | undefined } {
  const r = buildProxyResources(s, client);
  const l = r.get(TypeUrl.Listener)?.get('virtualOutbound') as unknown as Listener;
  const rc = r.get(TypeUrl.RouteConfiguration)?.get('80') as unknown as { virtual_hosts: { name: string; routes: { route?: { cluster: string } }[] }[] };
  return { tcp: tcpCluster(l.default_filter_chain), http: rc.virtual_hosts.find((v) => v.name === 'allow_any')?.routes[0]?.route?.cluster };
}

test('ALLOW_ANY with an egressProxy: unmatched TCP and HTTP go to the egress proxy cluster', () => {
  const s = snap(egressSidecar('    mode: ALLOW_ANY\n    egressProxy: {host: egress.istio-system.svc.cluster.local, subset: v1, port: {number: 3128}}\n'));
  const cluster = 'outbound|3128|v1|egress.istio-system.svc.cluster.local';
  assert.deepEqual(catchAll(s), { tcp: cluster, http: cluster });
});

test('an egressProxy without a port, or under REGISTRY_ONLY, is refused at load (Istio validateSidecarOutboundTrafficPolicy)', () => {
  for (const policy of ['    mode: ALLOW_ANY\n    egressProxy: {host: egress.example.com}\n', '    mode: REGISTRY_ONLY\n    egressProxy: {host: egress.example.com, port: {number: 3128}}\n']) {
    const yaml = egressSidecar(policy);
    const { resources, diagnostics } = loadText(yaml, 'input.yaml');
    const d = diagnostics.find((x) => x.code === 'OR1024');
    assert.equal(d?.field, 'spec.outboundTrafficPolicy.egressProxy', policy);
    assert.equal(d?.span?.file, 'input.yaml');
    assert.equal(d?.span?.start.line, yaml.split('\n').findIndex((l) => l.includes('egressProxy')) + 1, policy);
    assert.equal(resources.filter((r) => r.kind === 'Sidecar').length, 0, 'the Sidecar is not loaded');
  }
});
