// Turns manifests into what `outrigger up` runs: the gateways, and every workload instance with its
// containers, whether it gets a sidecar, and its service account. Pure: no ports, no processes.
import type { AnyResource, Deployment, IstioOperator, Job, Namespace, Service } from '../config/resource.ts';
import type { Container, PodTemplate } from '../config/types/kubernetes.ts';
import { deployedGatewayName, GATEWAY_NAME_LABEL, MANAGED_BY_ISTIO, MANAGED_LABEL } from '../model/gateway-api/gateways.ts';
import { indexGatewayApi } from '../model/gateway-api/references.ts';
import { meshSettingsFrom } from '../model/mesh-config.ts';
import { proxyStatsMatcherFor } from '../model/proxy-stats-matcher.ts';
import type { ProxyStatsMatcher } from '../telemetry/metrics/stats-matcher.ts';

export interface PlannedWorkload {
  /** `podinfo-stable-0`; Jobs: `mesh-test-runner-0`. */
  name: string;
  namespace: string;
  /** The owning Deployment or Job. */
  owner: { kind: 'Deployment' | 'Job'; name: string };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
  containers: Container[];
  sidecar: boolean;
  /** Its sidecar's proxyStatsMatcher (mesh default, then the pod template's annotations); absent: every stat. */
  statsMatcher?: ProxyStatsMatcher;
  /** A Job's instance runs to completion; a Deployment's is restarted. */
  runToCompletion: boolean;
  /** A Job's `backoffLimit` (Kubernetes' default 6): the restarts of a failing instance before it is failed. */
  backoffLimit?: number;
}

export interface PlannedGateway {
  /** `istio-ingressgateway`: the gateway's Deployment, its workload. */
  name: string;
  /**
   * Its one pod, `istio-ingressgateway-0`, named as every Deployment's pods are here (`NAME-INDEX`), so the
   * node id, POD_NAME (the seed's `pod_name` span tag), proxy-status and Prometheus' `pod` label all say
   * it, and `pod=~"istio-ingressgateway-.*"` (the seed's IstioGatewayUnhealthy alert) selects it.
   */
  podName: string;
  namespace: string;
  labels: Record<string, string>;
  /** `istio-ingressgateway-service-account`, as Istio's charts name a gateway's: its proxy's identity. */
  serviceAccount: string;
  kind: 'ingress' | 'egress';
  /**
   * The Gateway API Gateway this proxy was deployed for (Istio's automated deployment, `<name>-istio`):
   * its listener ports are bound on free host ports, not the ingress's 8080 and 8443.
   */
  gatewayApi?: { namespace: string; name: string; listeners: GatewayApiListenerPort[] };
  /** The mesh's defaultConfig.proxyStatsMatcher; absent: every stat. */
  statsMatcher?: ProxyStatsMatcher;
}

/** A Gateway API listener port and its protocol (HTTP, HTTPS, TLS, TCP): what `up` and `status` list. */
export interface GatewayApiListenerPort {
  port: number;
  protocol: string;
}

export interface MeshPlan {
  workloads: PlannedWorkload[];
  gateways: PlannedGateway[];
  services: Service[];
  rootNamespace: string;
  /** Things that cannot run locally, said once each. */
  notes: string[];
}

const defaultIngress: PlannedGateway = {
  name: 'istio-ingressgateway',
  podName: 'istio-ingressgateway-0',
  namespace: 'istio-system',
  labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  serviceAccount: 'istio-ingressgateway-service-account',
  kind: 'ingress',
};

/** Whether pods in this namespace, with these pod annotations/labels, get a sidecar (Istio's injection rules). */
export function injectionEnabled(ns: Namespace | undefined, podMeta: { labels: Record<string, string>; annotations: Record<string, string> }): boolean {
  const podOverride = podMeta.labels['sidecar.istio.io/inject'] ?? podMeta.annotations['sidecar.istio.io/inject'];
  const nsLabels = ns?.metadata.labels ?? {};
  const nsSays = nsLabels['istio-injection'];
  if (nsSays === 'disabled') return false;
  const nsOn = nsSays === 'enabled' || nsLabels['istio.io/rev'] !== undefined;
  if (podOverride === 'false') return false;
  if (podOverride === 'true') return nsOn || nsSays === undefined;
  return nsOn;
}

function podOf(template: PodTemplate): { labels: Record<string, string>; annotations: Record<string, string> } {
  return { labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {} };
}

function gatewaysFrom(operator: IstioOperator | undefined): PlannedGateway[] {
  const components = operator?.spec.components;
  if (!components) return [defaultIngress];
  const out: PlannedGateway[] = [];
  for (const [list, kind] of [
    [components.ingressGateways, 'ingress'],
    [components.egressGateways, 'egress'],
  ] as const) {
    for (const c of list ?? []) {
      if (c.enabled === false) continue;
      const name = c.name ?? (kind === 'ingress' ? 'istio-ingressgateway' : 'istio-egressgateway');
      const labels = { app: name, istio: kind === 'ingress' ? 'ingressgateway' : 'egressgateway', ...(c.label ?? {}) };
      out.push({ name, podName: `${name}-0`, namespace: c.namespace ?? 'istio-system', labels, serviceAccount: `${name}-service-account`, kind });
    }
  }
  if (!(components.ingressGateways ?? []).length && !out.some((g) => g.kind === 'ingress')) out.unshift(defaultIngress);
  return out;
}

export function planMesh(resources: readonly AnyResource[]): MeshPlan {
  const namespaces = new Map<string, Namespace>();
  const services: Service[] = [];
  const owners: (Deployment | Job)[] = [];
  let operator: IstioOperator | undefined;
  for (const r of resources) {
    if (r.kind === 'Namespace') namespaces.set(r.metadata.name, r as Namespace);
    else if (r.kind === 'Service') services.push(r as Service);
    else if (r.kind === 'Deployment' || r.kind === 'Job') owners.push(r as Deployment | Job);
    else if (r.kind === 'IstioOperator') operator ??= r as IstioOperator;
  }
  const rootNamespace = (operator?.spec.meshConfig?.rootNamespace as string | undefined) ?? 'istio-system';
  const meshStats = meshSettingsFrom(resources).proxyStatsMatcher;
  const workloads: PlannedWorkload[] = [];
  const notes: string[] = [];
  for (const owner of owners) {
    const template = owner.spec.template;
    const pod = podOf(template);
    const replicas = owner.kind === 'Deployment' ? ((owner as Deployment).spec.replicas ?? 1) : ((owner as Job).spec.parallelism ?? 1);
    if (replicas === 0) notes.push(`${owner.kind} ${owner.metadata.namespace}/${owner.metadata.name}: 0 replicas, nothing to run`);
    const sidecar = injectionEnabled(namespaces.get(owner.metadata.namespace), pod);
    // Istio reads the pod's annotations, not its Deployment's.
    const statsMatcher = sidecar ? proxyStatsMatcherFor(meshStats, pod.annotations) : undefined;
    for (let i = 0; i < replicas; i++) {
      workloads.push({
        name: `${owner.metadata.name}-${i}`,
        namespace: owner.metadata.namespace,
        owner: { kind: owner.kind as 'Deployment' | 'Job', name: owner.metadata.name },
        labels: { ...pod.labels },
        annotations: { ...owner.metadata.annotations, ...pod.annotations },
        serviceAccount: template.spec.serviceAccountName ?? 'default',
        containers: template.spec.containers,
        sidecar,
        ...(statsMatcher ? { statsMatcher } : {}),
        runToCompletion: owner.kind === 'Job',
        ...(owner.kind === 'Job' ? { backoffLimit: (owner as Job).spec.backoffLimit ?? 6 } : {}),
      });
    }
  }
  const gateways = [...gatewaysFrom(operator), ...deployedGateways(resources)].map((g) => (meshStats ? { ...g, statsMatcher: meshStats } : g));
  return { workloads, gateways, services, rootNamespace, notes };
}

/** A proxy for each Gateway API Gateway of Istio's class, as Istio deploys one: `<name>-istio` in its namespace. */
export function deployedGateways(resources: readonly AnyResource[]): PlannedGateway[] {
  if (!resources.some((r) => r.kind === 'KubernetesGateway')) return [];
  const index = indexGatewayApi(resources);
  return index.gateways
    .filter((gw) => index.istioClass(gw.spec.gatewayClassName))
    .map((gw) => {
      const name = deployedGatewayName(gw);
      const labels = { ...gw.spec.infrastructure?.labels, [GATEWAY_NAME_LABEL]: gw.metadata.name, [MANAGED_LABEL]: MANAGED_BY_ISTIO };
      return { name, podName: `${name}-0`, namespace: gw.metadata.namespace, labels, serviceAccount: name, kind: 'ingress', gatewayApi: { namespace: gw.metadata.namespace, name: gw.metadata.name, listeners: listenerPorts(gw.spec.listeners) } };
    });
}

/** Each listener port once, with the first listener's protocol on it, in port order. */
function listenerPorts(listeners: readonly { port: number; protocol: string }[]): GatewayApiListenerPort[] {
  const out = new Map<number, GatewayApiListenerPort>();
  for (const l of listeners) if (!out.has(l.port)) out.set(l.port, { port: l.port, protocol: l.protocol });
  return [...out.values()].sort((a, b) => a.port - b.port);
}
