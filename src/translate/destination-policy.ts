// The DestinationRule that applies to a host for a proxy (proxy namespace, then the rules the host's
// namespace exports to it, then the root namespace's) and the traffic policy in effect for one subset
// and port, merged as Istio does.
import type { DestinationRule } from '../config/resource.ts';
import type { PortTrafficPolicy, TrafficPolicy } from '../config/types/networking.ts';
import { hostMatches, resolveHost } from '../model/host.ts';
import { matchesLabels } from '../model/labels.ts';
import { exportToOrDefault, type MeshSettings } from '../model/mesh-config.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshService } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';

// A scope is made for one proxy and one snapshot, and every cluster and route destination of a service
// asks for the same rule: chosen once per (scope, service). `null` records "no rule".
const rulesByScope = new WeakMap<ProxyScope, { snapshot: MeshSnapshot; rules: Map<MeshService, DestinationRule | null> }>();

export function destinationRuleFor(snapshot: MeshSnapshot, scope: ProxyScope, service: MeshService): DestinationRule | undefined {
  let cached = rulesByScope.get(scope);
  if (!cached || cached.snapshot !== snapshot) {
    cached = { snapshot, rules: new Map() };
    rulesByScope.set(scope, cached);
  }
  let dr = cached.rules.get(service);
  if (dr === undefined) {
    dr = chooseDestinationRule(snapshot, scope, service) ?? null;
    cached.rules.set(service, dr);
  }
  return dr ?? undefined;
}

/**
 * Istio's PushContext.destinationRule, then SidecarScope.DestinationRule: the rules of the client's own
 * namespace (in the root namespace, its private ones); else those the service's namespace exports to the
 * client; else those the root namespace exports to it. A rule in any other namespace never applies. In
 * each namespace only the most specific host counts, and the first step that finds one decides, even when
 * its rules then fit neither the client (workloadSelector) nor its namespace (exportTo is checked after).
 */
function chooseDestinationRule(snapshot: MeshSnapshot, scope: ProxyScope, service: MeshService): DestinationRule | undefined {
  const proxy = scope.proxy;
  const client = proxy.namespace;
  const root = snapshot.mesh.rootNamespace;
  const mesh = snapshot.mesh;
  const exported = (rules: readonly DestinationRule[] | undefined) => {
    const visible = rules?.filter((dr) => exportedTo(dr, client, mesh));
    return visible && visible.length > 0 ? visible : undefined;
  };
  const rules =
    mostSpecific(snapshot, service.hostname, client === root ? (dr) => dr.metadata.namespace === root && privateOnly(dr, mesh) : (dr) => dr.metadata.namespace === client && namespaceLocal(dr, mesh)) ??
    exported(mostSpecific(snapshot, service.hostname, (dr) => dr.metadata.namespace === service.namespace && !privateOnly(dr, mesh))) ??
    exported(mostSpecific(snapshot, service.hostname, (dr) => dr.metadata.namespace === root && !privateOnly(dr, mesh)));
  if (!rules) return undefined;
  // A workloadSelector rule of the client's namespace that selects it, else the one without a selector.
  const selected = rules.find((dr) => dr.spec.workloadSelector && dr.metadata.namespace === client && matchesLabels(dr.spec.workloadSelector.matchLabels ?? {}, proxy.labels));
  return selected ?? rules.find((dr) => !dr.spec.workloadSelector);
}

/**
 * Whether a rule can apply to a client of namespace `client` for some service, in the namespaces
 * chooseDestinationRule reads: the client's own; else exported to it from the root namespace or from a
 * namespace with a service of its host. For who may read its credentials (controlplane/credential-readers.ts).
 */
export function destinationRuleReaches(snapshot: MeshSnapshot, dr: DestinationRule, client: string): boolean {
  const mesh = snapshot.mesh;
  const ns = dr.metadata.namespace;
  const root = mesh.rootNamespace;
  if (ns === client && client !== root) return namespaceLocal(dr, mesh);
  if (ns === client && privateOnly(dr, mesh)) return true;
  if (privateOnly(dr, mesh) || !exportedTo(dr, client, mesh)) return false;
  if (ns === root) return true;
  const host = resolveHost(dr.spec.host, ns);
  return (snapshot.servicesByNamespace.get(ns) ?? []).some((s) => hostMatches(host, s.hostname));
}

/** The rules of the most specific host that covers `hostname` among those `inIndex` admits (MostSpecificHostMatch). */
function mostSpecific(snapshot: MeshSnapshot, hostname: string, inIndex: (dr: DestinationRule) => boolean): readonly DestinationRule[] | undefined {
  const exact = snapshot.destinationRulesByHost.get(hostname)?.filter(inIndex);
  if (exact && exact.length > 0) return exact;
  // Longest first: the most specific wildcard.
  for (const pattern of snapshot.destinationRuleWildcards) {
    if (!hostMatches(pattern, hostname)) continue;
    const rules = snapshot.destinationRulesByHost.get(pattern)?.filter(inIndex);
    if (rules && rules.length > 0) return rules;
  }
  return undefined;
}

/**
 * A rule's exportTo as Istio indexes it: one with a workloadSelector stays in its own namespace; one
 * without exportTo takes the mesh's defaultDestinationRuleExportTo (`.` or else `*`).
 */
function exportToOf(dr: DestinationRule, mesh: MeshSettings): ReadonlySet<string> {
  return new Set(dr.spec.workloadSelector ? ['.'] : exportToOrDefault(dr.spec.exportTo, 'destinationRule', mesh));
}

/** In its own namespace's index (setDestinationRules): exported everywhere, to `.`, or to that namespace by name. */
function namespaceLocal(dr: DestinationRule, mesh: MeshSettings): boolean {
  const to = exportToOf(dr, mesh);
  return to.has('*') || to.has('.') || to.has(dr.metadata.namespace);
}

/** Exported to its own namespace alone: never seen from another (setDestinationRules' isPrivateOnly). */
function privateOnly(dr: DestinationRule, mesh: MeshSettings): boolean {
  const to = exportToOf(dr, mesh);
  return to.size === 1 && (to.has('.') || to.has(dr.metadata.namespace));
}

/** Visible from `client` once exported (getExportedDestinationRuleFromNamespace). */
function exportedTo(dr: DestinationRule, client: string, mesh: MeshSettings): boolean {
  const to = exportToOf(dr, mesh);
  return to.has('*') || to.has(client);
}

// Policies are read-only and a DestinationRule never changes: one policy per (rule, port, subset),
// built once and shared by every cluster and route that asks (a subset without its own policy gets the
// very object of the port's top-level policy, so what is built from it can be shared too).
const policies = new WeakMap<DestinationRule, Map<number, Map<string, PortTrafficPolicy>>>();
const noPolicy: PortTrafficPolicy = Object.freeze({});

/**
 * The policy for one subset and port, merged as Istio merges it (MergeSubsetTrafficPolicy): a port-level
 * entry replaces the level it sits in (its load balancer, connection pool, outlier detection and TLS;
 * what it leaves out takes the defaults, not the level's values); a subset's fields then replace the
 * destination's one by one, and a subset's port-level entry replaces all four. Read-only.
 */
export function effectivePolicy(dr: DestinationRule | undefined, subset: string, port: number): PortTrafficPolicy {
  if (!dr) return noPolicy;
  let byPort = policies.get(dr);
  if (!byPort) {
    byPort = new Map();
    policies.set(dr, byPort);
  }
  let bySubset = byPort.get(port);
  if (!bySubset) {
    bySubset = new Map([['', atPort(dr.spec.trafficPolicy, port).policy]]);
    byPort.set(port, bySubset);
  }
  let policy = bySubset.get(subset);
  if (!policy) {
    const top = bySubset.get('') ?? noPolicy;
    const sub = dr.spec.subsets?.find((s) => s.name === subset);
    policy = sub?.trafficPolicy ? overlay(top, atPort(sub.trafficPolicy, port)) : top;
    bySubset.set(subset, policy);
  }
  return policy;
}

/** The fields a port-level entry carries, and replaces together. */
const PORT_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;

/** One level's policy at `port`: its port-level entry alone when it has one for the port. */
function atPort(tp: TrafficPolicy | undefined, port: number): { policy: PortTrafficPolicy; portLevel: boolean } {
  if (!tp) return { policy: {}, portLevel: false };
  const { portLevelSettings, tunnel: _t, proxyProtocol: _p, ...top } = tp;
  const level = portLevelSettings?.find((p) => p.port?.number === port);
  if (!level) return { policy: top, portLevel: false };
  const { port: _port, ...fields } = level;
  return { policy: definedOnly(fields), portLevel: true };
}

/** The destination's policy with a subset's over it: field by field, or all four from a port-level entry. */
function overlay(top: PortTrafficPolicy, sub: { policy: PortTrafficPolicy; portLevel: boolean }): PortTrafficPolicy {
  const out: PortTrafficPolicy = { ...top };
  for (const f of PORT_FIELDS) {
    const v = sub.policy[f];
    if (v !== undefined) (out as Record<string, unknown>)[f] = v;
    else if (sub.portLevel) delete out[f];
  }
  return out;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
