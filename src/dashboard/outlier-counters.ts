// Outlier detection as the proxies' Envoy stats tell it, per service: how many of its endpoints the
// callers' detectors hold ejected now, and how many ejections they enforced over a window. Envoy counts
// per cluster (`outbound|9898|stable|podinfo.podinfo.svc.cluster.local`), so every subset's cluster adds
// to its service.
import type { Sample } from './exposition.ts';

/** One cluster's outlier stats in one proxy. */
export interface OutlierCounters {
  /** `envoy_cluster_outlier_detection_ejections_active`: endpoints ejected now (a gauge). */
  active: number;
  /** `envoy_cluster_outlier_detection_ejections_enforced_total`: ejections so far (a counter). */
  enforced: number;
  /** `envoy_cluster_outlier_detection_ejections_overflow`: outliers detected but kept in by max_ejection_percent (a counter). */
  overflow: number;
}

/** A service's outlier picture over a window. */
export interface ServiceOutlier {
  /** Endpoints ejected at the window's end, summed over the callers' proxies and the service's clusters. */
  ejectionsActive: number;
  /** Ejections enforced during the window, likewise summed. */
  ejections: number;
  /**
   * Outliers detected during the window that the cap kept in (`maxEjectionPercent`): with the seed's 50 %
   * and one endpoint per subset, a sick pod shows only here.
   */
  overflows: number;
}

const ACTIVE = 'envoy_cluster_outlier_detection_ejections_active';
const ENFORCED = 'envoy_cluster_outlier_detection_ejections_enforced_total';
const OVERFLOW = 'envoy_cluster_outlier_detection_ejections_overflow';
export const outlierFamilies: readonly string[] = [ACTIVE, ENFORCED, OVERFLOW];

/** Per cluster name, the outlier stats of one scrape. */
export function countOutliers(samples: readonly Sample[]): Map<string, OutlierCounters> {
  const out = new Map<string, OutlierCounters>();
  for (const s of samples) {
    if ((s.name !== ACTIVE && s.name !== ENFORCED && s.name !== OVERFLOW) || !Number.isFinite(s.value)) continue;
    const cluster = s.labels['cluster_name'];
    if (!cluster) continue;
    let c = out.get(cluster);
    if (!c) {
      c = { active: 0, enforced: 0, overflow: 0 };
      out.set(cluster, c);
    }
    if (s.name === ACTIVE) c.active += s.value;
    else if (s.name === ENFORCED) c.enforced += s.value;
    else c.overflow += s.value;
  }
  return out;
}

/** The service host an outbound cluster sends to (`outbound|PORT|SUBSET|HOST`); undefined for any other. */
export function serviceHostOf(cluster: string): string | undefined {
  const parts = cluster.split('|');
  return parts.length === 4 && parts[0] === 'outbound' && parts[3] ? parts[3] : undefined;
}

const increase = (now: number, before: number | undefined): number => (before === undefined || now < before ? now : now - before);

/** One target's outlier stats in one scrape round. */
export type TargetOutliers = ReadonlyMap<string, OutlierCounters>;

/**
 * Per service host, over consecutive rounds (oldest first, target name → its clusters): the ejections in
 * force at each target's last answer, and the enforced increase, compared round to round per target as
 * Prometheus' increase() does (a counter that went down was reset: its value is the increase).
 */
export function outliersOver(rounds: readonly ReadonlyMap<string, TargetOutliers>[]): Map<string, ServiceOutlier> {
  const out = new Map<string, ServiceOutlier>();
  const of = (host: string): ServiceOutlier => {
    let s = out.get(host);
    if (!s) {
      s = { ejectionsActive: 0, ejections: 0, overflows: 0 };
      out.set(host, s);
    }
    return s;
  };
  const names = new Set<string>();
  for (const r of rounds) for (const name of r.keys()) names.add(name);
  for (const name of names) {
    let prev: TargetOutliers | undefined;
    for (const r of rounds) {
      const cur = r.get(name);
      if (!cur) continue;
      if (prev) {
        for (const [cluster, c] of cur) {
          const host = serviceHostOf(cluster);
          if (!host) continue;
          const before = prev.get(cluster);
          const s = of(host);
          s.ejections += increase(c.enforced, before?.enforced);
          s.overflows += increase(c.overflow, before?.overflow);
        }
      }
      prev = cur;
    }
    for (const [cluster, c] of prev ?? []) {
      const host = serviceHostOf(cluster);
      if (host && c.active > 0) of(host).ejectionsActive += c.active;
    }
  }
  return out;
}
