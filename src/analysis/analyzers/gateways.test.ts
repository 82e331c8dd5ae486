// Gateways as Istio's gateway analyzers judge them: IST0145 on each Gateway of a clash, IST0162 against
// the gateway Services given as manifests, and Istio's message texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const gateway = (name: string, port: number, extra = '') => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: ${port}, name: p${port}, protocol: ${extra ? 'HTTPS' : 'HTTP'} }, hosts: ["shop.example.com"]${extra} }]
---
`;
const shop = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
`;

function found(yaml: string, code: string) {
  return runAnalyzers(loadText(yaml).resources).filter((d) => d.code === code);
}

test('IST0145 is reported on each conflicting Gateway, naming the others', () => {
  const hits = found(shop + gateway('a', 80) + gateway('b', 80), 'IST0145');
  assert.deepEqual(hits.map((d) => `${d.resource}: ${d.message}`), [
    'Gateway shop/a: Conflict with gateways shop/b (workload selector istio=ingressgateway, port 80, hosts shop.example.com).',
    'Gateway shop/b: Conflict with gateways shop/a (workload selector istio=ingressgateway, port 80, hosts shop.example.com).',
  ]);
});

test('IST0162 checks the gateway Service given as a manifest', () => {
  const labels = '{ istio: ingressgateway, app: istio-ingressgateway }';
  const workload = `apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  selector: { matchLabels: ${labels} }
  template:
    metadata: { labels: ${labels} }
    spec: { containers: [{ name: istio-proxy, image: auto }] }
---
apiVersion: v1
kind: Service
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  selector: ${labels}
  ports: [{ name: http2, port: 80, targetPort: 8080 }]
---
`;
  const hits = found(workload + shop + gateway('a', 80) + gateway('b', 9443, ', tls: { mode: PASSTHROUGH }'), 'IST0162');
  assert.deepEqual(hits.map((d) => `${d.resource}: ${d.message}`), [
    'Gateway shop/b: The gateway is listening on a target port (port 9443) that is not defined in the Service associated with its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.',
  ]);
});

test('IST0161 names the Gateway and the namespace its credentials are read from', () => {
  const secret = `apiVersion: v1
kind: Secret
metadata: { name: shop-cert, namespace: istio-system }
type: kubernetes.io/tls
stringData: { tls.crt: not-a-certificate, tls.key: not-a-key }
---
`;
  const hits = found(shop + secret + gateway('a', 443, ', tls: { mode: SIMPLE, credentialName: shop-cert }'), 'IST0161');
  assert.deepEqual(hits.map((d) => d.message), [
    'The credential referenced by the Gateway a in namespace istio-system is invalid, which can cause the traffic not to work as expected.',
  ]);
});
