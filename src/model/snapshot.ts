// The immutable, indexed view of the mesh at one moment: valid resources plus workload instances,
// with the services they define and lookups by host, namespace and selector.
import type {
  AnyResource,
  Deployment,
  DestinationRule,
  Gateway,
  Service,
  ServiceEntry,
  SidecarResource,
  VirtualService,
  WorkloadEntry,
} from '../config/resource.ts';
import type { WorkloadEntrySpec } from '../config/types/networking.ts';
import { withGatewayApi } from './gateway-api/convert.ts';
import { hostAliases, resolveHost } from './host.ts';
import { matchesLabels } from './labels.ts';
import { type MeshSettings, meshSettingsFrom } from './mesh-config.ts';
import { type MeshService, type MeshServicePort, namedContainerPorts, servicesFromKubernetes, servicesFromServiceEntry } from './service.ts';
import type { WorkloadInstance } from './workload.ts';
import { creationSecond } from './gateway-api/references.ts';

export interface MeshSnapshot {
  /** Changes whenever anything in the snapshot changes; used as the xDS version. */
  readonly version: string;
  readonly resources: readonly AnyResource[];
  readonly workloads: readonly WorkloadInstance[];
  readonly mesh: MeshSettings;
  /** Every service, sorted by hostname then namespace. */
  readonly services: readonly MeshService[];
  /**
   * Every service, oldest first (Istio's SortServicesByCreationTime: the creation second of its Service or
   * ServiceEntry, then the Service's name or the ServiceEntry host, then namespace): who wins a hostname.
   */
  readonly servicesByAge: readonly MeshService[];
  /** Hostname (FQDN, ServiceEntry host, and `name.ns` / `name.ns.svc` forms) → services defining it. */
  readonly servicesByHost: ReadonlyMap<string, readonly MeshService[]>;
  readonly servicesByNamespace: ReadonlyMap<string, readonly MeshService[]>;
  readonly workloadsByNamespace: ReadonlyMap<string, readonly WorkloadInstance[]>;
  /**
   * Workloads selected by the services of a `namespace/hostname`, keyed so: a Kubernetes Service and the
   * ServiceEntries of its host in its namespace pool theirs, as Istio's endpoint shards of that key.
   */
  readonly endpointsByService: ReadonlyMap<string, readonly WorkloadInstance[]>;
  /** The ServiceEntry endpoints of every service of a `namespace/hostname`, keyed as `endpointsByService`. */
  readonly staticEndpointsByService: ReadonlyMap<string, readonly StaticEndpoint[]>;
  /** VirtualServices with hosts, sorted by name then namespace (Istio's order); keyed by each host resolved against the VS namespace. */
  readonly virtualServices: readonly VirtualService[];
  readonly virtualServicesByHost: ReadonlyMap<string, readonly VirtualService[]>;
  /** The wildcard keys (`*`, `*.example.com`) of `virtualServicesByHost`, longest first. */
  readonly virtualServiceWildcards: readonly string[];
  /** Every VirtualService by `namespace/name` (delegates included). */
  readonly virtualServiceByKey: ReadonlyMap<string, VirtualService>;
  readonly destinationRules: readonly DestinationRule[];
  readonly destinationRulesByHost: ReadonlyMap<string, readonly DestinationRule[]>;
  /** The wildcard keys of `destinationRulesByHost`, longest first. */
  readonly destinationRuleWildcards: readonly string[];
  readonly gateways: readonly Gateway[];
  readonly gatewayByKey: ReadonlyMap<string, Gateway>;
  readonly sidecars: readonly SidecarResource[];
  /**
   * The container port a service port delivers to on one workload: a named targetPort is that workload's
   * own container port of the name (Kubernetes resolves it per pod, so stable and canary may differ).
   */
  targetPortFor(port: MeshServicePort, workload: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> }): number;
}

/** A ServiceEntry endpoint and the service that declares it (whose ports its `ports` name). */
export interface StaticEndpoint {
  readonly spec: WorkloadEntrySpec;
  readonly service: MeshService;
}

/** `namespace/hostname`, the key of `endpointsByService`. */
export function serviceKey(s: MeshService): string {
  return `${s.namespace}/${s.hostname}`;
}

export function buildSnapshot(
  input: readonly AnyResource[],
  workloads: readonly WorkloadInstance[],
  version: string,
  /** The trust domain the mesh's CA issues identities in, when it is not the config's (see ControlPlane). */
  trustDomain?: string,
): MeshSnapshot {
  // The Gateway API stands for Istio Gateways and VirtualServices: converted here, once, so that all
  // that reads the snapshot (translation, explain, proxyless gRPC) sees the Istio config it means.
  const resources = withGatewayApi(input);
  const byKind = groupByKind(resources);
  const deployments = byKind<Deployment>('Deployment');
  const services: MeshService[] = [];
  const created = new Map<MeshService, number>();
  for (const s of byKind<Service>('Service')) {
    for (const m of servicesFromKubernetes(s, deployments)) created.set(m, creationSecond(s));
  }
  for (const se of byKind<ServiceEntry>('ServiceEntry')) {
    for (const m of servicesFromServiceEntry(se)) created.set(m, creationSecond(se));
  }
  services.push(...created.keys());
  // A Kubernetes service is named by its name, a ServiceEntry's by its host (Istio's Attributes.Name).
  const ageName = (s: MeshService) => (s.source === 'kubernetes' ? s.name : s.hostname);
  const servicesByAge = [...services].sort(
    (a, b) => (created.get(a) ?? 0) - (created.get(b) ?? 0) || cmp(ageName(a), ageName(b)) || cmp(a.namespace, b.namespace),
  );
  services.sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace));

  const allWorkloads = [...workloads, ...workloadEntryInstances(byKind<WorkloadEntry>('WorkloadEntry'), workloads)];
  const workloadsByNamespace = groupBy(allWorkloads, (w) => [w.namespace]);
  const servicesByHost = groupBy(services, (s) => hostAliases(s.hostname, ''));
  const servicesByNamespace = groupBy(services, (s) => [s.namespace]);
  // Istio keys endpoint shards by hostname and namespace, so every registry's endpoints of a key (a
  // Service's pods, a ServiceEntry's selected workloads and endpoints) back whichever service wins it.
  const selected = new Map<string, Set<WorkloadInstance>>();
  const staticEndpointsByService = new Map<string, StaticEndpoint[]>();
  for (const s of services) {
    const key = serviceKey(s);
    const workloadSet = selected.get(key) ?? new Set<WorkloadInstance>();
    selected.set(key, workloadSet);
    const selector = s.selector;
    if (selector) for (const w of workloadsByNamespace.get(s.namespace) ?? []) if (matchesLabels(selector, w.labels)) workloadSet.add(w);
    const statics = staticEndpointsByService.get(key) ?? [];
    staticEndpointsByService.set(key, statics);
    for (const spec of s.staticEndpoints) statics.push({ spec, service: s });
  }
  const endpointsByService = new Map<string, readonly WorkloadInstance[]>([...selected].map(([k, ws]) => [k, [...ws]]));

  // Istio orders VirtualServices by creation time, then name, then namespace (sortConfigByCreationTime).
  // A manifest that carries its creationTimestamp (an export) was created then; one without is
  // created now, after every exported one, and manifests applied together share their second.
  const allVs = byKind<VirtualService>('VirtualService').sort(
    (a, b) => creationSecond(a) - creationSecond(b) || cmp(a.metadata.name, b.metadata.name) || cmp(a.metadata.namespace, b.metadata.namespace),
  );
  const virtualServices = allVs.filter((vs) => (vs.spec.hosts ?? []).length > 0);
  const virtualServicesByHost = groupBy(virtualServices, (vs) =>
    (vs.spec.hosts ?? []).map((h) => resolveHost(h, vs.metadata.namespace)),
  );
  const destinationRules = sortByKey(byKind<DestinationRule>('DestinationRule'));
  const destinationRulesByHost = groupBy(destinationRules, (dr) => [resolveHost(dr.spec.host, dr.metadata.namespace)]);
  const gateways = sortByKey(byKind<Gateway>('Gateway'));

  return Object.freeze({
    version,
    resources,
    workloads: allWorkloads,
    mesh: withTrustDomain(meshSettingsFrom(resources), trustDomain),
    services,
    servicesByAge,
    servicesByHost,
    servicesByNamespace,
    workloadsByNamespace,
    endpointsByService,
    staticEndpointsByService,
    virtualServices,
    virtualServicesByHost,
    virtualServiceWildcards: wildcards(virtualServicesByHost),
    virtualServiceByKey: new Map(allVs.map((vs) => [objectKey(vs), vs])),
    destinationRules,
    destinationRulesByHost,
    destinationRuleWildcards: wildcards(destinationRulesByHost),
    gateways,
    gatewayByKey: new Map(gateways.map((g) => [objectKey(g), g])),
    sidecars: sortByKey(byKind<SidecarResource>('Sidecar')),
    targetPortFor: targetPortResolver(deployments),
  });
}

/** Per snapshot: the named container ports of each workload, by namespace and pod labels. */
function targetPortResolver(deployments: readonly Deployment[]): MeshSnapshot['targetPortFor'] {
  const named = new Map<string, Readonly<Record<string, number>>>();
  return (port, w) => {
    if (port.targetPortName === undefined) return port.targetPort;
    const key = `${w.namespace}\u0000${Object.entries(w.labels)
      .sort(([a], [b]) => cmp(a, b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`;
    let ports = named.get(key);
    if (!ports) {
      ports = namedContainerPorts(deployments, w.namespace, w.labels);
      named.set(key, ports);
    }
    return ports[port.targetPortName] ?? port.targetPort;
  };
}

/** `namespace/name` of a resource. */
export function objectKey(r: { metadata: { name: string; namespace: string } }): string {
  return `${r.metadata.namespace}/${r.metadata.name}`;
}

/**
 * The service a host names, seen from `fromNamespace`: short names resolve against it; when several
 * namespaces define the host (ServiceEntries), the caller's own namespace wins, then the first.
 */
export function lookupService(snapshot: MeshSnapshot, host: string, fromNamespace: string): MeshService | undefined {
  const list = snapshot.servicesByHost.get(resolveHost(host, fromNamespace)) ?? snapshot.servicesByHost.get(host);
  if (!list || list.length === 0) return undefined;
  return list.find((s) => s.namespace === fromNamespace) ?? list[0];
}

function workloadEntryInstances(entries: readonly WorkloadEntry[], known: readonly WorkloadInstance[]): WorkloadInstance[] {
  const seen = new Set(known.map((w) => `${w.namespace}/${w.name}`));
  const out: WorkloadInstance[] = [];
  for (const we of entries) {
    if (seen.has(objectKey(we)) || !we.spec.address) continue;
    const ports: Record<number, number> = {};
    for (const p of Object.values(we.spec.ports ?? {})) ports[p] = p;
    out.push({
      name: we.metadata.name,
      namespace: we.metadata.namespace,
      labels: { ...we.metadata.labels, ...we.spec.labels },
      serviceAccount: we.spec.serviceAccount ?? 'default',
      address: we.spec.address,
      appPorts: ports,
      ...(we.spec.ports ? { portsByName: { ...we.spec.ports } } : {}),
      healthy: true,
      ...(we.spec.locality ? { locality: we.spec.locality } : {}),
      source: 'workload-entry',
    });
  }
  return out;
}

function wildcards(byHost: ReadonlyMap<string, unknown>): string[] {
  return [...byHost.keys()].filter((h) => h.startsWith('*')).sort((a, b) => b.length - a.length);
}

function groupByKind(resources: readonly AnyResource[]): <T>(kind: string) => T[] {
  const map = new Map<string, AnyResource[]>();
  for (const r of resources) {
    const list = map.get(r.kind);
    if (list) list.push(r);
    else map.set(r.kind, [r]);
  }
  return <T>(kind: string) => (map.get(kind) ?? []) as T[];
}

function groupBy<T>(items: readonly T[], keys: (item: T) => readonly string[]): Map<string, readonly T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    for (const k of new Set(keys(item))) {
      const list = map.get(k);
      if (list) list.push(item);
      else map.set(k, [item]);
    }
  }
  return map;
}

function sortByKey<T extends { metadata: { name: string; namespace: string } }>(list: T[]): T[] {
  return list.sort((a, b) => cmp(objectKey(a), objectKey(b)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function withTrustDomain(mesh: MeshSettings, trustDomain: string | undefined): MeshSettings {
  if (trustDomain === undefined || trustDomain === mesh.trustDomain) return mesh;
  // The configured domain names the same mesh as the CA's until a restart applies it: it joins the
  // aliases, so a policy written for it still matches the identities the CA issues (a DENY stays shut).
  const aliases = [...new Set([mesh.trustDomain, ...mesh.trustDomainAliases])].filter((td) => td !== trustDomain);
  return Object.freeze({ ...mesh, trustDomain, trustDomainAliases: aliases });
}
