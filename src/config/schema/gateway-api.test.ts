// The Gateway API kinds load as typed resources (the Gateway apart from Istio's), and a bad one is
// refused with the code, field and file:line:col of what is wrong, as the API server's checks would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../load.ts';

const route = (rules: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
${rules}`;

test("the Gateway API's Gateway loads as a KubernetesGateway beside Istio's Gateway of the same name", () => {
  const text = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: x, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: x, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  const { resources, diagnostics } = loadText(text, 'gw.yaml');
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(
    resources.map((r) => [r.kind, r.apiVersion]),
    [
      ['KubernetesGateway', 'gateway.networking.k8s.io/v1'],
      ['Gateway', 'networking.istio.io/v1'],
    ],
  );
});

const invalid: [what: string, yaml: string, code: string, field: string, at: string][] = [
  [
    'a path that does not start with /',
    route(`  - matches: [{path: {type: PathPrefix, value: api}}]
    backendRefs: [{name: web, port: 80}]
`),
    'OR1024',
    'spec.rules[0].matches[0].path.value',
    '7:48',
  ],
  [
    'a Service backend without its port',
    route(`  - backendRefs:
    - name: web
`),
    'OR1022',
    'spec.rules[0].backendRefs[0]',
    '8:7',
  ],
  [
    'a filter whose field is not its type',
    route(`  - filters:
    - type: RequestHeaderModifier
      responseHeaderModifier: {set: [{name: a, value: b}]}
    backendRefs: [{name: web, port: 80}]
`),
    'OR1029',
    'spec.rules[0].filters[0].responseHeaderModifier',
    '9:7',
  ],
  [
    'a rule that both redirects and rewrites',
    route(`  - filters:
    - {type: RequestRedirect, requestRedirect: {scheme: https}}
    - {type: URLRewrite, urlRewrite: {hostname: a.example.com}}
`),
    'OR1029',
    'spec.rules[0].filters[1]',
    '9:7',
  ],
  [
    'ReplacePrefixMatch without a PathPrefix match',
    route(`  - matches: [{path: {type: Exact, value: /a}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}
    backendRefs: [{name: web, port: 80}]
`),
    'OR1024',
    'spec.rules[0].filters[0]',
    '9:7',
  ],
  [
    'a duration not in the API\'s format',
    route(`  - timeouts: {request: 1.5s}
    backendRefs: [{name: web, port: 80}]
`),
    'OR1025',
    'spec.rules[0].timeouts.request',
    '7:25',
  ],
  [
    'a backend timeout longer than the request timeout',
    route(`  - timeouts: {request: 1s, backendRequest: 2s}
    backendRefs: [{name: web, port: 80}]
`),
    'OR1024',
    'spec.rules[0].timeouts.backendRequest',
    '7:45',
  ],
  [
    'a GRPCRoute filter the API has no gRPC form of',
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: web, namespace: shop}
spec:
  rules:
  - matches: [{method: {service: shop.Greeter}}]
    filters: [{type: URLRewrite, urlRewrite: {hostname: a.example.com}}]
`,
    'OR1024',
    'spec.rules[0].filters[0].type',
    '7:22',
  ],
  [
    'a gRPC method match naming neither service nor method',
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: web, namespace: shop}
spec:
  rules:
  - matches: [{method: {type: Exact}}]
`,
    'OR1022',
    'spec.rules[0].matches[0].method',
    '6:16',
  ],
  [
    'an HTTPS listener without a certificate',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, port: 443, protocol: HTTPS}
`,
    'OR1022',
    'spec.listeners[0]',
    '7:5',
  ],
  [
    'a UDP listener (not served yet)',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: dns, port: 5353, protocol: UDP}
`,
    'OR1024',
    'spec.listeners[0].protocol',
    '7:39',
  ],
  [
    'a TLS listener without tls (its mode)',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: tls, port: 443, protocol: TLS}
`,
    'OR1022',
    'spec.listeners[0]',
    '7:5',
  ],
  [
    'a Passthrough TLS listener with a certificate',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: tls, port: 443, protocol: TLS, tls: {mode: Passthrough, certificateRefs: [{name: c}]}}
`,
    'OR1029',
    'spec.listeners[0].tls.certificateRefs',
    '7:68',
  ],
  [
    'a TLS listener that terminates without a certificate',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: tls, port: 443, protocol: TLS, tls: {mode: Terminate}}
`,
    'OR1022',
    'spec.listeners[0].tls',
    '7:43',
  ],
  [
    'a TLSRoute without rules',
    `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: web}]
  hostnames: [web.example.com]
  rules: []
`,
    'OR1024',
    'spec.rules',
    '7:3',
  ],
];

test('a BackendTLSPolicy needs one source of trust: a CA ConfigMap or System, not both, not neither', () => {
  const doc = (validation: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: api, namespace: shop}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  validation: ${validation}
`;
  const codes = (validation: string) => loadText(doc(validation), 'p.yaml').diagnostics.map((d) => [d.code, d.field]);
  assert.deepEqual(codes('{wellKnownCACertificates: System, hostname: api.example.com}'), []);
  assert.deepEqual(codes('{hostname: api.example.com}'), [['OR1022', 'spec.validation']]);
  assert.deepEqual(codes('{wellKnownCACertificates: System, caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: api.example.com}'), [['OR1029', 'spec.validation.wellKnownCACertificates']]);
  assert.deepEqual(codes('{wellKnownCACertificates: Mine, hostname: api.example.com}'), [['OR1023', 'spec.validation.wellKnownCACertificates']]);
  assert.deepEqual(codes('{wellKnownCACertificates: System, hostname: api.example.com, subjectAltNames: [{type: URI}]}'), [['OR1022', 'spec.validation.subjectAltNames[0]']]);
});

test('a TLSRoute loads in each version the API serves it in (v1alpha2, v1alpha3, v1)', () => {
  for (const version of ['v1alpha2', 'v1alpha3', 'v1']) {
    const { resources, diagnostics } = loadText(
      `apiVersion: gateway.networking.k8s.io/${version}
kind: TLSRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: web}]
  hostnames: [web.example.com]
  rules: [{backendRefs: [{name: web, port: 443}]}]
`,
      'tls.yaml',
    );
    assert.deepEqual(diagnostics, [], version);
    assert.deepEqual(
      resources.map((r) => r.kind),
      ['TLSRoute'],
      version,
    );
  }
});

test('invalid Gateway API documents: the code, field and place of each mistake', () => {
  for (const [what, yaml, code, field, at] of invalid) {
    const { resources, diagnostics } = loadText(yaml, 'bad.yaml');
    const hit = diagnostics.find((d) => d.code === code && d.field === field);
    assert.ok(hit, `${what}: want ${code} at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field} ${d.message}`).join(', ')}`);
    assert.equal(`${hit.span?.start.line}:${hit.span?.start.col}`, at, what);
    assert.ok(hit.fix, what);
    assert.equal(resources.length, 0, what);
  }
});

test("an allowedRoutes selector's expressions are checked as the API server checks a LabelSelector's", () => {
  const text = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: x, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchExpressions:
              - {key: env, operator: In}
              - {key: tier, operator: Exists, values: [web]}
              - {key: zone, operator: Near, values: [a]}
`;
  const found = loadText(text, 'gw.yaml').diagnostics.map((d) => `${d.code} ${d.span?.start.line}:${d.span?.start.col} ${d.field}`);
  assert.deepEqual(found, [
    'OR1022 15:17 spec.listeners[0].allowedRoutes.namespaces.selector.matchExpressions[0].values',
    'OR1024 16:47 spec.listeners[0].allowedRoutes.namespaces.selector.matchExpressions[1].values',
    'OR1023 17:39 spec.listeners[0].allowedRoutes.namespaces.selector.matchExpressions[2].operator',
  ]);
});

test('a ReferenceGrant with an empty to[].name or from[].namespace is refused, as the CRD (MinLength 1) is', () => {
  const { diagnostics } = loadText(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: ""}]
  to: [{group: "", kind: Secret, name: ""}, {group: "", kind: Secret}]
`);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error').map((d) => d.field),
    ['spec.from[0].namespace', 'spec.to[0].name'],
  );
});
