// A terminating listener's TLS as Istio's buildTLS converts it (gateways.ts): up to two Secret
// certificateRefs, and the gateway.istio.io/tls-terminate-mode option; analyze says why one is not served.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runAnalyzers } from '../../analysis/run.ts';
import { loadText } from '../../config/load.ts';
import type { Gateway } from '../../config/resource.ts';
import { convertGatewayApi } from './convert.ts';

const secret = (namespace: string, name: string, data = '{tls.crt: "LS0t", tls.key: "LS0t"}') => `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
type: kubernetes.io/tls
data: ${data}
---
`;

/** The Secrets the tests below name, then the Gateway with a listener of this `tls`. */
const gateway = (tls: string, secrets = ['rsa', 'ecdsa', 'cert', 'a', 'b', 'c'].map((n) => secret('shop', n)).join('')) => `${secrets}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: a.example.com, tls: ${tls}}
`;

function load(yaml: string) {
  const { resources, diagnostics } = loadText(yaml, 'gateway.yaml');
  assert.deepEqual(diagnostics, []);
  return resources;
}

const tlsOf = (tls: string, secrets?: string) => convertGatewayApi(load(gateway(tls, secrets))).find((r): r is Gateway => r.kind === 'Gateway')?.spec.servers[0]?.tls;

const or2010 = (tls: string) =>
  runAnalyzers(load(gateway(tls)))
    .filter((d) => d.code === 'OR2010')
    .map((d) => [d.field, d.message]);

test('one Secret is credentialName, two are credentialNames (RSA and ECDSA)', () => {
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}]}'), { mode: 'SIMPLE', credentialName: 'rsa' });
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}, {name: ecdsa}]}'), { mode: 'SIMPLE', credentialNames: ['rsa', 'ecdsa'] });
  // A second ref that is not usable is dropped, as Istio keeps the first valid one.
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}, {group: "", kind: ConfigMap, name: x}]}'), { mode: 'SIMPLE', credentialName: 'rsa' });
});

test('a first certificateRef that is not a Secret, or a third one, leaves the listener unserved, and analyze says why', () => {
  assert.equal(tlsOf('{certificateRefs: [{group: "", kind: ConfigMap, name: not-a-secret}]}'), undefined);
  assert.deepEqual(or2010('{certificateRefs: [{group: "", kind: ConfigMap, name: not-a-secret}]}'), [
    ['spec.listeners[0].tls.certificateRefs[0]', 'listener https: invalid certificate reference /ConfigMap/not-a-secret., only secret is allowed; the listener is not served'],
  ]);
  assert.equal(tlsOf('{certificateRefs: [{name: a}, {name: b}, {name: c}]}'), undefined);
  assert.deepEqual(or2010('{certificateRefs: [{name: a}, {name: b}, {name: c}]}'), [
    ['spec.listeners[0].tls.certificateRefs', 'listener https: TLS mode can only support up to 2 server certificates; the listener is not served'],
  ]);
  assert.deepEqual(or2010('{certificateRefs: [{name: a}, {name: b}]}'), []);
});

test('gateway.istio.io/tls-terminate-mode picks the server mode; ISTIO_MUTUAL needs no Secret', () => {
  const option = (mode: string, refs = '[{name: cert}]') => `{certificateRefs: ${refs}, options: {gateway.istio.io/tls-terminate-mode: ${mode}}}`;
  assert.deepEqual(tlsOf(option('MUTUAL')), { mode: 'MUTUAL', credentialName: 'cert' });
  assert.deepEqual(tlsOf(option('OPTIONAL_MUTUAL')), { mode: 'OPTIONAL_MUTUAL', credentialName: 'cert' });
  assert.deepEqual(tlsOf(option('ISTIO_MUTUAL')), { mode: 'ISTIO_MUTUAL' });
  assert.deepEqual(tlsOf(option('ISTIO_MUTUAL', '[]')), { mode: 'ISTIO_MUTUAL' });
  // ISTIO_SIMPLE (the workload certificate as builtin://) is not served, and analyze says so.
  assert.equal(tlsOf(option('ISTIO_SIMPLE')), undefined);
  assert.equal(or2010(option('ISTIO_SIMPLE'))[0]?.[0], 'spec.listeners[0].tls.options.gateway.istio.io/tls-terminate-mode');
});

const analyze = (tls: string, secrets?: string) =>
  runAnalyzers(load(gateway(tls, secrets)))
    .filter((d) => d.code === 'OR2010' || d.code === 'IST0101')
    .map((d) => [d.code, d.field, d.message]);

test('each certificateRef names a Secret that exists and holds a certificate and key, else it is dropped (Istio: buildSecretReference), and analyze says which', () => {
  const rsa = secret('shop', 'rsa');
  // The second Secret missing, or without tls.crt and tls.key: the first alone, not a handshake-failing pair.
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}, {name: ecdsa}]}', rsa), { mode: 'SIMPLE', credentialName: 'rsa' });
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}, {name: ecdsa}]}', rsa + secret('shop', 'ecdsa', '{ca.crt: "LS0t"}')), { mode: 'SIMPLE', credentialName: 'rsa' });
  // Istio's buildTLS sets no condition while one certificate is valid (validCertCount > 0): a warning, not IST0101.
  assert.deepEqual(analyze('{certificateRefs: [{name: rsa}, {name: ecdsa}]}', rsa), [
    ['OR2010', 'spec.listeners[0].tls.certificateRefs[1]', 'listener https: invalid certificate reference //ecdsa., secret shop/ecdsa not found; the listener serves its other certificate only'],
  ]);
  assert.deepEqual(
    runAnalyzers(load(gateway('{certificateRefs: [{name: rsa}, {name: ecdsa}]}', rsa))).filter((d) => d.severity === 'error'),
    [],
  );
  // Istio's credentialName is then the first ref's, empty: Outrigger does not serve the listener.
  assert.equal(tlsOf('{certificateRefs: [{name: ecdsa}, {name: rsa}]}', rsa), undefined);
  assert.equal(tlsOf('{certificateRefs: [{name: rsa}]}', ''), undefined);
  assert.deepEqual(analyze('{certificateRefs: [{name: rsa}]}', secret('shop', 'rsa', '{tls.crt: "LS0t"}')), [
    ['OR2010', 'spec.listeners[0].tls.certificateRefs[0]', 'listener https: invalid certificate reference //rsa., secret shop/rsa has no tls.crt and tls.key (or cert and key); the listener is not served'],
  ]);
});

test('a second certificateRef to another namespace without a ReferenceGrant is dropped, and analyze says so at that ref', () => {
  const secrets = secret('shop', 'rsa') + secret('certs', 'ecdsa');
  assert.deepEqual(tlsOf('{certificateRefs: [{name: rsa}, {name: ecdsa, namespace: certs}]}', secrets), { mode: 'SIMPLE', credentialName: 'rsa' });
  assert.deepEqual(analyze('{certificateRefs: [{name: rsa}, {name: ecdsa, namespace: certs}]}', secrets), [
    ['OR2010', 'spec.listeners[0].tls.certificateRefs[1].namespace', 'listener https: its certificate is in namespace certs, and no ReferenceGrant in certs lets Gateways of shop use it; the listener serves its other certificate only'],
  ]);
});

test('a terminating listener with a tls-terminate-mode other than ISTIO_MUTUAL and no certificateRefs is not served, and analyze says so', () => {
  assert.equal(tlsOf('{options: {gateway.istio.io/tls-terminate-mode: MUTUAL}}'), undefined);
  assert.deepEqual(analyze('{options: {gateway.istio.io/tls-terminate-mode: MUTUAL}}'), [
    ['OR2010', 'spec.listeners[0].tls.options.gateway.istio.io/tls-terminate-mode', 'listener https: no certificateRefs, so no certificate to terminate TLS with (only ISTIO_MUTUAL needs none); the listener is not served'],
  ]);
  assert.deepEqual(analyze('{options: {gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL}}'), []);
});

test("docs/gateway-api.md: the certificate example serves the other namespace's Secret, and analyze says nothing of it", () => {
  const page = readFileSync(path.join(import.meta.dirname, '../../../docs/gateway-api.md'), 'utf8');
  const example = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string).find((y) => y.includes('certificateRefs: [{name: shop-cert, namespace: certs}]'));
  assert.ok(example);
  const resources = load(example);
  const server = convertGatewayApi(resources).find((r): r is Gateway => r.kind === 'Gateway')?.spec.servers[0];
  assert.deepEqual(server?.tls, { mode: 'SIMPLE', credentialName: 'kubernetes-gateway://certs/shop-cert' });
  assert.deepEqual(
    runAnalyzers(resources).filter((d) => d.code === 'OR2010' || d.code === 'IST0101'),
    [],
  );
});
