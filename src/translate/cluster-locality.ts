// Locality load balancing for one outbound cluster and its assignment, as Istio's cluster builder and
// EDS generator do it: the DestinationRule's localityLbSetting (or the mesh default, enabled) applied
// for the proxy's own locality; without a proxy locality nothing changes.
import type { LocalityLoadBalancerSetting } from '../config/types/networking.ts';
import { workloadLocality } from '../model/locality.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { endpointLabels } from './endpoints.ts';
import { applyLocalityLbSetting, type EnvoyLocality, type LoadAssignmentJson, wantsLocalityWeighted } from './locality-lb.ts';

/** Istio's mesh default (`meshConfig.localityLbSetting.enabled: true`): failover by locality. */
const meshDefault: LocalityLoadBalancerSetting = { enabled: true };

/** The proxy's locality: its own labels, else its workload instance (a WorkloadEntry's `locality`). */
export function proxyLocality(snapshot: MeshSnapshot, proxy: ProxyView): EnvoyLocality | undefined {
  let locality = workloadLocality(proxy.labels);
  if (!locality) {
    const pod = podName(proxy.id);
    const self = snapshot.workloadsByNamespace.get(proxy.namespace)?.find((w) => w.name === pod || w.name === proxy.workloadName);
    if (self) locality = workloadLocality(self.labels, self.locality);
  }
  if (!locality) return undefined;
  const [region = '', zone = '', subZone = ''] = locality.split('/');
  const out: EnvoyLocality = { region };
  if (zone) out.zone = zone;
  if (subZone) out.sub_zone = subZone;
  return out;
}

function podName(nodeId: string): string {
  const podDotNs = nodeId.split('~')[2] ?? '';
  const dot = podDotNs.indexOf('.');
  return dot > 0 ? podDotNs.slice(0, dot) : podDotNs;
}

/**
 * Sets `common_lb_config.locality_weighted_lb_config` on the cluster when Istio would, and returns the
 * assignment with the setting's weights or failover priorities applied (the input is not modified).
 */
export function applyClusterLocality(
  cluster: Record<string, unknown>,
  assignment: Record<string, unknown>,
  setting: LocalityLoadBalancerSetting | undefined,
  proxy: { locality: EnvoyLocality | undefined; labels: Readonly<Record<string, string>> },
): Record<string, unknown> {
  const effective = setting ?? meshDefault;
  if (!proxy.locality || effective.enabled === false) return assignment;
  const outlierDetection = cluster['outlier_detection'] !== undefined;
  const out = applyLocalityLbSetting(assignment as unknown as LoadAssignmentJson, effective, {
    proxyLocality: proxy.locality,
    outlierDetection,
    proxyLabels: proxy.labels,
    labelsOf: endpointLabels,
  });
  if (!wantsLocalityWeighted(effective, outlierDetection)) return out as unknown as Record<string, unknown>;
  const common = (cluster['common_lb_config'] as Record<string, unknown> | undefined) ?? {};
  cluster['common_lb_config'] = { ...common, locality_weighted_lb_config: {} };
  // Envoy gives a locality without a weight no traffic once weighting is on: Istio always sends one.
  // (Envoy requires a weight of at least 1, so a locality emptied by `distribute` keeps none.)
  const endpoints = (out.endpoints ?? []).map((g) => {
    const sum = (g.lb_endpoints ?? []).reduce((a, e) => a + (e.load_balancing_weight?.value ?? 1), 0);
    return g.load_balancing_weight || sum === 0 ? g : { ...g, load_balancing_weight: { value: sum } };
  });
  return { ...out, endpoints } as unknown as Record<string, unknown>;
}
