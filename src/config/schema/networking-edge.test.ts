// Istio's Gateway and ServiceEntry validation rules that need more than one field: each invalid document
// yields its code at its field and is not loaded; the valid neighbours of each rule load clean.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../load.ts';

const doc = (kind: string, spec: string) => `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: {name: x, namespace: app}\n${spec}\n`;

const invalid: [kind: string, spec: string, code: string, field: string][] = [
  ['Gateway', 'spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: c}}]}', 'OR1024', 'spec.servers[0].tls'],
  ['Gateway', 'spec: {servers: [{port: {number: 9000, name: tcp, protocol: TCP}, hosts: ["*"], tls: {httpsRedirect: true}}]}', 'OR1024', 'spec.servers[0].tls'],
  ['Gateway', 'spec: {servers: [{port: {number: 80, name: web, protocol: HTTP}, hosts: [a]}, {port: {number: 81, name: web, protocol: HTTP}, hosts: [b]}]}', 'OR1024', 'spec.servers[1].port.name'],
  ['Gateway', 'spec: {servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [a], tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}}]}', 'OR1022', 'spec.servers[0].tls'],
  // Istio's validateServerPort: "port name must be set" (two unnamed HTTPS servers would share one route name).
  ['Gateway', 'spec: {servers: [{port: {number: 443, protocol: HTTPS}, hosts: [a], tls: {mode: SIMPLE, credentialName: c}}]}', 'OR1022', 'spec.servers[0].port.name'],
  ['Gateway', 'spec: {servers: [{port: {number: 80, name: "", protocol: HTTP}, hosts: [a]}]}', 'OR1022', 'spec.servers[0].port.name'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: NONE, endpoints: [{address: 1.2.3.4}]}', 'OR1024', 'spec.endpoints'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC, endpoints: [{address: 1.2.3.4, ports: {https: 443}}]}', 'OR1024', 'spec.endpoints[0].ports.https'],
  ['ServiceEntry', 'spec: {hosts: ["*.example.com"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}', 'OR1024', 'spec.hosts[0]'],
  // A name under .invalid would take what a Gateway API route's invalid backends must refuse.
  ['ServiceEntry', 'spec: {hosts: [ok.example.com, nowhere.edge.backend.invalid], ports: [{number: 8443, name: tls, protocol: TLS}], resolution: STATIC, endpoints: [{address: 203.0.113.9}]}', 'OR1024', 'spec.hosts[1]'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}, {number: 80, name: web, protocol: HTTP}], resolution: DNS}', 'OR1024', 'spec.ports[1].number'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http, protocol: HTTP}], resolution: DNS}', 'OR1024', 'spec.ports[1].name'],
  // Istio's ValidateSidecar: "sidecar: workloadSelector cannot have empty labels".
  ['Sidecar', 'spec: {workloadSelector: {}, egress: [{hosts: ["./*"]}]}', 'OR1022', 'spec.workloadSelector'],
  // validateSidecarOutboundTrafficPolicy: "egress_proxy port must be non-nil", and ALLOW_ANY only (no mode = REGISTRY_ONLY).
  ['Sidecar', 'spec: {egress: [{hosts: ["./*"]}], outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.istio-system.svc.cluster.local}}}', 'OR1024', 'spec.outboundTrafficPolicy.egressProxy'],
  ['Sidecar', 'spec: {egress: [{hosts: ["./*"]}], outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: e.example.com, port: {number: 80}}}}', 'OR1024', 'spec.outboundTrafficPolicy.egressProxy'],
  ['Sidecar', 'spec: {egress: [{hosts: ["./*"]}], outboundTrafficPolicy: {egressProxy: {host: e.example.com, port: {number: 80}}}}', 'OR1024', 'spec.outboundTrafficPolicy.egressProxy'],
];

const valid: [kind: string, spec: string][] = [
  ['Gateway', 'spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], tls: {httpsRedirect: true}}]}'],
  ['Gateway', 'spec: {servers: [{port: {number: 15443, name: http-mesh, protocol: HTTP}, hosts: ["*.local"], tls: {mode: AUTO_PASSTHROUGH}}]}'],
  ['Gateway', 'spec: {servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [a], tls: {mode: MUTUAL, credentialName: c}}]}'],
  ['Gateway', 'spec: {servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [a], tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: /ca}}]}'],
  ['ServiceEntry', 'spec: {hosts: ["*.example.com"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: NONE}'],
  ['ServiceEntry', 'spec: {hosts: ["*.example.com"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS, endpoints: [{address: proxy.example.com}]}'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC, endpoints: [{address: 1.2.3.4, ports: {http: 8080}}]}'],
  ['Sidecar', 'spec: {egress: [{hosts: ["./*"]}], outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: e.example.com, port: {number: 80}}}}'],
  // Istio refuses only absent labels (GetLabels() == nil); `{}` selects every workload of the namespace.
  ['Sidecar', 'spec: {workloadSelector: {labels: {}}, egress: [{hosts: ["./*"]}]}'],
];

test('invalid Gateways and ServiceEntries: the code at the field, and the resource is not loaded', () => {
  for (const [kind, spec, code, field] of invalid) {
    const { resources, diagnostics } = loadText(doc(kind, spec), 'bad.yaml');
    const hit = diagnostics.find((d) => d.code === code && d.field === field);
    assert.ok(hit, `${spec}: want ${code} at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.equal(resources.length, 0, spec);
  }
});

test('their valid neighbours load without diagnostics', () => {
  for (const [kind, spec] of valid) {
    const { resources, diagnostics } = loadText(doc(kind, spec), 'ok.yaml');
    assert.deepEqual(diagnostics.map((d) => `${d.code}@${d.field}: ${d.message}`), [], spec);
    assert.equal(resources.length, 1);
  }
});

test('an unnamed ServiceEntry port is reported once, as unnamed, not as a duplicate of another unnamed one', () => {
  const { diagnostics } = loadText(doc('ServiceEntry', 'spec: {hosts: [a.example.com], ports: [{number: 80, protocol: HTTP}, {number: 81, protocol: HTTP}], resolution: DNS}'), 'bad.yaml');
  assert.equal(diagnostics.filter((d) => /already defined/.test(d.message)).length, 0, diagnostics.map((d) => d.message).join('; '));
  assert.ok(diagnostics.some((d) => d.field?.startsWith('spec.ports[0]')), diagnostics.map((d) => `${d.code}@${d.field}`).join(', '));
});

test("a VirtualService's TLS routes take SNIs within its hosts only, as Istio's validateSniHost checks", () => {
  const vs = (hosts: string, sni: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x, namespace: team}
spec:
  hosts: [${hosts}]
  tls: [{match: [{sniHosts: [${sni}]}], route: [{destination: {host: x}}]}]
`;
  const errors = (text: string) => loadText(text, 'vs.yaml').diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.field}`);
  assert.deepEqual(errors(vs('a.example.com', 'a.example.com')), []);
  assert.deepEqual(errors(vs('"*.example.com"', 'b.example.com')), []);
  assert.deepEqual(errors(vs('"*"', 'anything.org')), []);
  assert.deepEqual(errors(vs('a.example.com', '"*"')), ['OR1024 spec.tls[0].match[0].sniHosts[0]'], 'any SNI, from a route for one host');
  assert.deepEqual(errors(vs('a.example.com', 'admin.team-b.com')), ['OR1024 spec.tls[0].match[0].sniHosts[0]']);
});
