// The DestinationRule that applies to a host for a proxy (proxy namespace, then the host's, then
// the root namespace) and the traffic policy in effect for one subset and port, merged as Istio does.
import type { DestinationRule } from '../config/resource.ts';
import type { PortTrafficPolicy, TrafficPolicy } from '../config/types/networking.ts';
import { hostMatches } from '../model/host.ts';
import { matchesLabels } from '../model/labels.ts';
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

function chooseDestinationRule(snapshot: MeshSnapshot, scope: ProxyScope, service: MeshService): DestinationRule | undefined {
  const proxy = scope.proxy;
  const candidates: DestinationRule[] = [...(snapshot.destinationRulesByHost.get(service.hostname) ?? [])];
  for (const pattern of snapshot.destinationRuleWildcards) {
    if (hostMatches(pattern, service.hostname)) candidates.push(...(snapshot.destinationRulesByHost.get(pattern) ?? []));
  }
  const usable = candidates.filter((dr) => {
    if (!scope.exported(dr.spec.exportTo, dr.metadata.namespace)) return false;
    const sel = dr.spec.workloadSelector?.matchLabels;
    return !sel || (dr.metadata.namespace === proxy.namespace && matchesLabels(sel, proxy.labels));
  });
  const rank = (dr: DestinationRule) =>
    (dr.spec.workloadSelector ? 0 : 1) * 10 +
    (dr.metadata.namespace === proxy.namespace ? 0 : dr.metadata.namespace === service.namespace ? 1 : 2) * 2 +
    (dr.spec.host.startsWith('*') ? 1 : 0);
  return usable.sort((a, b) => rank(a) - rank(b))[0];
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
