// An explicit DestinationRule TLS mode overrides auto mTLS toward workloads with a sidecar, as Istio's
// mtlsChecker: SIMPLE and MUTUAL clusters carry the rule's own UpstreamTlsContext, never the mesh's, and
// their endpoints lose tlsMode=istio (reached through the tunnel, `via_tunnel`, not as mesh mTLS).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { fromStruct } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: web, port: 443, targetPort: 9443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem, sni: api.example.com, subjectAltNames: [api.example.com]}}
  subsets:
    - name: mutual
      labels: {app: api}
      trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem}}
    - name: mesh
      labels: {app: api}
      trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`;

const cart = { id: 'sidecar~127.0.0.1~cart-0.shop~shop.svc.cluster.local', role: 'sidecar', namespace: 'shop', workloadName: 'cart', serviceAccount: 'cart', labels: { app: 'cart' }, ip: '127.0.0.1', appPorts: {} } as ProxyView;

function translate() {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const api = { name: 'api-0', namespace: 'shop', labels: { app: 'api' }, serviceAccount: 'api', address: '127.0.0.1', appPorts: { 9443: 49443 }, tunnelAddress: '127.0.0.1:49008', healthy: true, source: 'deployment' as const };
  const out = buildProxyResources(buildSnapshot(resources, [api], '1'), cart);
  const cluster = (subset: string) => out.get(TypeUrl.Cluster)?.get(`outbound|443|${subset}|api.shop.svc.cluster.local`) as Record<string, unknown> & { transport_socket?: { typed_config: Record<string, unknown> } };
  const endpoint = (subset: string) => {
    const cla = out.get(TypeUrl.ClusterLoadAssignment)?.get(`outbound|443|${subset}|api.shop.svc.cluster.local`) as unknown as { endpoints: { lb_endpoints: { endpoint: { address: unknown }; metadata: { filter_metadata: Record<string, unknown> } }[] }[] };
    const ep = cla.endpoints[0]?.lb_endpoints[0];
    assert.ok(ep);
    const fm = ep.metadata.filter_metadata;
    return { address: ep.endpoint.address, istio: fromStruct(fm['istio'] as never), outrigger: fromStruct(fm['outrigger'] as never) };
  };
  return { cluster, endpoint };
}

test('SIMPLE toward a sidecar: the rule’s TLS (CA, SNI, SANs), no mesh context, endpoint without tlsMode', () => {
  const { cluster, endpoint } = translate();
  const c = cluster('');
  assert.equal(c['transport_socket_matches'], undefined);
  const ctx = c.transport_socket?.typed_config as { sni: string; common_tls_context: Record<string, unknown> };
  assert.equal(ctx.sni, 'api.example.com');
  assert.deepEqual(ctx.common_tls_context['validation_context'], { trusted_ca: { filename: '/etc/certs/ca.pem' }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'api.example.com' } }] });
  assert.equal(ctx.common_tls_context['tls_certificate_sds_secret_configs'], undefined, 'never the workload certificate');
  const ep = endpoint('');
  assert.deepEqual(ep.address, { socket_address: { address: '127.0.0.1', port_value: 49008 } });
  assert.equal(ep.istio['tlsMode'], undefined);
  assert.deepEqual(ep.outrigger, { target_port: 9443, via_tunnel: true });
});

test('MUTUAL toward a sidecar: the rule’s client certificate, endpoint without tlsMode; ISTIO_MUTUAL keeps it', () => {
  const { cluster, endpoint } = translate();
  const ctx = cluster('mutual').transport_socket?.typed_config as { common_tls_context: Record<string, unknown> };
  assert.deepEqual(ctx.common_tls_context['tls_certificates'], [{ certificate_chain: { filename: '/etc/certs/cert.pem' }, private_key: { filename: '/etc/certs/key.pem' } }]);
  assert.equal(endpoint('mutual').istio['tlsMode'], undefined);
  assert.equal(endpoint('mesh').istio['tlsMode'], 'istio');
  assert.deepEqual(endpoint('mesh').outrigger, { target_port: 9443 });
});
