// A running cluster: its settings, endpoints, load balancer, circuit breakers, outlier detector, stats
// and one upstream per endpoint (HTTP/1.1 pool, h2c session, or the mesh tunnel for `tlsMode=istio`:
// HTTP/2 for HTTP/2 clusters, CONNECT and WebSocket, HTTP/1.1 on its own pool for an HTTP/1.1 cluster's
// requests, whatever the client spoke). A DestinationRule's own TLS (SIMPLE, MUTUAL) overrides the mesh's:
// HTTP (h2 for an HTTP/2 request) and TCP then go in that TLS, inside a tunnel CONNECT marked `plain_tls`
// to a meshed endpoint.
import type { SecureClientSessionOptions } from 'node:http2';
import tls from 'node:tls';
import type { ClusterStats } from '../../telemetry/metrics/cluster-stats.ts';
import { H1_METHODS } from '../http/h1-server.ts';
import { realTimers, type Timers } from '../http/router.ts';
import { H1Upstream, preloadUndici } from '../upstream/h1-upstream.ts';
import { H1Pool } from '../upstream/h1-client.ts';
import { meshServerIdentity, type ServerIdentityCheck, TUNNEL_CLIENT_STREAMS } from '../tunnel/mesh-tls.ts';
import { PEER_HEADER } from '../upstream/h2-connection.ts';
import { H2Upstream, TARGET_PORT_HEADER, TRANSPORT_HEADER } from '../upstream/h2-upstream.ts';
import { connectTimeout, type Upstream, UpstreamError, type UpstreamExchange, type UpstreamHead, type UpstreamSink } from '../upstream/upstream.ts';
import { type Duplex, duplexPair, type Readable } from 'node:stream';
import { splice } from '../upstream/connect-stream.ts';
import { CircuitBreakers, type ResourceManager } from './circuit-breaker.ts';
import { ConnectionGate } from './connection-gate.ts';
import { type IntervalTimers, OutlierDetector, type OutlierEvent, type OutlierOutcome } from './outlier/outlier-detector.ts';
import type { ClusterSettings } from './compile-cluster.ts';
import { type Endpoint, hostOf } from './endpoint.ts';
import { buildLoadBalancer } from './lb/build-load-balancer.ts';
import { type FileLookup, type OriginationTls, originationKey, originationOptions, originationServername, requestHost, type SecretLookup } from './origination-tls.ts';
import type { LbContext, LoadBalancer, Random } from './lb/load-balancer.ts';

/** Timers the proxy runs on; a test clock also supplies `now` so ejection times follow it. */
export interface ClusterTimers extends IntervalTimers {
  now?(): number;
}

/** Counters Envoy keeps per cluster that the shared stats families do not carry (yet). */
export interface ResilienceStats {
  upstream_rq_retry_success: number;
  upstream_rq_retry_overflow: number;
  upstream_rq_per_try_timeout: number;
  upstream_rq_rx_reset: number;
}

export interface ClusterDeps {
  stats: ClusterStats;
  random: Random;
  now: () => number;
  /** TLS options for tunnel connections, or undefined when the workload certificate is not ready. */
  tunnelTls(): SecureClientSessionOptions | undefined;
  /** Headers every tunnel request carries (`x-outrigger-peer`). */
  tunnelHeaders?: Readonly<Record<string, string>>;
  /** SDS secrets by name, for TLS origination (`kubernetes://NAME`). */
  secrets?: SecretLookup;
  /** The files TLS origination names, at their last good version (the SecretStore watches them). */
  files?: FileLookup;
  /** The proxy's timers: connect timeouts (TCP connect, TLS handshake) run on them. */
  timers?: ClusterTimers;
}

/** Envoy's default `cleanup_interval` of an ORIGINAL_DST cluster. */
export const ORIGINAL_DST_CLEANUP_MS = 5_000;

// What a cluster that never took traffic holds: no pools and no pool times. Shared and never written
// (#addUpstream, and upstream() for the pool times, give a cluster its own map first; delete and clear
// on an empty map change nothing): a proxy holds thousands of such clusters.
const NO_UPSTREAMS: ReadonlyMap<string, Upstream> = new Map();
const NO_USE: ReadonlyMap<string, number> = new Map();

export class Cluster {
  settings: ClusterSettings;
  readonly stats: ClusterStats;
  #deps: ClusterDeps;
  #lb: LoadBalancer<Endpoint>;
  #endpoints: readonly Endpoint[] = [];
  #upstreams: Map<string, Upstream> = NO_UPSTREAMS as Map<string, Upstream>;
  #generation = 0;
  #gateMade: ConnectionGate | undefined;
  breakers: CircuitBreakers;
  /** The outlier detector, when the cluster configures outlier_detection. */
  outlier: OutlierDetector | null = null;
  #resilience: ResilienceStats | undefined;
  #timers: ClusterTimers | null = null;
  #checkServerMade: ServerIdentityCheck | undefined;
  #onConnectedMade: (() => void) | undefined;

  constructor(settings: ClusterSettings, deps: ClusterDeps) {
    this.settings = settings;
    this.stats = deps.stats;
    this.#deps = deps;
    this.breakers = new CircuitBreakers(settings.circuitBreakers);
    this.#buildOutlier();
    if (settings.origination) preloadUndici();
    this.#lb = buildLoadBalancer(settings.resource, [], this.#lbDeps());
    this.setEndpoints(settings.inlineEndpoints);
  }

  /** The HTTP/1.1 pool limits, made with the cluster's first HTTP/1.1 request. */
  get #gate(): ConnectionGate {
    this.#gateMade ??= new ConnectionGate(this.stats);
    return this.#gateMade;
  }

  /** Counters Envoy keeps per cluster, made at the first one counted. */
  get resilience(): ResilienceStats {
    this.#resilience ??= { upstream_rq_retry_success: 0, upstream_rq_retry_overflow: 0, upstream_rq_per_try_timeout: 0, upstream_rq_rx_reset: 0 };
    return this.#resilience;
  }

  /**
   * Secure naming on every tunnel this cluster opens, against `meshSans` as of the handshake, not of the
   * connect: a handshake under way when the names change gets the new ones. Made with the first tunnel.
   */
  get #checkServer(): ServerIdentityCheck {
    this.#checkServerMade ??= (host, cert) => meshServerIdentity(this.settings.meshSans)(host, cert);
    return this.#checkServerMade;
  }

  /** Envoy's `upstream_cx_total`: every connection an upstream of this cluster makes. Made with the first upstream. */
  get #onConnected(): () => void {
    this.#onConnectedMade ??= () => this.stats.upstream_cx_total.inc();
    return this.#onConnectedMade;
  }

  #addUpstream(key: string, u: Upstream): void {
    if (this.#upstreams === NO_UPSTREAMS) this.#upstreams = new Map();
    this.#upstreams.set(key, u);
  }

  #lbDeps() {
    return { ...lbDeps(this.#deps), ...(this.outlier ? { health: this.outlier } : {}) };
  }

  #buildOutlier(): void {
    this.outlier?.stop();
    const config = this.settings.outlier;
    this.outlier = config
      ? new OutlierDetector(
          config,
          this.#endpoints.map((e) => e.key),
          { now: () => this.#timers?.now?.() ?? this.#deps.now(), random: this.#deps.random, onEvent: (e) => this.#countOutlier(e) },
        )
      : null;
    this.stats.outlier.ejections_active.set(0);
    if (this.outlier && this.#timers) this.outlier.start(this.#timers);
  }

  /** Outlier events into the cluster's Prometheus series, which outlive a rebuilt detector (as Envoy's stats). */
  #countOutlier(e: OutlierEvent): void {
    const o = this.stats.outlier;
    if (e.action === 'overflow') o.ejections_overflow.inc();
    else if (e.action === 'detected' && e.type) o[`ejections_detected_${e.type}`].inc();
    else if (e.action === 'eject' && e.type) {
      o.ejections_enforced_total.inc();
      o[`ejections_enforced_${e.type}`].inc();
    }
    o.ejections_active.set(this.outlier?.stats.ejections_active ?? 0);
  }

  /**
   * What the cluster's connections time out on (connect_timeout: the TCP connect, and the TLS handshake
   * of the mesh tunnel or of TLS the cluster originates): the proxy's timers, else those the request
   * path brought, else the real clock.
   */
  get timers(): Timers {
    return this.#deps.timers ?? this.#timers ?? realTimers;
  }

  /** The timers the request path runs on; the outlier interval is armed on the first ones seen. */
  useTimers(timers: ClusterTimers): void {
    if (this.#timers === timers) return;
    this.#timers = timers;
    this.outlier?.start(timers);
  }

  /** One attempt's outcome for outlier detection (status, or a local-origin event). */
  reportResult(key: string, outcome: OutlierOutcome): void {
    this.outlier?.onResult(key, outcome);
  }

  /** The resources of the default routing priority (Istio sets only DEFAULT thresholds). */
  resources(): ResourceManager {
    return this.breakers.forPriority('DEFAULT');
  }

  /**
   * A connection slot for tcp_proxy, which checks max_connections before it dials (Envoy's
   * `connections().canCreate()`): the resources it came from, or null past the limit (counted in
   * upstream_cx_overflow). Give it back with releaseConnection once the connection is gone.
   */
  acquireConnection(): ResourceManager | null {
    const rm = this.resources();
    if (rm.tryAcquireConnection()) return rm;
    this.stats.upstream_cx_overflow.inc();
    return null;
  }

  /** A slot from acquireConnection, freed: to an HTTP/1.1 request waiting for one, if any. */
  releaseConnection(rm: ResourceManager): void {
    if (this.#gateMade) this.#gateMade.handOff(rm);
    else rm.releaseConnection();
  }

  /**
   * Bumped whenever an update changes how this cluster connects, or an endpoint leaves it (and it
   * closes or retires its own connections): a stream dialed before (an ext_authz session) is then
   * stale too.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * New settings for the same name. As Envoy's addOrUpdateCluster, a Cluster that differs in any field is
   * a new cluster: fresh outlier detector (no ejections), load balancer (rotation, ring, slow start) and
   * circuit breakers; what is in flight keeps the breakers it took. Kept: the endpoints and their EDS
   * health, the stats, in-flight counts per endpoint, and the pools unless how we connect changed.
   */
  update(settings: ClusterSettings): void {
    const old = this.settings;
    if (settings.origination) preloadUndici();
    // Who the server must be: a connection verified against the old names may not be one now. (Added
    // names, a canary's new account, leave connections alone.)
    const renamed = narrowed(old.meshSans, settings.meshSans);
    const reconnect =
      settings.http2 !== old.http2 ||
      settings.useDownstreamProtocol !== old.useDownstreamProtocol ||
      settings.connectTimeoutMs !== old.connectTimeoutMs ||
      settings.maxConnections !== old.maxConnections ||
      settings.idleTimeoutMs !== old.idleTimeoutMs ||
      settings.maxRequestsPerConnection !== old.maxRequestsPerConnection ||
      settings.tcpKeepaliveMs !== old.tcpKeepaliveMs ||
      settings.meshPlaintext !== old.meshPlaintext ||
      settings.meshSni !== old.meshSni ||
      !sameJson(originationKey(settings.origination), originationKey(old.origination));
    this.settings = settings;
    // Any change to the Cluster resource (Envoy compares the hash of all of it).
    if (!sameJson(old.resource, settings.resource)) {
      this.breakers = new CircuitBreakers(settings.circuitBreakers);
      this.#buildOutlier();
      this.#lb = buildLoadBalancer(settings.resource, [], this.#lbDeps());
      this.#lb.update(this.#endpoints);
    }
    if (renamed) this.#retireRefused();
    if (reconnect) this.#closeUpstreams([...this.#upstreams.keys()]);
    if (renamed || reconnect) this.#generation++;
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
    this.outlier?.update(endpoints.map((e) => e.key));
    this.stats.outlier.ejections_active.set(this.outlier?.stats.ejections_active ?? 0);
    const keep = new Set(endpoints.map((e) => e.key));
    for (const key of old.keys()) {
      if (keep.has(key)) continue;
      this.#generation++;
      break;
    }
    // The pools each endpoint uses now (upstream() and #meshHttp1()): a plaintext endpoint's carry the
    // marker and have keys of their own, so one that flips either way leaves its old pools to close.
    // A cluster that has no pools (most, in a large mesh) has none to close.
    if (this.#upstreams.size > 0) {
      const pools = new Set<string>();
      for (const e of endpoints) {
        const plain = e.plaintext ? '|plaintext' : '';
        pools.add(`${e.key}${plain}`);
        pools.add(`${e.key}|h1${plain}`);
        pools.add(`${e.key}|h2`);
        pools.add(`${e.key}|tls`);
        pools.add(`${e.key}|tls-h2`);
      }
      this.#closeUpstreams([...this.#upstreams.keys()].filter((k) => !pools.has(withoutSni(k))));
    }
    this.stats.membership_total.set(endpoints.length);
    this.stats.membership_healthy.set(endpoints.filter((e) => e.healthy).length);
  }

  pick(context?: LbContext): Endpoint | undefined {
    this.sweepUnused();
    return this.#lb.pick(context) ?? undefined;
  }

  /**
   * ORIGINAL_DST: a use that makes no host or pool here (tcp_proxy dials the original destination
   * itself) still runs the cleanup_interval sweep, as HTTP's pick() and upstream() do.
   */
  sweepUnused(): void {
    if (this.settings.type === 'ORIGINAL_DST') this.#sweepOriginal(this.#clusterNow());
  }

  /** ORIGINAL_DST: when each pool was last used (Envoy's host `used` flag), and when the last sweep ran. */
  #poolUsedAt: Map<string, number> = NO_USE as Map<string, number>;
  #lastSweep: number | undefined;

  /**
   * An ORIGINAL_DST cluster has a host (and here a pool) for every address its callers name, so, as
   * Envoy's OriginalDstCluster::cleanup, every `cleanup_interval` the hosts unused for that long are
   * dropped, their pools closed once no connection is left on them (Envoy drains a removed host's
   * pools; one still open is looked at again next time). Never before the connect timeout: a pool
   * whose first connection is still being made has a request waiting on it. Run lazily, on the
   * cluster's clock, when the cluster is used: idle, it holds what it held, and no timer runs.
   */
  #sweepOriginal(now: number): void {
    if (this.#lastSweep === undefined) this.#lastSweep = now;
    const interval = this.settings.cleanupIntervalMs ?? ORIGINAL_DST_CLEANUP_MS;
    if (now - this.#lastSweep < interval) return;
    this.#lastSweep = now;
    const unusedFor = Math.max(interval, this.settings.connectTimeoutMs);
    const stale: string[] = [];
    for (const [key, u] of this.#upstreams) {
      if (now - (this.#poolUsedAt.get(key) ?? 0) < unusedFor || u.connections() > 0 || this.#gate.waitsFor(u)) continue;
      stale.push(key);
      this.#poolUsedAt.delete(key);
    }
    this.#closeUpstreams(stale);
    // Original-destination hosts are made per pick; the ones with nothing in flight are forgotten.
    this.#lb.update(this.#endpoints);
  }

  #clusterNow(): number {
    return this.#timers?.now?.() ?? this.#deps.now();
  }

  /** Load-balancer counters (`lb_healthy_panic`, `upstream_cx_none_healthy`). */
  get lbStats(): LoadBalancer<Endpoint>['stats'] {
    return this.#lb.stats;
  }

  /**
   * Sends one attempt to `e`. HTTP/1.1 endpoints go through the connection pool limits (a pending
   * queue past max_connections); null means max_pending_requests overflowed (503 UO).
   */
  send(e: Endpoint, head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange | null {
    // use_downstream_protocol_config: an HTTP/2 request goes to the endpoint's h2c upstream.
    const h2 = this.settings.http2 || (this.settings.useDownstreamProtocol && head.downstreamProtocol === 'HTTP/2');
    // auto_sni / auto_san_validation: connections for the request's host, pooled apart per host.
    const forHost = requestHost(this.settings.origination, head.authority);
    // The DestinationRule's TLS, not the mesh's, to a sidecar'd endpoint, through the tunnel: HTTP/1.1 in
    // it, or h2 (ALPN h2) for an HTTP/2 cluster (gRPC) or an HTTP/2 client on use_downstream_protocol_config.
    if (e.mesh && this.settings.origination) {
      if (h2) return this.#originatedH2(e, forHost).request(head, body, sink);
      return this.#gate.send(this.resources(), this.#originated(e, forHost), head, body, sink);
    }
    if (e.mesh) {
      // Through the tunnel a request travels in the protocol the cluster asks for, as Envoy would send it:
      // HTTP/1.1 on mutual TLS for an HTTP/1.1 cluster (Istio's h2UpgradePolicy DO_NOT_UPGRADE), whatever
      // the client spoke, as for an endpoint outside the mesh; HTTP/2 on the HTTP/2 tunnel for an http2
      // cluster (gRPC) or use_downstream_protocol_config with an HTTP/2 client. A method the tunnel's
      // HTTP/1.1 codec refuses (an extension an HTTP/2 client may send) takes the HTTP/2 session too.
      if (h2 || !H1_METHODS.has(head.method)) return this.upstream(e).request(head, body, sink);
      const pool = this.#meshHttp1(e);
      // A peer that answered h2 (an older release) gets the multiplexed session, outside the HTTP/1.1 limits.
      if (pool.speaksH2) return this.upstream(e).request(head, body, sink);
      // An HTTP/2 client takes trailers without asking; on HTTP/1.1 the destination passes them only to
      // a client that sends `TE: trailers`, so ask on its behalf (the source proxy still decides what its
      // own client gets).
      const asked = head.downstreamProtocol === 'HTTP/2' && head.headers['te'] === undefined ? { ...head, headers: { ...head.headers, te: 'trailers' } } : head;
      return this.#gate.send(this.resources(), pool, asked, body, sink);
    }
    const u = this.upstream(e, h2, forHost);
    if (h2) return u.request(head, body, sink);
    return this.#gate.send(this.resources(), u, head, body, sink);
  }

  /**
   * The SNI Istio's sidecar would send to `e` (the mesh TLS context's `outbound_.PORT_.SUBSET_.HOST`):
   * the TLS server name of this cluster's tunnel sessions and HTTP/1.1 connections to it, which the
   * destination takes as the connection's. Each cluster has its own, so nothing travels per request.
   * None in plaintext (a DestinationRule DISABLE cluster, or a DISABLE endpoint).
   */
  #meshSni(e: { plaintext?: boolean }): string {
    return this.settings.meshPlaintext || e.plaintext ? '' : this.settings.meshSni;
  }

  /**
   * What every tunnel request to `e` carries: the source's metadata, and plaintext intent without mesh
   * TLS (a DestinationRule DISABLE cluster, or a DISABLE endpoint).
   */
  #tunnelHeaders(e: { plaintext?: boolean }): Readonly<Record<string, string>> | undefined {
    const base = this.#deps.tunnelHeaders;
    // Its only streams are CONNECTs carrying the TLS it originates (#originated, originate()).
    if (this.settings.origination) return { ...base, [TRANSPORT_HEADER]: 'plain_tls' };
    if (this.settings.meshPlaintext || e.plaintext) return { ...base, [TRANSPORT_HEADER]: 'raw_buffer' };
    return base;
  }

  /** The HTTP/1.1 pool to a meshed endpoint's tunnel: connections carried on its HTTP/2 session, or TLS with ALPN `http/1.1`. */
  #meshHttp1(e: Endpoint): H1Pool {
    // A plaintext endpoint has pools of its own: their requests carry the plaintext marker.
    const key = `${e.key}|h1${e.plaintext ? '|plaintext' : ''}`;
    let u = this.#upstreams.get(key) as H1Pool | undefined;
    if (u) return u;
    const { connectTimeoutMs, maxConnections, idleTimeoutMs, maxRequestsPerConnection, tcpKeepaliveMs } = this.settings;
    const tunnelTls = this.#deps.tunnelTls;
    // The SNI is the TLS server name of a connection of its own, or of the session carrying it.
    const extra = this.#tunnelHeaders(e) ?? {};
    const sni = this.#meshSni(e);
    const head = (fields: Readonly<Record<string, string>>) =>
      Object.keys(fields)
        .map((k) => `${k}: ${fields[k]}\r\n`)
        .join('');
    // On a carried connection the source metadata went once, on its CONNECT (carry()): not on each request.
    const { [PEER_HEADER]: _peer, ...perRequest } = extra;
    u = new H1Pool({
      host: e.address,
      port: e.port,
      connectTimeoutMs,
      maxConnections,
      idleTimeoutMs,
      maxRequestsPerConnection,
      ...(tcpKeepaliveMs !== null ? { tcpKeepaliveMs } : {}),
      tls: () => {
        const t = tunnelTls();
        // h2 second: a tunnel server that predates HTTP/1.1 on the tunnel picks it, and the pool hands
        // its requests to the HTTP/2 tunnel instead.
        return t ? { ...t, ALPNProtocols: ['http/1.1', 'h2'], checkServerIdentity: this.#checkServer, ...(sni ? { servername: sni } : {}) } : 'the workload certificate is not ready';
      },
      fallback: () => this.upstream(e),
      // Each connection is a stream on the tunnel's HTTP/2 session: many share one TLS connection,
      // and their writes one TLS record and one system call.
      carrier: () => (this.upstream(e) as H2Upstream).carry(`${hostOf(e.address)}:${e.port}`),
      extraHead: head(extra),
      carriedExtraHead: head(perRequest),
      targetPortHeader: TARGET_PORT_HEADER,
      onConnected: this.#onConnected,
      timers: this.timers,
    });
    this.#addUpstream(key, u);
    return u;
  }

  /** The HTTP/1.1 pool to a meshed endpoint of a cluster with TLS origination: each connection is originate(). */
  #originated(e: Endpoint, forHost: string | undefined): H1Pool {
    const key = `${e.key}${sniKey(forHost)}|tls`;
    let u = this.#upstreams.get(key) as H1Pool | undefined;
    if (u) return u;
    const { connectTimeoutMs, maxConnections, idleTimeoutMs, maxRequestsPerConnection } = this.settings;
    u = new H1Pool({ host: e.address, port: e.port, connectTimeoutMs, maxConnections, idleTimeoutMs, maxRequestsPerConnection, dial: () => this.originate(e, undefined, forHost), onConnected: this.#onConnected, timers: this.timers, ...this.#dropWhenIdle(key, forHost) });
    this.#addUpstream(key, u);
    return u;
  }

  /**
   * The HTTP/2 session to a meshed endpoint of a cluster with TLS origination: h2 (ALPN `h2`) in the
   * rule's TLS, inside a tunnel CONNECT marked `plain_tls`, as Envoy speaks to an http2 cluster in it.
   * http2.connect needs its socket at once: the TLS starts on one end of a pair whose other end is
   * spliced to the CONNECT stream when it opens (a failed CONNECT fails the session as a connect failure).
   */
  #originatedH2(e: Endpoint, forHost: string | undefined): H2Upstream {
    const key = `${e.key}${sniKey(forHost)}|tls-h2`;
    let u = this.#upstreams.get(key) as H2Upstream | undefined;
    if (u) return u;
    const authority = `${hostOf(e.address)}:${e.targetPort}`;
    const originTls = (): SecureClientSessionOptions | string => {
      const opts = this.#h2Origination(forHost);
      if (typeof opts === 'string') return opts;
      const createConnection = (): Duplex => {
        const [near, far] = duplexPair();
        const socket = tls.connect({ ...opts, socket: near });
        (this.upstream(e) as H2Upstream).connect(authority).then(
          (stream) => {
            if (socket.destroyed) return void stream.destroy();
            splice(far, stream);
            // A pair's end destroyed only ends the other's reading: the TLS (and its session) would live on
            // over a tunnel stream that is gone, and take requests that never get an answer.
            stream.once('close', () => socket.destroy());
          },
          (err: Error) => socket.destroy(err),
        );
        socket.once('close', () => far.destroy());
        return socket;
      };
      return { ...opts, createConnection };
    };
    const { connectTimeoutMs, maxConnections, idleTimeoutMs } = this.settings;
    // The tunnel's address: the session's own socket goes through it (createConnection), never to the app's port.
    u = new H2Upstream(`https://${hostOf(e.address)}:${e.port}`, { connectTimeoutMs, maxConnections, idleTimeoutMs, originTls, onConnected: this.#onConnected, timers: this.timers, ...this.#dropWhenIdle(key, forHost) });
    this.#addUpstream(key, u);
    return u;
  }

  /** The cluster's TLS origination (for a request's host: auto_sni) with ALPN `h2` (read per connection: rotated secrets apply), or why there is none. */
  #h2Origination(forHost: string | undefined): SecureClientSessionOptions | string {
    const o = this.settings.origination;
    if (!o) return 'the cluster originates no TLS';
    const t = this.#originationOptions(o, forHost);
    return typeof t === 'string' ? t : { ...t, ALPNProtocols: ['h2'] };
  }

  /**
   * A connection to `e` in the cluster's TLS origination (SIMPLE, MUTUAL), resolved once the handshake
   * verified the server: over TCP, or for a meshed endpoint inside a tunnel CONNECT to its target port,
   * marked `plain_tls` (the destination sidecar treats it as Istio's treats TLS that is not the mesh's).
   * Options are read per connection, so rotated secrets apply to the next one. `signal` abandons it: a
   * handshake under way is closed.
   */
  originate(e: { key: string; address: string; port: number; mesh: boolean; targetPort: number; plaintext?: boolean }, signal?: AbortSignal, forHost?: string): Promise<Duplex> {
    const o = this.settings.origination;
    if (!o) return Promise.reject(new UpstreamError('connect', 'the cluster originates no TLS'));
    const opts = this.#originationOptions(o, forHost);
    if (typeof opts === 'string') return Promise.reject(new UpstreamError('connect', `tls: ${opts}`));
    const timeoutMs = this.settings.connectTimeoutMs;
    const timers = this.timers;
    if (!e.mesh) return handshake(tls.connect({ ...opts, host: e.address, port: e.port }), timeoutMs, timers, signal);
    return (this.upstream(e) as H2Upstream).connect(`${hostOf(e.address)}:${e.targetPort}`).then((stream) => {
      const socket = tls.connect({ ...opts, socket: stream });
      socket.once('close', () => stream.destroy());
      return handshake(socket, timeoutMs, timers, signal);
    });
  }

  /** The node:tls options of one connect now: its SDS secrets and watched files as they are at this moment. */
  #originationOptions(o: OriginationTls, forHost: string | undefined): tls.ConnectionOptions | string {
    return originationOptions(o, this.#deps.secrets ?? (() => undefined), forHost, this.#deps.files);
  }

  /**
   * A connection to `e` is the mesh's mutual TLS (Istio's ISTIO_MUTUAL): not a DISABLE cluster's or
   * endpoint's (the tunnel carries those marked plaintext), not the cluster's own TLS, not an endpoint
   * outside the mesh. Telemetry names both principals only over it, once a connection is made (Istio's
   * populatePeerInfo reads them from the upstream's SSL connection); HTTP and TCP alike.
   */
  meshTls(e: { readonly mesh: boolean; readonly plaintext?: boolean }): boolean {
    return e.mesh && this.settings.origination === undefined && !this.settings.meshPlaintext && e.plaintext !== true;
  }

  /**
   * The identity a mesh endpoint's tunnel proved with its certificate (secure naming checked it): what
   * telemetry names as the destination principal, rather than what the peer says of itself.
   */
  verifiedPeer(e: { readonly key: string; readonly mesh: boolean; readonly plaintext?: boolean }): string | undefined {
    // In the cluster's own TLS (SIMPLE, MUTUAL) the app answers: the tunnel's identity is not its.
    if (!e.mesh || this.settings.origination) return undefined;
    const u = this.#upstreams.get(e.plaintext ? `${e.key}|plaintext` : e.key);
    return u instanceof H2Upstream ? u.verifiedPeer : undefined;
  }

  /** In-flight accounting for LEAST_REQUEST and /clusters. */
  requestStarted(e: Endpoint): void {
    this.#lb.onRequestStart(e);
  }

  requestEnded(e: Endpoint): void {
    this.#lb.onRequestEnd(e);
  }

  /** The upstream for an endpoint (or an original destination), created on first use. */
  upstream(e: { key: string; address: string; port: number; mesh: boolean; plaintext?: boolean }, http2 = this.settings.http2, forHost?: string): Upstream {
    // An endpoint of a use-downstream-protocol cluster may have both kinds; the h2c one has its own key.
    // TLS origination for a request's host (auto_sni) has pools of its own; the tunnel (mesh) does not.
    const base = e.mesh ? e.key : `${e.key}${sniKey(forHost)}`;
    const key = http2 && !this.settings.http2 && !e.mesh ? `${base}|h2` : e.plaintext ? `${base}|plaintext` : base;
    if (this.settings.type === 'ORIGINAL_DST') {
      const now = this.#clusterNow();
      this.#sweepOriginal(now);
      if (this.#poolUsedAt === NO_USE) this.#poolUsedAt = new Map();
      this.#poolUsedAt.set(key, now);
    }
    let u = this.#upstreams.get(key);
    if (u) return u;
    const host = hostOf(e.address);
    const { connectTimeoutMs, maxConnections, idleTimeoutMs, maxRequestsPerConnection, tcpKeepaliveMs } = this.settings;
    const keepalive = tcpKeepaliveMs !== null ? { tcpKeepaliveMs } : {};
    if (e.mesh) {
      const tls = this.#deps.tunnelTls;
      const tlsWithIdentity = () => {
        const t = tls();
        const sni = this.#meshSni(e);
        return t ? { ...t, checkServerIdentity: this.#checkServer, ...(sni ? { servername: sni } : {}) } : {};
      };
      const extraHeaders = this.#tunnelHeaders(e);
      u = new H2Upstream(`https://${host}:${e.port}`, {
        connectTimeoutMs,
        ...keepalive,
        timers: this.timers,
        tls: tlsWithIdentity,
        maxConcurrentStreams: TUNNEL_CLIENT_STREAMS,
        ...(extraHeaders ? { extraHeaders } : {}),
        onConnected: this.#onConnected,
      });
    } else if (http2) {
      // h2 in the DestinationRule's TLS (ALPN h2) when it originates some, else h2c.
      const originates = this.settings.origination !== undefined;
      u = new H2Upstream(`${originates ? 'https' : 'http'}://${host}:${e.port}`, { connectTimeoutMs, idleTimeoutMs, ...keepalive, ...(originates ? { originTls: () => this.#h2Origination(forHost) } : {}), onConnected: this.#onConnected, timers: this.timers, ...this.#dropWhenIdle(key, forHost) });
    } else {
      const origination = this.settings.origination;
      // Read per connect: a rotated secret or file applies to the pool's next connection.
      const originTls = origination ? { tls: () => this.#originationOptions(origination, forHost), servername: originationServername(origination, forHost) } : {};
      u = new H1Upstream(`${origination ? 'https' : 'http'}://${host}:${e.port}`, {
        connectTimeoutMs,
        maxConnections,
        idleTimeoutMs,
        maxRequestsPerConnection,
        ...keepalive,
        ...originTls,
        onConnected: this.#onConnected,
        timers: this.timers,
        ...this.#dropWhenIdle(key, forHost),
      });
    }
    this.#addUpstream(key, u);
    return u;
  }

  /**
   * A pool made for one request host (auto_sni, auto_san_validation) is dropped once idle: no connection,
   * nothing running or queued on it. As Envoy's ClusterManagerImpl erases a host's pools once idle
   * (httpConnPoolIsIdle): else a client naming a new Host under a wildcard route each time would leave a
   * pool per name behind. The pools call back only while open, so `key` still names the caller.
   */
  #dropWhenIdle(key: string, forHost: string | undefined): { onIdle?: () => void } {
    if (!forHost) return {};
    return {
      onIdle: () => {
        const u = this.#upstreams.get(key);
        if (!u || u.connections() > 0 || u.gated || this.#gateMade?.waitsFor(u)) return;
        this.#upstreams.delete(key);
        this.#poolUsedAt.delete(key);
        void u.close();
      },
    };
  }

  connections(): number {
    let n = 0;
    for (const u of this.#upstreams.values()) n += u.connections();
    return n;
  }

  /** Upstream pools held (one per endpoint and protocol; an ORIGINAL_DST cluster's, per address used lately; auto_sni's, per request host with connections). */
  get upstreamPools(): number {
    return this.#upstreams.size;
  }

  #closeUpstreams(keys: string[]): void {
    for (const k of keys) {
      const u = this.#upstreams.get(k);
      this.#upstreams.delete(k);
      void u?.close();
    }
  }

  /**
   * The service's accounts lost a name: tunnels to peers that presented it are retired. What is open on
   * them (a TCP stream, a WebSocket, a request) has the grace to finish and is then reset, rather than
   * left running on a peer verified under names that no longer hold. The TLS a DestinationRule originates
   * inside such a tunnel goes with it. Tunnels to peers still named, what they carry, and plaintext
   * upstreams, are left alone.
   */
  #retireRefused(): void {
    const sans = this.settings.meshSans;
    const refused = (peerId: string | undefined) => peerId === undefined || !sans.includes(peerId);
    const timers = this.timers;
    // TLS a DestinationRule originates is the app's certificate, not a mesh identity: its pools are judged
    // by the tunnel they ride (below), never by their own peer.
    const originated = (key: string) => key.endsWith('|tls') || key.endsWith('|tls-h2');
    const retired = this.settings.origination ? this.#refusedTunnels(refused) : [];
    for (const [key, u] of this.#upstreams) {
      if (originated(key)) continue;
      if (u instanceof H2Upstream) {
        if (u.tunnel) u.retireIf(refused);
      } else if (u instanceof H1Pool) u.retireIf(refused, timers);
    }
    // Their connections are CONNECT streams on the retired tunnels, which no retire event reaches (only
    // carried HTTP/1.1 connections hear it): an idle one would take the next request to the refused peer
    // for the whole grace. The pools go, as at a change of how the cluster connects: idle connections
    // close now, one still connecting is dropped (its request fails as a connect failure), one busy runs
    // until the tunnel's grace resets it, and the next request dials a new CONNECT the new names check.
    const gone = new Set(retired.flatMap((k) => [`${k}|tls`, `${k}|tls-h2`]));
    this.#closeUpstreams([...this.#upstreams.keys()].filter((k) => gone.has(withoutSni(k))));
  }

  /** Endpoints (by key) whose tunnel's server secure naming now refuses, or that have no tunnel up to vouch for them. */
  #refusedTunnels(refused: (peerId: string | undefined) => boolean): string[] {
    const keys: string[] = [];
    for (const e of this.#endpoints) {
      if (!e.mesh) continue;
      const tunnel = this.#upstreams.get(e.plaintext ? `${e.key}|plaintext` : e.key);
      if (!(tunnel instanceof H2Upstream) || refused(tunnel.verifiedPeer)) keys.push(e.key);
    }
    return keys;
  }

  async close(): Promise<void> {
    this.outlier?.stop();
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
    originalHost,
  };
}

/** The pool-key segment of TLS origination for a request's host (auto_sni); hostnames hold no `|`. */
function sniKey(forHost: string | undefined): string {
  return forHost ? `|sni=${forHost}` : '';
}

/** A pool key without its host segment: the endpoint's own key and pool kind. */
function withoutSni(key: string): string {
  const at = key.indexOf('|sni=');
  if (at === -1) return key;
  const end = key.indexOf('|', at + 1);
  return key.slice(0, at) + (end === -1 ? '' : key.slice(end));
}

function originalHost(address: string, port: number): Endpoint {
  return { address, port, key: `${address}:${port}`, mesh: false, targetPort: port, weight: 1, healthy: true, priority: 0, locality: '', active: 0 };
}

/** Resolves with `socket` once its TLS handshake is done; fails (a connect failure, UF) on error, close or timeout. */
function handshake(socket: tls.TLSSocket, timeoutMs: number, timers: Timers, signal?: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = timers.set(() => socket.destroy(connectTimeout(timeoutMs, 'TLS handshake')), timeoutMs);
    const fail = (err: Error) => {
      timers.clear(timer);
      signal?.removeEventListener('abort', abandon);
      socket.destroy();
      reject(err);
    };
    const abandon = () => fail(new UpstreamError('connect', 'TLS handshake abandoned by its caller'));
    if (signal?.aborted) return abandon();
    signal?.addEventListener('abort', abandon, { once: true });
    const closed = () => fail(new UpstreamError('connect', 'connection closed during the TLS handshake'));
    socket.once('error', fail);
    socket.once('close', closed);
    socket.once('secureConnect', () => {
      timers.clear(timer);
      signal?.removeEventListener('abort', abandon);
      socket.removeListener('error', fail);
      socket.removeListener('close', closed);
      // The caller's handlers come next; an error before them must not be unhandled.
      socket.on('error', () => {});
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Deep equality of two JSON values (key order aside), without serialising either: run per cluster per CDS push. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Whether `next` refuses a server identity `prev` accepted: a name removed, or the check turned on. */
function narrowed(prev: readonly string[], next: readonly string[]): boolean {
  if (next.length === 0) return false;
  return prev.length === 0 || prev.some((san) => !next.includes(san));
}
