// Istio's SidecarScope, table by table: one service per hostname, the Sidecar's egress hosts as FQDNs,
// the destinations of imported VirtualServices, its outbound policy and the mesh's default exportTo.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildProxyResources } from '../translate/proxy-resources.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyScope } from './proxy-scope.ts';
import type { ProxyView } from './proxy-view.ts';
import { buildSnapshot, type MeshSnapshot } from './snapshot.ts';
import type { WorkloadInstance } from './workload.ts';

const snap = (yaml: string, workloads: WorkloadInstance[] = []) => {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildSnapshot(resources, workloads, '1');
};
const proxy = (ns: string, role: ProxyView['role'] = 'sidecar'): ProxyView => ({
  id: `${role}~127.0.0.1~c-0.${ns}~${ns}.svc.cluster.local`,
  role,
  namespace: ns,
  workloadName: 'c',
  serviceAccount: 'c',
  labels: { app: 'c' },
  ip: '127.0.0.1',
  appPorts: {},
  tunnelAddress: '127.0.0.1:41008',
});
const svc = (name: string, ns: string, extra = '') => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}${extra}}
spec: {selector: {app: ${name}}, ports: [{name: http, port: 80}]}
---
`;
const se = (name: string, ns: string, host: string, ip: string, extra = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}${extra}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: ${ip}}]
---
`;
const sidecar = (ns: string, spec: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${ns}}
spec: ${spec}
---
`;
const hosts = (s: MeshSnapshot, p: ProxyView) => buildProxyScope(s, p).services.map((v) => `${v.namespace}/${v.hostname}`);
const endpointIps = (s: MeshSnapshot, p: ProxyView, cluster: string) => {
  const cla = buildProxyResources(s, p).get(TypeUrl.ClusterLoadAssignment)?.get(cluster) as unknown as {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[];
  };
  return cla.endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.endpoint.address.socket_address.address));
};

test('one service per hostname: a Kubernetes Service beats a ServiceEntry squatting its name (appendSidecarServices)', () => {
  const s = snap(
    `${svc('api', 'shop')}${se('squat', 'aa', 'api.shop.svc.cluster.local', '6.6.6.6')}`,
    [{ name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '10.0.0.7', appPorts: { 80: 41080 }, tunnelAddress: '127.0.0.1:41008', healthy: true, source: 'deployment' }],
  );
  for (const p of [proxy('cli'), proxy('istio-system', 'router')]) {
    assert.deepEqual(hosts(s, p), ['shop/api.shop.svc.cluster.local'], p.id);
    assert.ok(!endpointIps(s, p, 'outbound|80||api.shop.svc.cluster.local').includes('6.6.6.6'), p.id);
  }
  // The proxy's own namespace comes first even so: "same namespace wins" is never preempted.
  assert.deepEqual(hosts(s, proxy('aa')), ['aa/api.shop.svc.cluster.local']);
});

test('one service per hostname: the proxy namespace first, else the oldest (selectServices), whatever the input order', () => {
  const older = ', creationTimestamp: "2024-01-01T00:00:00Z"';
  for (const order of [
    [se('ext', 'zz', 'api.example.com', '1.1.1.1', older), se('ext', 'cli', 'api.example.com', '2.2.2.2'), se('ext', 'mm', 'api.example.com', '3.3.3.3')],
    [se('ext', 'mm', 'api.example.com', '3.3.3.3'), se('ext', 'cli', 'api.example.com', '2.2.2.2'), se('ext', 'zz', 'api.example.com', '1.1.1.1', older)],
  ]) {
    const s = snap(order.join(''));
    assert.deepEqual(endpointIps(s, proxy('cli'), 'outbound|80||api.example.com'), ['2.2.2.2']);
    // Neither is the proxy's: the oldest (zz, by its creationTimestamp), not the first by name.
    assert.deepEqual(hosts(s, proxy('other')), ['zz/api.example.com']);
    assert.deepEqual(endpointIps(s, proxy('other'), 'outbound|80||api.example.com'), ['1.1.1.1']);
  }
});

test('the route, the cluster and the endpoints of a hostname come from the same service', () => {
  const s = snap(`${se('ext', 'cli', 'api.example.com', '2.2.2.2')}${se('ext', 'aa', 'api.example.com', '1.1.1.1').replace('ports: [{number: 80', 'ports: [{number: 8080')}`);
  const p = proxy('cli');
  const r = buildProxyResources(s, p);
  assert.ok(r.get(TypeUrl.Cluster)?.has('outbound|80||api.example.com'));
  assert.ok(!r.get(TypeUrl.Cluster)?.has('outbound|8080||api.example.com'));
  assert.ok(!r.get(TypeUrl.RouteConfiguration)?.has('8080'));
});

test('Sidecar egress hosts are FQDNs: a short name imports nothing (hostClassification)', () => {
  const s = snap(`${svc('api', 'shop')}${sidecar('cli', '{egress: [{hosts: ["shop/api"]}]}')}`);
  assert.deepEqual(hosts(s, proxy('cli')), []);
  const fqdn = snap(`${svc('api', 'shop')}${sidecar('cli', '{egress: [{hosts: ["shop/api.shop.svc.cluster.local"]}]}')}`);
  assert.deepEqual(hosts(fqdn, proxy('cli')), ['shop/api.shop.svc.cluster.local']);
});

test('Sidecar egress imports the destinations of the VirtualServices it imports (collectImportedServices)', () => {
  const s = snap(`${svc('front', 'x')}${svc('back', 'ns2')}${svc('other', 'ns2')}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: x}
spec:
  hosts: [front]
  http:
  - match: [{sourceNamespace: elsewhere}]
    route: [{destination: {host: other.ns2.svc.cluster.local}}]
  - route: [{destination: {host: back.ns2.svc.cluster.local}}]
---
${sidecar('x', '{egress: [{hosts: ["./*"]}]}')}`);
  // A route only for another source namespace brings nothing in.
  assert.deepEqual(hosts(s, proxy('x')), ['ns2/back.ns2.svc.cluster.local', 'x/front.x.svc.cluster.local']);
});

test('a Sidecar outboundTrafficPolicy without mode is REGISTRY_ONLY; without the policy the mesh decides', () => {
  const s = snap(`${svc('a', 'x')}${sidecar('x', '{outboundTrafficPolicy: {}}')}`);
  assert.equal(buildProxyScope(s, proxy('x')).outboundTrafficPolicy, 'REGISTRY_ONLY');
  const none = snap(`${svc('a', 'x')}${sidecar('x', '{egress: [{hosts: ["*/*"]}]}')}`);
  assert.equal(buildProxyScope(none, proxy('x')).outboundTrafficPolicy, 'ALLOW_ANY');
});

const meshConfig = (fields: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig: {${fields}}
---
`;

test('meshConfig.defaultServiceExportTo applies to services without exportTo (Istio honours . then *)', () => {
  const y = `${svc('a', 'x')}${svc('b', 'x', ', annotations: {networking.istio.io/exportTo: "*"}')}`;
  assert.deepEqual(hosts(snap(y), proxy('ns2')), ['x/a.x.svc.cluster.local', 'x/b.x.svc.cluster.local']);
  const priv = snap(`${meshConfig('defaultServiceExportTo: ["."]')}${y}`);
  assert.deepEqual(hosts(priv, proxy('ns2')), ['x/b.x.svc.cluster.local']);
  assert.deepEqual(hosts(priv, proxy('x')), ['x/a.x.svc.cluster.local', 'x/b.x.svc.cluster.local']);
  // A default naming a namespace is neither: such services are seen nowhere.
  assert.deepEqual(hosts(snap(`${meshConfig('defaultServiceExportTo: [ns2]')}${y}`), proxy('ns2')), ['x/b.x.svc.cluster.local']);
});

test('meshConfig.defaultVirtualServiceExportTo and defaultDestinationRuleExportTo apply to resources without exportTo', () => {
  const y = `${svc('a', 'x')}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: x}
spec: {hosts: [a], http: [{route: [{destination: {host: a}}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: x}
spec: {host: a}
`;
  const open = snap(y);
  const vs = open.virtualServices[0];
  const dr = open.destinationRules[0];
  assert.ok(vs && dr);
  assert.ok(buildProxyScope(open, proxy('ns2')).visible(vs) && buildProxyScope(open, proxy('ns2')).visible(dr));
  const priv = snap(`${meshConfig('defaultVirtualServiceExportTo: ["."], defaultDestinationRuleExportTo: ["."]')}${y}`);
  assert.ok(!buildProxyScope(priv, proxy('ns2')).visible(vs) && !buildProxyScope(priv, proxy('ns2')).visible(dr));
  assert.ok(buildProxyScope(priv, proxy('x')).visible(vs) && buildProxyScope(priv, proxy('x')).visible(dr));
});

test("a route's destination reads the proxy's own service of the host, as its cluster does", () => {
  const s = snap(`${svc('api', 'shop')}${se('squat', 'aa', 'api.shop.svc.cluster.local', '6.6.6.6')}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: squat, namespace: aa}
spec: {host: api.shop.svc.cluster.local, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: cli}
spec: {hosts: [api.shop.svc.cluster.local], http: [{route: [{destination: {host: api.shop.svc.cluster.local}}]}]}
`);
  const rc = buildProxyResources(s, proxy('cli')).get(TypeUrl.RouteConfiguration)?.get('80') as unknown as {
    virtual_hosts: { name: string; routes: { route?: { hash_policy?: unknown } }[] }[];
  };
  const route = rc.virtual_hosts.find((v) => v.name === 'api.shop.svc.cluster.local:80')?.routes[0]?.route;
  // The squatting ServiceEntry's rule (of its namespace) is not the Kubernetes service's.
  assert.ok(route && route.hash_policy === undefined, JSON.stringify(route));
});

test('a Service and a ServiceEntry of one host in one namespace: the chosen service serves the endpoints of both (Istio endpoint shards)', () => {
  const pod: WorkloadInstance = { name: 'pay-0', namespace: 'pay', labels: { app: 'pay' }, serviceAccount: 'pay', address: '10.2.0.2', appPorts: {}, tunnelAddress: '10.2.0.2:15008', healthy: true, source: 'deployment' };
  const vm: WorkloadInstance = { ...pod, name: 'vm-0', labels: { app: 'vm' }, serviceAccount: 'vm', address: '10.3.0.3', tunnelAddress: '10.3.0.3:15008' };
  const entry = (extra: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: pay}
spec: {hosts: [pay.pay.svc.cluster.local], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP, targetPort: 9090}], ${extra}}
---
`;
  const host = 'outbound|80||pay.pay.svc.cluster.local';
  const s = snap(`${svc('pay', 'pay')}${entry('endpoints: [{address: 10.1.1.1, serviceAccount: legacy}]')}`, [pod]);
  assert.deepEqual(hosts(s, proxy('other')), ['pay/pay.pay.svc.cluster.local']);
  // The Service's pod (through its tunnel) and the ServiceEntry's endpoint, at its own port's target.
  const cla = buildProxyResources(s, proxy('other')).get(TypeUrl.ClusterLoadAssignment)?.get(host) as unknown as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] };
  assert.deepEqual(cla.endpoints.flatMap((e) => e.lb_endpoints.map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)).sort(), ['10.1.1.1:9090', '10.2.0.2:15008']);
  // Secure naming names both.
  const c = buildProxyResources(s, proxy('other')).get(TypeUrl.Cluster)?.get(host);
  const text = JSON.stringify(c);
  assert.ok(text.includes('spiffe://cluster.local/ns/pay/sa/pay') && text.includes('spiffe://cluster.local/ns/pay/sa/legacy'), text);
  // A ServiceEntry selecting workloads adds them; a port of another name leaves its endpoints out.
  const selecting = snap(`${svc('pay', 'pay')}${entry('workloadSelector: {labels: {app: vm}}')}`, [pod, vm]);
  assert.deepEqual(endpointIps(selecting, proxy('other'), host).sort(), ['10.2.0.2', '10.3.0.3']);
  const renamed = snap(`${svc('pay', 'pay')}${entry('endpoints: [{address: 10.1.1.1}]').replace('name: http, protocol', 'name: web, protocol')}`, [pod]);
  assert.deepEqual(endpointIps(renamed, proxy('other'), host), ['10.2.0.2']);
});

test('a Sidecar with a port egress listener: that port’s routes serve only the services its own hosts import (GetEgressListenerForRDS)', () => {
  const s = snap(`${svc('api', 'shared').replace('port: 80', 'port: 9080')}${svc('web', 'x').replace('port: 80', 'port: 9080')}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shared}
spec: {hosts: [api], http: [{fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: api}}]}]}
---
${sidecar('x', '{egress: [{port: {number: 9080, protocol: HTTP, name: http}, hosts: ["./*"]}, {hosts: ["shared/*"]}]}')}`);
  const rc = buildProxyResources(s, proxy('x')).get(TypeUrl.RouteConfiguration)?.get('9080') as unknown as { virtual_hosts: { name: string }[] };
  // shared/api is imported by the catch-all listener only: a cluster, but no virtual host without its VirtualService.
  assert.deepEqual(rc.virtual_hosts.map((v) => v.name), ['web.x.svc.cluster.local:9080', 'allow_any']);
  assert.ok(buildProxyResources(s, proxy('x')).get(TypeUrl.Cluster)?.has('outbound|9080||api.shared.svc.cluster.local'));
});

test('a delegate route dropped by the merge (its match fits no root match) imports no destination', () => {
  const s = snap(`${svc('front', 'x')}${svc('back', 'ns2')}${svc('other', 'ns2')}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: x}
spec:
  hosts: [front]
  http: [{match: [{uri: {exact: /login}}], delegate: {name: child, namespace: x}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: child, namespace: x}
spec:
  http:
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: other.ns2.svc.cluster.local}}]
  - route: [{destination: {host: back.ns2.svc.cluster.local}}]
---
${sidecar('x', '{egress: [{hosts: ["./*"]}]}')}`);
  // Istio's merge drops the `prefix: /` route under `exact: /login` (a delegate only narrows).
  assert.deepEqual(hosts(s, proxy('x')), ['ns2/back.ns2.svc.cluster.local', 'x/front.x.svc.cluster.local']);
});
