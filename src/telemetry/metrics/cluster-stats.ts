// Envoy's per-cluster upstream stats under their Prometheus names (`envoy_cluster_*{cluster_name}`),
// bound once per cluster so the request path only bumps fields.
import type { Counter, Family, Gauge, MetricsRegistry } from './registry.ts';

const counters = [
  'upstream_rq_total',
  'upstream_rq_completed',
  'upstream_rq_retry',
  'upstream_rq_timeout',
  'upstream_rq_pending_overflow',
  'upstream_rq_pending_total',
  'upstream_cx_total',
  'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout',
  'upstream_rq_2xx',
  'upstream_rq_3xx',
  'upstream_rq_4xx',
  'upstream_rq_5xx',
  'upstream_cx_destroy_remote',
] as const;
const gauges = ['upstream_cx_active', 'upstream_rq_active', 'upstream_rq_pending_active', 'membership_total', 'membership_healthy'] as const;

export type ClusterCounter = (typeof counters)[number];
export type ClusterGauge = (typeof gauges)[number];
export type ClusterStats = Record<ClusterCounter, Counter> & Record<ClusterGauge, Gauge>;

export class ClusterStatsFamilies {
  #counters = new Map<string, Family<Counter>>();
  #gauges = new Map<string, Family<Gauge>>();

  constructor(registry: MetricsRegistry) {
    const statsName = (stat: string) => (l: Record<string, string>) => `cluster.${l['cluster_name']}.${stat}`;
    for (const c of counters) this.#counters.set(c, registry.counter(`envoy_cluster_${c}`, `Envoy cluster ${c}`, statsName(c)));
    for (const g of gauges) this.#gauges.set(g, registry.gauge(`envoy_cluster_${g}`, `Envoy cluster ${g}`, statsName(g)));
  }

  bind(clusterName: string): ClusterStats {
    const labels = { cluster_name: clusterName };
    const out: Record<string, Counter | Gauge> = {};
    for (const [k, f] of this.#counters) out[k] = f.bind(labels);
    for (const [k, f] of this.#gauges) out[k] = f.bind(labels);
    return out as ClusterStats;
  }

  remove(clusterName: string): void {
    for (const f of [...this.#counters.values(), ...this.#gauges.values()]) f.remove({ cluster_name: clusterName });
  }
}
