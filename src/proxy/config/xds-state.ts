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
import type { ListenerManager, ListenerWarming } from '../listener/listener-manager.ts';
import { ClusterUpdateError, ListenerUpdateError, ProxyConfigError } from './config-error.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment, EnvoyListener, EnvoySecret } from './envoy-shapes.ts';
import { fetchWaitMs, InitialFetch } from './initial-fetch.ts';
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
  /** Sends the subscriptions again when their names changed outside a response (a listener warmed on timeout). */
  resubscribe?(): void;
}

const chainsOf = (l: CompiledListener) => [...l.chains, ...(l.defaultChain ? [l.defaultChain] : [])];

/** The route configurations a listener names, each with its config source's initial_fetch_timeout. */
function* rdsOf(l: CompiledListener): Generator<{ name: string; timeoutMs: number | undefined }> {
  for (const c of chainsOf(l)) {
    if (c.handler.kind === 'http' && c.handler.rdsName) yield { name: c.handler.rdsName, timeoutMs: c.handler.rdsInitialFetchTimeoutMs };
  }
}

export class XdsState implements AdsSubscriber {
  #deps: XdsStateDeps;
  #routes = new Map<string, RouteTable>();
  #dump = new Map<string, Map<string, DumpEntry>>();
  #rdsNames: string[] = [];
  #sdsNames: string[] = ['ROOTCA'];
  /** SDS names the listeners' TLS contexts and the clusters' TLS origination need (Envoy subscribes both). */
  #listenerSds: readonly string[] = ['ROOTCA'];
  #clusterSds: readonly string[] = [];
  /** The listeners' TLS settings whose files the SecretStore watches now. */
  #listenerTls: readonly DownstreamTls[] = [];
  /** The initial fetch of the routes the listeners name, and of the endpoints the EDS clusters name. */
  #routeFetch: InitialFetch;
  #endpointFetch: InitialFetch;
  /**
   * Envoy's listener warming: an update of a serving listener that names routes not held yet waits for
   * them, its initial_fetch_timeout at most, while the version before serves.
   */
  #listenerWarming: ListenerWarming = {
    waitMs: (l) => {
      let wait = 0;
      for (const r of rdsOf(l)) if (!this.#routes.has(r.name)) wait = Math.max(wait, fetchWaitMs(r.timeoutMs));
      return wait;
    },
    onTimedOut: () => {
      this.#watchRoutes();
      this.#holdListenerFiles();
      this.#deps.resubscribe?.();
    },
  };

  constructor(deps: XdsStateDeps) {
    this.#deps = deps;
    this.#routeFetch = new InitialFetch(() => deps.now());
    this.#endpointFetch = new InitialFetch(() => deps.now());
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
    // As Envoy's init manager: a refused update ends the wait too (the listener serves what it has), and
    // so does the config source's initial_fetch_timeout, unless it is 0s (istiod's): then it waits on.
    return this.#routeFetch.warm();
  }

  /**
   * Every EDS cluster has its ClusterLoadAssignment, or its wait has ended as routesWarm's: Envoy warms
   * such a cluster, and initializes, only then.
   */
  endpointsWarm(): boolean {
    return this.#endpointFetch.warm();
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
        this.#retainSecrets();
        this.#watchEndpoints(compiled);
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
        // Envoy hands each EDS watch only its own assignment: one no cluster watches (in flight for a cluster
        // just removed) is dropped, not kept to give that cluster stale endpoints if it comes back.
        const watched = new Set(this.#deps.clusters.edsNames());
        resources = resources.filter((r) => watched.has(String(r['cluster_name'])));
        const map = new Map<string, Endpoint[]>();
        try {
          for (const r of resources) map.set(named(r, 'cluster_name'), compileLoadAssignment(r as unknown as EnvoyClusterLoadAssignment));
        } catch (err) {
          this.#endpointFetch.refused();
          throw err;
        }
        this.#deps.clusters.applyEndpoints(map);
        this.#endpointFetch.arrived(map.keys());
        break;
      }
      case TypeUrl.Listener: {
        const ctx = { filters: this.#deps.filters, compileRoutes: (rc: TypedAny) => this.#compileRoutes(rc) };
        const compiled: CompiledListener[] = resources.map((r) => compileListener(r as unknown as EnvoyListener, ctx));
        const sds = new Set<string>(['ROOTCA']);
        const tls: DownstreamTls[] = [];
        for (const l of compiled) {
          for (const c of chainsOf(l)) {
            if (c.tls) {
              for (const name of c.tls.sdsSecrets) sds.add(name);
              tls.push(c.tls);
            }
          }
        }
        // A listener warming whose resource this update repeats keeps warming, its timeout running on, as
        // Envoy leaves a listener alone whose hash did not change.
        const before = this.#dump.get(typeUrl);
        const byName = new Map(resources.map((r) => [r['name'], r]));
        const unchanged = new Set<string>();
        for (const l of this.#deps.listeners.warmingListeners()) {
          const was = before?.get(l.name)?.resource;
          if (was !== undefined && JSON.stringify(was) === JSON.stringify(byName.get(l.name))) unchanged.add(l.name);
        }
        let binding: ReturnType<ListenerManager['apply']>;
        try {
          binding = this.#deps.listeners.apply(compiled, this.#listenerWarming, unchanged);
        } catch (err) {
          // Applied part-way: a listener serves the new version or the one before, so both versions' files stay watched.
          this.#holdListenerFiles([...this.#listenerTls, ...tls]);
          throw err;
        }
        // As the SDS names, the files the listeners name: istio-agent watches each one served.
        this.#holdListenerFiles(tls);
        this.#watchRoutes();
        // A warming listener's version before serves on: its secrets stay subscribed too.
        for (const l of this.#deps.listeners.listeners()) for (const c of chainsOf(l)) for (const name of c.tls?.sdsSecrets ?? []) sds.add(name);
        this.#listenerSds = [...sds];
        this.#sdsNames = [...new Set([...this.#listenerSds, ...this.#clusterSds])];
        this.#retainSecrets();
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
          this.#routeFetch.refused();
          if (this.#deps.listeners.warm(() => true)) {
            this.#watchRoutes();
            this.#holdListenerFiles();
          }
          throw err;
        }
        // Only the route configurations that changed come (a non-wildcard type): the others stay.
        for (const [name, table] of next) this.#routes.set(name, table);
        this.#routeFetch.arrived(next.keys());
        // A warming listener whose routes are all here takes over; the routes only its old version named go.
        if (this.#deps.listeners.warm((l) => [...rdsOf(l)].every((r) => this.#routes.has(r.name)))) {
          this.#watchRoutes();
          this.#holdListenerFiles();
        }
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

  /** The EDS names the clusters watch now: a new one is awaited; assignments no cluster names go. */
  #watchEndpoints(clusters: readonly ClusterSettings[]): void {
    const names = new Map<string, number>();
    for (const c of clusters) {
      if (c.type === 'EDS') names.set(c.edsName, Math.max(names.get(c.edsName) ?? 0, fetchWaitMs(c.edsInitialFetchTimeoutMs)));
    }
    this.#endpointFetch.watch(names, (name) => this.#deps.clusters.hasEndpoints(name));
    const dump = this.#dump.get(TypeUrl.ClusterLoadAssignment);
    for (const name of dump?.keys() ?? []) if (!names.has(name)) dump?.delete(name);
  }

  /**
   * The files of every chain that serves or warms (a warming listener's version before serves on), and
   * `also` (an update's, or one applied part-way): istio-agent watches each file a listener may serve.
   * Chains of one context key name the same files, so repeated failed updates do not pile up.
   */
  #holdListenerFiles(also: readonly DownstreamTls[] = []): void {
    const chains = new Map<string, DownstreamTls>();
    for (const l of [...this.#deps.listeners.listeners(), ...this.#deps.listeners.warmingListeners()]) for (const c of chainsOf(l)) if (c.tls) chains.set(c.tls.contextKey, c.tls);
    for (const t of also) chains.set(t.contextKey, t);
    this.#listenerTls = [...chains.values()];
    this.#deps.secrets.holdListenerFiles(this.#listenerTls);
  }

  /** The SDS names subscribed now: secrets no listener or cluster names go. */
  #retainSecrets(): void {
    this.#deps.secrets.retainXds(this.#sdsNames);
    const dump = this.#dump.get(TypeUrl.Secret);
    for (const name of dump?.keys() ?? []) if (!this.#sdsNames.includes(name)) dump?.delete(name);
  }

  /**
   * The route names the listeners serving and warming watch now: a new one is awaited; tables no
   * listener names go.
   */
  #watchRoutes(): void {
    const names = new Map<string, number>();
    for (const l of [...this.#deps.listeners.listeners(), ...this.#deps.listeners.warmingListeners()]) {
      for (const r of rdsOf(l)) names.set(r.name, Math.max(names.get(r.name) ?? 0, fetchWaitMs(r.timeoutMs)));
    }
    this.#rdsNames = [...names.keys()];
    this.#routeFetch.watch(names, (name) => this.#routes.has(name));
    for (const name of this.#routes.keys()) if (!names.has(name)) this.#routes.delete(name);
    const dump = this.#dump.get(TypeUrl.RouteConfiguration);
    for (const name of dump?.keys() ?? []) if (!names.has(name)) dump?.delete(name);
  }

  #record(typeUrl: string, resources: TypedAny[], version: string): Map<string, DumpEntry> {
    const lastUpdated = new Date(this.#deps.now()).toISOString();
    const key = typeUrl === TypeUrl.ClusterLoadAssignment ? 'cluster_name' : 'name';
    // EDS, RDS and SDS responses carry what changed: the dump keeps the others, as Envoy's does.
    const partial = typeUrl === TypeUrl.ClusterLoadAssignment || typeUrl === TypeUrl.RouteConfiguration || typeUrl === TypeUrl.Secret;
    const dump = partial ? (this.#dump.get(typeUrl) ?? new Map<string, DumpEntry>()) : new Map<string, DumpEntry>();
    for (const r of resources) dump.set(String(r[key]), { version, resource: r, lastUpdated });
    this.#dump.set(typeUrl, dump);
    return dump;
  }
}
