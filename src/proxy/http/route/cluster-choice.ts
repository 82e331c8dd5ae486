// The upstream cluster a forwarding route sends to: one cluster, a header-named cluster, or weighted
// clusters picked with one injected draw (Envoy: draw mod total weight, first bucket that holds it).
import type { HeaderMap } from '../stream.ts';
import { type CompiledHeaderMutations, compileHeaderMutations } from '../header-mutation.ts';
import type { EnvoyClusterWeight, EnvoyRouteAction } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { compilePerFilterConfig, type PerFilterCompilers } from './per-filter-config.ts';
import { headerValue } from './request-headers.ts';

export interface ClusterChoice {
  readonly name: string;
  /** Relative weight (1 for a single cluster). */
  readonly weight: number;
  /** Weighted-cluster-level header mutations (null when none). */
  readonly mutations: CompiledHeaderMutations | null;
  readonly hostRewriteLiteral: string | null;
  /** Weighted-cluster-level typed_per_filter_config, compiled. */
  readonly perFilterConfig: ReadonlyMap<string, unknown>;
}

const noConfig: ReadonlyMap<string, unknown> = new Map();

export class ClusterSelector {
  readonly #choices: readonly ClusterChoice[];
  readonly #total: number;
  readonly #header: string | null;

  constructor(action: EnvoyRouteAction, compilers: PerFilterCompilers, path: string) {
    const set = [action.cluster, action.cluster_header, action.weighted_clusters].filter((x) => x !== undefined).length;
    if (set !== 1) throw new RouteConfigError(path, 'exactly one of cluster, cluster_header, weighted_clusters is required');
    this.#header = null;
    if (action.cluster !== undefined) {
      if (action.cluster === '') throw new RouteConfigError(`${path}.cluster`, 'must not be empty');
      this.#choices = [{ name: action.cluster, weight: 1, mutations: null, hostRewriteLiteral: null, perFilterConfig: noConfig }];
    } else if (action.cluster_header !== undefined) {
      this.#header = action.cluster_header.toLowerCase();
      this.#choices = [];
    } else {
      const list = action.weighted_clusters?.clusters ?? [];
      if (list.length === 0) throw new RouteConfigError(`${path}.weighted_clusters.clusters`, 'at least one cluster is required');
      this.#choices = list.map((c, i) => compileWeight(c, compilers, `${path}.weighted_clusters.clusters[${i}]`));
    }
    this.#total = this.#choices.reduce((sum, c) => sum + c.weight, 0);
    if (this.#header === null && this.#total === 0) throw new RouteConfigError(`${path}.weighted_clusters`, 'total weight must be above 0');
  }

  get choices(): readonly ClusterChoice[] {
    return this.#choices;
  }

  /** The cluster for one request; `draw` in [0, 1). Null when cluster_header names no cluster. */
  pick(draw: number, headers: HeaderMap): ClusterChoice | null {
    if (this.#header !== null) {
      const name = headerValue(headers, this.#header);
      return name ? { name, weight: 1, mutations: null, hostRewriteLiteral: null, perFilterConfig: noConfig } : null;
    }
    if (this.#choices.length === 1) return this.#choices[0] as ClusterChoice;
    const selected = Math.min(Math.floor(draw * this.#total), this.#total - 1);
    let end = 0;
    for (const c of this.#choices) {
      end += c.weight;
      if (selected < end) return c;
    }
    return this.#choices[this.#choices.length - 1] as ClusterChoice;
  }
}

function compileWeight(c: EnvoyClusterWeight, compilers: PerFilterCompilers, path: string): ClusterChoice {
  if (!c.name) throw new RouteConfigError(`${path}.name`, 'cluster name is required');
  const mutations = compileHeaderMutations(c, path);
  const perFilterConfig = new Map<string, unknown>();
  compilePerFilterConfig(c.typed_per_filter_config, compilers, path, perFilterConfig);
  return {
    name: c.name,
    weight: c.weight?.value ?? 0,
    mutations: mutations.request.empty && mutations.response.empty ? null : mutations,
    hostRewriteLiteral: c.host_rewrite_literal ?? null,
    perFilterConfig,
  };
}
