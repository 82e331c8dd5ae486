// A few of Envoy's server and cluster manager gauges (`server.live`, `server.state`, `server.uptime`,
// `cluster_manager.active_clusters`), set when the stats are read. Istio's stats matcher always keeps
// them (its `server` and `cluster_manager` prefixes), so they are there whatever proxyStatsMatcher says.
import type { Gauge, MetricsRegistry } from '../../telemetry/metrics/registry.ts';

/** Envoy's `server.state`: 0 LIVE, 1 DRAINING, 2 PRE_INITIALIZING (3 INITIALIZING is not told apart here). */
export type ServerState = 0 | 1 | 2;

export class ServerStats {
  readonly #live: Gauge;
  readonly #state: Gauge;
  readonly #uptime: Gauge;
  readonly #activeClusters: Gauge;
  readonly #startedAt: number;
  readonly #now: () => number;

  constructor(registry: MetricsRegistry, now: () => number) {
    const gauge = (stat: string, help: string) => registry.gauge(`envoy_${stat.replace('.', '_')}`, help, () => stat).bind();
    this.#live = gauge('server.live', 'Envoy server.live: 1 while the proxy is not draining.');
    this.#state = gauge('server.state', 'Envoy server.state: 0 live, 1 draining, 2 pre-initializing.');
    this.#uptime = gauge('server.uptime', 'Envoy server.uptime: seconds since the proxy started.');
    this.#activeClusters = gauge('cluster_manager.active_clusters', 'Envoy cluster_manager.active_clusters: clusters the proxy holds.');
    this.#now = now;
    this.#startedAt = now();
  }

  refresh(state: ServerState, activeClusters: number): void {
    this.#live.set(state === 1 ? 0 : 1);
    this.#state.set(state);
    this.#uptime.set(Math.floor((this.#now() - this.#startedAt) / 1000));
    this.#activeClusters.set(activeClusters);
  }
}
