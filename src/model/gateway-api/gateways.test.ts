// A terminating listener's TLS as Istio's buildTLS converts it (gateways.ts): up to two Secret
// certificateRefs, and the gateway.istio.io/tls-terminate-mode option; analyze says why one is not served.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAnalyzers } from '../../analysis/run.ts';
import { loadText } from '../../config/load.ts';
import type { Gateway } from '../../config/resource.ts';
import { convertGatewayApi } from './convert.ts';

const gateway = (tls: string) => `apiVersion: gateway.networking.k8s.io/v1
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

const tlsOf = (tls: string) => convertGatewayApi(load(gateway(tls))).find((r): r is Gateway => r.kind === 'Gateway')?.spec.servers[0]?.tls;

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
