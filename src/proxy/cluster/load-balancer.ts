// Built-in load balancers behind one interface: LEAST_REQUEST (Istio's default, power of two choices),
// ROUND_ROBIN and RANDOM. Randomness is injected so tests are deterministic.
import type { Endpoint } from './endpoint.ts';

export interface LoadBalancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined;
}

export type Random = () => number;

class RoundRobin implements LoadBalancer {
  #next = 0;
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[this.#next++ % endpoints.length];
      if (e?.healthy) return e;
    }
    return undefined;
  }
}

class RandomLb implements LoadBalancer {
  #random: Random;
  constructor(random: Random) {
    this.#random = random;
  }
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    const healthy = endpoints.filter((e) => e.healthy);
    return healthy[Math.floor(this.#random() * healthy.length)];
  }
}

class LeastRequest implements LoadBalancer {
  #random: Random;
  constructor(random: Random) {
    this.#random = random;
  }
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    const a = endpoints[Math.floor(this.#random() * n)];
    const b = endpoints[Math.floor(this.#random() * n)];
    const best = !a?.healthy ? b : !b?.healthy ? a : b.active < a.active ? b : a;
    if (best?.healthy) return best;
    return endpoints.find((e) => e.healthy);
  }
}

export function createLoadBalancer(policy: string | undefined, random: Random = Math.random): LoadBalancer {
  switch (policy) {
    case 'ROUND_ROBIN':
      return new RoundRobin();
    case 'RANDOM':
      return new RandomLb(random);
    default:
      return new LeastRequest(random);
  }
}
