// Table tests per kind: a valid document loads clean in every accepted API version; each invalid
// variant yields exactly the expected codes at the expected field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiVersionsOf, kinds } from './kinds.ts';
import { loadText } from './load.ts';

const valid: Record<string, string> = {
  VirtualService: `spec:
  hosts: [podinfo.podinfo.svc.cluster.local, login.example.com]
  gateways: [mesh, istio-system/ingress]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "true"}}, uri: {prefix: /api}}]
    route: [{destination: {host: podinfo, subset: canary, port: {number: 9898}}}]
  - route:
    - {destination: {host: podinfo, subset: stable}, weight: 90}
    - {destination: {host: podinfo, subset: canary}, weight: 10, headers: {response: {set: {X-Version: canary}}}}
    timeout: 10s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset,connect-failure,503"}
    fault: {delay: {fixedDelay: 7s, percentage: {value: 0.1}}}
    corsPolicy: {allowOrigins: [{exact: "https://example.com"}], maxAge: 24h}
    mirror: {host: podinfo-shadow}
    mirrorPercentage: {value: 5}
  tcp:
  - route: [{destination: {host: db, port: {number: 5432}}}]
  tls:
  - match: [{sniHosts: [login.example.com], port: 443}]
    route: [{destination: {host: login}}]`,
  DestinationRule: `spec:
  host: podinfo.podinfo.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms}
      http: {http1MaxPendingRequests: 50, maxRequestsPerConnection: 2, h2UpgradePolicy: UPGRADE}
    outlierDetection: {consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 30s, maxEjectionPercent: 50}
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings: [{port: {number: 9898}, loadBalancer: {simple: LEAST_REQUEST}}]
  subsets:
  - {name: stable, labels: {version: stable}}
  - {name: canary, labels: {version: canary}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}`,
  Gateway: `spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [podinfo/podinfo.example.com]
    tls: {mode: SIMPLE, credentialName: podinfo-cert, minProtocolVersion: TLSV1_2}`,
  ServiceEntry: `spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  location: MESH_EXTERNAL
  resolution: DNS`,
  Sidecar: `spec:
  egress: [{hosts: ["./*", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}`,
  WorkloadEntry: `spec: {address: 10.0.0.7, labels: {app: vm}, ports: {http: 8080}, serviceAccount: vm}`,
  WorkloadGroup: `spec: {metadata: {labels: {app: vm}}, template: {serviceAccount: vm}, probe: {httpGet: {path: /ready, port: 8080}}}`,
  ProxyConfig: `spec: {concurrency: 2, environmentVariables: {A: b}}`,
  EnvoyFilter: `spec: {configPatches: []}`,
  PeerAuthentication: `spec:
  selector: {matchLabels: {app: podinfo}}
  mtls: {mode: STRICT}
  portLevelMtls: {"9898": {mode: PERMISSIVE}}`,
  AuthorizationPolicy: `spec:
  selector: {matchLabels: {app: podinfo}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account]}}]
    to: [{operation: {methods: [GET], paths: ["/api/*"], ports: ["9898"]}}]
    when: [{key: "request.headers[x-user]", values: [alice]}]`,
  RequestAuthentication: `spec:
  selector: {matchLabels: {app: podinfo}}
  jwtRules: [{issuer: "https://issuer.example.com", jwksUri: "https://issuer.example.com/jwks"}]`,
  Telemetry: `spec:
  tracing:
  - providers: [{name: otel}]
    randomSamplingPercentage: 100
    customTags: {env: {literal: {value: prod}}, user: {header: {name: x-user, defaultValue: anon}}}
  metrics: [{providers: [{name: prometheus}], overrides: [{match: {metric: REQUEST_COUNT}, tagOverrides: {x: {value: why}}}]}]
  accessLogging: [{providers: [{name: envoy}]}]`,
  IstioOperator: `spec:
  profile: default
  meshConfig:
    enableTracing: true
    accessLogFile: /dev/stdout
    defaultConfig: {tracing: {sampling: 100}, holdApplicationUntilProxyStarts: true}
    extensionProviders: [{name: otel, opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}}]
  components:
    ingressGateways: [{name: istio-ingressgateway, enabled: true, k8s: {resources: {requests: {cpu: 100m}}}}]
  values:
    global: {proxy: {resources: {limits: {memory: 256Mi}}}}`,
  Namespace: `spec: {}`,
  Service: `spec:
  selector: {app: podinfo}
  ports: [{name: http, port: 9898, targetPort: http}]`,
  ServiceAccount: `automountServiceAccountToken: false`,
  Secret: `type: Opaque
stringData: {password: s3cret}`,
  ConfigMap: `data: {config.yaml: "a: 1"}`,
  HTTPRoute: `spec:
  parentRefs: [{name: web-gateway, sectionName: http}, {group: "", kind: Service, name: podinfo, port: 9898}]
  hostnames: [podinfo.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: X-Canary, value: "true"}], method: GET}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-from, value: gateway-api}]}}]
    backendRefs: [{name: podinfo-canary, port: 9898, weight: 10}, {name: podinfo, port: 9898, weight: 90}]
    timeouts: {request: 10s, backendRequest: 2s}`,
  GRPCRoute: `spec:
  parentRefs: [{group: "", kind: Service, name: podinfo, port: 9898}]
  rules:
  - matches: [{method: {service: podinfo.Greeter, method: SayHello}, headers: [{name: x-canary, value: "true"}]}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-from, value: grpcroute}]}}]
    backendRefs: [{name: podinfo-canary, port: 9898}]
  - backendRefs: [{name: podinfo, port: 9898}]`,
  TCPRoute: `spec:
  parentRefs: [{name: db-gateway, sectionName: postgres}]
  rules: [{backendRefs: [{name: postgres, port: 5432, weight: 1}]}]`,
  TLSRoute: `spec:
  parentRefs: [{name: sni-gateway, sectionName: passthrough}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: shop, port: 8443}]}]`,
  BackendTLSPolicy: `spec:
  targetRefs: [{group: "", kind: Service, name: shop, sectionName: https}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: shop-ca}], hostname: shop.example.com}`,
  KubernetesGateway: `spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
  - {name: https, port: 443, protocol: HTTPS, tls: {mode: Terminate, certificateRefs: [{name: example-cert}]}}
  - {name: passthrough, port: 8443, protocol: TLS, tls: {mode: Passthrough}}`,
  GatewayClass: `spec: {controllerName: istio.io/gateway-controller}`,
  ReferenceGrant: `spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: frontend}]
  to: [{group: "", kind: Service}]`,
  Deployment: `spec:
  replicas: 2
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo, version: stable}}
    spec:
      serviceAccountName: podinfo
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.5.0
        command: [./podinfo, --port=9898]
        ports: [{containerPort: 9898, name: http}]
        env: [{name: PODINFO_UI_MESSAGE, value: stable}]
        readinessProbe: {httpGet: {path: /readyz, port: 9898}}
        resources: {requests: {cpu: 10m, memory: 64Mi}}`,
  Job: `spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: test, image: curlimages/curl, args: [http://podinfo:9898]}]`,
};

function doc(apiVersion: string, kind: string, body: string): string {
  const ns = kind === 'Namespace' || kind === 'GatewayClass' ? '' : '\n  namespace: podinfo';
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: example${ns}\n${body}\n`;
}

test('a valid document of every kind loads in every accepted API version', () => {
  for (const k of kinds) {
    const body = valid[k.typedKind ?? k.kind];
    assert.ok(body, `no example for ${k.kind}`);
    for (const apiVersion of apiVersionsOf(k)) {
      const { resources, diagnostics } = loadText(doc(apiVersion, k.kind, body), `${k.kind}.yaml`);
      const errors = diagnostics.filter((d) => d.severity !== 'info' && d.code !== 'OR1040');
      assert.deepEqual(errors, [], `${apiVersion} ${k.kind}`);
      assert.equal(resources.length, 1, `${apiVersion} ${k.kind}`);
      assert.equal(resources[0]?.kind, k.typedKind ?? k.kind);
    }
  }
});

const invalid: [kind: string, body: string, code: string, field: string][] = [
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a}}], directResponse: {status: 200}}]}', 'OR1029', 'spec.http[0].route'],
  ['VirtualService', 'spec: {hosts: [a], http: [{name: x}]}', 'OR1029', 'spec.http[0]'],
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a}, weight: -5}, {destination: {host: b}, weight: 105}]}]}', 'OR1030', 'spec.http[0].route[0].weight'],
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a}, weight: 0}, {destination: {host: b}, weight: 0}]}]}', 'OR1030', 'spec.http[0].route'],
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a}}], fault: {abort: {percentage: {value: 10}}}}]}', 'OR1029', 'spec.http[0].fault.abort'],
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a}}], match: [{uri: {exact: /a, prefix: /b}}]}]}', 'OR1029', 'spec.http[0].match[0].uri.prefix'],
  ['VirtualService', 'spec: {hosts: [a], tls: [{match: [], route: [{destination: {host: a}}]}]}', 'OR1024', 'spec.tls[0].match'],
  ['VirtualService', 'spec: {hosts: [a], http: [{route: [{destination: {host: a, port: {number: 0}}}]}]}', 'OR1028', 'spec.http[0].route[0].destination.port.number'],
  ['DestinationRule', 'spec: {host: a, trafficPolicy: {loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}}', 'OR1029', 'spec.trafficPolicy.loadBalancer.consistentHash'],
  ['DestinationRule', 'spec: {host: a, subsets: [{name: v1}, {name: v1}]}', 'OR1024', 'spec.subsets[1].name'],
  ['DestinationRule', 'spec: {host: a, trafficPolicy: {tls: {mode: MUTUAL}}}', 'OR1022', 'spec.trafficPolicy.tls'],
  ['DestinationRule', 'spec: {host: a, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/a/sa/a", ""]}}}', 'OR1024', 'spec.trafficPolicy.tls.subjectAltNames[1]'],
  ['ServiceEntry', 'spec: {hosts: [a.example.com], subjectAltNames: [" "]}', 'OR1024', 'spec.subjectAltNames[0]'],
  ['DestinationRule', 'spec: {host: a, trafficPolicy: {connectionPool: {tcp: {connectTimeout: 0s}}}}', 'OR1025', 'spec.trafficPolicy.connectionPool.tcp.connectTimeout'],
  ['Gateway', 'spec: {servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"]}]}', 'OR1022', 'spec.servers[0].port.protocol'],
  ['Gateway', 'spec: {servers: [{port: {number: 80, name: http, protocol: HTTPX}, hosts: ["*"]}]}', 'OR1023', 'spec.servers[0].port.protocol'],
  ['ServiceEntry', 'spec: {hosts: [a], resolution: STATIC}', 'OR1022', 'spec.resolution'],
  ['Sidecar', 'spec: {egress: [{hosts: [podinfo]}]}', 'OR1024', 'spec.egress[0].hosts[0]'],
  ['PeerAuthentication', 'spec: {mtls: {mode: STRICTER}}', 'OR1023', 'spec.mtls.mode'],
  ['PeerAuthentication', 'spec: {selector: {matchLabels: {app: a}}, portLevelMtls: {"99999": {mode: STRICT}}}', 'OR1028', 'spec.portLevelMtls.99999'],
  ['AuthorizationPolicy', 'spec: {action: CUSTOM}', 'OR1022', 'spec.action'],
  ['AuthorizationPolicy', 'spec: {rules: [{to: [{operation: {ports: [http]}}]}]}', 'OR1028', 'spec.rules[0].to[0].operation.ports[0]'],
  ['AuthorizationPolicy', 'spec: {rules: [{when: [{key: source.ip}]}]}', 'OR1022', 'spec.rules[0].when[0]'],
  ['RequestAuthentication', 'spec: {jwtRules: [{issuer: x, jwks: "{}", jwksUri: "https://x"}]}', 'OR1024', 'spec.jwtRules[0].jwks'],
  ['RequestAuthentication', 'spec: {jwtRules: [{issuer: x, jwks: "not json"}]}', 'OR1024', 'spec.jwtRules[0].jwks'],
  ['RequestAuthentication', 'spec: {jwtRules: [{issuer: x, jwks: \'{"keys": {}}\'}]}', 'OR1024', 'spec.jwtRules[0].jwks'],
  ['Telemetry', 'spec: {tracing: [{randomSamplingPercentage: 101}]}', 'OR1024', 'spec.tracing[0].randomSamplingPercentage'],
  ['Telemetry', 'spec: {tracing: [{customTags: {a: {}}}]}', 'OR1029', 'spec.tracing[0].customTags.a'],
  ['IstioOperator', 'spec: {meshConfig: {accessLogEncoding: XML}}', 'OR1023', 'spec.meshConfig.accessLogEncoding'],
  ['IstioOperator', 'spec: {meshConfig: {trustDomain: Example.Com}}', 'OR1024', 'spec.meshConfig.trustDomain'],
  // A service account makes the SPIFFE ID: with a '/' it would read as istiod's (ns/x/ns/istio-system/sa/istiod).
  ['Deployment', 'spec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: {serviceAccountName: x/ns/istio-system/sa/istiod, containers: [{name: a}]}}}', 'OR1013', 'spec.template.spec.serviceAccountName'],
  ['WorkloadEntry', 'spec: {address: 10.0.0.5, serviceAccount: x/ns/istio-system/sa/istiod}', 'OR1013', 'spec.serviceAccount'],
  ['IstioOperator', 'spec: {component: {}}', 'OR1020', 'spec.component'],
  ['Service', 'spec: {ports: [{port: 80, protocl: TCP}]}', 'OR1020', 'spec.ports[0].protocl'],
  ['Deployment', 'spec: {selector: {}, template: {spec: {containers: []}}}', 'OR1024', 'spec.template.spec.containers'],
  ['Deployment', 'spec: {selector: {}, template: {spec: {containers: [{name: a, ports: [{containerPort: "80"}]}]}}}', 'OR1021', 'spec.template.spec.containers[0].ports[0].containerPort'],
  ['Job', 'spec: {template: {spec: {restartPolicy: Sometimes, containers: [{name: a}]}}}', 'OR1023', 'spec.template.spec.restartPolicy'],
  ['Secret', 'data: {a: "!!"}', 'OR1032', 'data.a'],
  ['ConfigMap', 'data: {a: 1}', 'OR1021', 'data.a'],
];

test('invalid documents: the expected code at the expected field', () => {
  for (const [kind, body, code, field] of invalid) {
    const k = kinds.find((x) => x.kind === kind);
    assert.ok(k);
    const apiVersion = apiVersionsOf(k).at(-1) as string;
    const { resources, diagnostics } = loadText(doc(apiVersion, kind, body), 'bad.yaml');
    const hit = diagnostics.find((d) => d.code === code && d.field === field);
    assert.ok(hit, `${kind} ${body}: want ${code} at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.ok(hit.span && hit.span.start.line >= 5, 'located inside the document');
    if (hit.severity === 'error') assert.equal(resources.length, 0);
  }
});
