// The proxy's side of ADS: compiles each state-of-the-world update (all of it, or none: any error
// NACKs and the previous config stays) and swaps it into the cluster manager, route tables, listener
// manager and secret store. A listener that then cannot bind NACKs its update too, once every bind has
// settled, and so does a cluster that does not compile; the others apply, as in Envoy. Keeps the raw resources for /config_dump.
import type { AdsSubscriber } from '../../xds/ads-client.ts';
import type { TypedAny } from '../../xds/any.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { type ClusterSettings, compileCluster } from '../cluster/compile-cluster.ts';
import type { OriginationTls } from '../cluster/origination-tls.ts';
import type { Endpoint } from '../cluster/endpoint.ts';
import { compileLoadAssignment } from '../cluster/endpoint.ts';
import type { HttpFilterFactory } from '../http/filter.ts';
import type { HttpFilterRegistry } from '../http/filter-registry.ts';
import type { EnvoyRouteConfiguration, RouteTable } from '../http/route/index.ts';
import { compileRouteConfiguration } from '../http/route/index.ts';
import type { CompiledListener, DownstreamTls } from '../listener/compile-listener.ts';
import { compileListener } from '../listener/compile-listener.ts';
import type { ListenerManager } from '../listener/listener-manager.ts';
import { ClusterUpdateError, ListenerUpdateError, ProxyConfigError } from './config-error.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment, EnvoyListener, EnvoySecret } from './envoy-shapes.ts';
import type { SecretStore } from './secrets.ts';
import { compileSecret } from './secrets.ts';

export interface DumpEntry {
  readonly version: string;
  readonly resource: TypedAny;
  readonly lastUpdated: string;
}

export interface XdsStateDeps {
  clusters: ClusterManager;
  listeners: ListenerManager;
  secrets: SecretStore;
  filters: HttpFilterRegistry;
  now(): number;
}

/** Envoy's default `initial_fetch_timeout`: how long a listener waits for its routes before it is ready anyway. */
export const INITIAL_FETCH_TIMEOUT_MS = 15_000;

export class XdsState implements AdsSubscriber {
  #deps: XdsStateDeps;
  #routes = new Map<string, RouteTable>();
  #dump = new Map<string, Map<string, DumpEntry>>();
  #rdsNames: string[] = [];
  #sdsNames: string[] = ['ROOTCA'];
  /** SDS names the listeners' TLS contexts and the clusters' TLS origination need (Envoy subscribes both). */
  #listenerSds: readonly string[] = ['ROOTCA'];
  #clusterSds: readonly string[] = [];
  /** The listeners' TLS settings of the last update applied, whose files the SecretStore watches. */
  #listenerTls: readonly DownstreamTls[] = [];
  /** When the listeners last named routes (initial fetch starts), and whether an RDS update was refused since. */
  #routesNamedAt: number | undefined;
  #routesRefused = false;

  constructor(deps: XdsStateDeps) {
    this.#deps = deps;
  }

  /** Adds an HTTP filter factory; it applies to listeners compiled from now on. */
  registerFilter(factory: HttpFilterFactory): void {
    this.#deps.filters.register(factory);
  }

  routeTable(name: string): RouteTable | undefined {
    return this.#routes.get(name);
  }

  dump(typeUrl: string): ReadonlyMap<string, DumpEntry> {
    return this.#dump.get(typeUrl) ?? new Map();
  }

  #compileRoutes(rc: TypedAny): RouteTable {
    const where = `RouteConfiguration ${String(rc['name'] ?? '(inline)')}`;
    try {
      return compileRouteConfiguration(rc as unknown as EnvoyRouteConfiguration, { perFilterCompilers: this.#deps.filters.perFilterCompilers() });
    } catch (err) {
      throw new ProxyConfigError(where, 'route_config', err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Every route configuration the listeners name has arrived: until then Envoy keeps such a listener
   * warming, and a request on it would find no route (404 NR) though the config exists.
   */
  routesWarm(): boolean {
    if (this.#rdsNames.every((name) => this.#routes.has(name))) return true;
    // As Envoy's init manager: a refused update ends the wait too (the listener serves what it has), and
    // so does the initial fetch timeout, so one bad or missing route never keeps the proxy unready.
    return this.#routesRefused || (this.#routesNamedAt !== undefined && this.#deps.now() - this.#routesNamedAt >= INITIAL_FETCH_TIMEOUT_MS);
  }

  resourceNames(typeUrl: string): readonly string[] | undefined {
    switch (typeUrl) {
      case TypeUrl.ClusterLoadAssignment:
        return this.#deps.clusters.edsNames();
      case TypeUrl.RouteConfiguration:
        return this.#rdsNames;
      case TypeUrl.Secret:
        return this.#sdsNames;
      default:
        return undefined;
    }
  }

  /** Throws to NACK a config that does not compile; an LDS update returns a promise that settles once its listeners are bound, rejecting to NACK one that could not bind. */
  apply(typeUrl: string, resources: TypedAny[], version: string): void | Promise<void> {
    const named = (r: TypedAny, field = 'name') => {
      const n = r[field];
      if (typeof n !== 'string' || !n) throw new ProxyConfigError(typeUrl.slice(typeUrl.lastIndexOf('.') + 1), field, 'is required');
      return n;
    };
    switch (typeUrl) {
      case TypeUrl.Cluster: {
        // Envoy's CdsApiHelper::onConfigUpdate: each cluster is added or updated on its own. One that does
        // not compile keeps its previous version (a new one stays absent), the others apply, and the
        // update is NACKed naming it.
        const compiled: ClusterSettings[] = [];
        const failures: { name: string; message: string }[] = [];
        for (const r of resources) {
          try {
            compiled.push(compileCluster(r as unknown as EnvoyCluster));
          } catch (err) {
            const name = typeof r['name'] === 'string' ? r['name'] : '';
            const kept = this.#deps.clusters.get(name)?.settings;
            if (kept) compiled.push(kept);
            failures.push({ name, message: (err as Error).message });
          }
        }
        const sds = new Set<string>();
        const origination: OriginationTls[] = [];
        for (const c of compiled) {
          for (const m of [c.origination?.ca, c.origination?.cert]) if (m?.kind === 'secret') sds.add(m.name);
          if (c.origination) origination.push(c.origination);
        }
        try {
          this.#deps.clusters.applyClusters(compiled);
        } finally {
          // The files a DestinationRule names (istio-agent's file-root: / file-cert: resources), watched as
          // the listeners', even when applying stopped part-way: the watch follows what may be served.
          this.#deps.secrets.holdClusterFiles(origination);
        }
        this.#clusterSds = [...sds];
        this.#sdsNames = [...new Set([...this.#listenerSds, ...this.#clusterSds])];
        if (failures.length === 0) break;
        // What is kept (the previous version, or nothing) is what /config_dump shows.
        const previous = this.#dump.get(typeUrl);
        const dump = this.#record(typeUrl, resources, version);
        for (const f of failures) {
          const had = previous?.get(f.name);
          if (had) dump.set(f.name, had);
          else dump.delete(f.name);
        }
        throw new ClusterUpdateError(failures);
      }
      case TypeUrl.ClusterLoadAssignment: {
        const map = new Map<string, Endpoint[]>();
        for (const r of resources) map.set(named(r, 'cluster_name'), compileLoadAssignment(r as unknown as EnvoyClusterLoadAssignment));
        this.#deps.clusters.applyEndpoints(map);
        break;
      }
      case TypeUrl.Listener: {
        const ctx = { filters: this.#deps.filters, compileRoutes: (rc: TypedAny) => this.#compileRoutes(rc) };
        const compiled: CompiledListener[] = resources.map((r) => compileListener(r as unknown as EnvoyListener, ctx));
        const rds = new Set<string>();
        const sds = new Set<string>(['ROOTCA']);
        const tls: DownstreamTls[] = [];
        for (const l of compiled) {
          for (const c of [...l.chains, ...(l.defaultChain ? [l.defaultChain] : [])]) {
            if (c.handler.kind === 'http' && c.handler.rdsName) rds.add(c.handler.rdsName);
            if (c.tls) {
              for (const name of c.tls.sdsSecrets) sds.add(name);
              tls.push(c.tls);
            }
          }
        }
        let binding: ReturnType<ListenerManager['apply']>;
        try {
          binding = this.#deps.listeners.apply(compiled);
        } catch (err) {
          // Applied part-way: a listener serves the new version or the one before, so both versions' files stay watched.
          this.#listenerTls = [...this.#listenerTls, ...tls];
          this.#deps.secrets.holdListenerFiles(this.#listenerTls);
          throw err;
        }
        // As the SDS names, the files the listeners name: istio-agent watches each one served.
        this.#listenerTls = tls;
        this.#deps.secrets.holdListenerFiles(tls);
        if ([...rds].some((name) => !this.#rdsNames.includes(name))) {
          this.#routesNamedAt = this.#deps.now();
          this.#routesRefused = false;
        }
        this.#rdsNames = [...rds];
        this.#listenerSds = [...sds];
        this.#sdsNames = [...new Set([...this.#listenerSds, ...this.#clusterSds])];
        const previous = this.#dump.get(typeUrl);
        const dump = this.#record(typeUrl, resources, version);
        return binding.then((failures) => {
          if (failures.length === 0) return;
          // What the listener manager kept (the previous version, or nothing) is what /config_dump shows.
          for (const f of failures) {
            const had = previous?.get(f.name);
            if (had) dump.set(f.name, had);
            else dump.delete(f.name);
          }
          throw new ListenerUpdateError(failures);
        });
      }
      case TypeUrl.RouteConfiguration: {
        const next = new Map<string, RouteTable>();
        try {
          for (const r of resources) next.set(named(r), this.#compileRoutes(r));
        } catch (err) {
          this.#routesRefused = true;
          throw err;
        }
        this.#routes = next;
        break;
      }
      case TypeUrl.Secret: {
        const list = resources.map((r) => ({ name: named(r), pem: compileSecret(r as unknown as EnvoySecret) }));
        this.#deps.secrets.applyXds(list, resources);
        break;
      }
      default:
        throw new ProxyConfigError('DiscoveryResponse', 'type_url', `unsupported resource type ${typeUrl}`);
    }
    this.#record(typeUrl, resources, version);
  }

  #record(typeUrl: string, resources: TypedAny[], version: string): Map<string, DumpEntry> {
    const lastUpdated = new Date(this.#deps.now()).toISOString();
    const key = typeUrl === TypeUrl.ClusterLoadAssignment ? 'cluster_name' : 'name';
    const dump = new Map(resources.map((r) => [String(r[key]), { version, resource: r, lastUpdated }]));
    this.#dump.set(typeUrl, dump);
    return dump;
  }
}
