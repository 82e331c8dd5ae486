// Envoy's priority load and panic computation (LoadBalancerBase::recalculatePerPriorityState): how
// much of the traffic each priority takes given its health, and which priorities are in panic.

/** Envoy's default overprovisioning factor: a priority at 72% health still takes all its load. */
export const OVERPROVISIONING = 140;

export interface PriorityCounts {
  /** Hosts in the priority. */
  readonly total: number;
  /** Hosts neither unhealthy in EDS nor ejected. */
  readonly healthy: number;
}

export interface PriorityLoad {
  /** Percent of traffic per priority; sums to 100, or is all zero when nothing can take traffic. */
  readonly load: readonly number[];
  /** Per priority: pick among all its hosts, ignoring health. */
  readonly panic: readonly boolean[];
}

/** Health of one priority, 0..100: `min(100, 140 × healthy / total)` in integer math, as Envoy. */
export function priorityHealth(c: PriorityCounts): number {
  if (c.total === 0) return 0;
  return Math.min(100, Math.floor((OVERPROVISIONING * c.healthy) / c.total));
}

/**
 * @param panicThreshold `common_lb_config.healthy_panic_threshold` in percent (Envoy's default 50;
 *   0 disables panic, which is what Istio sets from `minHealthPercent: 0`).
 */
export function computePriorityLoad(counts: readonly PriorityCounts[], panicThreshold: number): PriorityLoad {
  const n = counts.length;
  const health = counts.map(priorityHealth);
  const normalizedTotal = Math.min(100, health.reduce((a, b) => a + b, 0));
  const load = new Array<number>(n).fill(0);
  const panic = new Array<boolean>(n).fill(false);
  if (normalizedTotal > 0) {
    // Highest priority first, each as much as its health allows; the rounding rest to the first
    // priority with any health.
    let remaining = 100;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (first < 0 && health[i]! > 0) first = i;
      const l = Math.min(remaining, Math.floor((health[i]! * 100) / normalizedTotal));
      load[i] = l;
      remaining -= l;
    }
    if (first >= 0) load[first]! += remaining;
  }
  if (panicThreshold === 0 || normalizedTotal === 100) return { load, panic };
  for (let i = 0; i < n; i++) {
    const c = counts[i]!;
    const healthyPercent = c.total === 0 ? 0 : (100 * c.healthy) / c.total;
    panic[i] = healthyPercent < panicThreshold;
  }
  if (panic.every(Boolean)) return { load: loadInTotalPanic(counts), panic };
  return { load, panic };
}

/** Every priority in panic: load follows the raw host count, as Envoy's recalculateLoadInTotalPanic. */
function loadInTotalPanic(counts: readonly PriorityCounts[]): number[] {
  const total = counts.reduce((a, c) => a + c.total, 0);
  const load = new Array<number>(counts.length).fill(0);
  if (total === 0) return load;
  let remaining = 100;
  let first = -1;
  counts.forEach((c, i) => {
    if (first < 0 && c.total > 0) first = i;
    load[i] = Math.floor((100 * c.total) / total);
    remaining -= load[i]!;
  });
  load[first]! += remaining;
  return load;
}

/** The priority a draw in [0, 100) lands on, walking the cumulative load; -1 when all load is 0. */
export function choosePriority(load: readonly number[], draw: number): number {
  let cumulative = 0;
  for (let i = 0; i < load.length; i++) {
    cumulative += load[i]!;
    if (draw < cumulative) return i;
  }
  return -1;
}

/**
 * The load with some priorities left out, as Envoy's previous_priorities plugin: their health counts
 * as 0 and the rest is spread by health again (total capped at 100). Undefined when nothing is left,
 * so the caller keeps the normal load.
 */
export function loadExcluding(counts: readonly PriorityCounts[], excluded: ReadonlySet<number>): number[] | undefined {
  const health = counts.map((c, i) => (excluded.has(i) ? 0 : priorityHealth(c)));
  const total = Math.min(100, health.reduce((a, b) => a + b, 0));
  if (total === 0) return undefined;
  const load = new Array<number>(counts.length).fill(0);
  let remaining = 100;
  // Envoy loops until the rounding rest is placed too, which lands it on the first available priority.
  for (let guard = 0; remaining > 0 && guard < 100; guard++) {
    for (let i = 0; i < health.length && remaining > 0; i++) {
      const delta = Math.min(remaining, Math.floor((health[i]! * 100) / total));
      load[i]! += delta;
      remaining -= delta;
    }
  }
  return load;
}
