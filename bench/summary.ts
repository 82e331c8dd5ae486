// Turns interleaved measurements into the one table and the JSON summary: medians across repetitions,
// their spread, ratios to HAProxy taken within each repetition, and latency added over direct.
import type { Measurement, ScenarioName, TargetName } from './scenarios.ts';
import { median, spreadPct } from './stats.ts';

export interface ControlPlaneSummary {
  /** Proxy count → change-to-ACK p50 / p99 (ms). */
  ackP50Ms: Record<string, number>;
  ackP99Ms: Record<string, number>;
  /** Service count → xDS bytes per proxy and translation time per proxy. */
  bytesPerProxy: Record<string, number>;
  translateMs: Record<string, number>;
  /** Proxy count → control-plane RSS growth per connected proxy (MB). */
  rssPerProxyMb: Record<string, number>;
}

export interface BenchSummary {
  machine: string;
  date: string;
  command: string;
  repetitions: number;
  pairCpuRatio: number;
  pairCpuRatioAt1000Rps: number;
  capacityRatio: number;
  addedP50Ms: number;
  addedP90Ms: number;
  addedP99Ms: number;
  haproxyAddedP50Ms: number;
  haproxyAddedP90Ms: number;
  haproxyAddedP99Ms: number;
  /** The same after each run's first second (load-gen.ts LEAD_IN_MS), for every target alike. */
  steadyAddedP50Ms: number;
  steadyAddedP99Ms: number;
  haproxySteadyAddedP99Ms: number;
  l4CpuRatio: number;
  h2CpuRatio: number;
  grpcCpuRatio: number;
  sidecarRssMb: number;
  haproxyRssMb: number;
  /** Private (unshared) memory of the larger sidecar at 1,000 rps: RSS less the binary's shared pages. */
  sidecarPrivateMb: number;
  haproxyPrivateMb: number;
  vcpuPer1000Rps: number;
  haproxyVcpuPer1000Rps: number;
  cpAckP50Ms: Record<string, number>;
  cpAckP99Ms: Record<string, number>;
  cpBytesPerProxy: Record<string, number>;
  cpTranslateMs: Record<string, number>;
  cpRssPerProxyMb: Record<string, number>;
  rows: Row[];
  errors: string[];
}

export interface Row {
  scenario: ScenarioName;
  target: TargetName;
  rps: number;
  rpsSpreadPct: number;
  pairCpuUs: number;
  pairCpuSpreadPct: number;
  originCpuUs: number;
  cpuVsHaproxy: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  rssMb: number;
  privateMb: number;
  errors: number;
}

function pick(ms: readonly Measurement[], s: ScenarioName, t: TargetName): Measurement[] {
  return ms.filter((m) => m.scenario === s && m.target === t);
}

/** Median over repetitions of f(a, b) for the pair of measurements of the same repetition. */
function paired(ms: readonly Measurement[], s: ScenarioName, a: TargetName, b: TargetName, f: (x: Measurement, y: Measurement) => number): number {
  const bs = pick(ms, s, b);
  return median(pick(ms, s, a).flatMap((x) => {
    const y = bs.find((m) => m.rep === x.rep);
    return y ? [f(x, y)] : [];
  }));
}

export function buildRows(ms: readonly Measurement[]): Row[] {
  const rows: Row[] = [];
  const seen = new Set<string>();
  for (const m of ms) {
    const key = `${m.scenario}/${m.target}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const all = pick(ms, m.scenario, m.target);
    const lat = all.flatMap((x) => (x.latency ? [x.latency] : []));
    rows.push({
      scenario: m.scenario,
      target: m.target,
      rps: median(all.map((x) => x.rps)),
      rpsSpreadPct: spreadPct(all.map((x) => x.rps)),
      pairCpuUs: median(all.map((x) => x.pairCpuUs)),
      pairCpuSpreadPct: spreadPct(all.map((x) => x.pairCpuUs)),
      originCpuUs: median(all.map((x) => x.originCpuUs)),
      cpuVsHaproxy: m.target === 'direct' ? Number.NaN : paired(ms, m.scenario, m.target, 'haproxy', (x, y) => x.pairCpuUs / y.pairCpuUs),
      ...(lat.length ? { p50Ms: median(lat.map((l) => l.p50)), p90Ms: median(lat.map((l) => l.p90)), p99Ms: median(lat.map((l) => l.p99)) } : {}),
      rssMb: median(all.map((x) => Math.max(0, ...x.rssMb))),
      privateMb: median(all.map((x) => Math.max(0, ...(x.privateMb ?? [])))),
      errors: all.reduce((s, x) => s + x.errors, 0),
    });
  }
  return rows;
}

export function summarise(ms: readonly Measurement[], cp: ControlPlaneSummary | undefined, meta: { machine: string; command: string; repetitions: number; errors: string[] }): BenchSummary {
  const ratio = (s: ScenarioName) => paired(ms, s, 'outrigger', 'haproxy', (x, y) => x.pairCpuUs / y.pairCpuUs);
  const added = (t: TargetName, q: 'p50' | 'p90' | 'p99' | 'steadyP50' | 'steadyP99') => paired(ms, 'http1-1000rps', t, 'direct', (x, y) => (x.latency?.[q] ?? Number.NaN) - (y.latency?.[q] ?? Number.NaN));
  const at1000 = (t: TargetName) => median(pick(ms, 'http1-1000rps', t).map((x) => x.pairCpuUs));
  const rss = (t: TargetName) => median(pick(ms, 'http1-1000rps', t).map((x) => Math.max(0, ...x.rssMb)));
  const own = (t: TargetName) => median(pick(ms, 'http1-1000rps', t).map((x) => Math.max(0, ...(x.privateMb ?? []))));
  // vCPU per 1,000 rps for one proxy: the pair's µs per request, halved, times 1,000 requests, in seconds.
  const vcpu = (t: TargetName) => at1000(t) / 2 / 1000;
  return {
    machine: meta.machine,
    date: new Date().toISOString(),
    command: meta.command,
    repetitions: meta.repetitions,
    pairCpuRatio: ratio('http1-max'),
    pairCpuRatioAt1000Rps: ratio('http1-1000rps'),
    capacityRatio: paired(ms, 'http1-max', 'outrigger', 'haproxy', (x, y) => x.rps / y.rps),
    addedP50Ms: added('outrigger', 'p50'),
    addedP90Ms: added('outrigger', 'p90'),
    addedP99Ms: added('outrigger', 'p99'),
    haproxyAddedP50Ms: added('haproxy', 'p50'),
    haproxyAddedP90Ms: added('haproxy', 'p90'),
    haproxyAddedP99Ms: added('haproxy', 'p99'),
    steadyAddedP50Ms: added('outrigger', 'steadyP50'),
    steadyAddedP99Ms: added('outrigger', 'steadyP99'),
    haproxySteadyAddedP99Ms: added('haproxy', 'steadyP99'),
    l4CpuRatio: ratio('tcp-max'),
    h2CpuRatio: ratio('h2-max'),
    grpcCpuRatio: ratio('grpc-max'),
    sidecarRssMb: rss('outrigger'),
    haproxyRssMb: rss('haproxy'),
    sidecarPrivateMb: own('outrigger'),
    haproxyPrivateMb: own('haproxy'),
    vcpuPer1000Rps: vcpu('outrigger'),
    haproxyVcpuPer1000Rps: vcpu('haproxy'),
    cpAckP50Ms: cp?.ackP50Ms ?? {},
    cpAckP99Ms: cp?.ackP99Ms ?? {},
    cpBytesPerProxy: cp?.bytesPerProxy ?? {},
    cpTranslateMs: cp?.translateMs ?? {},
    cpRssPerProxyMb: cp?.rssPerProxyMb ?? {},
    rows: buildRows(ms),
    errors: meta.errors,
  };
}
