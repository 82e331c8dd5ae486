// The frame every EDS-driven policy runs in, as Envoy's LoadBalancerBase: hosts grouped by priority,
// priority chosen by health (overprovisioning 1.4), panic when too few are healthy, locality-weighted
// choice within a priority, slow start, the retry host predicate (`previous_hosts`) and the retry
// priority (`previous_priorities`: a retry's load without the priorities already tried).
import { EdfScheduler } from './edf-scheduler.ts';
import { mix32 } from './hash.ts';
import type { HostSource, SourceFactory } from './host-source.ts';
import type { LbContext, LbDeps, LbHost, LoadBalancer, LbStats } from './load-balancer.ts';
import { choosePriority, computePriorityLoad, loadExcluding, type PriorityLoad } from './priority-load.ts';
import { type SlowStartConfig, slowStartFactor } from './slow-start.ts';

export interface PriorityLbOptions {
  readonly policy: string;
  /** Percent; Envoy's default 50, 0 never panics. */
  readonly panicThreshold: number;
  /** `common_lb_config.locality_weighted_lb_config` is set. */
  readonly localityWeighted: boolean;
  readonly slowStart: SlowStartConfig | null;
}

interface Locality<H> {
  readonly hosts: H[];
  readonly healthy: H[];
  weight: number;
}

interface Priority<H extends LbHost> {
  readonly hosts: H[];
  readonly healthy: H[];
  readonly localities: Map<string, Locality<H>>;
  all?: HostSource<H>;
  healthySource?: HostSource<H>;
  localityChoice?: EdfScheduler<Locality<H>>;
  localitySources?: Map<Locality<H>, HostSource<H>>;
}

/** Before the first build; replaced, never changed. */
const NO_LOAD: PriorityLoad = Object.freeze({ load: Object.freeze([]), panic: Object.freeze([]) });
const hostWeight = (h: LbHost): number => h.weight;

export class PriorityLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy: string;
  readonly stats: LbStats = { lb_healthy_panic: 0, upstream_cx_none_healthy: 0 };
  #options: PriorityLbOptions;
  #factory: SourceFactory<H>;
  #deps: LbDeps<H>;
  #hosts: readonly H[] = [];
  /** When each host joined, for slow start only: without it no one reads them, so none are kept. */
  #joinedAt: Map<string, number> | null = null;
  #generation = 0;
  #dirty = true;
  #priorities: Priority<H>[] = [];
  #load: PriorityLoad = NO_LOAD;
  /** Host weights as slow start ramps them; plain weights (one shared function) without slow start. */
  #weightOf: (h: H) => number;

  constructor(options: PriorityLbOptions, factory: SourceFactory<H>, hosts: readonly H[], deps: LbDeps<H>) {
    this.policy = options.policy;
    this.#options = options;
    this.#factory = factory;
    this.#deps = deps;
    const ss = options.slowStart;
    this.#weightOf = ss ? (h) => h.weight * slowStartFactor(ss, this.#joinedAt?.get(h.key) ?? 0, this.#deps.now()) : hostWeight;
    this.update(hosts);
  }

  update(hosts: readonly H[]): void {
    if (this.#options.slowStart) {
      const now = this.#deps.now();
      const joined = new Map<string, number>();
      for (const h of hosts) joined.set(h.key, this.#joinedAt?.get(h.key) ?? now);
      this.#joinedAt = joined;
    }
    this.#hosts = hosts;
    this.#dirty = true;
  }

  onRequestStart(host: H): void {
    host.active++;
  }

  onRequestEnd(host: H): void {
    if (host.active > 0) host.active--;
  }

  /** Percent of traffic per priority and which priorities are in panic, for admin and tests. */
  priorityLoad(): PriorityLoad {
    this.#refresh();
    return this.#load;
  }

  pick(context?: LbContext): H | null {
    this.#refresh();
    const attempted = context?.attempted;
    const tries = attempted && attempted.size > 0 ? Math.max(1, context?.maxSelectionAttempts ?? 5) : 1;
    const hash = context?.hash === undefined || context.hash === null ? null : mix32(context.hash);
    const excluded = context?.excludedPriorities;
    const load = excluded && excluded.size > 0 ? (loadExcluding(this.#counts(), excluded) ?? this.#load.load) : this.#load.load;
    let last: H | null = null;
    for (let attempt = 0; attempt < tries; attempt++) {
      const h = this.#pickOnce(hash, attempt, load);
      if (!h) break;
      last = h;
      if (!attempted?.has(h.key)) return h;
    }
    if (!last) this.stats.upstream_cx_none_healthy++;
    return last;
  }

  #counts() {
    return this.#priorities.map((p) => ({ total: p.hosts.length, healthy: p.healthy.length }));
  }

  #pickOnce(hash: number | null, attempt: number, load: readonly number[]): H | null {
    const { panic } = this.#load;
    // Hash policies choose the priority from the hash too, so a key stays put while health holds.
    const draw = this.#factory.hashBased && hash !== null ? hash % 100 : Math.floor(this.#deps.random() * 100);
    const p = choosePriority(load, draw);
    const prio = this.#priorities[p];
    if (!prio) return null;
    const sp = { hash, attempt };
    if (panic[p]) {
      this.stats.lb_healthy_panic++;
      prio.all ??= this.#factory.create(prio.hosts, this.#hashWeights(prio, true));
      return prio.all.pick(sp);
    }
    if (this.#options.localityWeighted && !this.#factory.hashBased && prio.localities.size > 1) {
      prio.localityChoice ??= new EdfScheduler([...prio.localities.values()], effectiveLocalityWeight);
      const loc = prio.localityChoice.pick();
      if (loc) {
        prio.localitySources ??= new Map();
        let s = prio.localitySources.get(loc);
        if (!s) {
          s = this.#factory.create(loc.healthy, this.#weightOf);
          prio.localitySources.set(loc, s);
        }
        return s.pick(sp);
      }
    }
    prio.healthySource ??= this.#factory.create(prio.healthy, this.#hashWeights(prio, false));
    return prio.healthySource.pick(sp);
  }

  /**
   * Hash policies fold locality weights into host weights, as Envoy's normalizeWeights: each locality's
   * raw weight over the sum of all of the priority's (never scaled by its healthy share, as the EDF
   * pick's effective weight is: thread_aware_lb_impl.cc leaves that a TODO), split among its healthy
   * hosts (all of them in panic) by host weight. A locality with none keeps its part of the sum.
   */
  #hashWeights(prio: Priority<H>, panic: boolean): (h: H) => number {
    if (!this.#options.localityWeighted || !this.#factory.hashBased) return this.#weightOf;
    const share = new Map<H, number>();
    let total = 0;
    for (const l of prio.localities.values()) total += l.weight;
    for (const l of prio.localities.values()) {
      const hosts = panic ? l.hosts : l.healthy;
      const sum = hosts.reduce((a, h) => a + h.weight, 0);
      for (const h of hosts) share.set(h, total > 0 && sum > 0 ? (l.weight / total) * (h.weight / sum) : 0);
    }
    return (h) => share.get(h) ?? 0;
  }

  #refresh(): void {
    // Sources are rebuilt only when membership or ejections change: EDF re-reads weights on every
    // re-queue, so slow start ramps without rebuilding.
    const gen = this.#deps.health?.generation ?? 0;
    if (gen === this.#generation && !this.#dirty) return;
    this.#generation = gen;
    this.#dirty = false;
    this.#build();
  }

  #build(): void {
    const health = this.#deps.health;
    const byPriority: Priority<H>[] = [];
    for (const h of this.#hosts) {
      const p = h.priority ?? 0;
      for (let i = byPriority.length; i <= p; i++) byPriority.push({ hosts: [], healthy: [], localities: new Map() });
      const prio = byPriority[p]!;
      const ok = h.healthy && !health?.isEjected(h.key);
      prio.hosts.push(h);
      if (ok) prio.healthy.push(h);
      const lk = h.locality ?? '';
      let loc = prio.localities.get(lk);
      if (!loc) {
        loc = { hosts: [], healthy: [], weight: -1 };
        prio.localities.set(lk, loc);
      }
      loc.hosts.push(h);
      if (ok) loc.healthy.push(h);
      // The control plane's locality weight; absent, the sum of endpoint weights (what Istio sends).
      if (h.localityWeight !== undefined) loc.weight = h.localityWeight;
    }
    for (const prio of byPriority) {
      for (const loc of prio.localities.values()) if (loc.weight < 0) loc.weight = loc.hosts.reduce((a, h) => a + h.weight, 0);
    }
    this.#priorities = byPriority;
    this.#load = computePriorityLoad(this.#counts(), this.#options.panicThreshold);
  }
}

/** Locality weight × its availability, `min(1, 1.4 × healthy / hosts)`, as Envoy's LocalityWrr. */
function effectiveLocalityWeight<H>(l: Locality<H>): number {
  if (l.hosts.length === 0) return 0;
  return l.weight * Math.min(1, (1.4 * l.healthy.length) / l.hosts.length);
}
