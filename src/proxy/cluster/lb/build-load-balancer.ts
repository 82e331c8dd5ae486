// Envoy Cluster JSON (lb_policy and its configs, common_lb_config) → a running load balancer.
// Bad values throw an LbError (code LB_CONFIG) so the cluster is NACKed rather than half-applied.
import type { SourceFactory } from './host-source.ts';
import type { LbDeps, LbHost, LoadBalancer, Random } from './load-balancer.ts';
import { LbError } from './load-balancer.ts';
import { defaultMaglevTableSize, isPrime, maglevFactory } from './maglev.ts';
import { OriginalDestinationLoadBalancer } from './original-destination.ts';
import { leastRequestFactory, randomFactory, roundRobinFactory } from './policies.ts';
import { PriorityLoadBalancer } from './priority-load-balancer.ts';
import { defaultRingHash, ringHashFactory } from './ring-hash.ts';
import { compileSlowStart, type SlowStartJson } from './slow-start.ts';
import { sharedValue } from '../shared-value.ts';

interface UInt32 {
  value?: number;
}

/** The Cluster fields load balancing reads, in Envoy's canonical JSON. */
export interface LbClusterJson {
  name?: string;
  type?: string;
  lb_policy?: string;
  ring_hash_lb_config?: { minimum_ring_size?: UInt32; maximum_ring_size?: UInt32; hash_function?: string };
  maglev_lb_config?: { table_size?: UInt32 };
  least_request_lb_config?: { choice_count?: UInt32; active_request_bias?: { default_value?: number }; slow_start_config?: SlowStartJson };
  round_robin_lb_config?: { slow_start_config?: SlowStartJson };
  common_lb_config?: {
    healthy_panic_threshold?: { value?: number };
    locality_weighted_lb_config?: Record<string, never>;
    zone_aware_lb_config?: unknown;
  };
}

/**
 * ROUND_ROBIN, LEAST_REQUEST and RANDOM factories keep no state of their own (each source they create
 * does), so clusters with the same policy and random source share one: a proxy holds thousands of
 * clusters, nearly all with Istio's LEAST_REQUEST defaults.
 */
const shared = new WeakMap<Random, Map<string, SourceFactory<LbHost>>>();

function sharedFactory<H extends LbHost>(random: Random, key: string, make: () => SourceFactory<H>): SourceFactory<H> {
  let byKey = shared.get(random);
  if (!byKey) {
    byKey = new Map();
    shared.set(random, byKey);
  }
  return sharedValue(byKey, key, make as unknown as () => SourceFactory<LbHost>) as unknown as SourceFactory<H>;
}

export function buildLoadBalancer<H extends LbHost>(cluster: LbClusterJson, hosts: readonly H[], deps: LbDeps<H>): LoadBalancer<H> {
  const where = `Cluster ${cluster.name ?? '?'}`;
  // Envoy's zero value is ROUND_ROBIN; Istio always writes LEAST_REQUEST when it means it.
  const policy = cluster.lb_policy ?? 'ROUND_ROBIN';
  if (policy === 'CLUSTER_PROVIDED') {
    if (cluster.type !== undefined && cluster.type !== 'ORIGINAL_DST') throw new LbError('LB_CONFIG', `${where}: lb_policy CLUSTER_PROVIDED needs type ORIGINAL_DST`);
    return new OriginalDestinationLoadBalancer(deps);
  }
  const common = cluster.common_lb_config;
  const panicThreshold = common?.healthy_panic_threshold?.value ?? 50;
  if (!(panicThreshold >= 0 && panicThreshold <= 100)) throw new LbError('LB_CONFIG', `${where}.common_lb_config.healthy_panic_threshold: must be within 0..100`);
  const localityWeighted = common?.locality_weighted_lb_config !== undefined;
  // A random 32-bit hash for hash policies when the request produced none (Envoy picks at random).
  const randomHash = () => Math.floor(deps.random() * 0x1_0000_0000) >>> 0;
  const base = { policy, panicThreshold, localityWeighted, slowStart: null };
  switch (policy) {
    case 'ROUND_ROBIN': {
      const slowStart = compileSlowStart(cluster.round_robin_lb_config?.slow_start_config, `${where}.round_robin_lb_config`);
      return new PriorityLoadBalancer({ ...base, slowStart }, sharedFactory(deps.random, 'rr', () => roundRobinFactory<H>(deps.random)), hosts, deps);
    }
    case 'LEAST_REQUEST': {
      const c = cluster.least_request_lb_config;
      const choiceCount = c?.choice_count?.value ?? 2;
      if (!(Number.isInteger(choiceCount) && choiceCount >= 2)) throw new LbError('LB_CONFIG', `${where}.least_request_lb_config.choice_count: must be at least 2`);
      const activeRequestBias = c?.active_request_bias?.default_value ?? 1;
      if (!(activeRequestBias >= 0)) throw new LbError('LB_CONFIG', `${where}.least_request_lb_config.active_request_bias: must not be negative`);
      const slowStart = compileSlowStart(c?.slow_start_config, `${where}.least_request_lb_config`);
      const factory = sharedFactory(deps.random, `lr/${choiceCount}/${activeRequestBias}`, () => leastRequestFactory<H>(deps.random, { choiceCount, activeRequestBias }));
      return new PriorityLoadBalancer({ ...base, slowStart }, factory, hosts, deps);
    }
    case 'RANDOM':
      return new PriorityLoadBalancer(base, sharedFactory(deps.random, 'random', () => randomFactory<H>(deps.random)), hosts, deps);
    case 'RING_HASH': {
      const c = cluster.ring_hash_lb_config;
      const minimumRingSize = c?.minimum_ring_size?.value ?? defaultRingHash.minimumRingSize;
      const maximumRingSize = c?.maximum_ring_size?.value ?? defaultRingHash.maximumRingSize;
      // Envoy's bounds (both sizes at most 8M, minimum not above maximum). A minimum of 0 passes them, as
      // in Envoy: its ring has no entries, so every pick finds no host.
      if (!(minimumRingSize >= 0 && minimumRingSize <= maximumRingSize && maximumRingSize <= defaultRingHash.maximumRingSize)) {
        throw new LbError('LB_CONFIG', `${where}.ring_hash_lb_config: need minimum_ring_size <= maximum_ring_size <= 8M`);
      }
      return new PriorityLoadBalancer(base, ringHashFactory<H>({ minimumRingSize, maximumRingSize }, randomHash), hosts, deps);
    }
    case 'MAGLEV': {
      const size = cluster.maglev_lb_config?.table_size?.value ?? defaultMaglevTableSize;
      if (!isPrime(size) || size > 5_000_011) throw new LbError('LB_CONFIG', `${where}.maglev_lb_config.table_size: ${size} must be a prime no larger than 5000011`);
      return new PriorityLoadBalancer(base, maglevFactory<H>(size, randomHash), hosts, deps);
    }
    default:
      throw new LbError('LB_CONFIG', `${where}.lb_policy: unsupported ${policy}`);
  }
}
