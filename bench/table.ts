// The printed report: one table of every scenario × target, then the headline figures against the
// targets of issue 9.
import type { BenchSummary, Row } from './summary.ts';

const f = (n: number | undefined, digits = 1) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function line(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

export function formatTable(s: BenchSummary): string {
  const head = ['scenario', 'target', 'rps', '±%', 'pair µs/req', '±%', '×HAProxy', 'origin µs/req', 'p50 ms', 'p90 ms', 'p99 ms', 'RSS MB', 'private MB', 'errors'];
  const cells = (r: Row) => [
    r.scenario,
    r.target,
    f(r.rps, 0),
    f(r.rpsSpreadPct, 0),
    r.target === 'direct' ? '-' : f(r.pairCpuUs),
    r.target === 'direct' ? '-' : f(r.pairCpuSpreadPct, 0),
    f(r.cpuVsHaproxy, 2),
    f(r.originCpuUs),
    f(r.p50Ms, 3),
    f(r.p90Ms, 3),
    f(r.p99Ms, 3),
    r.target === 'direct' ? '-' : f(r.rssMb, 0),
    r.target === 'direct' ? '-' : f(r.privateMb, 0),
    String(r.errors),
  ];
  const body = s.rows.map(cells);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const check = (v: number, ok: boolean) => `${Number.isFinite(v) ? (ok ? 'met' : 'MISSED') : 'not measured'}`;
  const cpKeys = Object.keys(s.cpAckP99Ms);
  const out = [
    line(head, widths),
    line(widths.map((w) => '-'.repeat(w)), widths),
    ...body.map((b) => line(b, widths)),
    '',
    `pair CPU/req vs HAProxy, HTTP/1.1 at saturation: ${f(s.pairCpuRatio, 2)}× (target ≤ 1.5×: ${check(s.pairCpuRatio, s.pairCpuRatio <= 1.5)}); at 1,000 rps: ${f(s.pairCpuRatioAt1000Rps, 2)}×`,
    `closed-loop capacity vs HAProxy: ${f(s.capacityRatio, 2)}× (target ≥ 0.6×: ${check(s.capacityRatio, s.capacityRatio >= 0.6)})`,
    `added latency at 1,000 rps, Outrigger pair: p50 +${f(s.addedP50Ms, 3)} p90 +${f(s.addedP90Ms, 3)} p99 +${f(s.addedP99Ms, 3)} ms (targets p50 ≤ 0.3: ${check(s.addedP50Ms, s.addedP50Ms <= 0.3)}, p99 ≤ 1.0: ${check(s.addedP99Ms, s.addedP99Ms <= 1)}); HAProxy pair: +${f(s.haproxyAddedP50Ms, 3)} / +${f(s.haproxyAddedP90Ms, 3)} / +${f(s.haproxyAddedP99Ms, 3)} ms`,
    `the same after each run's first second (new connections and the load generator's start left out, every target alike): Outrigger p50 +${f(s.steadyAddedP50Ms, 3)} p99 +${f(s.steadyAddedP99Ms, 3)} ms; HAProxy p99 +${f(s.haproxySteadyAddedP99Ms, 3)} ms (the target is read on the line above)`,
    `L4 pair CPU/req vs HAProxy TCP mode: ${f(s.l4CpuRatio, 2)}× (target ≤ 1.0×: ${check(s.l4CpuRatio, s.l4CpuRatio <= 1)}); h2: ${f(s.h2CpuRatio, 2)}×; gRPC: ${f(s.grpcCpuRatio, 2)}×`,
    `vCPU per 1,000 rps per sidecar: ${f(s.vcpuPer1000Rps, 3)} (target ≤ 0.05: ${check(s.vcpuPer1000Rps, s.vcpuPer1000Rps <= 0.05)}; HAProxy ${f(s.haproxyVcpuPer1000Rps, 3)}; Istio 1.24 0.20)`,
    `sidecar RSS at 1,000 rps with the bench's services of config: ${f(s.sidecarRssMb, 0)} MB (target ≤ 50: ${check(s.sidecarRssMb, s.sidecarRssMb <= 50)}; HAProxy ${f(s.haproxyRssMb, 0)} MB); of it private to the process: ${f(s.sidecarPrivateMb, 0)} MB (HAProxy ${f(s.haproxyPrivateMb, 0)} MB), the rest the shared pages of the node binary and libraries`,
  ];
  if (cpKeys.length) {
    out.push(`control plane, change to ACK p50/p99 ms by proxies: ${cpKeys.map((k) => `${k}: ${f(s.cpAckP50Ms[k], 0)}/${f(s.cpAckP99Ms[k], 0)}`).join(', ')} (debounce included; targets p99 ≤ 250 @200, ≤ 1000 @1000)`);
    out.push(`control plane, xDS bytes per proxy by services: ${Object.entries(s.cpBytesPerProxy).map(([k, v]) => `${k}: ${f(v / 1024, 1)} KB`).join(', ')}; translation ms per proxy: ${Object.entries(s.cpTranslateMs).map(([k, v]) => `${k}: ${f(v, 2)}`).join(', ')}`);
    out.push(`control plane, RSS per connected proxy (MB) by proxies: ${Object.entries(s.cpRssPerProxyMb).map(([k, v]) => `${k}: ${f(v, 3)}`).join(', ')} (target ≤ 0.5)`);
  }
  for (const e of s.errors) out.push(`error: ${e}`);
  return out.join('\n');
}
