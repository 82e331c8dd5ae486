// credentialName Secrets as SDS secrets: which proxy gets which, and where the CA comes from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `apiVersion: v1
kind: Secret
metadata: {name: api-client, namespace: shop}
stringData: {tls.crt: CERT, tls.key: KEY, ca.crt: ISSUER-OF-THE-CERT}
---
apiVersion: v1
kind: Secret
metadata: {name: api-client-cacert, namespace: shop}
stringData: {ca.crt: CA}
---
apiVersion: v1
kind: Secret
metadata: {name: unused, namespace: shop}
stringData: {tls.crt: CERT, tls.key: KEY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.example.com
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: api-client}}
`;

const sidecar = (namespace: string): ProxyView => ({
  id: `sidecar~10.0.0.1~web-0.${namespace}~${namespace}.svc.cluster.local`,
  role: 'sidecar',
  namespace,
  workloadName: 'web-0',
  serviceAccount: 'default',
  labels: { app: 'web' },
  ip: '10.0.0.1',
  appPorts: {},
});

function secrets(view: ProxyView): Record<string, unknown> {
  const { resources, diagnostics } = loadText(yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), view);
  return Object.fromEntries(out.get(TypeUrl.Secret) ?? []);
}

test('DestinationRule MUTUAL origination: certificate from NAME, CA from the Secret NAME-cacert (before NAME\'s own ca.crt, as Istio reads it), nothing unused', () => {
  const got = secrets(sidecar('shop'));
  assert.deepEqual(Object.keys(got).sort(), ['kubernetes://api-client', 'kubernetes://api-client-cacert']);
  assert.deepEqual(got['kubernetes://api-client'], {
    '@type': TypeUrl.Secret,
    name: 'kubernetes://api-client',
    tls_certificate: { certificate_chain: { inline_string: 'CERT' }, private_key: { inline_string: 'KEY' } },
  });
  assert.deepEqual(got['kubernetes://api-client-cacert'], { '@type': TypeUrl.Secret, name: 'kubernetes://api-client-cacert', validation_context: { trusted_ca: { inline_string: 'CA' } } });
});

test("a proxy in another namespace does not get the shop's Secrets", () => {
  assert.deepEqual(secrets(sidecar('other')), {});
});

test("a configmap:// CA any config names is sent as its certificates only, never the rest of the ConfigMap's ca.crt", () => {
  const certificate = '-----BEGIN CERTIFICATE-----\nQ0VSVElGSUNBVEU=\n-----END CERTIFICATE-----';
  const text = `apiVersion: v1
kind: ConfigMap
metadata: {name: db-settings, namespace: bank}
data:
  ca.crt: |
    ${certificate.replaceAll('\n', '\n    ')}
    -----BEGIN PRIVATE KEY-----
    QkFOS1NFQ1JFVA==
    -----END PRIVATE KEY-----
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: bank}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: evil}
spec:
  host: db.bank.svc.cluster.local
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: "configmap://bank/db-settings"}}
`;
  const { resources } = loadText(text);
  const out = buildProxyResources(buildSnapshot(resources, [], '1'), sidecar('evil'));
  const served = JSON.stringify([...(out.get(TypeUrl.Secret) ?? [])]);
  assert.ok(served.includes('Q0VSVElGSUNBVEU='), served);
  assert.doesNotMatch(served, /PRIVATE KEY|QkFOS1NFQ1JFVA/);
});
