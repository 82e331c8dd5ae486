// Owns the running clusters: applies CDS (keeping pools of unchanged clusters) and EDS (endpoints may
// arrive before their cluster), and answers lookups by name on the request path.
import type { FileLookup, SecretLookup } from './origination-tls.ts';
import type { SecureClientSessionOptions } from 'node:http2';
import type { ClusterStatsFamilies } from '../../telemetry/metrics/cluster-stats.ts';
import { Cluster, type ClusterTimers } from './cluster.ts';
import type { ClusterSettings } from './compile-cluster.ts';
import type { Endpoint } from './endpoint.ts';
import type { Random } from './lb/load-balancer.ts';

export interface ClusterManagerDeps {
  stats: ClusterStatsFamilies;
  random?: Random;
  now?: () => number;
  tunnelTls(): SecureClientSessionOptions | undefined;
  /** SDS secrets by name, for TLS origination. */
  secrets?: SecretLookup;
  /** The files TLS origination names, at their last good version. */
  files?: FileLookup;
  tunnelHeaders?: Readonly<Record<string, string>>;
  /** The proxy's timers, which every cluster's connect timeouts run on. */
  timers?: ClusterTimers;
}

/** The clock clusters run on without an injected one: one bound function for all of them. */
const monotonicNow = performance.now.bind(performance);

export class ClusterManager {
  #deps: ClusterManagerDeps;
  #clusters = new Map<string, Cluster>();
  #endpointsByEds = new Map<string, readonly Endpoint[]>();

  constructor(deps: ClusterManagerDeps) {
    this.#deps = deps;
  }

  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.#clusters.values();
  }

  /** EDS service names of EDS clusters, for the subscription. */
  edsNames(): string[] {
    const out: string[] = [];
    for (const c of this.#clusters.values()) if (c.settings.type === 'EDS') out.push(c.settings.edsName);
    return out;
  }

  applyClusters(settings: readonly ClusterSettings[]): void {
    const next = new Map<string, Cluster>();
    for (const s of settings) {
      let c = this.#clusters.get(s.name);
      if (c) c.update(s);
      else c = new Cluster(s, { stats: this.#deps.stats.bind(s.name), random: this.#deps.random ?? Math.random, now: this.#deps.now ?? monotonicNow, tunnelTls: this.#deps.tunnelTls, ...(this.#deps.tunnelHeaders ? { tunnelHeaders: this.#deps.tunnelHeaders } : {}), ...(this.#deps.secrets ? { secrets: this.#deps.secrets } : {}), ...(this.#deps.files ? { files: this.#deps.files } : {}), ...(this.#deps.timers ? { timers: this.#deps.timers } : {}) });
      const eds = s.type === 'EDS' ? this.#endpointsByEds.get(s.edsName) : undefined;
      if (eds) c.setEndpoints(eds);
      next.set(s.name, c);
    }
    for (const [name, c] of this.#clusters) {
      if (next.has(name)) continue;
      this.#deps.stats.remove(name);
      void c.close();
    }
    this.#clusters = next;
    // An EDS name no cluster uses any more is unsubscribed: its assignment goes with it, as an Envoy
    // EDS cluster's endpoints go with the cluster.
    const used = new Set(this.edsNames());
    for (const name of this.#endpointsByEds.keys()) if (!used.has(name)) this.#endpointsByEds.delete(name);
  }

  /** Whether an assignment for this EDS service name has arrived (the cluster is warm). */
  hasEndpoints(edsName: string): boolean {
    return this.#endpointsByEds.has(edsName);
  }

  /**
   * EDS, whose state-of-the-world responses carry only the assignments that changed (the xDS protocol's
   * non-wildcard types; istiod's incremental EDS): each one given replaces its own, the others stay, as
   * Envoy's GrpcMuxImpl updates only the watches a response names.
   */
  applyEndpoints(assignments: ReadonlyMap<string, readonly Endpoint[]>): void {
    for (const [name, endpoints] of assignments) this.#endpointsByEds.set(name, endpoints);
    for (const c of this.#clusters.values()) {
      if (c.settings.type !== 'EDS') continue;
      const endpoints = assignments.get(c.settings.edsName);
      if (endpoints) c.setEndpoints(endpoints);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clusters.values()].map((c) => c.close()));
  }
}
