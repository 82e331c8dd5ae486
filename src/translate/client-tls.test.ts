// DestinationRule SIMPLE/MUTUAL/ISTIO_MUTUAL → the cluster's UpstreamTlsContext, as Istio's
// constructUpstreamTLS and buildUpstreamTLSSettings write it: the trust (a CA, the platform roots, or
// none for insecureSkipVerify), the names checked (the rule's, else a ServiceEntry's), and the SNI (the
// rule's, else each request's host: auto_sni).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientTLSSettings } from '../config/types/networking.ts';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { clientTlsTransport } from './client-tls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const web = { id: 'sidecar~127.0.0.1~web-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;

/** The cluster's UpstreamTlsContext for the DestinationRule `tls` toward the ServiceEntry `yaml`. */
function tlsContext(yaml: string, tls: ClientTLSSettings): Record<string, unknown> {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const snapshot = buildSnapshot(resources, [], '1');
  const service = snapshot.services[0]!;
  const t = clientTlsTransport(snapshot, web, { service, port: 443, subset: '', tls, clusterName: 'outbound|443||api.example.com' });
  assert.ok(t.transport_socket, 'a TLS transport socket');
  return t.transport_socket.typed_config;
}

const entry = (extra = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: https, protocol: TLS}]
${extra}`;

test('insecureSkipVerify: an empty validation context (Istio), no CA and no names', () => {
  const common = tlsContext(entry(), { mode: 'SIMPLE', insecureSkipVerify: true, caCertificates: '/etc/ca.pem' })['common_tls_context'] as Record<string, unknown>;
  assert.deepEqual(common['validation_context'], {});
  assert.equal(common['combined_validation_context'], undefined);
});

test('no CA named: the platform roots as Istio names them (file-root:system), never no validation context', () => {
  const common = tlsContext(entry(), { mode: 'SIMPLE' })['common_tls_context'] as Record<string, Record<string, unknown>>;
  const combined = common['combined_validation_context'];
  assert.deepEqual(combined?.['validation_context_sds_secret_config'], { name: 'file-root:system', sds_config: { ads: {}, resource_api_version: 'V3' } });
  assert.equal(common['validation_context'], undefined);
});

test('SIMPLE toward a ServiceEntry without DR SANs checks the ServiceEntry subjectAltNames; the rule\'s win', () => {
  const se = entry('  subjectAltNames: [backend.internal.example.net]\n');
  const own = tlsContext(se, { mode: 'SIMPLE', caCertificates: '/etc/certs/ca.pem' });
  assert.deepEqual((own['common_tls_context'] as { validation_context: unknown }).validation_context, {
    trusted_ca: { filename: '/etc/certs/ca.pem' },
    match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'backend.internal.example.net' } }],
  });
  const ruled = tlsContext(se, { mode: 'SIMPLE', caCertificates: '/etc/certs/ca.pem', subjectAltNames: ['api.example.com'] });
  assert.doesNotMatch(JSON.stringify(ruled), /backend\.internal/);
});

test('ISTIO_MUTUAL toward a ServiceEntry: its subjectAltNames are secure-naming names too (Istio initServiceAccounts)', () => {
  const se = entry('  subjectAltNames: [spiffe://cluster.local/ns/ext/sa/api]\n').replace('MESH_EXTERNAL', 'MESH_INTERNAL');
  const ctx = tlsContext(se, { mode: 'ISTIO_MUTUAL' });
  assert.match(JSON.stringify(ctx['common_tls_context']), /"exact":"spiffe:\/\/cluster\.local\/ns\/ext\/sa\/api"/);
});

const wildcard = (tls: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: ["*.example.com"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: shop}
spec:
  host: "*.example.com"
  trafficPolicy: {tls: ${tls}}
`;

function wildcardCluster(tls: string): { transport_socket: { typed_config: { sni?: string } }; typed_extension_protocol_options?: Record<string, { upstream_http_protocol_options?: unknown }> } {
  const { resources } = loadText(wildcard(tls));
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), web);
  const c = out.get(TypeUrl.Cluster)?.get('outbound|80||*.example.com') as ReturnType<typeof wildcardCluster> | undefined;
  assert.ok(c?.transport_socket, 'TLS origination cluster');
  return c;
}
const upstreamHttp = (c: ReturnType<typeof wildcardCluster>) => c.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.upstream_http_protocol_options;

test('no `sni`: no fixed SNI (never `*.example.com`), auto_sni and auto_san_validation (Istio setAutoSniAndAutoSanValidation)', () => {
  const c = wildcardCluster('{mode: SIMPLE}');
  assert.equal(c.transport_socket.typed_config.sni, undefined);
  assert.deepEqual(upstreamHttp(c), { auto_sni: true, auto_san_validation: true });
});

test('an HttpProtocolOptions made for auto_sni alone says HTTP/1.1 (Istio clusterWrapper.build: the upstream protocol is required)', () => {
  for (const protocol of ['TLS', 'TCP', 'HTTP']) {
    const { resources } = loadText(wildcard('{mode: SIMPLE}').replace('protocol: HTTP', `protocol: ${protocol}`));
    const c = buildProxyResources(buildSnapshot(resources, [], '1'), web).get(TypeUrl.Cluster)?.get('outbound|80||*.example.com') as { typed_extension_protocol_options?: Record<string, Record<string, unknown>> };
    const hpo = c.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.deepEqual(hpo?.['explicit_http_config'], { http_protocol_options: {} }, protocol);
    assert.deepEqual(hpo?.['upstream_http_protocol_options'], { auto_sni: true, auto_san_validation: true }, protocol);
  }
});

test('auto_san_validation only without the rule\'s SANs and verification; an explicit `sni` needs neither', () => {
  assert.deepEqual(upstreamHttp(wildcardCluster('{mode: SIMPLE, subjectAltNames: [a.example.com]}')), { auto_sni: true });
  assert.deepEqual(upstreamHttp(wildcardCluster('{mode: SIMPLE, insecureSkipVerify: true}')), { auto_sni: true });
  const fixed = wildcardCluster('{mode: SIMPLE, sni: api.example.com}');
  assert.equal(fixed.transport_socket.typed_config.sni, 'api.example.com');
  assert.equal(upstreamHttp(fixed), undefined);
});
