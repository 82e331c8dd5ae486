// RING_HASH (ketama, as Envoy's RingHashLoadBalancer): each host gets ring entries in proportion to its
// weight at positions xxHash32(`<key>_<i>`); a request goes to the first entry at or after its hash.
// Adding one host to n moves about 1/(n+1) of the keys, and only onto the new host.
import { xxHash32 } from './hash.ts';
import type { HostSource, SourceFactory } from './host-source.ts';
import type { LbHost } from './load-balancer.ts';

export interface RingHashOptions {
  /** `ring_hash_lb_config.minimum_ring_size` (Envoy and Istio default 1024). */
  readonly minimumRingSize: number;
  /** `maximum_ring_size` (Envoy default 8M). */
  readonly maximumRingSize: number;
}

export const defaultRingHash: RingHashOptions = { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 };

export class Ring<H> {
  readonly #positions: Uint32Array;
  readonly #hosts: readonly H[];

  constructor(hosts: readonly H[], keyOf: (h: H) => string, weights: readonly number[], options: RingHashOptions) {
    const sum = weights.reduce((a, b) => a + b, 0);
    const entries: { pos: number; host: H }[] = [];
    if (sum > 0) {
      const normalized = weights.map((w) => w / sum);
      const minW = Math.min(...normalized.filter((w) => w > 0));
      // The lightest host gets a whole number of entries; the ring is capped at the maximum size.
      const scale = Math.min(Math.ceil(minW * options.minimumRingSize) / minW, options.maximumRingSize);
      let current = 0;
      let target = 0;
      hosts.forEach((h, idx) => {
        target += scale * normalized[idx]!;
        const key = keyOf(h);
        for (let i = 0; current < target; i++, current++) entries.push({ pos: xxHash32(`${key}_${i}`), host: h });
      });
    }
    entries.sort((a, b) => a.pos - b.pos);
    this.#positions = Uint32Array.from(entries, (e) => e.pos);
    this.#hosts = entries.map((e) => e.host);
  }

  get size(): number {
    return this.#positions.length;
  }

  /**
   * The host owning `hash`. On a retry (`attempt` k > 0) the k-th different host met walking on round
   * the ring, so a retry moves off the host it tried and every retry of a key lands on the same fallback.
   */
  lookup(hash: number, attempt = 0): H | null {
    const n = this.#positions.length;
    if (n === 0) return null;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#positions[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    let at = lo % n;
    for (let changes = 0, i = 1; changes < attempt && i < n; i++) {
      const next = (lo + i) % n;
      if (this.#hosts[next] !== this.#hosts[at]) {
        at = next;
        changes++;
      }
    }
    return this.#hosts[at] ?? null;
  }
}

export function ringHashFactory<H extends LbHost>(options: RingHashOptions, randomHash: () => number): SourceFactory<H> {
  return {
    hashBased: true,
    create(hosts, weightOf): HostSource<H> {
      const ring = new Ring(hosts, (h) => h.key, hosts.map(weightOf), options);
      return { pick: (p) => ring.lookup(p.hash ?? randomHash(), p.attempt) };
    },
  };
}
