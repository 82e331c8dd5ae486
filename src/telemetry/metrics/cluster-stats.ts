// Envoy's per-cluster upstream stats under their Prometheus names (`envoy_cluster_*{cluster_name}`).
// A proxy may hold tens of thousands of clusters, most never used: each holds one small record whose
// series are made on first use, and the families list every cluster at render time, the unused ones
// at zero (as Envoy shows them), with no series of their own. Under a stats matcher a cluster lists
// only the stats it includes, and a cluster it includes none of has no record at all.
import { type CollectedFamily, Counter, Gauge, type Labels, type MetricsRegistry } from './registry.ts';
import type { StatsMatcher } from './stats-matcher.ts';

const counters = [
  'upstream_rq_total',
  'upstream_rq_completed',
  'upstream_rq_retry',
  'upstream_rq_retry_success',
  'upstream_rq_retry_overflow',
  'upstream_rq_timeout',
  'upstream_rq_per_try_timeout',
  'upstream_rq_rx_reset',
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

interface Stat {
  /** The field on ClusterStats (or on its `outlier`). */
  field: string;
  /** Prometheus family and Envoy's /stats suffix. */
  family: string;
  stat: string;
  kind: 'counter' | 'gauge';
}

// Families in the order they are rendered (and were registered before the series became lazy).
const rendered: Stat[] = [
  ...counters.map((c): Stat => ({ field: c, family: `envoy_cluster_${c}`, stat: c, kind: 'counter' })),
  ...gauges.map((g): Stat => ({ field: g, family: `envoy_cluster_${g}`, stat: g, kind: 'gauge' })),
  ...outlierCounters.map((c): Stat => ({ field: c, family: `envoy_cluster_outlier_detection_${c}`, stat: `outlier_detection.${c}`, kind: 'counter' })),
  { field: 'ejections_active', family: 'envoy_cluster_outlier_detection_ejections_active', stat: 'outlier_detection.ejections_active', kind: 'gauge' },
];
// Slots in a record: the gauges every cluster sets (membership, ejections_active, upstream_cx_active at
// each scrape) first, so an idle cluster's array stays short.
const slotOrder = ['membership_total', 'membership_healthy', 'ejections_active', 'upstream_cx_active', ...rendered.map((s) => s.field)];
const slots = [...new Set(slotOrder)];
const slotOf = new Map(slots.map((f, i) => [f, i]));
const kindOf = new Map(rendered.map((s) => [s.field, s.kind]));
/** Each slot's Envoy stat name after `cluster.NAME.`. */
const slotStats = slots.map((field) => rendered.find((s) => s.field === field)?.stat as string);

/**
 * One cluster's stats. Each field (`upstream_rq_total`, `outlier.ejections_active`...) is a getter that
 * makes its series the first time it is read; `outlier` is the record itself (the names do not overlap).
 */
class ClusterSeries {
  readonly labels: Labels;
  #series: (Counter | Gauge | undefined)[] = [];
  /** By slot, whether the stats matcher keeps it; undefined: all (shared between clusters with the same answer). */
  readonly #kept: readonly boolean[] | undefined;

  constructor(labels: Labels, kept?: readonly boolean[]) {
    this.labels = labels;
    this.#kept = kept;
  }

  get outlier(): this {
    return this;
  }

  /** Whether the slot's stat is listed. */
  lists(slot: number): boolean {
    return this.#kept === undefined || this.#kept[slot] === true;
  }

  /** The series' value, 0 if it was never made. */
  valueAt(slot: number): number {
    return this.#series[slot]?.value ?? 0;
  }

  #make(slot: number): Counter | Gauge {
    const gauge = kindOf.get(slots[slot] as string) === 'gauge';
    // A stat the matcher drops is the shared null one: counted by everyone, never listed.
    const s = this.lists(slot) ? (gauge ? new Gauge() : new Counter()) : gauge ? nullGauge : nullCounter;
    this.#series[slot] = s;
    return s;
  }

  static {
    // One load and a compare on the request path once made; the making stays out of the getter's body.
    for (const [field, slot] of slotOf) {
      Object.defineProperty(ClusterSeries.prototype, field, {
        get(this: ClusterSeries) {
          const s = this.#series[slot];
          return s === undefined ? this.#make(slot) : s;
        },
      });
    }
  }
}

/** Envoy's null stats: what a stat the matcher drops is bound to. Never listed, so their values mean nothing. */
const nullCounter = new Counter();
const nullGauge = new Gauge();
/** A cluster the matcher keeps no stat of: one record for all of them, not listed. */
const nullCluster = new ClusterSeries({}, slots.map(() => false));

export class ClusterStatsFamilies {
  /** Bound clusters in bind order, which is the order their rows are rendered in. */
  #clusters = new Map<string, ClusterSeries>();
  readonly #matcher: StatsMatcher | undefined;
  /** The matcher's answers by slot, one array per distinct answer (`true,false,...`). */
  readonly #keptSets = new Map<string, readonly boolean[]>();

  constructor(registry: MetricsRegistry) {
    this.#matcher = registry.statsMatcher;
    for (const s of rendered) registry.collect(this.#family(s));
  }

  #family(s: Stat): CollectedFamily {
    const slot = slotOf.get(s.field) as number;
    const clusters = this.#clusters;
    return {
      name: s.family,
      help: `Envoy cluster ${s.stat}`,
      kind: s.kind,
      statsName: (l) => `cluster.${l['cluster_name']}.${s.stat}`,
      forEach(fn) {
        for (const c of clusters.values()) if (c.lists(slot)) fn(c.labels, c.valueAt(slot));
      },
    };
  }

  /** The cluster's stats; binding a name again returns the same ones until it is removed. */
  bind(clusterName: string): ClusterStats {
    let c = this.#clusters.get(clusterName);
    if (!c) {
      const kept = this.#kept(clusterName);
      if (kept === 'none') return nullCluster as unknown as ClusterStats;
      c = new ClusterSeries({ cluster_name: clusterName }, kept);
      this.#clusters.set(clusterName, c);
    }
    return c as unknown as ClusterStats;
  }

  /** Which of the cluster's stats the matcher keeps, by slot: undefined for all, 'none' for none. */
  #kept(clusterName: string): readonly boolean[] | undefined | 'none' {
    const m = this.#matcher;
    if (!m) return undefined;
    const head = `cluster.${clusterName}.`;
    const kept = slotStats.map((stat) => m.includesJoined(head, stat));
    if (!kept.includes(false)) return undefined;
    if (!kept.includes(true)) return 'none';
    const key = kept.join();
    let shared = this.#keptSets.get(key);
    if (!shared) {
      shared = kept;
      this.#keptSets.set(key, shared);
    }
    return shared;
  }

  remove(clusterName: string): void {
    this.#clusters.delete(clusterName);
  }
}
