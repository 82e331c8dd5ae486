// ROUND_ROBIN, LEAST_REQUEST and RANDOM as host sources (Envoy's EDF-based balancers): unweighted
// lists rotate or sample, weighted ones (or any host in slow start) go through an EDF scheduler.
import { EdfScheduler } from './edf-scheduler.ts';
import type { HostSource, SourceFactory } from './host-source.ts';
import type { LbHost, Random } from './load-balancer.ts';

function equalWeights<H extends LbHost>(hosts: readonly H[], weightOf: (h: H) => number): boolean {
  const w0 = hosts[0] ? weightOf(hosts[0]) : 0;
  return hosts.every((h) => weightOf(h) === w0);
}

export function roundRobinFactory<H extends LbHost>(random: Random): SourceFactory<H> {
  return {
    hashBased: false,
    create(hosts, weightOf): HostSource<H> {
      if (hosts.length === 0) return { pick: () => null };
      if (!equalWeights(hosts, weightOf)) {
        if (hosts.length <= smoothLimit) return smoothWeighted(hosts, weightOf);
        const edf = new EdfScheduler(hosts, weightOf);
        return { pick: () => edf.pick() };
      }
      // A random start, so proxies that start together do not all send their first request to host 0.
      let next = Math.floor(random() * hosts.length);
      return { pick: () => hosts[next++ % hosts.length] ?? null };
    },
  };
}

/** Up to this many hosts, weighted round robin is nginx's smooth WRR (O(n) a pick); beyond, EDF. */
const smoothLimit = 64;

/**
 * Smooth weighted round robin (nginx): every pick adds each host's weight to its credit, takes the
 * host with the most credit and charges it the total. 5:1:1 gives A A B A C A A: exact shares in every
 * cycle and the light hosts spread out. Weights are read on every pick, so slow start ramps smoothly.
 */
function smoothWeighted<H extends LbHost>(hosts: readonly H[], weightOf: (h: H) => number): HostSource<H> {
  const credit = new Float64Array(hosts.length);
  return {
    pick() {
      let total = 0;
      let best = -1;
      for (let i = 0; i < hosts.length; i++) {
        const w = weightOf(hosts[i]!);
        total += w;
        credit[i]! += w;
        if (w > 0 && (best < 0 || credit[i]! > credit[best]!)) best = i;
      }
      if (best < 0) return null;
      credit[best]! -= total;
      return hosts[best]!;
    },
  };
}

export interface LeastRequestOptions {
  /** `least_request_lb_config.choice_count` (default 2: power of two choices). */
  readonly choiceCount: number;
  /** `active_request_bias` (default 1.0): weighted hosts use `weight / (active + 1)^bias`. */
  readonly activeRequestBias: number;
}

export function leastRequestFactory<H extends LbHost>(random: Random, options: LeastRequestOptions): SourceFactory<H> {
  const { choiceCount, activeRequestBias: bias } = options;
  return {
    hashBased: false,
    create(hosts, weightOf): HostSource<H> {
      const n = hosts.length;
      if (n === 0) return { pick: () => null };
      if (!equalWeights(hosts, weightOf)) {
        const dynamic = (h: H) => (bias === 0 ? weightOf(h) : weightOf(h) / (h.active + 1) ** bias);
        const edf = new EdfScheduler(hosts, dynamic);
        return { pick: () => edf.pick() };
      }
      if (n <= choiceCount) return { pick: () => fullScan(hosts, random) };
      return {
        pick() {
          // Sampled with replacement, as Envoy: with two hosts the busier one still wins a quarter.
          let best = hosts[Math.floor(random() * n)]!;
          for (let i = 1; i < choiceCount; i++) {
            const h = hosts[Math.floor(random() * n)]!;
            if (h.active < best.active) best = h;
          }
          return best;
        },
      };
    },
  };
}

/** The least busy host; ties broken by a random starting point. */
function fullScan<H extends LbHost>(hosts: readonly H[], random: Random): H | null {
  const n = hosts.length;
  const start = Math.floor(random() * n);
  let best: H | null = null;
  for (let i = 0; i < n; i++) {
    const h = hosts[(start + i) % n]!;
    if (!best || h.active < best.active) best = h;
  }
  return best;
}

/** RANDOM ignores weights, as Envoy's random balancer does. */
export function randomFactory<H extends LbHost>(random: Random): SourceFactory<H> {
  return {
    hashBased: false,
    create(hosts): HostSource<H> {
      return { pick: () => hosts[Math.floor(random() * hosts.length)] ?? null };
    },
  };
}
