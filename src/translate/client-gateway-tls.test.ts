// Table tests for DestinationRule client TLS and Gateway server TLS: every output is valid Envoy config
// (round-tripped through the protos) and carries the secrets, SANs and files the YAML names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ClientTLSSettings, Server } from '../config/types/networking.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { type TypedAny, unpackAny } from '../xds/any.ts';
import { messageType } from '../xds/protos.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { clientTlsTransport } from './client-tls.ts';
import { translateGatewayTls } from './gateway-tls.ts';

const snapshot = buildSnapshot(
  loadText(`apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: podinfo}
spec: {selector: {app: podinfo}, ports: [{name: http, port: 9898}]}
`).resources,
  [{ name: 'podinfo-0', namespace: 'podinfo', labels: { app: 'podinfo' }, serviceAccount: 'podinfo', address: '127.0.0.1', appPorts: {}, healthy: true, source: 'deployment' }],
  '1',
);
// Round trip through the Envoy protos; fields the protos do not know are dropped, so the asserts below
// prove the names. (packAny's verify() rejects string enums, which Envoy JSON uses.)
function canonicalize(url: string, resource: TypedAny): TypedAny {
  const type = messageType(url);
  const { '@type': _drop, ...body } = resource;
  return unpackAny({ type_url: url, value: type.encode(type.fromObject(body)).finish() });
}

const service = snapshot.services[0]!;
const proxy = {} as ProxyView;
const clusterName = 'outbound|9898||podinfo.podinfo.svc.cluster.local';
const transport = (tls: ClientTLSSettings | undefined) =>
  clientTlsTransport(snapshot, proxy, { service, port: 9898, subset: '', tls, clusterName });

test('DISABLE: plaintext', () => assert.deepEqual(transport({ mode: 'DISABLE' }), {}));

test('ISTIO_MUTUAL: default + ROOTCA over SDS, secure naming from the service accounts', () => {
  const ctx = transport({ mode: 'ISTIO_MUTUAL' }).transport_socket!.typed_config;
  const c = canonicalize(TypeUrl.UpstreamTlsContext, ctx) as unknown as { sni: string; common_tls_context: Record<string, never> };
  assert.equal(c.sni, 'outbound_.9898_._.podinfo.podinfo.svc.cluster.local');
  assert.match(JSON.stringify(c), /"name":"default"/);
  assert.match(JSON.stringify(c), /"name":"ROOTCA"/);
  assert.match(JSON.stringify(c), /spiffe:\/\/cluster\.local\/ns\/podinfo\/sa\/podinfo/);
});

test('SIMPLE with files: trusted CA, SNI and DNS SAN', () => {
  const ctx = transport({ mode: 'SIMPLE', caCertificates: '/etc/ca.pem', sni: 'api.example.com', subjectAltNames: ['api.example.com'] })
    .transport_socket!.typed_config;
  const json = JSON.stringify(canonicalize(TypeUrl.UpstreamTlsContext, ctx));
  assert.match(json, /"filename":"\/etc\/ca.pem"/);
  assert.match(json, /"sni":"api.example.com"/);
  assert.match(json, /"san_type":"DNS"/);
});

test('MUTUAL with credentialName: kubernetes://NAME and NAME-cacert', () => {
  const t = transport({ mode: 'MUTUAL', credentialName: 'client-creds' });
  const json = JSON.stringify(canonicalize(TypeUrl.UpstreamTlsContext, t.transport_socket!.typed_config));
  assert.match(json, /"name":"kubernetes:\/\/client-creds"/);
  assert.match(json, /"name":"kubernetes:\/\/client-creds-cacert"/);
  // No `sni`: each request's host instead (Istio's auto_sni, auto_san_validation).
  assert.doesNotMatch(json, /"sni"/);
  assert.deepEqual(t.upstream_http_protocol_options, { auto_sni: true, auto_san_validation: true });
});

test('MUTUAL with credentialName written with its scheme: named once, as Istio\'s ToResourceName names it', () => {
  for (const [credentialName, key, ca] of [
    ['kubernetes://client-creds', 'kubernetes://client-creds', 'kubernetes://client-creds-cacert'],
    ['kubernetes-gateway://podinfo/client-creds', 'kubernetes-gateway://podinfo/client-creds', 'kubernetes-gateway://podinfo/client-creds-cacert'],
  ] as const) {
    const ctx = transport({ mode: 'MUTUAL', credentialName }).transport_socket!.typed_config;
    const common = (canonicalize(TypeUrl.UpstreamTlsContext, ctx) as unknown as { common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[]; combined_validation_context: { validation_context_sds_secret_config: { name: string } } } }).common_tls_context;
    assert.deepEqual(common.tls_certificate_sds_secret_configs.map((c) => c.name), [key], credentialName);
    assert.equal(common.combined_validation_context.validation_context_sds_secret_config.name, ca, credentialName);
  }
});

test('no TLS setting: auto mTLS matches tlsMode=istio, plaintext otherwise', () => {
  const t = transport(undefined);
  assert.deepEqual(t.transport_socket_matches?.map((m) => m.name), ['tlsMode-istio', 'tlsMode-disabled']);
  assert.deepEqual(t.transport_socket_matches?.[0]?.match, { fields: { tlsMode: { stringValue: 'istio' } } });
});

const server = (tls: Server['tls'], protocol = 'HTTPS'): Server => ({ port: { number: 443, protocol, name: 'https' }, hosts: ['*'], ...(tls ? { tls } : {}) });

const gatewayCases: [string, Server, RegExp[], boolean][] = [
  ['SIMPLE from a Secret', server({ mode: 'SIMPLE', credentialName: 'podinfo-tls' }), [/kubernetes:\/\/podinfo-tls"/], false],
  ['SIMPLE from files', server({ mode: 'SIMPLE', serverCertificate: '/c.pem', privateKey: '/k.pem' }), [/"name":"file-cert:\/c.pem~\/k.pem"/], false],
  ['MUTUAL from a Secret', server({ mode: 'MUTUAL', credentialName: 'gw' }), [/kubernetes:\/\/gw-cacert/], true],
  ['ISTIO_MUTUAL', server({ mode: 'ISTIO_MUTUAL' }), [/"name":"default"/, /"name":"ROOTCA"/], true],
  ['TLS 1.3 minimum', server({ mode: 'SIMPLE', credentialName: 'x', minProtocolVersion: 'TLSV1_3' }), [/TLSv1_3/], false],
];

for (const [name, s, patterns, requireClient] of gatewayCases) {
  test(`gateway ${name}`, () => {
    const ctx = translateGatewayTls(s)!;
    const c = canonicalize(TypeUrl.DownstreamTlsContext, ctx);
    const json = JSON.stringify(c);
    for (const p of patterns) assert.match(json, p);
    assert.equal(JSON.stringify(c).includes('require_client_certificate'), requireClient);
  });
}

test('gateway PASSTHROUGH and plaintext terminate nothing', () => {
  assert.equal(translateGatewayTls(server({ mode: 'PASSTHROUGH' }, 'TLS')), undefined);
  assert.equal(translateGatewayTls(server(undefined, 'HTTP')), undefined);
});
