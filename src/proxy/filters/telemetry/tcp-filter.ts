// istio.stats as a network filter, in front of tcp_proxy: Istio's TCP metrics and the access log line of
// each connection. Its series are chosen once, when the upstream is known (the destination's metadata
// comes with the tunnel CONNECT's answer, Istio's TCP metadata exchange); bytes are then added to them
// chunk by chunk, so a scrape sees a long connection's bytes grow while it is open, as Istio's periodic
// TCP reports do, and the close counts it closed and writes its log line.
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import type { IstioMetrics, TcpSeries } from '../../../telemetry/istio-metrics.ts';
import { Counter } from '../../../telemetry/metrics/registry.ts';
import { UNKNOWN, type WorkloadLabels } from '../../../telemetry/workload-labels.ts';
import type { ConnectionInfo } from '../../http/stream.ts';
import type { NetworkStatsFilter, TcpConnectionStats, TcpUpstreamOutcome } from '../network-stats.ts';
import { type AccessLogger, logFlags } from './access-log.ts';
import { connectionAttributes } from './attributes.ts';
import type { EdgeIndex } from './edges.ts';
import type { MetricOverrides } from './metric-overrides.ts';
import { decodePeerMetadata } from './peer-metadata.ts';

/** Counters no family holds: where a connection counts before its upstream is known, or with metrics off. */
const UNCOUNTED: TcpSeries = Object.freeze({ sent: new Counter(), received: new Counter(), opened: new Counter(), closed: new Counter() });

export interface TcpTelemetryParts {
  config: TelemetryFilterConfig;
  edges: EdgeIndex | undefined;
  /** One per provider's log, in config order; empty when nothing logs. */
  accessLogs: readonly AccessLogger[];
  overrides: { rules: MetricOverrides; metrics: IstioMetrics } | undefined;
  now: () => number;
  /** Shared across filters of one proxy: decoded peer metadata by header value. */
  peerCache: Map<string, WorkloadLabels>;
}

export class TcpTelemetryFilter implements NetworkStatsFilter {
  readonly #p: TcpTelemetryParts;
  readonly #outbound: boolean;

  constructor(parts: TcpTelemetryParts) {
    this.#p = parts;
    this.#outbound = parts.config.reporter === 'source';
  }

  begin(connection: ConnectionInfo): TcpConnectionStats {
    return new TcpConnection(this, connection, this.#p.now());
  }

  /** The workload at the other end: the upstream's answer (source), the tunnel's peer (destination). */
  peerOf(connection: ConnectionInfo, upstream: TcpUpstreamOutcome): WorkloadLabels | undefined {
    if (!this.#outbound) return this.#p.edges?.peer(connection);
    if (upstream.upstreamPeer === undefined) return undefined;
    // Istio's populatePeerInfo: the destination principal is the upstream TLS peer's, `unknown` without one.
    return decodePeerMetadata(upstream.upstreamPeer, this.#p.peerCache, upstream.upstreamTls === true ? upstream.upstreamPrincipal : UNKNOWN);
  }

  /** The series one connection counts into, once its upstream is known. */
  seriesFor(connection: ConnectionInfo, upstream: TcpUpstreamOutcome, peer: WorkloadLabels | undefined): TcpSeries {
    const edges = this.#p.edges;
    if (!edges) return UNCOUNTED;
    // No Host header on a TCP connection: a cluster that names no service gives `unknown`, as in Istio.
    // No such cluster (NC): tcp_proxy set none on the stream info, so no service (Istio's `unknown`).
    const edge = this.#outbound ? edges.outbound(upstream.flags === 'NC' ? undefined : upstream.clusterName, '', peer, upstream.upstreamWorkload, upstream.upstreamTls === true) : edges.inbound(connection, '', upstream.clusterName);
    const o = this.#p.overrides;
    if (!o) return edge.tcp(upstream.flags);
    return o.rules.bindTcp(o.metrics, edge.tcpLabels(upstream.flags), () => this.#attributes(connection, upstream, peer));
  }

  log(connection: ConnectionInfo, start: number, upstream: TcpUpstreamOutcome | undefined, peer: WorkloadLabels | undefined, received: number, sent: number): void {
    const logs = this.#p.accessLogs;
    if (logs.length === 0) return;
    const durationMs = this.#p.now() - start;
    // Each log behind its own filter, over attributes built once; a connection that never had an
    // upstream passes no filter.
    let attributes: object | undefined;
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i] as AccessLogger;
      if (log.filter) {
        if (!upstream) continue;
        attributes ??= this.#attributes(connection, upstream, peer, logFlags(upstream));
        if (log.filter.evaluate(attributes) !== true) continue;
      }
      log.logTcp(connection, start, durationMs, upstream, received, sent);
    }
  }

  /** `flags`: as the metrics see them (at the close), or as the access log does (later). */
  #attributes(connection: ConnectionInfo, upstream: TcpUpstreamOutcome, peer: WorkloadLabels | undefined, flags = upstream.flags): object {
    return connectionAttributes({
      connection,
      flags,
      clusterName: upstream.clusterName,
      upstreamHost: upstream.upstreamHost,
      peer,
      outbound: this.#outbound,
      ...(upstream.connectionTerminationDetails ? { terminationDetails: upstream.connectionTerminationDetails } : {}),
      ...(upstream.responseCodeDetails ? { codeDetails: upstream.responseCodeDetails } : {}),
      dynamicMetadata: upstream.dynamicMetadata,
    });
  }
}

/** One connection: the bytes per chunk are two field increments, its own total and its series'. */
class TcpConnection implements TcpConnectionStats {
  readonly #filter: TcpTelemetryFilter;
  readonly #connection: ConnectionInfo;
  readonly #start: number;
  #series: TcpSeries = UNCOUNTED;
  #upstream: TcpUpstreamOutcome | undefined;
  #peer: WorkloadLabels | undefined;
  #received = 0;
  #sent = 0;
  #closed = false;

  constructor(filter: TcpTelemetryFilter, connection: ConnectionInfo, start: number) {
    this.#filter = filter;
    this.#connection = connection;
    this.#start = start;
  }

  upstream(outcome: TcpUpstreamOutcome): void {
    if (this.#upstream) return;
    this.#upstream = outcome;
    this.#peer = this.#filter.peerOf(this.#connection, outcome);
    this.#series = this.#filter.seriesFor(this.#connection, outcome, this.#peer);
    this.#series.opened.value++;
    // What arrived before (nothing, while tcp_proxy holds the downstream) joins the series.
    this.#series.received.value += this.#received;
    this.#series.sent.value += this.#sent;
  }

  received(bytes: number): void {
    this.#received += bytes;
    this.#series.received.value += bytes;
  }

  sent(bytes: number): void {
    this.#sent += bytes;
    this.#series.sent.value += bytes;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#series.closed.value++;
    this.#filter.log(this.#connection, this.#start, this.#upstream, this.#peer, this.#received, this.#sent);
  }
}
