import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { buildSnapshot } from '../../model/snapshot.ts';
import { planMesh } from '../plan.ts';
import { inboundFirewallPorts } from './inbound-ports.ts';
import { buildPodRules } from './pod-firewall.ts';

const manifests = (injected: boolean, extra = '') => `${extra}
---
apiVersion: v1
kind: Namespace
metadata: { name: shop${injected ? ', labels: { istio-injection: enabled }' : ''} }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  mtls: { mode: PERMISSIVE }
  portLevelMtls: { "9000": { mode: STRICT }, "7000": { mode: DISABLE } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }, { name: tcp-grpc, port: 9000 }, { name: tcp-legacy, port: 7000 }, { name: dns, port: 53, protocol: UDP }]
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: shop }
spec:
  selector: { app: other }
  ports: [{ name: http, port: 8081 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.5.0
          ports: [{ name: http, containerPort: 9898 }, { containerPort: 9000 }, { containerPort: 7000 }, { containerPort: 8081 }, { containerPort: 53, protocol: UDP }]
`;

function portsOf(injected: boolean, extra = '') {
  const { resources, diagnostics } = loadText(manifests(injected, extra));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const w = planMesh(resources).workloads.find((x) => x.owner.name === 'web') ?? assert.fail('no web');
  return inboundFirewallPorts(buildSnapshot(resources, [], 'test'), w);
}

test('STRICT ports are closed, the other ports its services target are captured, the rest left alone', () => {
  // 9898 by the named targetPort, 7000 DISABLE still goes through the sidecar; 8081 is another service's
  // port (this pod's sidecar has no chain for it); 53 is UDP.
  assert.deepEqual(portsOf(true), { strict: [9000], captured: [7000, 9898], open: [8081], strictOthers: false });
});

test('a port a Service targets is captured even when the container does not declare it', () => {
  const undeclared = `apiVersion: v1
kind: Service
metadata: { name: metrics, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http-metrics, port: 9100 }] }`;
  assert.deepEqual(portsOf(true, undeclared), { strict: [9000], captured: [7000, 9100, 9898], open: [8081], strictOthers: false });
});

test("with a Sidecar's ingress, exactly its ports are the sidecar's, so exactly those are captured", () => {
  const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web, namespace: shop }
spec:
  workloadSelector: { labels: { app: web } }
  ingress: [{ port: { number: 8081, protocol: HTTP, name: http }, defaultEndpoint: "127.0.0.1:8081" }]`;
  // 9898 and 7000 have no chain on this sidecar: capturing them would close them.
  assert.deepEqual(portsOf(true, sidecar), { strict: [9000], captured: [8081], open: [7000, 9898], strictOthers: false });
});

test('a pod without a sidecar gets neither', () => {
  assert.deepEqual(portsOf(false), { strict: [], captured: [], open: [], strictOthers: false });
});

const meshStrict = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, portLevelMtls: { "7000": { mode: PERMISSIVE } } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 9898 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.5.0
          ports: [{ name: http, containerPort: 9898 }, { containerPort: 7000 }]
`;

test('under a STRICT workload, a port nobody declares (metrics on 9090) is refused from outside the pod too', () => {
  const { resources } = loadText(meshStrict);
  const w = planMesh(resources).workloads.find((x) => x.owner.name === 'web') ?? assert.fail('no web');
  const ports = inboundFirewallPorts(buildSnapshot(resources, [], 'test'), w);
  // 7000: a port-level PERMISSIVE the sidecar has no chain for, so reached directly, as before.
  assert.deepEqual(ports, { strict: [9898], captured: [], open: [7000], strictOthers: true });
  const rules = buildPodRules({ podAddress: '10.1.0.2', strictPorts: ports.strict, strictOthers: ports.strictOthers, openPorts: ports.open, inboundPort: 15006, exposedPorts: [15008, 15020, 15021, 15090] });
  const filter = rules.slice(0, rules.indexOf('*nat')).split('\n');
  // Every new TCP connection from outside the pod that no DNAT took (the published and captured ports
  // arrive DNATed to loopback), after the pod's own loopback and the open port are let through.
  const catchAll = '-A OUTRIGGER-INBOUND -p tcp -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j REJECT --reject-with tcp-reset';
  assert.ok(filter.includes(catchAll), rules);
  assert.ok(filter.indexOf('-A OUTRIGGER-INBOUND -i lo -j RETURN') < filter.indexOf(catchAll));
  assert.ok(filter.indexOf('-A OUTRIGGER-INBOUND -p tcp -m tcp --dport 7000 -j RETURN') < filter.indexOf(catchAll));
  // The sidecar's own passthrough to its pod address goes to its inbound listener on those ports too,
  // after its published ports (its mTLS to its own pod's 15008) and sparing the open one.
  const nat = rules.slice(rules.indexOf('*nat')).split('\n');
  const selfCatchAll = '-A OUTRIGGER-OUTBOUND -d 10.1.0.2/32 -p tcp -m owner --gid-owner 1337 -j REDIRECT --to-ports 15006';
  assert.ok(nat.includes(selfCatchAll), rules);
  assert.ok(nat.indexOf('-A OUTRIGGER-OUTBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 15008 -j DNAT --to-destination 127.0.0.1:15008') < nat.indexOf(selfCatchAll));
  assert.ok(nat.indexOf('-A OUTRIGGER-OUTBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 7000 -m owner --gid-owner 1337 -j RETURN') < nat.indexOf(selfCatchAll));
  // A PERMISSIVE workload keeps its undeclared ports as they were.
  const permissive = buildPodRules({ podAddress: '10.1.0.2', strictPorts: [9000], openPorts: [7000], exposedPorts: [15008] });
  assert.ok(!permissive.includes('ctstate NEW') && !permissive.includes('--dport 7000'), permissive);
});

test('captured ports are DNATed to the inbound listener from outside the pod only', () => {
  const rules = buildPodRules({ podAddress: '10.1.0.2', strictPorts: [9000], capturedPorts: [9898, 7000], inboundPort: 15006, exposedPorts: [15008], serviceCidr: '10.96.0.0/16', outboundPort: 15001 });
  const nat = rules.slice(rules.indexOf('*nat'));
  assert.ok(nat.includes('-A PREROUTING -j OUTRIGGER-INBOUND'));
  assert.ok(nat.includes('-A OUTRIGGER-INBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 7000 -j DNAT --to-destination 127.0.0.1:15006'));
  assert.ok(nat.includes('-A OUTRIGGER-INBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 9898 -j DNAT --to-destination 127.0.0.1:15006'));
  assert.ok(!nat.includes('-A OUTRIGGER-INBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 9000'), 'a STRICT port is refused in the filter table, not captured');
  // The app's own connections (OUTPUT) are never sent to the inbound listener; the sidecar's (gid 1337)
  // to its pod address are, on every port it serves or STRICT closes (Istio's ISTIO_IN_REDIRECT over lo).
  const toInbound = nat.split('\n').filter((l) => /^-A (OUTPUT|OUTRIGGER-OUTBOUND) .*15006/.test(l));
  assert.deepEqual(
    toInbound,
    [7000, 9000, 9898].map((p) => `-A OUTRIGGER-OUTBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport ${p} -m owner --gid-owner 1337 -j REDIRECT --to-ports 15006`),
  );
  // Before the rule that lets the sidecar's other connections through uncaptured.
  assert.ok(nat.indexOf('--dport 9898 -m owner') < nat.indexOf('-A OUTRIGGER-OUTBOUND -m owner --gid-owner 1337 -j RETURN'));
  // They do reach the proxy's published ports on the pod address (its sidecar's mTLS to its own pod).
  const selfTunnel = '-A OUTRIGGER-OUTBOUND -d 10.1.0.2/32 -p tcp -m tcp --dport 15008 -j DNAT --to-destination 127.0.0.1:15008';
  assert.ok(nat.includes(selfTunnel));
});
