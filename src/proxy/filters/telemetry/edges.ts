// Finds the metric edge (source × destination × service × security) of a finished request through
// small identity-keyed caches, so a request that looks like the last one costs a few Map lookups.
import type { IstioMetrics, MetricEdge, Reporter, SecurityPolicy, ServiceLabels } from '../../../telemetry/istio-metrics.ts';
import type { TelemetryServiceConfig } from '../../../telemetry/filter-config.ts';
import { UNKNOWN, unknownWorkload, type WorkloadLabels, workloadLabels } from '../../../telemetry/workload-labels.ts';
import type { ConnectionInfo } from '../../http/stream.ts';

const MAX_ENTRIES = 10_000;
const NO_SERVICES: readonly TelemetryServiceConfig[] = [];

/** The services a cluster stands for (its `istio.services` metadata), if the proxy has the cluster. */
export type ClusterServices = (clusterName: string) => readonly TelemetryServiceConfig[] | undefined;

function bounded<K, V>(m: Map<K, V>): Map<K, V> {
  // Label values come from traffic (hosts, peers): a flood of distinct ones must not grow memory forever.
  if (m.size >= MAX_ENTRIES) m.clear();
  return m;
}

function child<K, V>(m: Map<K, Map<string, V>>, k: K): Map<string, V> {
  let c = m.get(k);
  if (!c) {
    c = new Map();
    bounded(m).set(k, c);
  }
  return c;
}

/**
 * `outbound|9898|stable|podinfo.podinfo.svc.cluster.local` → the service it names, for a cluster without
 * `istio.services` metadata (its name stands in for it). As Istio's stats filter: where no cluster names a
 * service, the Host header (`authority`, as the client sent it) stands for both host and name, a
 * passthrough or blackhole cluster names itself, and with the fallback off (`authority` undefined) what the
 * Host would have given is `unknown`. `namespace` is `''` where nothing names one: the source then reports
 * the peer's (see edgeLabels).
 */
export function serviceFromCluster(clusterName: string | undefined, authority: string | undefined): ServiceLabels {
  const host = authority || UNKNOWN;
  if (!clusterName?.includes('|')) return { host, name: clusterName || host, namespace: '' };
  const svcHost = clusterName.slice(clusterName.lastIndexOf('|') + 1);
  if (!svcHost) return { host, name: host, namespace: '' };
  const m = /^([^.]+)\.([^.]+)\.svc\./.exec(svcHost);
  return m ? { host: svcHost, name: m[1] ?? svcHost, namespace: m[2] ?? '' } : { host: svcHost, name: svcHost, namespace: '' };
}

/**
 * The cluster Envoy's stream info holds: none when the route named one the proxy does not have (NC), as
 * the connection manager sets upstreamClusterInfo only for a cluster it found (ActiveStream::setRoute).
 * What the stats filter, %UPSTREAM_CLUSTER%, the span's upstream_cluster tags and `xds.cluster_name` read.
 */
export function routedCluster(info: { readonly clusterName?: string | undefined; readonly responseFlags: ReadonlySet<string> }): string | undefined {
  return info.responseFlags.has('NC') ? undefined : info.clusterName;
}

export class EdgeIndex {
  #metrics: IstioMetrics;
  #reporter: Reporter;
  #self: WorkloadLabels;
  /**
   * This workload with `unknown` for its principal: Istio's stats filter (populatePeerInfo) takes its own
   * principal from the hop's TLS (the downstream's on the destination side, the upstream's on the
   * source side), so a plaintext hop, or a request for which no upstream TLS connection was made (UF, UH,
   * UO, a filter's answer), reports `unknown`.
   */
  #selfNoTls: WorkloadLabels;
  #services: readonly TelemetryServiceConfig[];
  #clusterServices: ClusterServices;
  #hostFallback: boolean;
  #peers = new Map<string, Map<string, Map<string, WorkloadLabels>>>();
  /** By the service list the request was matched against (config or cluster), then by local port. */
  #serviceByPort = new WeakMap<readonly TelemetryServiceConfig[], Map<number, ServiceLabels>>();
  /** Inbound requests whose cluster names no service, by authority. */
  #serviceByHost = new Map<string, ServiceLabels>();
  #serviceByCluster = new Map<string, ServiceLabels>();
  #edges = new Map<WorkloadLabels, Map<ServiceLabels, MetricEdge>>();
  #edgesMtls = new Map<WorkloadLabels, Map<ServiceLabels, MetricEdge>>();

  /**
   * `services` from the filter config win where given; otherwise an inbound request's service comes from
   * its cluster's `istio.services` metadata (`clusterServices`), as Istio's stats filter reads it.
   * `hostFallback` false is Istio's `disable_host_header_fallback` (inbound and gateway listeners).
   */
  constructor(metrics: IstioMetrics, reporter: Reporter, self: WorkloadLabels, services: readonly TelemetryServiceConfig[], clusterServices: ClusterServices = () => undefined, hostFallback = true) {
    this.#hostFallback = hostFallback;
    this.#metrics = metrics;
    this.#reporter = reporter;
    this.#self = self;
    this.#selfNoTls = self.principal === UNKNOWN ? self : Object.freeze({ ...self, principal: UNKNOWN });
    this.#services = services;
    this.#clusterServices = clusterServices;
  }

  /** The labels of the workload at the other end of a mesh connection. */
  peer(conn: ConnectionInfo): WorkloadLabels {
    const p = conn.peer;
    if (!p) return conn.peerPrincipal ? this.#peerFromPrincipal(conn.peerPrincipal) : unknownWorkload;
    const byNs = child(child(this.#peers, conn.peerPrincipal ?? ''), p.namespace);
    let l = byNs.get(p.workload);
    if (!l) {
      l = workloadLabels({ workload: p.workload, namespace: p.namespace, labels: p.labels, ...(conn.peerPrincipal ? { principal: conn.peerPrincipal } : {}) });
      bounded(byNs).set(p.workload, l);
    }
    return l;
  }

  #peerFromPrincipal(principal: string): WorkloadLabels {
    const byNs = child(child(this.#peers, principal), '');
    let l = byNs.get('');
    if (!l) {
      const ns = /\/ns\/([^/]+)\//.exec(principal)?.[1] ?? '';
      l = { ...unknownWorkload, principal, namespace: ns || UNKNOWN };
      byNs.set('', l);
    }
    return l;
  }

  /** Reporter destination: the caller is the peer, this workload is the destination. */
  inbound(conn: ConnectionInfo, authority: string, clusterName: string | undefined): MetricEdge {
    const source = this.peer(conn);
    // A request answered before routing (denied, rate limited) counts against its port's inbound cluster.
    const services = this.#services.length > 0 ? this.#services : (this.#clusterServices(clusterName ?? `inbound|${conn.localPort}||`) ?? NO_SERVICES);
    const service = this.#inboundService(services, authority, conn.localPort);
    const mtls = conn.peerPrincipal !== undefined && conn.peerPrincipal !== '';
    return this.#edge(mtls ? this.#edgesMtls : this.#edges, source, mtls ? this.#self : this.#selfNoTls, service, mtls ? 'mutual_tls' : 'none');
  }

  /**
   * Reporter source: this workload calls `destination` (from peer metadata exchange). Without an answer,
   * the endpoint tried (`upstreamWorkload`, its `istio.workload` metadata `name;namespace`) gives the
   * namespace, as Istio's stats filter falls back to the upstream host's metadata; else all is unknown.
   * The service is the routed cluster's first `istio.services` entry (host, name, namespace), host or no
   * host (`clusterName` undefined: the request had no cluster, as on NR and NC). Istio's catch-all routes
   * name themselves whatever their cluster: `block_all` BlackHoleCluster, `allow_any` PassthroughCluster.
   * `upstreamTls`: the last try's connection was made in the mesh's mutual TLS (StreamInfo.upstreamTls),
   * so this side has a principal; `destination` then carries the peer's, else `unknown`.
   */
  outbound(clusterName: string | undefined, authority: string, destination: WorkloadLabels | undefined, upstreamWorkload: string | undefined, upstreamTls: boolean, routeName?: string): MetricEdge {
    const catchAll = routeName === 'block_all' ? 'BlackHoleCluster' : routeName === 'allow_any' ? 'PassthroughCluster' : undefined;
    const service = catchAll !== undefined ? this.#namedService(catchAll, authority) : (this.#metadataService(clusterName) ?? this.#namedService(clusterName, authority));
    const peer = destination ?? (upstreamWorkload ? this.#endpointPeer(upstreamWorkload) : unknownWorkload);
    return upstreamTls ? this.#edge(this.#edgesMtls, this.#self, peer, service, 'unknown') : this.#edge(this.#edges, this.#selfNoTls, peer, service, 'unknown');
  }

  /** Where the cluster has no `istio.services`: its name, or the Host (see serviceFromCluster). */
  #namedService(clusterName: string | undefined, authority: string): ServiceLabels {
    const key = clusterName ?? '';
    if (key.includes('|')) {
      let service = this.#serviceByCluster.get(key);
      if (!service) {
        service = serviceFromCluster(clusterName, this.#hostFallback ? authority : undefined);
        bounded(this.#serviceByCluster).set(key, service);
      }
      return service;
    }
    // Passthrough, blackhole and no-route requests name the host the client asked for, so key them by it too.
    const byHost = child(this.#serviceByNameAndHost, key);
    let service = byHost.get(authority);
    if (!service) {
      service = this.#internService(serviceFromCluster(clusterName, this.#hostFallback ? authority : undefined));
      bounded(byHost).set(authority, service);
    }
    return service;
  }
  #serviceByNameAndHost = new Map<string, Map<string, ServiceLabels>>();

  /** By the cluster's `istio.services` list (a config push replaces it, and so the entry). */
  #serviceByMetadata = new WeakMap<readonly TelemetryServiceConfig[], ServiceLabels>();

  /**
   * Istio's stats filter (`istio_stats.cc`, populatePeerInfo) names the destination service from the
   * routed cluster's `filter_metadata.istio.services[0]`: `host`, `name` (else the host's first label) and,
   * since Istio 1.23 (istio/proxy#5617), `namespace`. Envoy's connection manager knows the cluster as soon
   * as the route names one the proxy has, so a request no host answered (UO, UH) is labelled so too.
   */
  #metadataService(clusterName: string | undefined): ServiceLabels | undefined {
    if (!clusterName) return undefined;
    const services = this.#clusterServices(clusterName);
    const first = services?.[0];
    if (!services || !first) return undefined;
    let s = this.#serviceByMetadata.get(services);
    if (!s) {
      const dot = first.host.indexOf('.');
      s = this.#internService({ host: first.host, name: first.name || (dot < 0 ? first.host : first.host.slice(0, dot)), namespace: first.namespace });
      this.#serviceByMetadata.set(services, s);
    }
    return s;
  }

  #endpointPeers = new Map<string, WorkloadLabels>();
  #endpointPeer(metadata: string): WorkloadLabels {
    let l = this.#endpointPeers.get(metadata);
    if (!l) {
      // Outrigger's endpoints carry the pod, not its workload: only the namespace is taken.
      const ns = metadata.split(';')[1];
      l = ns ? Object.freeze({ ...unknownWorkload, namespace: ns }) : unknownWorkload;
      bounded(this.#endpointPeers).set(metadata, l);
    }
    return l;
  }

  #interned = new Map<string, ServiceLabels>();
  #internService(s: ServiceLabels): ServiceLabels {
    const k = `${s.host}\u0000${s.name}\u0000${s.namespace}`;
    const found = this.#interned.get(k);
    if (found) return found;
    bounded(this.#interned).set(k, s);
    return s;
  }

  /**
   * Istio's stats filter (`istio_stats.cc`, populatePeerInfo) takes the first entry of the cluster's
   * `istio.services`, whatever the request's Host: a workload behind several services on one port reports
   * the first (pilot lists them by creation time, then hostname) for every request, even one addressed to
   * another. Nothing tells the destination which service the client routed to: metadata exchange carries
   * workload metadata only. The Host header stands in only where the cluster names no service.
   * Config services may carry ports; there the first one delivering to the request's port is taken.
   */
  #inboundService(services: readonly TelemetryServiceConfig[], authority: string, port: number): ServiceLabels {
    const first = services[0];
    if (!first) return this.#hostFallback ? this.#hostService(authority) : this.#ownService();
    let byPort = this.#serviceByPort.get(services);
    if (!byPort) {
      byPort = new Map();
      this.#serviceByPort.set(services, byPort);
    }
    let s = byPort.get(port);
    if (s) return s;
    const c = services.find((x) => x.ports?.includes(port)) ?? first;
    s = this.#internService({ host: c.host, name: c.name, namespace: c.namespace });
    bounded(byPort).set(port, s);
    return s;
  }

  /** Istio's inbound fallback: the workload's canonical service, in its namespace. */
  #ownService(): ServiceLabels {
    const name = this.#self.canonicalService;
    return this.#internService({ host: name, name, namespace: this.#self.namespace });
  }

  /** The Host header verbatim, port and case kept, for host and name (Istio's `headers->Host()`), in this namespace. */
  #hostService(authority: string): ServiceLabels {
    let s = this.#serviceByHost.get(authority);
    if (s) return s;
    const host = authority || UNKNOWN;
    s = this.#internService({ host, name: host, namespace: this.#self.namespace });
    bounded(this.#serviceByHost).set(authority, s);
    return s;
  }

  #edge(cache: Map<WorkloadLabels, Map<ServiceLabels, MetricEdge>>, source: WorkloadLabels, destination: WorkloadLabels, service: ServiceLabels, security: SecurityPolicy): MetricEdge {
    const other = this.#reporter === 'destination' ? source : destination;
    let bySvc = cache.get(other);
    if (!bySvc) {
      bySvc = new Map();
      bounded(cache).set(other, bySvc);
    }
    let e = bySvc.get(service);
    if (!e) {
      e = this.#metrics.edge(this.#reporter, source, destination, service, security);
      bounded(bySvc).set(service, e);
    }
    return e;
  }
}
