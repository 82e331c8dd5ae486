// What one proxy may see, as Istio's SidecarScope: `exportTo` (or the mesh defaults) on services,
// VirtualServices and DestinationRules, the egress hosts of the Sidecar resource that applies to it,
// and one service per hostname. Translation only reads through this.
import type { DestinationRule, SidecarResource, VirtualService } from '../config/resource.ts';
import type { Destination, HTTPMatchRequest } from '../config/types/networking.ts';
import { ROUTE_SEMANTICS_ANNOTATION } from './gateway-api/gateways.ts';
import { hostMatches, hostsIntersect, resolveHost } from './host.ts';
import { matchesLabels } from './labels.ts';
import { exportToOrDefault } from './mesh-config.ts';
import type { ProxyView } from './proxy-view.ts';
import type { MeshService } from './service.ts';
import type { MeshSnapshot } from './snapshot.ts';
import { expandedHttpRoutes } from './virtual-service-merge.ts';

export interface ProxyScope {
  readonly proxy: ProxyView;
  /** The Sidecar resource that applies to this proxy, if any. */
  readonly sidecar: SidecarResource | undefined;
  /**
   * Visible services, one per hostname, ports narrowed to the Sidecar egress listeners that admit them,
   * sorted by hostname.
   */
  readonly services: readonly MeshService[];
  /** The visible service of a hostname (Istio's SidecarScope.GetService). */
  service(hostname: string): MeshService | undefined;
  /**
   * The services a sidecar's route configuration for `port` serves, sorted by hostname: those the hosts of
   * the Sidecar egress listener Istio's RDS reads for it import (GetEgressListenerForRDS, Services()), not
   * the destinations of its VirtualServices. Every visible service for a gateway.
   */
  routeServices(port: number): readonly MeshService[];
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** The Sidecar's outboundTrafficPolicy.egressProxy (the mesh policy has none); validation admits it under ALLOW_ANY only, with a port. */
  readonly egressProxy: Destination | undefined;
  /** True when the proxy's namespace may see this VirtualService or DestinationRule: its exportTo, else the mesh default for its kind. */
  visible(r: VirtualService | DestinationRule): boolean;
  /**
   * True when the Sidecar egress listener that serves `port` (any listener when omitted) imports this
   * VirtualService: a host of it matches an egress host of its own namespace or of `*` (Istio
   * SelectVirtualServices). Always true for a gateway.
   */
  importsVirtualService(vs: VirtualService, port?: number): boolean;
}

/** `exportTo` as Istio reads it: empty or `*` = everywhere, `.` = own namespace, `~` = nowhere. */
export function isExportedTo(exportTo: readonly string[] | undefined, ownerNamespace: string, namespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const token of exportTo) {
    if (token === '*') return true;
    if (token === '.' && ownerNamespace === namespace) return true;
    if (token === namespace) return true;
  }
  return false;
}

/** The Sidecar for a proxy: workload-selected in its namespace, then namespace-wide, then the root one. */
export function sidecarFor(snapshot: MeshSnapshot, proxy: ProxyView): SidecarResource | undefined {
  const own = snapshot.sidecars.filter((s) => s.metadata.namespace === proxy.namespace);
  return (
    own.find((s) => s.spec.workloadSelector?.labels && matchesLabels(s.spec.workloadSelector.labels, proxy.labels)) ??
    own.find((s) => !s.spec.workloadSelector) ??
    snapshot.sidecars.find((s) => s.metadata.namespace === snapshot.mesh.rootNamespace && !s.spec.workloadSelector)
  );
}

/** One Sidecar egress listener, as Istio's IstioEgressListenerWrapper sees it. */
interface EgressListener {
  /** Its port, to which it narrows services (Istio needsPortMatch); undefined for the catch-all listener. */
  readonly port: number | undefined;
  /** Imported hosts by namespace, `.` read as the workload's namespace (also for the root namespace's Sidecar). */
  readonly hosts: ReadonlyMap<string, readonly string[]>;
  /** The services its hosts import, one per hostname, sorted by hostname (filled by scopeView). */
  readonly services: MeshService[];
}

interface ScopeView {
  readonly services: MeshService[];
  readonly byHostname: ReadonlyMap<string, MeshService>;
  readonly egress: readonly EgressListener[];
}

/** Per snapshot, by role, namespace and Sidecar: every proxy alike in these sees the same. */
const viewCache = new WeakMap<MeshSnapshot, Map<string, ScopeView>>();

export function buildProxyScope(snapshot: MeshSnapshot, proxy: ProxyView): ProxyScope {
  const ns = proxy.namespace;
  const router = proxy.role !== 'sidecar';
  const sidecar = router ? undefined : sidecarFor(snapshot, proxy);
  let views = viewCache.get(snapshot);
  if (!views) {
    views = new Map();
    viewCache.set(snapshot, views);
  }
  const key = `${proxy.role}\0${ns}\0${sidecar ? `${sidecar.metadata.namespace}/${sidecar.metadata.name}` : ''}`;
  let view = views.get(key);
  if (!view) {
    view = scopeView(snapshot, ns, router, sidecar);
    views.set(key, view);
  }
  const { egress, byHostname } = view;
  const policy = sidecar?.spec.outboundTrafficPolicy;
  return Object.freeze({
    proxy,
    sidecar,
    services: view.services,
    service: (hostname: string) => byHostname.get(hostname),
    routeServices: (port: number) => (router ? view.services : (listenersFor(egress, port)[0]?.services ?? [])),
    // A Sidecar's policy replaces the mesh's whenever present; its mode defaults to REGISTRY_ONLY (enum 0).
    outboundTrafficPolicy: policy ? (policy.mode ?? 'REGISTRY_ONLY') : snapshot.mesh.outboundTrafficPolicy,
    egressProxy: sidecar?.spec.outboundTrafficPolicy?.egressProxy,
    visible: (r: VirtualService | DestinationRule) => resourceVisible(snapshot, r, ns),
    importsVirtualService: (vs: VirtualService, port?: number) => router || listenersFor(egress, port).some((l) => importsVirtualService(l, vs)),
  });
}

function resourceVisible(snapshot: MeshSnapshot, r: VirtualService | DestinationRule, ns: string): boolean {
  const kind = r.kind === 'VirtualService' ? 'virtualService' : 'destinationRule';
  return isExportedTo(exportToOrDefault(r.spec.exportTo, kind, snapshot.mesh), r.metadata.namespace, ns);
}

/** The egress listener Istio's RDS reads for `port` (GetEgressListenerForRDS), or all of them. */
function listenersFor(egress: readonly EgressListener[], port: number | undefined): readonly EgressListener[] {
  if (port === undefined) return egress;
  const l = egress.find((e) => e.port === undefined || e.port === port);
  return l ? [l] : [];
}

function scopeView(snapshot: MeshSnapshot, ns: string, router: boolean, sidecar: SidecarResource | undefined): ScopeView {
  const exported = servicesExportedTo(snapshot, ns);
  const added = new Map<string, Added>();
  if (router) {
    // DefaultSidecarScopeForGateway: every exported service, merged by hostname as a sidecar's are.
    for (const s of exported) appendService(added, s, s);
    return viewOf(added, []);
  }
  // No Sidecar, or one without egress, is one catch-all listener importing `*/*` (Istio's unified scoping).
  const listeners = sidecar?.spec.egress?.length ? sidecar.spec.egress : [{ hosts: ['*/*'] }];
  const egress = listeners.map((l): EgressListener => {
    const hosts = new Map<string, string[]>();
    for (const h of l.hosts) {
      // Validation holds every host to `namespace/dnsName`.
      const [hostNs, dns] = h.split('/') as [string, string];
      const key = hostNs === '.' ? ns : hostNs;
      hosts.set(key, [...(hosts.get(key) ?? []), dns]);
    }
    return { port: l.port?.number, hosts, services: [] };
  });
  // collectImportedServices: per listener, the services its hosts import, then the destinations of the
  // VirtualServices it imports (which never displace a service already there but by the Kubernetes rule).
  for (const l of egress) {
    const own = new Map<string, Added>();
    for (const [s, base] of selectServices(exported, ns, l)) {
      appendService(added, s, base);
      appendService(own, s, base);
    }
    l.services.push(...sortedServices(own));
    for (const vs of snapshot.virtualServices) {
      if (!boundToMesh(vs) || !resourceVisible(snapshot, vs, ns) || !importsVirtualService(l, vs)) continue;
      for (const [host, ports] of virtualServiceDestinations(snapshot, vs, ns)) {
        const byNs = servicesByHostAndNamespace(snapshot).get(host);
        if (!byNs) continue;
        // The proxy's own namespace, else the first visible namespace alphabetically (pickFirstVisibleNamespace).
        const visibleNs = [...byNs.keys()].filter((k) => isExportedTo(exportToOrDefault(byNs.get(k)?.exportTo, 'service', snapshot.mesh), k, ns)).sort();
        const s = byNs.get(ns) ?? byNs.get(visibleNs[0] ?? '');
        if (!s) continue;
        const t = l.port !== undefined ? onListenerPort(s, l) : onPorts(s, ports);
        if (t) appendService(added, t, s);
      }
    }
  }
  return viewOf(added, egress);
}

/** Istio's servicesExportedToNamespace: private to `ns`, then exported to it by name, then public; oldest first in each. */
function servicesExportedTo(snapshot: MeshSnapshot, ns: string): MeshService[] {
  const own: MeshService[] = [];
  const named: MeshService[] = [];
  const pub: MeshService[] = [];
  for (const s of snapshot.servicesByAge) {
    const exportTo = exportToOrDefault(s.exportTo, 'service', snapshot.mesh);
    if (exportTo.includes('*')) pub.push(s);
    else if (exportTo.includes('~')) continue;
    else if (s.namespace === ns) {
      if (exportTo.some((t) => t === '.' || t === ns)) own.push(s);
    } else if (exportTo.includes(ns)) named.push(s);
  }
  return [...own, ...named, ...pub];
}

/**
 * Istio's selectServices: the services an egress listener's hosts import (an import of the service's
 * namespace first, then of `*`), ports narrowed, then one namespace per hostname: the proxy's, else the
 * first seen, a Kubernetes service before a ServiceEntry. Pairs of (narrowed, original).
 */
function selectServices(exported: readonly MeshService[], ns: string, l: EgressListener): [MeshService, MeshService][] {
  const imported: [MeshService, MeshService][] = [];
  const anyNs = l.hosts.get('*');
  for (const s of exported) {
    const own = l.hosts.get(s.namespace);
    const t = (own && importedBy(own, s, l)) || (anyNs && importedBy(anyNs, s, l));
    if (t) imported.push([t, s]);
  }
  const chosen = new Map<string, { ns: string; k8s: boolean }>();
  for (const [s] of imported) {
    const ex = chosen.get(s.hostname);
    const k8s = s.source === 'kubernetes';
    if (!ex || s.namespace === ns || (!ex.k8s && k8s && ex.ns !== ns)) chosen.set(s.hostname, { ns: s.namespace, k8s });
  }
  return imported.filter(([s]) => chosen.get(s.hostname)?.ns === s.namespace);
}

/** A service as imported by `hosts` (exact names, or patterns covering it: egress hosts are FQDNs, never short names). */
function importedBy(hosts: readonly string[], s: MeshService, l: EgressListener): MeshService | undefined {
  if (!hosts.some((h) => hostMatches(h, s.hostname))) return undefined;
  return l.port !== undefined ? onListenerPort(s, l) : s;
}

/** Istio's serviceMatchingListenerPort: the service with only the listener's port, if it has it. */
function onListenerPort(s: MeshService, l: EgressListener): MeshService | undefined {
  const p = s.ports.find((sp) => sp.port === l.port);
  if (!p) return undefined;
  return s.ports.length === 1 ? s : { ...s, ports: [p] };
}

/** Istio's serviceMatchingVirtualServicePorts: 0 stands for a destination without a port (every port). */
function onPorts(s: MeshService, ports: ReadonlySet<number>): MeshService | undefined {
  if (ports.size === 0 || ports.has(0)) return s;
  const found = s.ports.filter((p) => ports.has(p.port));
  if (found.length === s.ports.length) return s;
  return found.length > 0 ? { ...s, ports: found } : undefined;
}

interface Added {
  service: MeshService;
  /** The snapshot's service it was narrowed from. */
  readonly base: MeshService;
}

/**
 * Istio's appendSidecarServices: the first service of a hostname stays; a Kubernetes service displaces
 * a ServiceEntry's and is never displaced; another part of the same service (or one that could be merged
 * with it) adds its ports.
 */
function appendService(added: Map<string, Added>, s: MeshService, base: MeshService): void {
  const found = added.get(s.hostname);
  if (!found) {
    added.set(s.hostname, { service: s, base });
    return;
  }
  const existing = found.service;
  if (existing === s) return;
  const k8s = (x: MeshService) => x.source === 'kubernetes';
  if (k8s(existing) && !k8s(s)) return;
  if (!k8s(existing) && k8s(s)) {
    added.set(s.hostname, { service: s, base });
    return;
  }
  if (found.base !== base && !canMerge(found.base, base)) return;
  const extra = s.ports.filter((p) => !existing.ports.some((e) => e.port === p.port));
  if (extra.length > 0) found.service = { ...existing, ports: [...existing.ports, ...extra] };
}

/** Istio's canMergeServices (but labels, which a MeshService does not carry). */
function canMerge(a: MeshService, b: MeshService): boolean {
  const same = (x: Readonly<Record<string, string>> | undefined, y: Readonly<Record<string, string>> | undefined) =>
    JSON.stringify(Object.entries(x ?? {}).sort()) === JSON.stringify(Object.entries(y ?? {}).sort());
  return (
    a.namespace === b.namespace &&
    a.resolution === b.resolution &&
    a.source === b.source &&
    same(a.selector, b.selector) &&
    [...a.exportTo].sort().join(',') === [...b.exportTo].sort().join(',')
  );
}

function viewOf(added: ReadonlyMap<string, Added>, egress: readonly EgressListener[]): ScopeView {
  const services = sortedServices(added);
  return { services, byHostname: new Map(services.map((s) => [s.hostname, s])), egress };
}

function sortedServices(added: ReadonlyMap<string, Added>): MeshService[] {
  return [...added.values()].map((a) => a.service).sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
}

function boundToMesh(vs: VirtualService): boolean {
  const gws = vs.spec.gateways ?? [];
  return gws.length === 0 || gws.includes('mesh');
}

/** Istio's SelectVirtualServices for one listener: a host of the VirtualService matches an import of its namespace or of `*`. */
function importsVirtualService(l: EgressListener, vs: VirtualService): boolean {
  // Gateway API routes match as services do; others either way (vsHostMatches).
  const gateway = vs.metadata.annotations[ROUTE_SEMANTICS_ANNOTATION] === 'gateway';
  const hosts = (vs.spec.hosts ?? []).map((h) => (gateway ? h : resolveHost(h, vs.metadata.namespace)));
  const matches = (imports: readonly string[] | undefined) =>
    !!imports && hosts.some((h) => imports.some((i) => (gateway ? hostMatches(i, h) : hostsIntersect(i, h))));
  return matches(l.hosts.get(vs.metadata.namespace)) || matches(l.hosts.get('*'));
}

/**
 * Istio's virtualServiceDestinationsFilteredBySourceNamespace over the merged VirtualService (delegates
 * merged in as for routing): each destination host (resolved from the namespace of the VirtualService
 * that names it) with its ports, 0 for none; HTTP routes whose matches name only other source namespaces
 * are left out.
 */
function virtualServiceDestinations(snapshot: MeshSnapshot, vs: VirtualService, ns: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const add = (d: Destination | undefined, from: string) => {
    if (!d) return;
    const host = resolveHost(d.host, from);
    const ports = out.get(host) ?? new Set<number>();
    ports.add(d.port?.number ?? 0);
    out.set(host, ports);
  };
  for (const { route, source } of expandedHttpRoutes(snapshot, vs)) {
    if (!fromNamespace(route.match, ns)) continue;
    const from = source.metadata.namespace;
    for (const d of route.route ?? []) add(d.destination, from);
    add(route.mirror, from);
    for (const m of route.mirrors ?? []) add(m.destination, from);
  }
  for (const r of [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])]) for (const d of r.route ?? []) add(d.destination, vs.metadata.namespace);
  return out;
}

/** A route's matches admit `ns` unless one names a source namespace and none names `ns`. */
function fromNamespace(matches: readonly HTTPMatchRequest[] | undefined, ns: string): boolean {
  let matched = true;
  for (const m of matches ?? []) {
    if (!m.sourceNamespace) continue;
    if (m.sourceNamespace === ns) return true;
    matched = false;
  }
  return matched;
}

/** Per snapshot: Istio's ServiceIndex.HostnameAndNamespace, the oldest service per hostname and namespace, Kubernetes first. */
const byHostAndNamespace = new WeakMap<MeshSnapshot, Map<string, Map<string, MeshService>>>();

function servicesByHostAndNamespace(snapshot: MeshSnapshot): Map<string, Map<string, MeshService>> {
  let index = byHostAndNamespace.get(snapshot);
  if (index) return index;
  index = new Map();
  for (const s of snapshot.servicesByAge) {
    const byNs = index.get(s.hostname) ?? new Map<string, MeshService>();
    const existing = byNs.get(s.namespace);
    if (!existing || (existing.source !== 'kubernetes' && s.source === 'kubernetes')) byNs.set(s.namespace, s);
    index.set(s.hostname, byNs);
  }
  byHostAndNamespace.set(snapshot, index);
  return index;
}
