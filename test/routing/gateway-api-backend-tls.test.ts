// BackendTLSPolicy (docs/gateway-api.md): the clusters of its target Service originate TLS with the
// policy's hostname as SNI and its CA (a ConfigMap's ca.crt, served to the proxy as an SDS secret), as
// Istio's DestinationRule conversion does. YAML in, the gateway's translated cluster and secrets out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAnalyzers } from '../../src/analysis/run.ts';
import { loadText } from '../../src/config/load.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

const base = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: edge}
spec: {selector: {app: api}, ports: [{name: https, port: 8443}, {name: http, port: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-ca, namespace: edge}
data: {ca.crt: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: edge}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: edge}
spec:
  parentRefs: [{name: web}]
  rules: [{backendRefs: [{name: api, port: 8443}]}]
---
`;

const policy = (target: string, validation: string, apiVersion = 'v1') => `apiVersion: gateway.networking.k8s.io/${apiVersion}
kind: BackendTLSPolicy
metadata: {name: api-tls, namespace: edge}
spec:
  targetRefs: [${target}]
  validation: ${validation}
`;

type Cluster = { transport_socket?: { typed_config: { sni?: string; common_tls_context: Record<string, unknown> } } };

async function gateway(yaml: string) {
  const { resources, diagnostics } = loadText(base + yaml, 'backend-tls.yaml');
  assert.deepEqual(
    diagnostics.filter((d) => d.severity !== 'info').map((d) => `${d.code} ${d.message}`),
    [],
  );
  const src = new OfflineSource(resources);
  const xds = await src.resources(await src.sourceProxy('web-istio'));
  return {
    cluster: (port: number) => xds.get(TypeUrl.Cluster)?.get(`outbound|${port}||api.edge.svc.cluster.local`) as unknown as Cluster | undefined,
    secrets: [...(xds.get(TypeUrl.Secret)?.keys() ?? [])],
  };
}

test('a BackendTLSPolicy with a ConfigMap CA: TLS with its hostname as SNI, verified by that CA, sent to the proxy', async () => {
  const gw = await gateway(policy('{group: "", kind: Service, name: api}', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: api-ca}], hostname: api.example.com}'));
  const tls = gw.cluster(8443)?.transport_socket?.typed_config;
  assert.equal(tls?.sni, 'api.example.com');
  assert.deepEqual(tls?.common_tls_context['combined_validation_context'], {
    default_validation_context: {},
    validation_context_sds_secret_config: { name: 'configmap://edge/api-ca', sds_config: { ads: {}, resource_api_version: 'V3' } },
  });
  assert.ok(gw.secrets.includes('configmap://edge/api-ca'), `secrets: ${gw.secrets.join(', ')}`);
});

test('sectionName limits the policy to that port; System trusts the platform roots; subjectAltNames are checked', async () => {
  const gw = await gateway(
    policy('{group: "", kind: Service, name: api, sectionName: https}', '{wellKnownCACertificates: System, hostname: api.example.com, subjectAltNames: [{type: Hostname, hostname: api.internal}]}', 'v1alpha3'),
  );
  const tls = gw.cluster(8443)?.transport_socket?.typed_config;
  assert.equal(tls?.sni, 'api.example.com');
  // The platform roots as Istio names them (`file-root:system`), with the names checked against them.
  assert.deepEqual(tls?.common_tls_context['combined_validation_context'], {
    default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'api.internal' } }] },
    validation_context_sds_secret_config: { name: 'file-root:system', sds_config: { ads: {}, resource_api_version: 'V3' } },
  });
  // The other port keeps the mesh's own settings.
  assert.notEqual(gw.cluster(8080)?.transport_socket?.typed_config.sni, 'api.example.com');
});

test('a BackendTLSPolicy whose target is not a Service of its namespace is reported, and changes nothing', async () => {
  const yaml = policy('{group: "", kind: Service, name: nope}', '{wellKnownCACertificates: System, hostname: api.example.com}');
  const gw = await gateway(yaml);
  assert.notEqual(gw.cluster(8443)?.transport_socket?.typed_config.sni, 'api.example.com');
  const { resources } = loadText(base + yaml, 'backend-tls.yaml');
  assert.deepEqual(
    runAnalyzers(resources)
      .filter((d) => d.code === 'IST0101' || d.code === 'OR2010')
      .map((d) => [d.code, d.resource, d.field]),
    [['IST0101', 'BackendTLSPolicy edge/api-tls', 'spec.targetRefs[0]']],
  );
});
