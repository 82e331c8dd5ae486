// A Gateway server's DownstreamTlsContext as Istio's BuildListenerTLSContext writes it: tls_params from
// meshConfig.tlsDefaults and the server (none: Envoy's defaults), certificates per credentialNames and
// files, untyped SAN matchers, ALPN.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { Gateway } from '../config/resource.ts';
import type { Server } from '../config/types/networking.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { gatewayDownstreamTls, translateGatewayTls } from './gateway-tls.ts';

const server = (tls: Server['tls'], protocol = 'HTTPS'): Server => ({ port: { number: 443, protocol, name: 'https' }, hosts: ['*'], ...(tls ? { tls } : {}) });
type Common = Record<string, unknown> & {
  tls_params?: Record<string, unknown>;
  alpn_protocols?: string[];
  tls_certificate_sds_secret_configs?: { name: string }[];
  combined_validation_context?: { default_validation_context: Record<string, unknown>; validation_context_sds_secret_config: { name: string } };
};
const common = (s: Server) => (translateGatewayTls(s)?.['common_tls_context'] ?? {}) as Common;
const secrets = (c: Common) => (c.tls_certificate_sds_secret_configs ?? []).map((x) => x.name);

test('no TLS settings: no tls_params, so Envoy serves its server defaults (ChaCha20 included)', () => {
  assert.equal(common(server({ mode: 'SIMPLE', credentialName: 'c' })).tls_params, undefined);
});

test("the server's versions and cipher suites, filtered as Istio's FilterCipherSuites (TLS 1.3 names, unknown names, duplicates dropped)", () => {
  const c = common(
    server({
      mode: 'SIMPLE',
      credentialName: 'c',
      minProtocolVersion: 'TLSV1_3',
      maxProtocolVersion: 'TLSV1_3',
      cipherSuites: ['TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'NOT-A-CIPHER', 'ECDHE-RSA-AES256-GCM-SHA384', '[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]'],
    }),
  );
  assert.deepEqual(c.tls_params, {
    tls_minimum_protocol_version: 'TLSv1_3',
    cipher_suites: ['ECDHE-RSA-AES256-GCM-SHA384', '[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]'],
    tls_maximum_protocol_version: 'TLSv1_3',
  });
  assert.deepEqual(common(server({ mode: 'SIMPLE', credentialName: 'c', minProtocolVersion: 'TLS_AUTO', cipherSuites: ['TLS_AES_256_GCM_SHA384'] })).tls_params, undefined);
});

const operator = (tlsDefaults: string) =>
  buildSnapshot(
    loadText(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    tlsDefaults: ${tlsDefaults}
`).resources,
    [],
    '1',
  );

test('meshConfig.tlsDefaults applies to SIMPLE, MUTUAL and OPTIONAL_MUTUAL servers, under their own settings (applyDownstreamTLSDefaults)', () => {
  const snapshot = operator('{minProtocolVersion: TLSV1_3, ecdhCurves: [P-256], cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]}');
  const params = (s: Server) => ((gatewayDownstreamTls(snapshot, {} as ProxyView, {} as Gateway, s)?.typed_config['common_tls_context'] ?? {}) as Common).tls_params;
  for (const mode of ['SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL'] as const) {
    assert.deepEqual(params(server({ mode, credentialName: 'c' })), { ecdh_curves: ['P-256'], cipher_suites: ['ECDHE-ECDSA-AES256-GCM-SHA384'], tls_minimum_protocol_version: 'TLSv1_3' }, mode);
  }
  assert.deepEqual(params(server({ mode: 'SIMPLE', credentialName: 'c', minProtocolVersion: 'TLSV1_2', cipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] })), {
    ecdh_curves: ['P-256'],
    cipher_suites: ['ECDHE-RSA-AES128-GCM-SHA256'],
    tls_minimum_protocol_version: 'TLSv1_2',
  });
  // ISTIO_MUTUAL is the mesh's own TLS: neither tlsDefaults nor the server's settings apply.
  assert.equal(params(server({ mode: 'ISTIO_MUTUAL', minProtocolVersion: 'TLSV1_3' })), undefined);
});

test('credentialNames: one SDS secret each (an RSA and an ECDSA certificate), the client CA from the first', () => {
  const c = common(server({ mode: 'MUTUAL', credentialNames: ['rsa-cert', 'ecdsa-cert'] }));
  assert.deepEqual(secrets(c), ['kubernetes://rsa-cert', 'kubernetes://ecdsa-cert']);
  assert.equal(c.combined_validation_context?.validation_context_sds_secret_config.name, 'kubernetes://rsa-cert-cacert');
});

test("files: Istio's file-cert:/file-root: SDS names, one per tlsCertificates entry", () => {
  const files = common(server({ mode: 'MUTUAL', serverCertificate: '/c.pem', privateKey: '/k.pem', caCertificates: '/ca.pem', subjectAltNames: ['client.example.com'] }));
  assert.deepEqual(secrets(files), ['file-cert:/c.pem~/k.pem']);
  assert.deepEqual(files.combined_validation_context, {
    default_validation_context: { match_subject_alt_names: [{ exact: 'client.example.com' }] },
    validation_context_sds_secret_config: { name: 'file-root:/ca.pem', sds_config: { ads: {}, resource_api_version: 'V3' } },
  });
  const two = common(server({ mode: 'SIMPLE', tlsCertificates: [{ serverCertificate: '/rsa.pem', privateKey: '/rsa.key' }, { serverCertificate: '/ec.pem', privateKey: '/ec.key' }] }));
  assert.deepEqual(secrets(two), ['file-cert:/rsa.pem~/rsa.key', 'file-cert:/ec.pem~/ec.key']);
});

test('subjectAltNames are untyped exact matchers (util.StringToExactMatch): Envoy tries each against every SAN type', () => {
  const c = common(server({ mode: 'MUTUAL', credentialName: 'c', subjectAltNames: ['10.1.2.3', 'spiffe://td/ns/a/sa/b'] }));
  assert.deepEqual(c.combined_validation_context?.default_validation_context, { match_subject_alt_names: [{ exact: '10.1.2.3' }, { exact: 'spiffe://td/ns/a/sa/b' }] });
});

test('ALPN as BuildListenerTLSContext: h2 and http/1.1 on every terminating server; ISTIO_MUTUAL TLS servers also istio-peer-exchange', () => {
  assert.deepEqual(common(server({ mode: 'SIMPLE', credentialName: 'c' }, 'TLS')).alpn_protocols, ['h2', 'http/1.1']);
  assert.deepEqual(common(server({ mode: 'SIMPLE', credentialName: 'c' })).alpn_protocols, ['h2', 'http/1.1']);
  assert.deepEqual(common(server({ mode: 'ISTIO_MUTUAL' }, 'TLS')).alpn_protocols, ['istio-peer-exchange', 'h2', 'http/1.1']);
  assert.deepEqual(common(server({ mode: 'ISTIO_MUTUAL' })).alpn_protocols, ['h2', 'http/1.1']);
});
