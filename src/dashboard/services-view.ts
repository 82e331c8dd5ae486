// The service table and one service's page: inbound rates, errors and latency over the window,
// per-interval history for sparklines, traffic by source and by destination workload (canary split).
import type { MeshSnapshot } from '../model/snapshot.ts';
import { workloadOf } from './mesh-nodes.ts';
import type { ServiceOutlier } from './outlier-counters.ts';
import type { EdgeDelta, Interval } from './traffic-history.ts';
import { type Health, healthOf, type TrafficStats, trafficStats } from './traffic-stats.ts';

export interface ServiceRow {
  name: string;
  namespace: string;
  hostname: string;
  source: 'kubernetes' | 'service-entry' | 'traffic';
  ports: { name: string; port: number; protocol: string }[];
  endpoints: number;
  healthyEndpoints: number;
  stats: TrafficStats;
  health: Health;
  /** Outlier detection: endpoints the callers' proxies hold ejected now, ejections over the window. */
  outlier: ServiceOutlier;
}

export interface HistoryPoint {
  /** End of the interval (clock ms). */
  at: number;
  rps: number;
  errorRatio: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface ServiceDetail extends ServiceRow {
  windowSeconds: number;
  history: HistoryPoint[];
  bySource: { workload: string; namespace: string; stats: TrafficStats }[];
  byDestination: { workload: string; namespace: string; version: string; stats: TrafficStats }[];
  instances: { name: string; workload: string; address: string; healthy: boolean; labels: Record<string, string> }[];
  virtualServices: string[];
  destinationRules: string[];
}

const of = (d: EdgeDelta, ns: string, name: string): boolean => d.identity.serviceNamespace === ns && d.identity.serviceName === name;

export function serviceRows(snapshot: MeshSnapshot, interval: Interval | undefined): ServiceRow[] {
  const rows = new Map<string, Omit<ServiceRow, 'stats' | 'health' | 'outlier'>>();
  for (const s of snapshot.services) {
    const eps = snapshot.endpointsByService.get(`${s.namespace}/${s.hostname}`) ?? [];
    rows.set(`${s.namespace}/${s.name}`, {
      name: s.name,
      namespace: s.namespace,
      hostname: s.hostname,
      source: s.source,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      endpoints: eps.length,
      healthyEndpoints: eps.filter((e) => e.healthy).length,
    });
  }
  const deltas = interval?.edges ?? [];
  for (const d of deltas) {
    const { serviceNamespace: namespace, serviceName: name, serviceHost: hostname } = d.identity;
    if (!rows.has(`${namespace}/${name}`)) rows.set(`${namespace}/${name}`, { name, namespace, hostname, source: 'traffic', ports: [], endpoints: 0, healthyEndpoints: 0 });
  }
  return [...rows.values()]
    .map((r) => {
      const stats = trafficStats(
        deltas.filter((d) => of(d, r.namespace, r.name)),
        interval?.seconds ?? 0,
      );
      const outlier = interval?.outliers?.get(r.hostname) ?? { ejectionsActive: 0, ejections: 0, overflows: 0 };
      return { ...r, stats, health: healthOf(stats), outlier: { ...outlier } };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

function groupStats<K>(deltas: readonly EdgeDelta[], keyOf: (d: EdgeDelta) => string, make: (d: EdgeDelta) => K, seconds: number): (K & { stats: TrafficStats })[] {
  const groups = new Map<string, { head: EdgeDelta; list: EdgeDelta[] }>();
  for (const d of deltas) {
    const k = keyOf(d);
    const g = groups.get(k);
    if (g) g.list.push(d);
    else groups.set(k, { head: d, list: [d] });
  }
  return [...groups.values()].map((g) => ({ ...make(g.head), stats: trafficStats(g.list, seconds) })).sort((a, b) => b.stats.rps - a.stats.rps);
}

export function serviceDetail(snapshot: MeshSnapshot, namespace: string, name: string, window: Interval | undefined, intervals: readonly Interval[]): ServiceDetail | undefined {
  const row = serviceRows(snapshot, window).find((r) => r.namespace === namespace && r.name === name);
  if (!row) return undefined;
  const deltas = (window?.edges ?? []).filter((d) => of(d, namespace, name));
  const seconds = window?.seconds ?? 0;
  const history = intervals.map((iv) => {
    const s = trafficStats(
      iv.edges.filter((d) => of(d, namespace, name)),
      iv.seconds,
    );
    return { at: iv.to, rps: s.rps, errorRatio: s.errorRatio, p50: s.p50, p95: s.p95, p99: s.p99 };
  });
  const svc = snapshot.services.find((s) => s.namespace === namespace && s.name === name);
  const instances = svc ? (snapshot.endpointsByService.get(`${namespace}/${svc.hostname}`) ?? []) : [];
  const named = (list: readonly { metadata: { namespace: string; name: string } }[] | undefined) => (list ?? []).map((r) => `${r.metadata.namespace}/${r.metadata.name}`);
  return {
    ...row,
    windowSeconds: Math.round(seconds),
    history,
    bySource: groupStats(deltas, (d) => `${d.identity.sourceNamespace}/${d.identity.sourceWorkload}`, (d) => ({ workload: d.identity.sourceWorkload, namespace: d.identity.sourceNamespace }), seconds),
    byDestination: groupStats(
      deltas,
      (d) => `${d.identity.destinationNamespace}/${d.identity.destinationWorkload}`,
      (d) => ({ workload: d.identity.destinationWorkload, namespace: d.identity.destinationNamespace, version: d.identity.destinationVersion }),
      seconds,
    ),
    instances: instances.map((i) => ({ name: i.name, workload: workloadOf(i), address: i.address, healthy: i.healthy, labels: i.labels })),
    virtualServices: named(svc ? snapshot.virtualServicesByHost.get(svc.hostname) : undefined),
    destinationRules: named(svc ? snapshot.destinationRulesByHost.get(svc.hostname) : undefined),
  };
}
