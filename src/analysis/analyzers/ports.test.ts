// Port protocols as Istio's service.PortNameAnalyzer (ConvertProtocol) and serviceentry
// ProtocolAddressesAnalyzer judge them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const shop = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
`;
const service = (ports: string, extra = '') => `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  ${extra}ports: ${ports}
---
`;

function codes(yaml: string, code: string) {
  return runAnalyzers(loadText(yaml).resources).filter((d) => d.code === code);
}

test('IST0118: UDP ports, well-known ports and Kubernetes appProtocols are known; an unknown appProtocol is not', () => {
  assert.deepEqual(codes(shop + service('[{ name: dns, port: 53 }, { name: syslog, port: 514, protocol: UDP }, { name: web, port: 80, appProtocol: kubernetes.io/h2c }]'), 'IST0118'), []);
  const found = codes(shop + service('[{ name: http, port: 80, targetPort: 8080, appProtocol: websocketz }]'), 'IST0118');
  assert.deepEqual(found.map((d) => d.message), ["Port name http (port: 80, targetPort: 8080) doesn't follow the naming convention of Istio port."]);
});

test('Istio control-plane Services (label istio or release=istio) are skipped, whatever their namespace', () => {
  assert.deepEqual(codes(shop + service('[{ name: web, port: 80 }]').replace('namespace: shop }', 'namespace: shop, labels: { istio: ingressgateway } }'), 'IST0118'), []);
});

test('IST0150: an ExternalName Service port named tcp (or unknown) instead of IST0118', () => {
  const found = codes(shop + service('[{ name: tcp, port: 5432 }]', 'type: ExternalName\n  externalName: db.example.com\n  '), 'IST0150');
  assert.deepEqual(found.map((d) => d.message), [
    'Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly',
  ]);
});

const entry = (hosts: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: shop }
spec:
  hosts: ${hosts}
  ports: [{ number: 5432, name: tcp, protocol: TCP }]
  resolution: NONE
---
`;

test('IST0134 for wildcard hosts too, with Istio\'s message', () => {
  assert.deepEqual(codes(shop + entry('["*.db.example.com"]'), 'IST0134').map((d) => d.message), ['ServiceEntry addresses are required for this protocol.']);
});

test('no IST0134 when DNS capture and auto-allocation are on (meshConfig.defaultConfig.proxyMetadata)', () => {
  const mesh = (meta: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    defaultConfig:
      proxyMetadata: ${meta}
---
`;
  assert.deepEqual(codes(mesh('{ ISTIO_META_DNS_CAPTURE: "true", ISTIO_META_DNS_AUTO_ALLOCATE: "true" }') + shop + entry('[db.example.com]'), 'IST0134'), []);
  assert.equal(codes(mesh('{ ISTIO_META_DNS_AUTO_ALLOCATE: "true" }') + shop + entry('[db.example.com]'), 'IST0134').length, 1);
});

test('IST0118: Services in system namespaces are skipped (util.IsSystemNamespace)', () => {
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']) {
    assert.deepEqual(codes(service('[{ name: metrics, port: 10250 }]').replace('namespace: shop', `namespace: ${ns}`), 'IST0118'), []);
  }
  assert.equal(codes(service('[{ name: metrics, port: 10250 }]'), 'IST0118').length, 1);
});
