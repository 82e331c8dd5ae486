// Envoy's per-cluster upstream stats under their Prometheus names (`envoy_cluster_*{cluster_name}`),
// bound once per cluster so the request path only bumps fields.
import type { Counter, Family, Gauge, MetricsRegistry } from './registry.ts';

const counters = [
  'upstream_rq_total',
  'upstream_rq_completed',
  'upstream_rq_retry',
  'upstream_rq_retry_success',
  'upstream_rq_retry_overflow',
  'upstream_rq_timeout',
  'upstream_rq_per_try_timeout',
  'upstream_rq_pending_overflow',
  'upstream_rq_pending_total',
  'upstream_cx_total',
  'upstream_cx_overflow',
  'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout',
  'upstream_rq_2xx',
  'upstream_rq_3xx',
  'upstream_rq_4xx',
  'upstream_rq_5xx',
  'upstream_cx_destroy_remote',
] as const;
const gauges = ['upstream_cx_active', 'upstream_rq_active', 'upstream_rq_pending_active', 'membership_total', 'membership_healthy'] as const;
/** Outlier detection's counters, Envoy's `cluster.NAME.outlier_detection.<stat>`. */
const outlierCounters = [
  'ejections_overflow',
  'ejections_enforced_total',
  'ejections_detected_consecutive_5xx',
  'ejections_enforced_consecutive_5xx',
  'ejections_detected_consecutive_gateway_failure',
  'ejections_enforced_consecutive_gateway_failure',
  'ejections_detected_consecutive_local_origin_failure',
  'ejections_enforced_consecutive_local_origin_failure',
  'ejections_detected_success_rate',
  'ejections_enforced_success_rate',
] as const;

export type ClusterCounter = (typeof counters)[number];
export type ClusterGauge = (typeof gauges)[number];
export type OutlierCounter = (typeof outlierCounters)[number];
/** Outlier stats as the detector counts them: `ejections_active` is a gauge, the rest counters. */
export type OutlierSeries = Record<OutlierCounter, Counter> & { ejections_active: Gauge };
export type ClusterStats = Record<ClusterCounter, Counter> & Record<ClusterGauge, Gauge> & { outlier: OutlierSeries };

export class ClusterStatsFamilies {
  #counters = new Map<string, Family<Counter>>();
  #gauges = new Map<string, Family<Gauge>>();
  #outlierCounters = new Map<string, Family<Counter>>();
  #ejectionsActive: Family<Gauge>;

  constructor(registry: MetricsRegistry) {
    const statsName = (stat: string) => (l: Record<string, string>) => `cluster.${l['cluster_name']}.${stat}`;
    for (const c of counters) this.#counters.set(c, registry.counter(`envoy_cluster_${c}`, `Envoy cluster ${c}`, statsName(c)));
    for (const g of gauges) this.#gauges.set(g, registry.gauge(`envoy_cluster_${g}`, `Envoy cluster ${g}`, statsName(g)));
    for (const c of outlierCounters) {
      this.#outlierCounters.set(c, registry.counter(`envoy_cluster_outlier_detection_${c}`, `Envoy cluster outlier_detection.${c}`, statsName(`outlier_detection.${c}`)));
    }
    this.#ejectionsActive = registry.gauge('envoy_cluster_outlier_detection_ejections_active', 'Envoy cluster outlier_detection.ejections_active', statsName('outlier_detection.ejections_active'));
  }

  bind(clusterName: string): ClusterStats {
    const labels = { cluster_name: clusterName };
    const out: Record<string, Counter | Gauge | OutlierSeries> = {};
    for (const [k, f] of this.#counters) out[k] = f.bind(labels);
    for (const [k, f] of this.#gauges) out[k] = f.bind(labels);
    const outlier: Record<string, Counter | Gauge> = { ejections_active: this.#ejectionsActive.bind(labels) };
    for (const [k, f] of this.#outlierCounters) outlier[k] = f.bind(labels);
    out['outlier'] = outlier as OutlierSeries;
    return out as ClusterStats;
  }

  remove(clusterName: string): void {
    for (const f of [...this.#counters.values(), ...this.#gauges.values(), ...this.#outlierCounters.values(), this.#ejectionsActive]) f.remove({ cluster_name: clusterName });
  }
}
