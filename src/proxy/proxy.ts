// The proxy process, assembled: ADS client → XdsState (compile + swap) → cluster manager, listener
// manager, secret store; admin, health and Prometheus ports; drain on /quitquitquit.
import type { Writable } from 'node:stream';
import type { SecureClientSessionOptions } from 'node:http2';
import tls from 'node:tls';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { AdsClient } from '../xds/ads-client.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { TelemetryWorkloadConfig } from '../telemetry/filter-config.ts';
import { ClusterStatsFamilies } from '../telemetry/metrics/cluster-stats.ts';
import { type Counter, type Gauge, MetricsRegistry } from '../telemetry/metrics/registry.ts';
import type { StatsMatcher } from '../telemetry/metrics/stats-matcher.ts';
import { ServerStats } from './admin/server-stats.ts';
import { buildConfigDump } from './admin/config-dump.ts';
import { ListenerSslStats } from './tls/listener-ssl-stats.ts';
import { NetworkAuthzStats } from './filters/network-authz-stats.ts';
import type { LogLevel } from './admin/admin-server.ts';
import { AdminServers } from './admin/admin-server.ts';
import { ClusterManager } from './cluster/cluster-manager.ts';
import { SecretStore } from './config/secrets.ts';
import { XdsStreamLog } from './xds-stream-log.ts';
import { XdsState } from './config/xds-state.ts';
import type { HttpFilterFactory } from './http/filter.ts';
import { defaultFilterFactories } from './http/filter-factories.ts';
import { HttpFilterRegistry } from './http/filter-registry.ts';
import type { HcmRuntime } from './http/connection-manager.ts';
import { compilePathNormalizer } from './http/normalize-path.ts';
import type { Timers } from './http/router.ts';
import { Http2CodecStats } from './listener/h2-codec-stats.ts';
import { ListenerManager } from './listener/listener-manager.ts';
import { loadOriginalDestination, type OriginalDestinationReader } from './listener/original-destination.ts';
import { checkMeshServerIdentity, MESH_CIPHERS, type MeshTlsMaterial } from './tunnel/mesh-tls.ts';
import { PEER_HEADER } from './tunnel/tunnel-server.ts';
import { dialCluster } from './upstream/dial-cluster.ts';
import { type Environment, podEnvironment } from './pod-environment.ts';

export interface ProxyOptions {
  role: 'sidecar' | 'router';
  /** Control plane `host:port`; without it the proxy waits for config pushed through `xds.apply`. */
  xdsAddress?: string;
  /**
   * TLS to the control plane (15012): credentials trusting the mesh root (a function: called at each
   * reconnect, so a renewed client certificate is presented), and the name its certificate must carry.
   */
  xdsTls?: { credentials: ChannelCredentials | (() => ChannelCredentials); serverName: string };
  /** The bearer token for ADS; a function is read again at each reconnect (a rotated token file). */
  token?: string | (() => string);
  nodeId: string;
  metadata: Record<string, unknown>;
  /** Istio port → bound port (process mode). Admin 15000, health 15021 and 15090 map too. */
  portMap?: ReadonlyMap<number, number>;
  /** This proxy's SPIFFE ID (`spiffe://td/ns/NS/sa/SA`), stated to the app in x-forwarded-client-cert. */
  identity?: string;
  /** Local mode: policy denials name the deciding policy (denial receipts). */
  localMode?: boolean;
  /** OTLP/HTTP URL spans are sent to, overriding the tracing provider's address. */
  traceEndpoint?: string;
  /**
   * This proxy's own output (its log), where its `/dev/stdout` and `/dev/stderr` access logs go, as a
   * sidecar's go to its container's log. Set where proxies share a process (the proxy host); without it
   * they go to the process's streams.
   */
  output?: Writable;
  /** HTTP filter factories; defaults to every filter Outrigger ships (rbac, jwt_authn, fault, ...). */
  filters?: readonly HttpFilterFactory[];
  random?: () => number;
  now?: () => number;
  timers?: Timers;
  /** How long in-flight work may take to finish on drain. */
  drainDeadlineMs?: number;
  /**
   * The proxy is the only one in its process (`outrigger proxy`, as netns mode runs each sidecar and
   * gateway): /stats/prometheus then also reports the process's CPU and memory as cAdvisor reports the
   * `istio-proxy` container's, which the seed's IstioProxyHighResourceUsage alert reads. Proxies sharing
   * a process (the proxy host) leave them out: no one of them owns its CPU or memory.
   */
  ownsProcess?: boolean;
  /**
   * Envoy's stats matcher, from the proxy's ProxyConfig.proxyStatsMatcher (Istio's inclusions plus the
   * user's, see stats-matcher.ts): Envoy stats it does not include are never made. Absent: every stat.
   */
  statsMatcher?: StatsMatcher;
  onLog?: (level: LogLevel, message: string) => void;
  /** Called when the drain has finished (the CLI exits). */
  onExit?: () => void;
}

export class OutriggerProxy {
  readonly metrics: MetricsRegistry;
  readonly #serverStats: ServerStats;
  /** The process's CPU and memory as the istio-proxy container's, when this proxy owns its process. */
  readonly #container: { cpu: Counter; memory: Gauge } | undefined;
  readonly secrets: SecretStore;
  /** The initial fetch is done (ready()); from then on only draining makes the proxy unready. */
  #live = false;
  readonly clusters: ClusterManager;
  readonly listeners: ListenerManager;
  readonly xds: XdsState;
  readonly ads: AdsClient | undefined;
  /** The environment of this proxy's pod, as Istio's injector sets it, over the process's: what `environment` span tags read. */
  readonly environment: Environment;
  #opts: ProxyOptions;
  #filters: HttpFilterRegistry;
  #admin: AdminServers;
  #draining = false;
  #logLevel: LogLevel = 'info';
  #adminPorts: { admin: number; health: number; prometheus: number } | undefined;
  #inflight = 0;
  #tunnelTls: { material: MeshTlsMaterial; options: SecureClientSessionOptions } | undefined;
  #idle: (() => void) | undefined;

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.secrets = new SecretStore({ ...(opts.timers ? { timers: opts.timers } : {}), warn: (m) => this.#log('warning', m) });
    this.metrics = new MetricsRegistry({ statsMatcher: opts.statsMatcher });
    // cAdvisor's series for the istio-proxy container; Prometheus's scrape adds `namespace` and `pod` from
    // the target, as Kubernetes service discovery would. The working set is the resident set here.
    this.#container = opts.ownsProcess
      ? {
          cpu: this.metrics.counter('container_cpu_usage_seconds_total', 'Cumulative CPU time of the proxy process, as cAdvisor reports a container.').bind({ container: 'istio-proxy' }),
          memory: this.metrics.gauge('container_memory_working_set_bytes', 'Resident memory of the proxy process, as cAdvisor reports a container.').bind({ container: 'istio-proxy' }),
        }
      : undefined;
    const random = opts.random ?? Math.random;
    const now = opts.now ?? Date.now;
    this.environment = podEnvironment(opts, process.env);
    this.#serverStats = new ServerStats(this.metrics, now);
    const self = { workload: opts.metadata['WORKLOAD_NAME'] ?? '', namespace: opts.metadata['NAMESPACE'] ?? '', labels: opts.metadata['LABELS'] ?? {} };
    const peer = Buffer.from(JSON.stringify(self)).toString('base64');
    this.clusters = new ClusterManager({
      stats: new ClusterStatsFamilies(this.metrics),
      random,
      tunnelTls: () => this.#tunnelClientTls(),
      secrets: (name) => this.secrets.get(name),
      files: (id) => this.secrets.file(id),
      tunnelHeaders: { [PEER_HEADER]: peer },
      ...(opts.timers ? { timers: opts.timers } : {}),
    });
    const hcm: HcmRuntime = {
      clusters: this.clusters,
      routeTable: (name) => this.xds.routeTable(name),
      normalize: compilePathNormalizer('BASE'),
      ...(opts.identity ? { localPrincipal: opts.identity } : {}),
      random,
      now,
      draining: () => this.#draining,
      codecStats: new Http2CodecStats(this.metrics),
      track: () => {
        this.#inflight++;
        let done = false;
        return () => {
          if (done) return;
          done = true;
          if (--this.#inflight === 0) this.#idle?.();
        };
      },
      ...(opts.timers ? { timers: opts.timers } : {}),
    };
    this.listeners = new ListenerManager({
      hcm,
      clusters: this.clusters,
      secrets: this.secrets,
      random,
      portMap: opts.portMap ?? new Map(),
      // Envoy's ListenerManagerImpl::createListenSocketFactory line; the LDS update is NACKed with the reason too.
      onError: (name, err) => this.#log('error', `listener '${name}' failed to bind or apply socket options: ${err.message}`),
      listenerCreateFailure: this.metrics
        .counter('envoy_listener_manager_listener_create_failure', 'Envoy listener_manager.listener_create_failure: listeners whose listen socket could not be bound.', () => 'listener_manager.listener_create_failure')
        .bind(),
      sslStats: new ListenerSslStats(this.metrics),
      authzStats: new NetworkAuthzStats(this.metrics),
      // What a CONNECT's answer tells the source (its TCP telemetry's destination), as HTTP answers do.
      selfPeer: Buffer.from(JSON.stringify({ ...self, ...(opts.identity ? { principal: opts.identity } : {}) })).toString('base64'),
      ...this.#interception(),
    });
    this.#filters = new HttpFilterRegistry(
      opts.filters ??
        defaultFilterFactories({
          registry: this.metrics,
          now,
          random,
          ...(opts.localMode ? { localMode: true } : {}),
          ...(opts.traceEndpoint ? { traceEndpoint: opts.traceEndpoint } : {}),
          ...(opts.output ? { output: opts.output } : {}),
          env: this.environment,
          nodeId: opts.nodeId,
          dialCluster: (name, signal) => dialCluster(this.clusters, name, signal),
          clusterServices: (name) => this.clusters.get(name)?.settings.services,
          ...(opts.role === 'router' ? { gateway: true } : {}),
          ...(opts.timers ? { timers: opts.timers } : {}),
          ...localWorkloadOf(opts),
        }),
    );
    this.xds = new XdsState({ clusters: this.clusters, listeners: this.listeners, secrets: this.secrets, filters: this.#filters, now, resubscribe: () => this.ads?.refreshSubscriptions() });
    const xdsLog = new XdsStreamLog(opts.xdsAddress ?? '', now);
    this.ads = opts.xdsAddress
      ? new AdsClient({
          address: opts.xdsAddress,
          node: { id: opts.nodeId, metadata: opts.metadata },
          ...(opts.token ? { token: opts.token } : {}),
          ...(opts.xdsTls ? { credentials: opts.xdsTls.credentials, serverName: opts.xdsTls.serverName } : {}),
          subscriber: this.xds,
          onEvent: (e) => this.#log(...xdsLog.line(e)),
        })
      : undefined;
    this.#admin = new AdminServers({
      configDump: () => buildConfigDump((t) => this.xds.dump(t), this.secrets),
      clusters: (format) => this.#clustersText(format),
      stats: () => this.#refreshGauges().renderStats(),
      prometheus: () => this.#refreshGauges().renderPrometheus(),
      ready: () => this.ready(),
      setLogLevel: (l) => {
        this.#logLevel = l;
      },
      logLevel: () => this.#logLevel,
      quit: () => void this.drain(),
      listeners: () => this.listeners.listenerStatuses(),
    });
  }

  /** Binds admin, health and metrics ports and connects to the control plane. */
  async start(): Promise<{ admin: number; health: number; prometheus: number }> {
    const map = this.#opts.portMap ?? new Map<number, number>();
    this.#adminPorts = await this.#admin.listen({ admin: map.get(15000) ?? 15000, health: map.get(15021) ?? 15021, prometheus: map.get(15090) ?? 15090 });
    this.ads?.start();
    return this.#adminPorts;
  }

  /** Requests in flight right now. */
  get inflight(): number {
    return this.#inflight;
  }

  ready(): boolean {
    if (this.#draining) return false;
    if (this.#live || !this.ads) return true;
    const t = this.ads.status().types;
    // As Envoy's initial fetch: clusters and their endpoints (cluster warming), listeners, and the routes
    // those listeners name. Once done, the server is LIVE until it drains, as Envoy's: clusters and
    // listeners that come later warm on their own without touching readiness.
    this.#live = t[TypeUrl.Cluster]?.version !== undefined && t[TypeUrl.Cluster]?.version !== '' && this.xds.endpointsWarm() && !!t[TypeUrl.Listener]?.version && this.xds.routesWarm();
    return this.#live;
  }

  /**
   * Istio's INTERCEPTION_MODE: REDIRECT (netns mode, iptables capture) makes virtualOutbound read each
   * connection's original destination. Without it nothing is captured and 15001 is a forward proxy only.
   */
  #interception(): { originalDestination?: OriginalDestinationReader } {
    const mode = this.#opts.metadata['INTERCEPTION_MODE'];
    if (mode !== 'REDIRECT') return {};
    try {
      return { originalDestination: loadOriginalDestination() };
    } catch (err) {
      this.#log('error', `INTERCEPTION_MODE REDIRECT: cannot read SO_ORIGINAL_DST (${err instanceof Error ? err.message : String(err)}); captured connections are served as forward-proxy requests`);
      return {};
    }
  }

  #log(level: LogLevel, message: string): void {
    this.#opts.onLog?.(level, message);
  }

  /** The tunnel client's TLS options, with one secure context per certificate and bundle (parsed once, not per connection). */
  #tunnelClientTls(): SecureClientSessionOptions | undefined {
    const m = this.secrets.mesh();
    if (!m) return undefined;
    const had = this.#tunnelTls;
    if (had && had.material.key === m.key && had.material.cert === m.cert && had.material.ca === m.ca) return had.options;
    const secureContext = tls.createSecureContext({ key: m.key, cert: m.cert, ca: m.ca, minVersion: 'TLSv1.2', ciphers: MESH_CIPHERS });
    this.#tunnelTls = { material: m, options: { secureContext, ALPNProtocols: ['h2'], minVersion: 'TLSv1.2', checkServerIdentity: checkMeshServerIdentity } };
    return this.#tunnelTls.options;
  }

  #refreshGauges(): MetricsRegistry {
    let clusters = 0;
    for (const c of this.clusters.all()) {
      c.stats.upstream_cx_active.set(c.connections());
      clusters++;
    }
    this.#serverStats.refresh(this.#draining ? 1 : this.ready() ? 0 : 2, clusters);
    if (this.#container) {
      const cpu = process.cpuUsage();
      // A counter read from the kernel's own count, not incremented here.
      this.#container.cpu.value = (cpu.user + cpu.system) / 1e6;
      this.#container.memory.set(process.memoryUsage.rss());
    }
    return this.metrics;
  }

  #clustersText(format: 'text' | 'json'): string {
    const list = [...this.clusters.all()];
    if (format === 'json') {
      return JSON.stringify({
        cluster_statuses: list.map((c) => ({
          name: c.settings.name,
          host_statuses: c.endpoints.map((e) => ({
            address: { socket_address: { address: e.address, port_value: e.port } },
            weight: e.weight,
            // Envoy's HostHealthStatus: EDS health, and `failed_outlier_check` while outlier detection ejects the host.
            health_status: { eds_health_status: e.healthy ? 'HEALTHY' : 'UNHEALTHY', ...(c.outlier?.isEjected(e.key) ? { failed_outlier_check: true } : {}) },
          })),
        })),
      });
    }
    const lines: string[] = [];
    for (const c of list) {
      const n = c.settings.name;
      lines.push(`${n}::default_priority::max_connections::${c.settings.maxConnections}`, `${n}::default_priority::max_pending_requests::${c.settings.maxPendingRequests}`, `${n}::default_priority::max_requests::${c.settings.maxRequests}`, `${n}::default_priority::max_retries::${c.settings.maxRetries}`);
      for (const e of c.endpoints) {
        // Envoy's health flags: `healthy`, or each failing check (`/failed_eds_health`, `/failed_outlier_check`).
        const flags = `${e.healthy ? '' : '/failed_eds_health'}${c.outlier?.isEjected(e.key) ? '/failed_outlier_check' : ''}` || 'healthy';
        lines.push(`${n}::${e.key}::rq_active::${e.active}`, `${n}::${e.key}::health_flags::${flags}`, `${n}::${e.key}::weight::${e.weight}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  /** Stop accepting, GOAWAY / Connection: close, wait for in-flight work up to the deadline, then stop. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.listeners.drain();
    const deadline = this.#opts.drainDeadlineMs ?? 5000;
    const timers = this.#opts.timers ?? { set: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(), clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    if (this.#inflight > 0) {
      await new Promise<void>((resolve) => {
        const handle = timers.set(resolve, deadline);
        this.#idle = () => {
          timers.clear(handle);
          resolve();
        };
      });
    }
    await this.close();
    this.#opts.onExit?.();
  }

  async close(): Promise<void> {
    this.#draining = true;
    this.ads?.stop();
    this.listeners.close();
    this.secrets.close();
    this.#admin.close();
    await this.clusters.close();
    // What the last requests left buffered: their spans, their access-log lines.
    await this.#filters.close();
  }
}

/** The proxy's workload from its node metadata, as Istio's stats filter reads it; none without WORKLOAD_NAME and NAMESPACE. */
function localWorkloadOf(opts: ProxyOptions): { localWorkload?: TelemetryWorkloadConfig } {
  const m = opts.metadata;
  const workload = m['WORKLOAD_NAME'];
  const namespace = m['NAMESPACE'];
  if (typeof workload !== 'string' || typeof namespace !== 'string' || !workload || !namespace) return {};
  const labels: Record<string, string> = {};
  const raw = m['LABELS'];
  if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  const cluster = typeof m['CLUSTER_ID'] === 'string' && m['CLUSTER_ID'] ? m['CLUSTER_ID'] : 'Kubernetes';
  return { localWorkload: { workload, namespace, labels, ...(opts.identity ? { principal: opts.identity } : {}), cluster } };
}

