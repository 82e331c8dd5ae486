// Envoy's outlier detector (DetectorImpl) for one cluster: counts consecutive 5xx, gateway errors and
// local-origin failures per host, ejects within max_ejection_percent, and brings hosts back on the
// interval tick after base_ejection_time × their ejection backoff. Time and randomness are injected.
import type { Clock, HostHealth, Random } from '../lb/load-balancer.ts';
import type { EjectionType, OutlierConfig } from './outlier-config.ts';
import { type HostMonitor, newMonitor, type OutlierOutcome, recordOutcome } from './host-monitor.ts';
import { successRateOutliers } from './success-rate.ts';

export type { OutlierOutcome } from './host-monitor.ts';

export interface OutlierEvent {
  readonly action: 'eject' | 'uneject' | 'overflow' | 'detected';
  readonly host: string;
  readonly type?: EjectionType;
  /** For `eject`: how long the host stays out at least (it returns on the first tick after). */
  readonly ejectionMs?: number;
}

/** Envoy's `outlier_detection.*` cluster stats (Prometheus: `envoy_cluster_outlier_detection_<name>`). */
export interface OutlierStats {
  ejections_active: number;
  ejections_overflow: number;
  ejections_enforced_total: number;
  ejections_detected_consecutive_5xx: number;
  ejections_enforced_consecutive_5xx: number;
  ejections_detected_consecutive_gateway_failure: number;
  ejections_enforced_consecutive_gateway_failure: number;
  ejections_detected_consecutive_local_origin_failure: number;
  ejections_enforced_consecutive_local_origin_failure: number;
  ejections_detected_success_rate: number;
  ejections_enforced_success_rate: number;
}

export interface OutlierDeps {
  now: Clock;
  random: Random;
  onEvent?: (e: OutlierEvent) => void;
}

/** The timer API the detector arms its interval with (the proxy's timers, or a test clock). */
export interface IntervalTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export class OutlierDetector implements HostHealth {
  readonly stats: OutlierStats = {
    ejections_active: 0,
    ejections_overflow: 0,
    ejections_enforced_total: 0,
    ejections_detected_consecutive_5xx: 0,
    ejections_enforced_consecutive_5xx: 0,
    ejections_detected_consecutive_gateway_failure: 0,
    ejections_enforced_consecutive_gateway_failure: 0,
    ejections_detected_consecutive_local_origin_failure: 0,
    ejections_enforced_consecutive_local_origin_failure: 0,
    ejections_detected_success_rate: 0,
    ejections_enforced_success_rate: 0,
  };
  #config: OutlierConfig;
  #deps: OutlierDeps;
  #hosts = new Map<string, HostMonitor>();
  #generation = 0;
  #timer: { timers: IntervalTimers; handle: unknown } | null = null;

  constructor(config: OutlierConfig, hosts: Iterable<string>, deps: OutlierDeps) {
    this.#config = config;
    this.#deps = deps;
    this.update(hosts);
  }

  /** Changes whenever a host is ejected or returns; load balancers rebuild their host lists on it. */
  get generation(): number {
    return this.#generation;
  }

  isEjected(host: string): boolean {
    const m = this.#hosts.get(host);
    return m !== undefined && m.ejectedAt !== null;
  }

  /** How many times the host has been ejected, and its current backoff multiplier (admin, tests). */
  hostState(host: string): { ejections: number; backoff: number; ejected: boolean } | undefined {
    const m = this.#hosts.get(host);
    return m && { ejections: m.ejections, backoff: m.backoff, ejected: m.ejectedAt !== null };
  }

  /** Membership from EDS: new hosts start clean; a removed ejected host frees its ejection slot. */
  update(hosts: Iterable<string>): void {
    const next = new Map<string, HostMonitor>();
    for (const key of hosts) next.set(key, this.#hosts.get(key) ?? newMonitor());
    for (const [key, m] of this.#hosts) {
      if (next.has(key) || m.ejectedAt === null) continue;
      this.stats.ejections_active--;
      this.#generation++;
    }
    this.#hosts = next;
  }

  /** The outcome of one request (or connection) to `host`. */
  onResult(host: string, outcome: OutlierOutcome): void {
    const m = this.#hosts.get(host);
    if (!m) return;
    for (const type of recordOutcome(m, outcome, this.#config)) this.#onConsecutive(host, m, type);
  }

  #onConsecutive(host: string, m: HostMonitor, type: EjectionType): void {
    // Already out: the counter keeps running and fires again only after the host returns (reset).
    if (m.ejectedAt !== null) return;
    this.#detected(host, type);
    this.#eject(host, m, type);
    if (type === 'consecutive_5xx') m.consecutive5xx = 0;
    else if (type === 'consecutive_gateway_failure') m.consecutiveGateway = 0;
    else if (type === 'consecutive_local_origin_failure') m.consecutiveLocalOrigin = 0;
  }

  #detected(host: string, type: EjectionType): void {
    this.stats[`ejections_detected_${type}`]++;
    this.#deps.onEvent?.({ action: 'detected', host, type });
  }

  #eject(host: string, m: HostMonitor, type: EjectionType): void {
    const c = this.#config;
    const active = this.stats.ejections_active;
    // Envoy counts the ejection about to happen: 100 × (active + 1) / hosts must stay within the max,
    // across all priorities. With 10% and fewer than 10 hosts nothing is ejected, unless
    // always_eject_one_host lets the first one go.
    const percent = (100 * (active + 1)) / this.#hosts.size;
    const allowed = percent <= c.maxEjectionPercent || (c.alwaysEjectOneHost && active === 0);
    if (!allowed) {
      this.stats.ejections_overflow++;
      this.#deps.onEvent?.({ action: 'overflow', host, type });
      return;
    }
    const enforcing = c.enforcing[type];
    if (!(enforcing >= 100 || (enforcing > 0 && this.#deps.random() * 100 < enforcing))) return;
    this.stats.ejections_active++;
    this.stats.ejections_enforced_total++;
    this.stats[`ejections_enforced_${type}`]++;
    m.ejectedAt = this.#deps.now();
    m.ejections++;
    m.jitterMs = c.maxEjectionTimeJitterMs > 0 ? Math.floor(this.#deps.random() * (c.maxEjectionTimeJitterMs + 1)) : 0;
    // The backoff grows while it is below the cap (plus one step), as Envoy's ejectTimeBackoff.
    if (m.backoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) m.backoff++;
    this.#generation++;
    this.#deps.onEvent?.({ action: 'eject', host, type, ejectionMs: ejectionMs(c, m) });
  }

  /** The interval tick: return hosts whose time is up, decay backoff of clean hosts, success rate. */
  onInterval(): void {
    const now = this.#deps.now();
    const c = this.#config;
    for (const [host, m] of this.#hosts) {
      if (m.ejectedAt === null) {
        if (m.backoff > 0) m.backoff--;
        continue;
      }
      if (ejectionMs(c, m) > now - m.ejectedAt) continue;
      m.ejectedAt = null;
      // Fresh counters, so a host near a threshold is not thrown out again by one more error.
      m.consecutive5xx = 0;
      m.consecutiveGateway = 0;
      m.consecutiveLocalOrigin = 0;
      this.stats.ejections_active--;
      this.#generation++;
      this.#deps.onEvent?.({ action: 'uneject', host });
    }
    for (const host of successRateOutliers(this.#hosts, c)) {
      const m = this.#hosts.get(host)!;
      this.#detected(host, 'success_rate');
      this.#eject(host, m, 'success_rate');
    }
    for (const m of this.#hosts.values()) {
      m.intervalTotal = 0;
      m.intervalSuccess = 0;
    }
  }

  /** Arms the interval on real (or test) timers; re-armed after every tick, as Envoy does. */
  start(timers: IntervalTimers): void {
    this.stop();
    const arm = () => {
      this.#timer = {
        timers,
        handle: timers.set(() => {
          this.onInterval();
          arm();
        }, this.#config.intervalMs),
      };
    };
    arm();
  }

  stop(): void {
    if (this.#timer) this.#timer.timers.clear(this.#timer.handle);
    this.#timer = null;
  }
}

/** `min(base × backoff, max) + jitter`. */
function ejectionMs(c: OutlierConfig, m: HostMonitor): number {
  return Math.min(c.baseEjectionTimeMs * m.backoff, c.maxEjectionTimeMs) + m.jitterMs;
}
