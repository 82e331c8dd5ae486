// Envoy's success-rate outlier detection, run at each interval tick: hosts with enough requests whose
// success rate falls below mean − (stdev_factor / 1000) × stdev of their peers.
import type { HostMonitor } from './host-monitor.ts';
import type { OutlierConfig } from './outlier-config.ts';

export function successRateOutliers(hosts: ReadonlyMap<string, HostMonitor>, c: OutlierConfig): string[] {
  const rates: { host: string; rate: number }[] = [];
  for (const [host, m] of hosts) {
    if (m.ejectedAt !== null || m.intervalTotal < c.successRateRequestVolume || m.intervalTotal === 0) continue;
    rates.push({ host, rate: (100 * m.intervalSuccess) / m.intervalTotal });
  }
  if (rates.length < c.successRateMinimumHosts || rates.length === 0) return [];
  const mean = rates.reduce((a, r) => a + r.rate, 0) / rates.length;
  const variance = rates.reduce((a, r) => a + (r.rate - mean) ** 2, 0) / rates.length;
  const threshold = mean - (c.successRateStdevFactor / 1000) * Math.sqrt(variance);
  return rates.filter((r) => r.rate < threshold).map((r) => r.host);
}
