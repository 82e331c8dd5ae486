// Secure naming with meshConfig.trustDomainAliases: a service's accounts are accepted in the mesh's
// trust domain and in each alias, as Istio's push context expands them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { serviceAccounts } from './service-accounts.ts';

const manifests = (meshConfig: string) => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: ${meshConfig}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;
const api: WorkloadInstance = { name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts: { 8080: 41080 }, tunnelAddress: '127.0.0.1:41008', healthy: true, source: 'deployment' };

function accounts(meshConfig: string): string[] {
  const { resources, diagnostics } = loadText(manifests(meshConfig));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const s = buildSnapshot(resources, [api], '1');
  return serviceAccounts(s, s.services.find((x) => x.name === 'api') ?? assert.fail('no api'));
}

test("a service's accounts in the mesh's trust domain and each alias", () => {
  assert.deepEqual(accounts('{trustDomain: new-td}'), ['spiffe://new-td/ns/shop/sa/api']);
  assert.deepEqual(accounts('{trustDomain: new-td, trustDomainAliases: [old-td, new-td, older-td]}'), [
    'spiffe://new-td/ns/shop/sa/api',
    'spiffe://old-td/ns/shop/sa/api',
    'spiffe://older-td/ns/shop/sa/api',
  ]);
});

test('an alias that is not a SPIFFE trust domain, or empty, is OR1024, with where it is', () => {
  const empty = loadText(manifests('{trustDomain: new-td, trustDomainAliases: [""]}'), 'mesh.yaml').diagnostics;
  assert.ok(empty.some((x) => x.code === 'OR1024' && x.field === 'spec.meshConfig.trustDomainAliases[0]'), JSON.stringify(empty));
  const { diagnostics } = loadText(manifests('{trustDomain: new-td, trustDomainAliases: [Old.TD]}'), 'mesh.yaml');
  const d = diagnostics.find((x) => x.code === 'OR1024') ?? assert.fail(JSON.stringify(diagnostics));
  assert.match(d.message, /trust domain alias "Old\.TD" is not a SPIFFE trust domain.*"old\.td"/);
  assert.equal(d.field, 'spec.meshConfig.trustDomainAliases[0]');
  assert.deepEqual([d.span?.file, d.span?.start.line], ['mesh.yaml', 4]);
});

test("a ServiceEntry's subjectAltNames join its accounts, a SPIFFE ID in each alias too (Istio initServiceAccounts)", () => {
  const yaml = `${manifests('{trustDomain: new-td, trustDomainAliases: [old-td]}')}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [ext.example.com]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
  subjectAltNames: [spiffe://new-td/ns/ext/sa/ext, ext.example.com]
`;
  const s = buildSnapshot(loadText(yaml).resources, [], '1');
  const ext = s.services.find((x) => x.name === 'ext') ?? assert.fail('no ext');
  assert.deepEqual(serviceAccounts(s, ext), ['ext.example.com', 'spiffe://new-td/ns/ext/sa/ext', 'spiffe://old-td/ns/ext/sa/ext']);
});
