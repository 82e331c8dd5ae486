// A running cluster: its settings, endpoints, load balancer, stats and one upstream per endpoint
// (HTTP/1.1 pool, h2c session, or the mesh tunnel for `tlsMode=istio` endpoints).
import type { SecureClientSessionOptions } from 'node:http2';
import type { ClusterStats } from '../../telemetry/metrics/cluster-stats.ts';
import { H1Upstream } from '../upstream/h1-upstream.ts';
import { H2Upstream } from '../upstream/h2-upstream.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ClusterSettings } from './compile-cluster.ts';
import type { Endpoint } from './endpoint.ts';
import { buildLoadBalancer } from './lb/build-load-balancer.ts';
import type { LoadBalancer, Random } from './lb/load-balancer.ts';

export interface ClusterDeps {
  stats: ClusterStats;
  random: Random;
  now: () => number;
  /** TLS options for tunnel connections, or undefined when the workload certificate is not ready. */
  tunnelTls(): SecureClientSessionOptions | undefined;
  /** Headers every tunnel request carries (`x-outrigger-peer`). */
  tunnelHeaders?: Readonly<Record<string, string>>;
}

export class Cluster {
  settings: ClusterSettings;
  readonly stats: ClusterStats;
  #deps: ClusterDeps;
  #lb: LoadBalancer<Endpoint>;
  #endpoints: readonly Endpoint[] = [];
  #upstreams = new Map<string, Upstream>();

  constructor(settings: ClusterSettings, deps: ClusterDeps) {
    this.settings = settings;
    this.stats = deps.stats;
    this.#deps = deps;
    this.#lb = buildLoadBalancer(settings.lbConfig, [], lbDeps(deps));
    this.setEndpoints(settings.inlineEndpoints);
  }

  /** New settings for the same name: pools survive unless how we connect changed. */
  update(settings: ClusterSettings): void {
    const reconnect = settings.http2 !== this.settings.http2 || settings.connectTimeoutMs !== this.settings.connectTimeoutMs || settings.maxConnections !== this.settings.maxConnections;
    if (settings.lbKey !== this.settings.lbKey) {
      this.#lb = buildLoadBalancer(settings.lbConfig, [], lbDeps(this.#deps));
      this.#lb.update(this.#endpoints);
    }
    this.settings = settings;
    if (reconnect) this.#closeUpstreams([...this.#upstreams.keys()]);
    if (settings.type !== 'EDS') this.setEndpoints(settings.inlineEndpoints);
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  setEndpoints(endpoints: readonly Endpoint[]): void {
    // Keep in-flight counts of endpoints that stay, so LEAST_REQUEST stays accurate across updates.
    const old = new Map(this.#endpoints.map((e) => [e.key, e]));
    for (const e of endpoints) e.active = old.get(e.key)?.active ?? 0;
    this.#endpoints = endpoints;
    this.#lb.update(endpoints);
    const keep = new Set(endpoints.map((e) => e.key));
    this.#closeUpstreams([...this.#upstreams.keys()].filter((k) => !keep.has(k)));
    this.stats.membership_total.set(endpoints.length);
    this.stats.membership_healthy.set(endpoints.filter((e) => e.healthy).length);
  }

  pick(): Endpoint | undefined {
    return this.#lb.pick() ?? undefined;
  }

  /** In-flight accounting for LEAST_REQUEST and /clusters. */
  requestStarted(e: Endpoint): void {
    this.#lb.onRequestStart(e);
  }

  requestEnded(e: Endpoint): void {
    this.#lb.onRequestEnd(e);
  }

  /** The upstream for an endpoint (or an original destination), created on first use. */
  upstream(e: { key: string; address: string; port: number; mesh: boolean }): Upstream {
    let u = this.#upstreams.get(e.key);
    if (u) return u;
    const host = e.address.includes(':') ? `[${e.address}]` : e.address;
    const { connectTimeoutMs, maxConnections, http2 } = this.settings;
    if (e.mesh) {
      const tls = this.#deps.tunnelTls;
      u = new H2Upstream(`https://${host}:${e.port}`, { connectTimeoutMs, tls: () => tls() ?? {}, ...(this.#deps.tunnelHeaders ? { extraHeaders: this.#deps.tunnelHeaders } : {}) });
    } else if (http2) u = new H2Upstream(`http://${host}:${e.port}`, { connectTimeoutMs });
    else u = new H1Upstream(`http://${host}:${e.port}`, { connectTimeoutMs, maxConnections });
    this.#upstreams.set(e.key, u);
    return u;
  }

  connections(): number {
    let n = 0;
    for (const u of this.#upstreams.values()) n += u.connections();
    return n;
  }

  #closeUpstreams(keys: string[]): void {
    for (const k of keys) {
      const u = this.#upstreams.get(k);
      this.#upstreams.delete(k);
      void u?.close();
    }
  }

  async close(): Promise<void> {
    const all = [...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.all(all.map((u) => u.close()));
  }
}

/** Load-balancer dependencies; ORIGINAL_DST clusters (PassthroughCluster) make a host from the original destination. */
export function lbDeps(deps: Pick<ClusterDeps, 'random' | 'now'>) {
  return {
    random: deps.random,
    now: deps.now,
    originalHost: (address: string, port: number): Endpoint => ({
      address,
      port,
      key: `${address}:${port}`,
      mesh: false,
      targetPort: port,
      weight: 1,
      healthy: true,
      priority: 0,
      locality: '',
      active: 0,
    }),
  };
}
