// The Istio and Kubernetes YAML the Outrigger pair runs from: a client and a server workload with
// sidecars, the origin Service with an HTTP, a TCP and a gRPC port, STRICT mTLS, and filler Services
// so the sidecars hold a realistic amount of config (100 services by default, as in the RSS target).

export const benchNamespace = 'bench';
/** Service ports of the origin as the client addresses them. */
export const originPorts = { http: 8080, tcp: 9000, grpc: 9090 } as const;
export const originHost = `origin.${benchNamespace}.svc.cluster.local`;

function deployment(name: string, ports: readonly number[]): string {
  const containerPorts = ports.length ? `\n          ports: [${ports.map((p) => `{ containerPort: ${p} }`).join(', ')}]` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${benchNamespace} }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name}, version: v1 } }
    spec:
      serviceAccountName: ${name}
      containers:
        - name: ${name}
          image: bench/${name}
          command: ["true"]${containerPorts}`;
}

export function benchMeshYaml(fillerServices: number): string {
  const docs = [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${benchNamespace}, labels: { istio-injection: enabled } }`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: client, namespace: ${benchNamespace} }`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: server, namespace: ${benchNamespace} }`,
    deployment('client', []),
    deployment('server', Object.values(originPorts)),
    `apiVersion: v1
kind: Service
metadata: { name: origin, namespace: ${benchNamespace} }
spec:
  selector: { app: server }
  ports:
    - { name: http, port: ${originPorts.http}, targetPort: ${originPorts.http} }
    - { name: tcp, port: ${originPorts.tcp}, targetPort: ${originPorts.tcp} }
    - { name: grpc, port: ${originPorts.grpc}, targetPort: ${originPorts.grpc} }`,
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: ${benchNamespace} }\nspec: { mtls: { mode: STRICT } }`,
  ];
  for (let i = 0; i < fillerServices; i++) {
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: filler${i}, namespace: ${benchNamespace} }\nspec: { selector: { app: filler${i} }, ports: [{ name: http, port: 8080 }] }`);
  }
  return `${docs.join('\n---\n')}\n`;
}
