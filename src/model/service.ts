// A mesh service: one host with ports, from a Kubernetes Service or a ServiceEntry host, and the
// workloads that back it. The registry shape every translator reads.
import type { Deployment, Service, ServiceEntry } from '../config/resource.ts';
import type { WorkloadEntrySpec } from '../config/types/networking.ts';
import { serviceFqdn } from './host.ts';
import { matchesLabels } from './labels.ts';
import { kubernetesPortProtocol, type Protocol, parseProtocol } from './protocol.ts';

export interface MeshServicePort {
  readonly name: string;
  readonly port: number;
  /**
   * The container port traffic is delivered to. A named targetPort is resolved per workload
   * (`targetPortName`, see snapshot.targetPortFor); this is its number in the first Deployment the
   * service selects, for what has no workload to ask (clusters, DNS endpoints).
   */
  readonly targetPort: number;
  /** A named `targetPort` (`http`), as Kubernetes resolves it: each pod's own container port of that name. */
  readonly targetPortName?: string;
  readonly protocol: Protocol;
}

export type Resolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';

export interface MeshService {
  /** The FQDN for Kubernetes services, the host as written for ServiceEntry. */
  readonly hostname: string;
  readonly namespace: string;
  /** Kubernetes Service name, or the ServiceEntry's name. */
  readonly name: string;
  readonly source: 'kubernetes' | 'service-entry';
  readonly ports: readonly MeshServicePort[];
  /** Selects the workloads behind the service; absent = no selected workloads. */
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly addresses: readonly string[];
  /** Raw exportTo tokens (`*`, `.`, `~`, namespace names); empty = `*`. */
  readonly exportTo: readonly string[];
  readonly location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  /** Kubernetes services resolve by their endpoints, like a STATIC ServiceEntry. */
  readonly resolution: Resolution;
  /** ServiceEntry endpoints, as written. */
  readonly staticEndpoints: readonly WorkloadEntrySpec[];
  /** A Kubernetes Service with `clusterIP: None` (Istio resolves it as Passthrough). */
  readonly headless?: true;
  /** A ServiceEntry's `subjectAltNames`: Istio's Service.ServiceAccounts, names its servers may present. */
  readonly subjectAltNames?: readonly string[];
}

const exportToAnnotation = 'networking.istio.io/exportTo';

/** Services from a Kubernetes Service; named target ports are resolved through matching Deployments. */
export function servicesFromKubernetes(svc: Service, deployments: readonly Deployment[]): MeshService[] {
  const selector = svc.spec.selector;
  const exportTo = (svc.metadata.annotations[exportToAnnotation] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ports: MeshServicePort[] = [];
  for (const p of svc.spec.ports ?? []) {
    const protocol = kubernetesPortProtocol(p);
    if (protocol === 'UDP') continue;
    const named = typeof p.targetPort === 'string' && !/^\d+$/.test(p.targetPort) ? p.targetPort : undefined;
    ports.push({
      name: p.name ?? '',
      port: p.port,
      targetPort: resolveTargetPort(p.targetPort, p.port, svc.metadata.namespace, selector, deployments),
      ...(named ? { targetPortName: named } : {}),
      protocol,
    });
  }
  const ip = svc.spec.clusterIP;
  return [
    Object.freeze({
      hostname: serviceFqdn(svc.metadata.name, svc.metadata.namespace),
      namespace: svc.metadata.namespace,
      name: svc.metadata.name,
      source: 'kubernetes',
      ports,
      selector,
      addresses: ip && ip !== 'None' ? [ip] : [],
      exportTo,
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      staticEndpoints: [],
      ...(ip === 'None' ? { headless: true as const } : {}),
    }),
  ];
}

function resolveTargetPort(
  target: number | string | undefined,
  port: number,
  namespace: string,
  selector: Record<string, string> | undefined,
  deployments: readonly Deployment[],
): number {
  if (target === undefined) return port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const d of deployments) {
    if (d.metadata.namespace !== namespace || !selector) continue;
    if (!matchesLabels(selector, d.spec.template.metadata?.labels ?? {})) continue;
    for (const c of d.spec.template.spec.containers) {
      const found = c.ports?.find((cp) => cp.name === target);
      if (found) return found.containerPort;
    }
  }
  return port;
}

/** One service per host of a ServiceEntry. */
export function servicesFromServiceEntry(se: ServiceEntry): MeshService[] {
  const spec = se.spec;
  const ports: MeshServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.number,
    targetPort: p.targetPort ?? p.number,
    protocol: parseProtocol(p.protocol),
  }));
  return spec.hosts.map((host) =>
    Object.freeze({
      hostname: host,
      namespace: se.metadata.namespace,
      name: se.metadata.name,
      source: 'service-entry' as const,
      ports,
      selector: spec.workloadSelector?.labels,
      addresses: spec.addresses ?? [],
      exportTo: spec.exportTo ?? [],
      location: spec.location ?? 'MESH_EXTERNAL',
      resolution: spec.resolution ?? 'NONE',
      staticEndpoints: spec.endpoints ?? [],
      ...(spec.subjectAltNames?.length ? { subjectAltNames: spec.subjectAltNames } : {}),
    }),
  );
}

/**
 * The named container ports of the workload with these pod labels: those of the first Deployment in its
 * namespace whose pod template it is (every template label on the pod).
 */
export function namedContainerPorts(deployments: readonly Deployment[], namespace: string, labels: Readonly<Record<string, string>>): Readonly<Record<string, number>> {
  for (const d of deployments) {
    if (d.metadata.namespace !== namespace) continue;
    const template = d.spec.template.metadata?.labels ?? {};
    if (Object.keys(template).length === 0 || !matchesLabels(template, labels)) continue;
    const out: Record<string, number> = {};
    for (const c of d.spec.template.spec.containers) for (const cp of c.ports ?? []) if (cp.name && out[cp.name] === undefined) out[cp.name] = cp.containerPort;
    return out;
  }
  return {};
}
