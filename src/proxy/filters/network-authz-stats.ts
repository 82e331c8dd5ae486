// Envoy's network RBAC counters: `<stat_prefix>.rbac.{allowed,denied}` and
// `<stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}`. Istio's TCP policies
// use the prefix `tcp.` (`tcp.rbac.denied`); its proxies keep these stats by default (the stats
// matcher's `rbac.allowed`, `rbac.denied`, `shadow_allowed`, `shadow_denied` suffixes), and its
// bootstrap's `tcp_prefix` tag makes `tcp.rbac.denied` `envoy_tcp_denied{tcp_prefix="rbac"}` on
// /stats/prometheus. Bound once per compiled filter, so a connection bumps fields.
import type { Counter, Family, MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import type { NetworkRbac, NetworkRbacCounters } from './rbac/network-filter.ts';

/** Istio's bootstrap `stats_tags` entry `tcp_prefix`: `^tcp\.((.*?)\.)\w+?$`. */
const TCP_PREFIX = /^tcp\.((.*?)\.)(\w+?)$/;

export class NetworkAuthzStats {
  readonly #registry: MetricsRegistry;
  readonly #families = new Map<string, Family<Counter>>();
  readonly #bound = new WeakMap<NetworkRbac, NetworkRbacCounters>();

  constructor(registry: MetricsRegistry) {
    this.#registry = registry;
  }

  /** One filter's counters, bound on its first connection. */
  rbac(f: NetworkRbac): NetworkRbacCounters {
    let c = this.#bound.get(f);
    if (!c) {
      const shadow = `${f.statPrefix}${f.shadowRulesStatPrefix}`;
      c = { allowed: this.#counter(`${f.statPrefix}allowed`), denied: this.#counter(`${f.statPrefix}denied`), shadowAllowed: this.#counter(`${shadow}shadow_allowed`), shadowDenied: this.#counter(`${shadow}shadow_denied`) };
      this.#bound.set(f, c);
    }
    return c;
  }

  /** One Envoy stat by its dotted name (as /stats shows it), under the Prometheus name and tag Istio gives it. */
  #counter(stat: string): Counter {
    const m = TCP_PREFIX.exec(stat);
    const base = m ? `tcp.${m[3]}` : stat;
    const name = `envoy_${base.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    let family = this.#families.get(name);
    if (!family) {
      const tail = m?.[3];
      family = this.#registry.counter(name, `Envoy network RBAC ${base}`, (l) => (tail !== undefined ? `tcp.${l['tcp_prefix']}.${tail}` : stat));
      this.#families.set(name, family);
    }
    return family.bind(m ? { tcp_prefix: m[2] ?? '' } : {});
  }
}
