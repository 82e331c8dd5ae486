// DestinationRule checks as Istio's analyzers make them: what silences IST0128/IST0129
// (CaCertificateAnalyzer), host visibility for IST0174, and Istio's message texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const messages = (yaml: string, code: string) =>
  runAnalyzers(loadText(yaml, 'dr.yaml').resources)
    .filter((d) => d.code === code)
    .map((d) => `${d.resource}: ${d.message}`);

const external = (namespace = 'shop', exportTo = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: ${namespace}}
spec:
  hosts: [api.example.com]${exportTo}
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
`;

const dr = (name: string, spec: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: shop}
spec:
  host: api.example.com
${spec}---
`;

test('IST0128: only caCertificates, or credentialName with a workloadSelector, silence it', () => {
  const yaml =
    external() +
    dr('skip', '  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}}\n') +
    dr('cred', '  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cert}}\n') +
    dr('ca', '  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/ca.pem}}\n') +
    dr('selected', '  workloadSelector: {matchLabels: {app: web}}\n  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cert}}\n');
  assert.deepEqual(messages(yaml, 'IST0128'), [
    'DestinationRule shop/skip: DestinationRule shop/skip in namespace shop has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: api.example.com',
    'DestinationRule shop/cred: DestinationRule shop/cred in namespace shop has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: api.example.com',
  ]);
});

test('IST0129 names the port as Istio prints the port selector', () => {
  const yaml = external() + dr('port', '  trafficPolicy:\n    portLevelSettings: [{port: {number: 443}, tls: {mode: SIMPLE}}]\n');
  assert.deepEqual(messages(yaml, 'IST0129'), [
    'DestinationRule shop/port: DestinationRule shop/port in namespace shop has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: api.example.com at port number:443',
  ]);
});

test('IST0174: a host not exported to the rule\'s namespace; the host as written', () => {
  const expected = ['DestinationRule shop/plain: The host api.example.com defined in the DestinationRule does not match any services in the mesh.'];
  assert.deepEqual(messages(external('other', '\n  exportTo: ["."]') + dr('plain', ''), 'IST0174'), expected);
  assert.deepEqual(messages(external('other') + dr('plain', ''), 'IST0174'), []);
  // Exported to a list naming the rule's namespace (util.InitServiceEntryHostMap files it there).
  assert.deepEqual(messages(external('other', '\n  exportTo: [".", "shop"]') + dr('plain', ''), 'IST0174'), []);
  assert.deepEqual(messages(external('other', '\n  exportTo: [".", "elsewhere"]') + dr('plain', ''), 'IST0174'), expected);
});

test('IST0173 in Istio\'s words', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v9, labels: {version: v9}}]
`;
  assert.deepEqual(messages(yaml, 'IST0173'), [
    'DestinationRule shop/reviews: The Subset v9 defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).',
  ]);
});
