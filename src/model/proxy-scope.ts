// What one proxy may see: `exportTo` on services, VirtualServices and DestinationRules, and the
// egress hosts of the Sidecar resource that applies to it. Translation only reads through this.
import type { SidecarResource } from '../config/resource.ts';
import { hostMatches } from './host.ts';
import { matchesLabels } from './labels.ts';
import type { ProxyView } from './proxy-view.ts';
import type { MeshService } from './service.ts';
import type { MeshSnapshot } from './snapshot.ts';

export interface ProxyScope {
  readonly proxy: ProxyView;
  /** The Sidecar resource that applies to this proxy, if any. */
  readonly sidecar: SidecarResource | undefined;
  /** Visible services, ports narrowed to the Sidecar egress listeners that admit them. */
  readonly services: readonly MeshService[];
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** True when the proxy's namespace may see a resource of `ownerNamespace` exported to `exportTo`. */
  exported(exportTo: readonly string[] | undefined, ownerNamespace: string): boolean;
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

/** Per snapshot, by namespace and Sidecar: the services a proxy sees (every proxy of one namespace and Sidecar sees the same). */
const visibleCache = new WeakMap<MeshSnapshot, Map<string, MeshService[]>>();

export function buildProxyScope(snapshot: MeshSnapshot, proxy: ProxyView): ProxyScope {
  const ns = proxy.namespace;
  const sidecar = proxy.role === 'sidecar' ? sidecarFor(snapshot, proxy) : undefined;
  let bySidecar = visibleCache.get(snapshot);
  if (!bySidecar) {
    bySidecar = new Map();
    visibleCache.set(snapshot, bySidecar);
  }
  const key = `${ns}\0${sidecar ? `${sidecar.metadata.namespace}/${sidecar.metadata.name}` : ''}`;
  let services = bySidecar.get(key);
  if (!services) {
    services = visibleServices(snapshot, ns, sidecar);
    bySidecar.set(key, services);
  }
  return Object.freeze({
    proxy,
    sidecar,
    services,
    outboundTrafficPolicy: sidecar?.spec.outboundTrafficPolicy?.mode ?? snapshot.mesh.outboundTrafficPolicy,
    exported: (exportTo: readonly string[] | undefined, owner: string) => isExportedTo(exportTo, owner, ns),
  });
}

/** The services a proxy in `ns` under `sidecar` may reach: exported to `ns`, admitted by the Sidecar's egress (ports narrowed). */
function visibleServices(snapshot: MeshSnapshot, ns: string, sidecar: SidecarResource | undefined): MeshService[] {
  const egress = sidecar?.spec.egress;
  const services: MeshService[] = [];
  for (const s of snapshot.services) {
    if (!isExportedTo(s.exportTo, s.namespace, ns)) continue;
    if (!egress || egress.length === 0) {
      services.push(s);
      continue;
    }
    // `.` is the workload's namespace, also for the mesh-wide Sidecar in the root namespace.
    const sidecarNs = ns;
    let allPorts = false;
    const ports = new Set<number>();
    for (const listener of egress) {
      if (!listener.hosts.some((h) => egressHostAdmits(h, sidecarNs, s))) continue;
      if (listener.port) ports.add(listener.port.number);
      else allPorts = true;
    }
    if (allPorts) services.push(s);
    else if (ports.size > 0) services.push({ ...s, ports: s.ports.filter((p) => ports.has(p.port)) });
  }
  return services;
}

/** One Sidecar egress host `ns/dnsName` against a service. */
function egressHostAdmits(entry: string, sidecarNamespace: string, s: MeshService): boolean {
  const slash = entry.indexOf('/');
  const nsToken = slash >= 0 ? entry.slice(0, slash) : '*';
  const dns = slash >= 0 ? entry.slice(slash + 1) : entry;
  if (nsToken === '~') return false;
  if (nsToken === '.' && s.namespace !== sidecarNamespace) return false;
  if (nsToken !== '*' && nsToken !== '.' && nsToken !== s.namespace) return false;
  return hostMatches(dns, s.hostname) || (!dns.includes('.') && s.source === 'kubernetes' && s.name === dns);
}
