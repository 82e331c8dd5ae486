// The indexes every analyzer reads, built once per run: resources by kind, services by host, the
// workloads the manifests will run (with whether they get a proxy), namespaces and mesh settings.
import type {
  AnyResource,
  Deployment,
  DestinationRule,
  ForeignResource,
  Gateway,
  IstioOperator,
  Job,
  Namespace,
  Service,
  ServiceEntry,
  WorkloadEntry,
} from '../config/resource.ts';
import type { PodTemplate } from '../config/types/kubernetes.ts';
import type { ComponentSpec } from '../config/types/other.ts';
import { type MeshSettings, meshSettingsFrom } from '../model/mesh-config.ts';
import { fqdn, hostMatches } from './hosts.ts';
import { selects } from './selector.ts';
import { deployedGateways } from '../runtime/plan.ts';
import { qualifyGateway } from '../model/virtual-service-merge.ts';

export interface AnalyzedWorkload {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** Gets an Istio proxy: injected sidecar, gateway, or a WorkloadEntry (VMs run their own proxy). */
  meshed: boolean;
  kind: 'Deployment' | 'Job' | 'Pod' | 'Gateway' | 'WorkloadEntry';
  /** Gateway Service ports declared in the IstioOperator component (gateways only). */
  servicePorts?: { port: number; targetPort?: number }[];
}

/** Istio's own workloads and Services (util.IsIstioControlPlane): labelled `istio`, or `release: istio`. */
export function controlPlane(labels: Readonly<Record<string, string>>): boolean {
  return labels['istio'] !== undefined || labels['release'] === 'istio';
}

/** Namespaces Istio never injects and never reports on for injection (util.IsSystemNamespace). */
export const systemNamespaces: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

function podMeta(t: PodTemplate): { labels: Record<string, string>; annotations: Record<string, string> } {
  return { labels: t.metadata?.labels ?? {}, annotations: t.metadata?.annotations ?? {} };
}

/** Istio's injection decision: namespace label, then the pod's `sidecar.istio.io/inject` override. */
export function injected(ns: Namespace | undefined, pod: { labels: Record<string, string>; annotations: Record<string, string> }): boolean {
  const labels = ns?.metadata.labels ?? {};
  if (labels['istio-injection'] === 'disabled') return false;
  const nsOn = labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined;
  const override = pod.labels['sidecar.istio.io/inject'] ?? pod.annotations['sidecar.istio.io/inject'];
  if (override === 'false') return false;
  if (override === 'true') return true;
  return nsOn;
}

function gatewayWorkloads(operator: IstioOperator | undefined): AnalyzedWorkload[] {
  const components = operator?.spec.components;
  const out: AnalyzedWorkload[] = [];
  const lists: [ComponentSpec[] | undefined, 'ingress' | 'egress'][] = [
    [components?.ingressGateways, 'ingress'],
    [components?.egressGateways, 'egress'],
  ];
  for (const [list, kind] of lists) {
    // Istio's default profile installs an ingress gateway when the operator does not list any.
    const specs = list ?? (kind === 'ingress' ? [{}] : []);
    for (const c of specs) {
      if (c.enabled === false) continue;
      const name = c.name ?? `istio-${kind}gateway`;
      const service = (c.k8s?.['service'] ?? {}) as { ports?: { port: number; targetPort?: number }[] };
      out.push({
        name,
        namespace: c.namespace ?? 'istio-system',
        labels: { app: name, istio: `${kind}gateway`, ...(c.label ?? {}) },
        serviceAccount: `${name}-service-account`,
        meshed: true,
        kind: 'Gateway',
        ...(service.ports ? { servicePorts: service.ports } : {}),
      });
    }
  }
  return out;
}

export class AnalysisContext {
  readonly resources: readonly AnyResource[];
  readonly rootNamespace: string;
  readonly trustDomain: string;
  /** The mesh settings translation uses (the meshConfig of the first IstioOperator that has one). */
  readonly mesh: MeshSettings;
  /** The first IstioOperator (its gateway components); its meshConfig may not be the one in force. */
  readonly operator: IstioOperator | undefined;
  readonly namespaces = new Map<string, Namespace>();
  readonly workloads: AnalyzedWorkload[] = [];
  /** Kubernetes Services by FQDN. */
  readonly services = new Map<string, Service>();
  #byKind = new Map<string, AnyResource[]>();
  readonly #scopedHosts: Map<string, Service | ServiceEntry>;

  constructor(resources: readonly AnyResource[]) {
    this.resources = resources;
    for (const r of resources) {
      const list = this.#byKind.get(r.kind) ?? [];
      list.push(r);
      this.#byKind.set(r.kind, list);
    }
    this.operator = this.ofKind<IstioOperator>('IstioOperator')[0];
    // As translation and the CA take them: from the first IstioOperator with a meshConfig, defaults if empty.
    this.mesh = meshSettingsFrom(resources);
    this.rootNamespace = this.mesh.rootNamespace;
    this.trustDomain = this.mesh.trustDomain;
    for (const ns of this.ofKind<Namespace>('Namespace')) this.namespaces.set(ns.metadata.name, ns);
    for (const s of this.ofKind<Service>('Service')) this.services.set(fqdn(s.metadata.name, s.metadata.namespace), s);
    this.#scopedHosts = this.#buildScopedHosts();
    for (const owner of [...this.ofKind<Deployment>('Deployment'), ...this.ofKind<Job>('Job')]) {
      const pod = podMeta(owner.spec.template);
      this.workloads.push({
        name: owner.metadata.name,
        namespace: owner.metadata.namespace,
        labels: pod.labels,
        serviceAccount: owner.spec.template.spec.serviceAccountName ?? 'default',
        meshed: injected(this.namespaces.get(owner.metadata.namespace), pod),
        kind: owner.kind,
      });
    }
    // Pods are what every Istio analyzer reads; Outrigger does not start them, but a manifest set may
    // describe its workloads as Pods (kept by the loader as a foreign kind for this).
    for (const p of this.ofKind<ForeignResource>('Pod')) {
      const account = (p.spec as { serviceAccountName?: unknown }).serviceAccountName;
      this.workloads.push({
        name: p.metadata.name,
        namespace: p.metadata.namespace,
        labels: p.metadata.labels,
        serviceAccount: typeof account === 'string' ? account : 'default',
        meshed: injected(this.namespaces.get(p.metadata.namespace), p.metadata),
        kind: 'Pod',
      });
    }
    for (const we of this.ofKind<WorkloadEntry>('WorkloadEntry')) {
      this.workloads.push({
        name: we.metadata.name,
        namespace: we.metadata.namespace,
        labels: we.spec.labels ?? {},
        serviceAccount: we.spec.serviceAccount ?? 'default',
        meshed: true,
        kind: 'WorkloadEntry',
      });
    }
    this.workloads.push(...gatewayWorkloads(this.operator));
    // The proxies deployed for Gateway API Gateways (`<name>-istio`), as `up` plans them.
    for (const g of deployedGateways(resources)) {
      this.workloads.push({ name: g.name, namespace: g.namespace, labels: g.labels, serviceAccount: g.serviceAccount, meshed: true, kind: 'Gateway' });
    }
  }

  ofKind<R extends AnyResource>(kind: R['kind']): R[] {
    return (this.#byKind.get(kind) ?? []) as R[];
  }

  /** Whether a namespace is known: declared, or holding any resource. */
  namespaceKnown(name: string): boolean {
    return this.namespaces.has(name) || this.resources.some((r) => r.metadata.namespace === name);
  }

  isSystemNamespace(name: string): boolean {
    return systemNamespaces.has(name) || name === this.rootNamespace;
  }

  /** The Service or ServiceEntry behind a destination host (already an FQDN or wildcard). */
  lookupHost(host: string): Service | ServiceEntry | undefined {
    const svc = this.services.get(host);
    if (svc) return svc;
    return this.ofKind<ServiceEntry>('ServiceEntry').find((se) => se.spec.hosts.some((h) => hostMatches(h, host)));
  }

  /**
   * The Service or ServiceEntry a host names, seen from `namespace` with the referrer's `exportTo`, as
   * Istio's analyzers find it (util.GetDestinationHost over InitServiceEntryHostMap): a host exported
   * to every namespace, then one exported to the namespaces the referrer's exportTo names (its own
   * when empty), then a wildcard ServiceEntry host visible there.
   */
  destinationHost(namespace: string, exportTo: readonly string[] | undefined, host: string): Service | ServiceEntry | undefined {
    const hosts = this.#scopedHosts;
    const name = fqdn(host, namespace);
    const scopes = ['*', ...(exportTo?.length ? exportTo.map((e) => (e === '.' ? namespace : e)) : [namespace])];
    for (const scope of scopes) {
      const target = hosts.get(`${scope}/${name}`);
      if (target) return target;
    }
    const suffix = host.startsWith('*') ? host.slice(1) : host;
    for (const [key, target] of hosts) {
      const slash = key.indexOf('/');
      const scope = key.slice(0, slash);
      const seHost = key.slice(slash + 1);
      if (seHost.startsWith('*') && (scope === '*' || scope === namespace) && suffix.endsWith(seHost.slice(1))) return target;
    }
    return undefined;
  }

  /** `scope/host` → target, as util.InitServiceEntryHostMap: a ServiceEntry is visible to all (exportTo
   * empty or `*`) or to each namespace its exportTo names (`.` its own); a Service to the namespaces of
   * its `networking.istio.io/exportTo` annotation (all without). */
  #buildScopedHosts(): Map<string, Service | ServiceEntry> {
    const out = new Map<string, Service | ServiceEntry>();
    for (const se of this.ofKind<ServiceEntry>('ServiceEntry')) {
      const ns = se.metadata.namespace;
      const exportTo = se.spec.exportTo ?? [];
      const scopes = exportTo.length === 0 || exportTo.includes('*') ? ['*'] : exportTo.map((e) => (e === '.' ? ns : e));
      for (const h of se.spec.hosts) {
        for (const scope of scopes) out.set(`${scope}/${fqdn(h, ns)}`, se);
      }
    }
    for (const [host, svc] of this.services) {
      const ns = svc.metadata.namespace;
      const annotation = svc.metadata.annotations['networking.istio.io/exportTo'];
      const scopes = annotation ? annotation.split(',').map((s) => (s.trim() === '.' ? ns : s.trim())) : ['*'];
      for (const scope of scopes) out.set(`${scope}/${host}`, svc);
    }
    return out;
  }

  /** Workloads behind a Service (its selector) or ServiceEntry (workloadSelector or endpoints' labels). */
  workloadsOf(target: Service | ServiceEntry): AnalyzedWorkload[] {
    if (target.kind === 'Service') {
      const selector = target.spec.selector;
      if (!selector) return [];
      return this.workloads.filter((w) => w.namespace === target.metadata.namespace && selects(selector, w.labels));
    }
    const sel = target.spec.workloadSelector?.labels;
    return sel ? this.workloads.filter((w) => w.namespace === target.metadata.namespace && selects(sel, w.labels)) : [];
  }

  /** Workloads a namespaced policy with this selector applies to (root namespace: the whole mesh). */
  selected(namespace: string, matchLabels: Record<string, string> | undefined): AnalyzedWorkload[] {
    return this.workloads.filter(
      (w) => (namespace === this.rootNamespace || w.namespace === namespace) && selects(matchLabels, w.labels),
    );
  }

  /** The Gateway a VirtualService names, resolved as the translator binds it. */
  gateway(ref: string, fromNamespace: string): Gateway | undefined {
    const [ns, name] = qualifyGateway(ref, fromNamespace).split('/', 2);
    return this.ofKind<Gateway>('Gateway').find((g) => g.metadata.namespace === ns && g.metadata.name === name);
  }

  destinationRulesFor(host: string): DestinationRule[] {
    return this.ofKind<DestinationRule>('DestinationRule').filter(
      (dr) => fqdn(dr.spec.host, dr.metadata.namespace) === host,
    );
  }
}
