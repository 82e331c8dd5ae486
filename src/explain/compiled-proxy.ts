// One proxy's xDS resources compiled by the proxy's own compilers (listeners, filter chains, route
// tables, HTTP filters), kept beside the raw Envoy JSON the explanation quotes from.
import type { EnvoyCluster, EnvoyClusterLoadAssignment, EnvoyFilterChain, EnvoyHcm, EnvoyListener } from '../proxy/config/envoy-shapes.ts';
import { createCorsFilterFactory } from '../proxy/filters/cors/index.ts';
import { createFaultFilterFactory } from '../proxy/filters/fault/index.ts';
import { createRbacFilterFactory } from '../proxy/filters/rbac/http-filter.ts';
import type { HttpFilter, HttpFilterFactory } from '../proxy/http/filter.ts';
import { HttpFilterRegistry } from '../proxy/http/filter-registry.ts';
import { compileRouteConfiguration, type EnvoyRouteConfiguration, type RouteTable } from '../proxy/http/route/index.ts';
import { type CompiledListener, compileListener, type FilterChain } from '../proxy/listener/compile-listener.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';

/** type URL → name → resource, as translation returns it and as a config dump holds it. */
export type ResourcesByType = ReadonlyMap<string, ReadonlyMap<string, TypedAny>>;

export interface CompiledChain {
  readonly compiled: FilterChain;
  readonly raw: EnvoyFilterChain;
  /** The chain's HTTP connection manager, when it is an HTTP chain. */
  readonly hcm?: EnvoyHcm;
}

/** Filters whose decisions the explainer reproduces; every other filter is carried by name only. */
function realFactories(): HttpFilterFactory[] {
  // No randomness is consumed at compile time; the explainer decides fractions with its own draw.
  return [createRbacFilterFactory({ localMode: true }), createFaultFilterFactory(), createCorsFilterFactory()];
}

/**
 * A filter the explainer does not run (telemetry, jwt_authn, ext_authz): its config is kept for the trace.
 * As a network filter (`istio.stats` in front of tcp_proxy) it compiles to nothing.
 */
function recorder(name: string, typeUrls: readonly string[]): HttpFilterFactory {
  return { name, typeUrls, create: () => ({}), createNetwork: () => undefined };
}

/** Network filters the listener compiler knows itself; any other one of a TCP chain is a filter's network form. */
const NETWORK_FILTERS: ReadonlySet<string> = new Set([TypeUrl.HttpConnectionManager, TypeUrl.TcpProxy, TypeUrl.NetworkRbac, TypeUrl.NetworkExtAuthz]);

export class CompiledProxy {
  readonly clusters: ReadonlyMap<string, EnvoyCluster>;
  readonly loadAssignments: ReadonlyMap<string, EnvoyClusterLoadAssignment>;
  readonly #raw: ReadonlyMap<string, EnvoyListener>;
  readonly #listeners = new Map<string, CompiledListener>();
  readonly #routes = new Map<string, RouteTable>();
  readonly #rawRoutes: ReadonlyMap<string, EnvoyRouteConfiguration>;
  readonly #registry: HttpFilterRegistry;
  /** The typed_config each compiled filter was built from. */
  readonly #filterConfigs = new WeakMap<HttpFilter, TypedAny>();

  constructor(resources: ResourcesByType) {
    const of = <T>(url: string) => new Map([...(resources.get(url) ?? new Map<string, TypedAny>())].map(([k, v]) => [k, v as unknown as T]));
    this.clusters = of<EnvoyCluster>(TypeUrl.Cluster);
    this.loadAssignments = of<EnvoyClusterLoadAssignment>(TypeUrl.ClusterLoadAssignment);
    this.#rawRoutes = of<EnvoyRouteConfiguration>(TypeUrl.RouteConfiguration);
    this.#raw = of<EnvoyListener>(TypeUrl.Listener);
    const real = realFactories().map((f) => this.#remember(f));
    this.#registry = new HttpFilterRegistry(real);
    const filters = (fc: EnvoyFilterChain) => [...(hcmOf(fc)?.http_filters ?? []), ...(fc.filters ?? []).filter((f) => !NETWORK_FILTERS.has(String(f.typed_config?.['@type'])))];
    for (const l of this.#raw.values()) for (const fc of chainsOf(l)) for (const f of filters(fc)) {
      const type = f.typed_config?.['@type'];
      const inner = type === TypeUrl.TypedStruct ? String(f.typed_config?.['type_url'] ?? '') : '';
      if (f.name && !this.#registry.factory(inner || type || f.name) && !this.#registry.factory(f.name)) {
        this.#registry.register(this.#remember(recorder(f.name, [type, inner].filter((t): t is string => !!t))));
      }
    }
  }

  get listenerNames(): readonly string[] {
    return [...this.#raw.keys()];
  }

  /** A listener compiled on first use (the tunnel listener, which the proxy handles itself, never is). */
  listener(name: string): CompiledListener | undefined {
    const cached = this.#listeners.get(name);
    if (cached) return cached;
    const raw = this.#raw.get(name);
    if (!raw) return undefined;
    const ctx = { filters: this.#registry, compileRoutes: (rc: TypedAny) => this.#compileRoutes(rc as unknown as EnvoyRouteConfiguration) };
    const compiled = compileListener(raw, ctx);
    this.#listeners.set(name, compiled);
    return compiled;
  }

  #remember(f: HttpFilterFactory): HttpFilterFactory {
    const configs = this.#filterConfigs;
    return {
      name: f.name,
      typeUrls: f.typeUrls,
      create(config) {
        const filter = f.create(config);
        configs.set(filter, config);
        return filter;
      },
      ...(f.compilePerRoute ? { compilePerRoute: (c: TypedAny) => f.compilePerRoute?.(c) } : {}),
      ...(f.createNetwork ? { createNetwork: (c: TypedAny) => f.createNetwork?.(c) } : {}),
    };
  }

  #compileRoutes(rc: EnvoyRouteConfiguration): RouteTable {
    return compileRouteConfiguration(rc, { perFilterCompilers: this.#registry.perFilterCompilers() });
  }

  /** The route table an RDS name refers to, compiled once. */
  routeTable(name: string): RouteTable | undefined {
    const cached = this.#routes.get(name);
    if (cached) return cached;
    const raw = this.#rawRoutes.get(name);
    if (!raw) return undefined;
    const table = this.#compileRoutes(raw);
    this.#routes.set(name, table);
    return table;
  }

  rawRouteConfiguration(name: string): EnvoyRouteConfiguration | undefined {
    return this.#rawRoutes.get(name);
  }

  filterConfig(filter: HttpFilter): TypedAny | undefined {
    return this.#filterConfigs.get(filter);
  }

  /** The raw chain (and its HCM) behind a compiled chain of a listener. */
  chain(listener: string, compiled: FilterChain): CompiledChain {
    const l = this.listener(listener);
    const raw = this.#raw.get(listener);
    const i = l?.chains.indexOf(compiled) ?? -1;
    const rawChain = (i >= 0 ? raw?.filter_chains?.[i] : raw?.default_filter_chain) ?? {};
    const hcm = hcmOf(rawChain);
    return { compiled, raw: rawChain, ...(hcm ? { hcm } : {}) };
  }
}

function chainsOf(l: EnvoyListener): EnvoyFilterChain[] {
  return [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
}

function hcmOf(fc: EnvoyFilterChain): EnvoyHcm | undefined {
  const f = fc.filters?.find((x) => x.typed_config?.['@type'] === TypeUrl.HttpConnectionManager);
  return f?.typed_config as EnvoyHcm | undefined;
}

/** A control plane `/debug/config_dump` (Envoy's ConfigDump shape) back into resources by type. */
export function resourcesFromConfigDump(dump: unknown): Map<string, Map<string, TypedAny>> {
  const out = new Map<string, Map<string, TypedAny>>();
  const put = (url: string, key: string, r: unknown) => {
    if (!r || typeof r !== 'object') return;
    const res = r as TypedAny;
    const byName = out.get(url) ?? new Map<string, TypedAny>();
    byName.set(String((res as Record<string, unknown>)[key] ?? ''), { ...res, '@type': url });
    out.set(url, byName);
  };
  const configs = ((dump as { configs?: unknown[] } | undefined)?.configs ?? []) as Record<string, unknown>[];
  for (const c of configs) {
    const list = (k: string) => (Array.isArray(c[k]) ? (c[k] as Record<string, unknown>[]) : []);
    for (const e of list('dynamic_active_clusters')) put(TypeUrl.Cluster, 'name', e['cluster']);
    for (const e of list('dynamic_listeners')) put(TypeUrl.Listener, 'name', (e['active_state'] as Record<string, unknown> | undefined)?.['listener']);
    for (const e of list('dynamic_route_configs')) put(TypeUrl.RouteConfiguration, 'name', e['route_config']);
    for (const e of list('dynamic_endpoint_configs')) put(TypeUrl.ClusterLoadAssignment, 'cluster_name', e['endpoint_config']);
  }
  return out;
}
