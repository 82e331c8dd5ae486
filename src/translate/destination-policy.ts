// The DestinationRule that applies to a host for a proxy (proxy namespace, then the host's, then
// the root namespace) and the traffic policy in effect for one subset and port, merged as Istio does.
import type { DestinationRule } from '../config/resource.ts';
import type { PortTrafficPolicy, TrafficPolicy } from '../config/types/networking.ts';
import { hostMatches } from '../model/host.ts';
import { matchesLabels } from '../model/labels.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import type { MeshService } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';

export function destinationRuleFor(snapshot: MeshSnapshot, scope: ProxyScope, service: MeshService): DestinationRule | undefined {
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

/**
 * The policy for one subset and port: the top level, overridden by its port-level settings, then by
 * the subset's policy and the subset's port-level settings (each field replaced whole).
 */
export function effectivePolicy(dr: DestinationRule | undefined, subset: string, port: number): PortTrafficPolicy {
  if (!dr) return {};
  let policy = applyPortLevel(dr.spec.trafficPolicy, port);
  const sub = subset ? dr.spec.subsets?.find((s) => s.name === subset) : undefined;
  if (sub?.trafficPolicy) policy = { ...policy, ...definedOnly(applyPortLevel(sub.trafficPolicy, port)) };
  return policy;
}

function applyPortLevel(tp: TrafficPolicy | undefined, port: number): PortTrafficPolicy {
  if (!tp) return {};
  const { portLevelSettings, tunnel: _t, proxyProtocol: _p, ...top } = tp;
  const level = portLevelSettings?.find((p) => p.port?.number === port);
  if (!level) return top;
  const { port: _port, ...fields } = level;
  return { ...top, ...definedOnly(fields) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
