// Istio's localityLbSetting applied to a ClusterLoadAssignment for one proxy (pilot's
// ApplyLocalityLoadBalancer), pure over Envoy JSON: `distribute` sets locality weights, `failover` and
// `failoverPriority` set priorities. Failover only applies when the cluster has outlier detection,
// as in Istio: without it nothing would ever mark the near endpoints unhealthy.
import type { LocalityLoadBalancerSetting } from '../config/types/networking.ts';

export interface EnvoyLocality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

export interface LocalityLbEndpointsJson {
  locality?: EnvoyLocality;
  lb_endpoints?: LbEndpointJson[];
  load_balancing_weight?: { value?: number };
  priority?: number;
}

export interface LbEndpointJson {
  load_balancing_weight?: { value?: number };
  [field: string]: unknown;
}

export interface LoadAssignmentJson {
  cluster_name: string;
  endpoints?: LocalityLbEndpointsJson[];
}

export type LocalityLbSetting = LocalityLoadBalancerSetting;

export interface LocalityInputs {
  /** The proxy's own locality. Without one, nothing is changed (as Istio). */
  proxyLocality: EnvoyLocality | undefined;
  /** The cluster has outlier detection: failover is allowed. */
  outlierDetection: boolean;
  /** For failoverPriority: the proxy's labels and each endpoint's. */
  proxyLabels?: Readonly<Record<string, string>>;
  labelsOf?: (e: LbEndpointJson) => Readonly<Record<string, string>>;
}

/**
 * Whether Istio sets `common_lb_config.locality_weighted_lb_config` (for a proxy with a locality), as
 * Istio 1.24+ applyLocalityLoadBalancer (istio/istio#52898): with `distribute`, or with outlier detection
 * and an explicit `failover` or `failoverPriority`. The default failover (`enabled` alone) sets
 * priorities but no weighting, so LEAST_REQUEST and the like keep their own choice within a priority.
 */
export function wantsLocalityWeighted(setting: LocalityLbSetting | undefined, outlierDetection: boolean): boolean {
  if (!setting || setting.enabled === false) return false;
  if (setting.distribute?.length) return true;
  return outlierDetection && !!(setting.failover?.length || setting.failoverPriority?.length);
}

/** The assignment with Istio's locality weights or priorities applied; the input is not modified. */
export function applyLocalityLbSetting(cla: LoadAssignmentJson, setting: LocalityLbSetting | undefined, inputs: LocalityInputs): LoadAssignmentJson {
  const proxy = inputs.proxyLocality;
  if (!proxy || !setting || setting.enabled === false) return cla;
  const groups = (cla.endpoints ?? []).map((g) => ({ ...g }));
  if (setting.distribute?.length) return { ...cla, endpoints: applyDistribute(groups, proxy, setting.distribute) };
  if (!inputs.outlierDetection) return cla;
  let out = groups;
  if (setting.failoverPriority?.length && inputs.proxyLabels && Object.keys(inputs.proxyLabels).length > 0 && inputs.labelsOf) {
    out = applyFailoverPriority(groups, setting.failoverPriority, inputs.proxyLabels, inputs.labelsOf);
    if (setting.failover?.length) out = applyFailover(out, proxy, setting.failover);
  } else if (!setting.failoverPriority?.length) out = applyFailover(out, proxy, setting.failover ?? []);
  return { ...cla, endpoints: out };
}

/** Istio's LocalityMatch: `region/zone/subzone` with `*` wildcards; missing parts match anything. */
export function localityMatch(proxy: EnvoyLocality | undefined, rule: string | undefined): boolean {
  const [region = '', zone = '', sub = ''] = (rule ?? '').split('/');
  return (
    (region === '*' || proxy?.region === region) &&
    (zone === '*' || zone === '' || proxy?.zone === zone) &&
    (sub === '*' || sub === '' || proxy?.sub_zone === sub)
  );
}

function applyDistribute(groups: LocalityLbEndpointsJson[], proxy: EnvoyLocality, rules: NonNullable<LocalityLbSetting['distribute']>): LocalityLbEndpointsJson[] {
  const rule = rules.find((r) => localityMatch(proxy, r.from));
  if (!rule) return groups;
  const unmatched = new Set(groups.map((_, i) => i));
  for (const [pattern, weight] of Object.entries(rule.to ?? {})) {
    const dest = new Map<number, number>();
    let total = 0;
    groups.forEach((g, i) => {
      if (!unmatched.has(i) || !localityMatch(g.locality ?? {}, pattern)) return;
      unmatched.delete(i);
      const w = g.load_balancing_weight?.value ?? 1;
      dest.set(i, w);
      total += w;
    });
    // A wildcard matching several localities shares its weight among them by their own weights.
    for (const [i, w] of dest) {
      const share = (w * weight) / total;
      if (share > 0) groups[i] = { ...groups[i]!, load_balancing_weight: { value: Math.ceil(share) } };
    }
  }
  for (const i of unmatched) groups[i] = { ...groups[i]!, lb_endpoints: [] };
  return groups;
}

/** 0: same sub-zone, 1: same zone, 2: same region, 3: elsewhere (Istio's LbPriority). */
function lbPriority(proxy: EnvoyLocality, l: EnvoyLocality | undefined): number {
  if ((proxy.region ?? '') !== (l?.region ?? '')) return 3;
  if ((proxy.zone ?? '') !== (l?.zone ?? '')) return 2;
  return (proxy.sub_zone ?? '') === (l?.sub_zone ?? '') ? 0 : 1;
}

function applyFailover(groups: LocalityLbEndpointsJson[], proxy: EnvoyLocality, failover: NonNullable<LocalityLbSetting['failover']>): LocalityLbEndpointsJson[] {
  const out = groups.map((g) => {
    let p = lbPriority(proxy, g.locality);
    if (p === 3) {
      // Another region: the named failover region ranks above the rest.
      const rule = failover.find((f) => f.from === proxy.region);
      if (rule && g.locality?.region !== rule.to) p = 4;
    }
    // Five locality levels under each failoverPriority level already assigned.
    return { ...g, priority: (g.priority ?? 0) * 5 + p };
  });
  return compact(out);
}

function applyFailoverPriority(
  groups: LocalityLbEndpointsJson[],
  labels: readonly string[],
  proxyLabels: Readonly<Record<string, string>>,
  labelsOf: (e: LbEndpointJson) => Readonly<Record<string, string>>,
): LocalityLbEndpointsJson[] {
  // `key=value` entries override the proxy's own value for that label.
  const names = labels.map((l) => l.split('=')[0]!);
  const overrides = new Map(labels.filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const out: LocalityLbEndpointsJson[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, LbEndpointJson[]>();
    for (const e of g.lb_endpoints ?? []) {
      const el = labelsOf(e);
      let p = 0;
      for (let j = 0; j < names.length; j++) {
        const name = names[j]!;
        if ((overrides.get(name) ?? proxyLabels[name]) !== el[name]) {
          p = names.length - j;
          break;
        }
      }
      const list = byPriority.get(p) ?? [];
      list.push(e);
      byPriority.set(p, list);
    }
    for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
      const eps = byPriority.get(p)!;
      out.push({ ...g, lb_endpoints: eps, priority: p, load_balancing_weight: { value: eps.reduce((a, e) => a + (e.load_balancing_weight?.value ?? 1), 0) } });
    }
  }
  return compact(out);
}

/** Priorities must be consecutive from 0: renumber them in order. */
function compact(groups: LocalityLbEndpointsJson[]): LocalityLbEndpointsJson[] {
  const used = [...new Set(groups.map((g) => g.priority ?? 0))].sort((a, b) => a - b);
  const rank = new Map(used.map((p, i) => [p, i]));
  return groups.map((g) => ({ ...g, priority: rank.get(g.priority ?? 0)! }));
}
