// A Service's named targetPort is resolved per workload, as Kubernetes resolves it per pod: a stable and
// a canary Deployment may name different container ports `web`, and each gets traffic on its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildProxyScope } from '../model/proxy-scope.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { buildLoadAssignment } from './endpoints.ts';
import { buildInboundClusters, inboundPorts } from './listener-inbound.ts';

const manifests = `apiVersion: v1
kind: Service
metadata: {name: np, namespace: apps}
spec: {selector: {app: np}, ports: [{name: http, port: 80, targetPort: web}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: np-stable, namespace: apps}
spec:
  selector: {matchLabels: {app: np, version: v1}}
  template:
    metadata: {labels: {app: np, version: v1}}
    spec: {containers: [{name: web, image: podinfo, ports: [{name: web, containerPort: 9898}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: np-canary, namespace: apps}
spec:
  selector: {matchLabels: {app: np, version: v2}}
  template:
    metadata: {labels: {app: np, version: v2}}
    spec: {containers: [{name: web, image: podinfo, ports: [{name: web, containerPort: 8080}]}]}
`;

const workload = (name: string, version: string, tunnel: boolean): WorkloadInstance => ({
  name,
  namespace: 'apps',
  labels: { app: 'np', version },
  serviceAccount: 'default',
  address: version === 'v1' ? '10.0.0.1' : '10.0.0.2',
  appPorts: {},
  ...(tunnel ? { tunnelAddress: `${version === 'v1' ? '10.0.0.1' : '10.0.0.2'}:15008` } : {}),
  healthy: true,
  source: 'deployment',
});

function snapshot(tunnel: boolean) {
  const { resources, diagnostics } = loadText(manifests);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return buildSnapshot(resources, [workload('np-stable-0', 'v1', tunnel), workload('np-canary-0', 'v2', tunnel)], '1');
}

test('endpoints: each workload on its own container port of the name, plaintext and through the tunnel', () => {
  for (const tunnel of [false, true]) {
    const s = snapshot(tunnel);
    const service = s.services.find((x) => x.name === 'np')!;
    const cla = buildLoadAssignment(s, 'outbound|80||np.apps.svc.cluster.local', service, service.ports[0]!, undefined) as {
      endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } }; metadata?: unknown }[] }[];
    };
    const eps = cla.endpoints.flatMap((l) => l.lb_endpoints);
    const text = JSON.stringify(eps);
    if (tunnel) {
      // The tunnel endpoint carries the target port the peer's sidecar delivers to.
      assert.match(text, /"10\.0\.0\.1".*?9898/);
      assert.match(text, /"10\.0\.0\.2".*?8080/);
    } else {
      const byAddress = Object.fromEntries(eps.map((e) => [e.endpoint.address.socket_address.address, e.endpoint.address.socket_address.port_value]));
      assert.deepEqual(byAddress, { '10.0.0.1': 9898, '10.0.0.2': 8080 });
    }
  }
});

test("inbound: each sidecar serves the port its own container names, and its cluster names the service", () => {
  const s = snapshot(true);
  for (const [name, version, port] of [
    ['np-stable-0', 'v1', 9898],
    ['np-canary-0', 'v2', 8080],
  ] as const) {
    const proxy = { id: '', role: 'sidecar' as const, namespace: 'apps', workloadName: name, serviceAccount: 'default', labels: { app: 'np', version }, ip: '', appPorts: {} };
    const scope = buildProxyScope(s, proxy);
    const ports = inboundPorts(s, scope);
    assert.deepEqual(ports.map((p) => p.port), [port], name);
    assert.match(JSON.stringify(buildInboundClusters(s, scope, ports)), /np\.apps\.svc\.cluster\.local/, name);
  }
});
