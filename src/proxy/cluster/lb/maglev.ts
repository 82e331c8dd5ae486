// MAGLEV (Google's Maglev hashing, as Envoy's MaglevLoadBalancer): a prime-sized table (65537 by
// default) filled by hosts taking turns along their own permutation, weighted by how often each gets
// a turn. Lookup is one index; a host change moves few keys, a little more than a ring would.
import { xxHash32 } from './hash.ts';
import type { HostSource, SourceFactory } from './host-source.ts';
import { LbError, type LbHost } from './load-balancer.ts';

export const defaultMaglevTableSize = 65537;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

export class MaglevTable<H> {
  readonly #table: Int32Array;
  readonly #hosts: readonly H[];

  constructor(hosts: readonly H[], keyOf: (h: H) => string, weights: readonly number[], size: number) {
    if (!isPrime(size)) throw new LbError('LB_CONFIG', `maglev table_size ${size} must be a prime number`);
    this.#hosts = hosts;
    this.#table = new Int32Array(size).fill(-1);
    const live = hosts.map((h, i) => ({ i, w: weights[i] ?? 0, key: keyOf(h) })).filter((e) => e.w > 0);
    if (live.length === 0) return;
    const maxW = Math.max(...live.map((e) => e.w));
    const entries = live.map((e) => ({
      host: e.i,
      weight: e.w / maxW,
      target: 0,
      offset: xxHash32(e.key) % size,
      skip: (xxHash32(e.key, 1) % (size - 1)) + 1,
      next: 0,
    }));
    let filled = 0;
    for (let iteration = 1; filled < size; iteration++) {
      for (const e of entries) {
        if (filled >= size) break;
        // A host of the largest weight takes a slot every iteration; one of a third of it, every third.
        if (iteration * e.weight < e.target) continue;
        e.target += 1;
        let c = (e.offset + e.skip * e.next) % size;
        while (this.#table[c] !== -1) {
          e.next++;
          c = (e.offset + e.skip * e.next) % size;
        }
        this.#table[c] = e.host;
        e.next++;
        filled++;
      }
    }
  }

  lookup(hash: number): H | null {
    const i = this.#table[hash % this.#table.length]!;
    return i < 0 ? null : (this.#hosts[i] ?? null);
  }
}

export function maglevFactory<H extends LbHost>(tableSize: number, randomHash: () => number): SourceFactory<H> {
  return {
    hashBased: true,
    create(hosts, weightOf): HostSource<H> {
      const table = new MaglevTable(hosts, (h) => h.key, hosts.map(weightOf), tableSize);
      // A retry perturbs the hash so the predicate can move off the host it already tried.
      return { pick: (p) => table.lookup(p.attempt === 0 ? (p.hash ?? randomHash()) : ((p.hash ?? randomHash()) ^ Math.imul(p.attempt, 0x9e3779b1)) >>> 0) };
    },
  };
}
