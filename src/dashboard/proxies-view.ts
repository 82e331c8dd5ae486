// The proxy sync table: the control plane's per-type sync state for each connected proxy (as
// `outrigger proxy-status` shows it) with one overall status, plus the scraper's view of each target.
import type { ProxySync } from '../controlplane/sync-report.ts';
import { syncOf } from '../controlplane/sync-report.ts';
import type { AdsConnection } from '../xds/ads-server.ts';
import type { TargetHealth } from './scraper.ts';

export type OverallSync = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';

export interface ProxyRow extends ProxySync {
  status: OverallSync;
}

export interface ProxiesReport {
  proxies: ProxyRow[];
  scrapeTargets: TargetHealth[];
}

/** NACKED when the proxy rejected the version now pending; STALE when an ACK is still awaited. */
export function overallSync(p: ProxySync): OverallSync {
  const types = Object.values(p.types);
  if (types.some((t) => t.status === 'STALE' && t.lastNack && t.lastNack.version === t.sentVersion)) return 'NACKED';
  if (types.some((t) => t.status === 'STALE')) return 'STALE';
  if (types.every((t) => t.status === 'NOT SENT')) return 'NOT SENT';
  return 'SYNCED';
}

export function proxiesReport(connections: readonly AdsConnection[], targets: TargetHealth[], now: number): ProxiesReport {
  const proxies = connections
    .map((c) => {
      const s = syncOf(c, now);
      return { ...s, status: overallSync(s) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  return { proxies, scrapeTargets: targets };
}
