// istio.stats: Istio's standard metrics, the access log and the span of every HTTP stream, recorded
// once in onDone. onRequest starts the span (trace headers, and an x-request-id where none came, set
// on the request); peer metadata is exchanged in response headers so the source side reports the
// destination workload's labels, as Istio does.
import { GRPC_INVALID_STATUS, type IstioMetrics, type MetricEdge } from '../../../telemetry/istio-metrics.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { UNKNOWN, type WorkloadLabels } from '../../../telemetry/workload-labels.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type RequestContext, type ResponseHead, type StreamOutcome } from '../../http/filter.ts';
import { GRPC_INVALID_CODE, httpToGrpcStatus, isGrpcRequest } from '../../http/grpc-status.ts';
import type { StreamInfo } from '../../http/stream.ts';
import type { AccessLogger } from './access-log.ts';
import { streamAttributes } from './attributes.ts';
import { type EdgeIndex, routedCluster } from './edges.ts';
import type { MetricOverrides } from './metric-overrides.ts';
import { decodePeerMetadata } from './peer-metadata.ts';
import { header, type TraceState, type Tracer } from './tracer.ts';

/** Response header carrying the destination workload's metadata back to the source sidecar (base64 JSON). */
export const PEER_RESPONSE_HEADER = 'x-outrigger-peer';

/**
 * Per-stream facts kept between hooks: made in onRequest when tracing, in onResponse when the response
 * head is kept or a mesh peer answered. A gRPC request that needs none carries the filter's shared
 * marker (#grpcSeen) instead: no allocation per request.
 */
interface StreamState {
  /** The filter that made it (a stream passes one telemetry filter; the check keeps that an assumption no more). */
  owner: TelemetryFilter;
  /** onRequest saw a gRPC request: Istio's stats filter sets is_grpc_ in decodeHeaders only. */
  grpc: boolean;
  trace: TraceState | undefined;
  destination: WorkloadLabels | undefined;
  response: ResponseHead | undefined;
}

export interface TelemetryParts {
  config: TelemetryFilterConfig;
  edges: EdgeIndex | undefined;
  tracer: Tracer | undefined;
  /** One per provider's log, in config order; empty when nothing logs. */
  accessLogs: readonly AccessLogger[];
  /** Telemetry `metrics[].overrides` other than all-off, with the families they bind into. */
  overrides?: { rules: MetricOverrides; metrics: IstioMetrics } | undefined;
  now: () => number;
  /** Shared across filters of one proxy: decoded peer metadata by header value. */
  peerCache: Map<string, WorkloadLabels>;
}

export class TelemetryFilter implements HttpFilter {
  #p: TelemetryParts;
  #selfHeader: string;
  #outbound: boolean;
  /** Whether onDone reads the response head (the access log, or CEL over `response.headers`). */
  #keepResponse: boolean;
  /** The mark of a gRPC request onRequest saw, until the stream needs a state of its own (never mutated). */
  readonly #grpcSeen: StreamState = Object.freeze({ owner: this, grpc: true, trace: undefined, destination: undefined, response: undefined });

  constructor(parts: TelemetryParts) {
    this.#p = parts;
    const w = parts.config.workload;
    this.#selfHeader = Buffer.from(JSON.stringify({ workload: w.workload, namespace: w.namespace, labels: w.labels, ...(w.principal ? { principal: w.principal } : {}) })).toString('base64');
    this.#outbound = parts.config.reporter === 'source';
    this.#keepResponse = parts.accessLogs.length > 0 || parts.overrides?.rules.needsAttributes === true;
  }

  #stateOf(info: StreamInfo): StreamState {
    const s = this.#existing(info);
    if (s && s !== this.#grpcSeen) return s;
    const made: StreamState = { owner: this, grpc: s !== undefined, trace: undefined, destination: undefined, response: undefined };
    info.telemetry = made;
    return made;
  }

  #existing(info: StreamInfo): StreamState | undefined {
    const s = info.telemetry as StreamState | undefined;
    return s?.owner === this ? s : undefined;
  }

  onRequest(ctx: RequestContext): FilterVerdict {
    // Istio's stats filter learns the protocol here (decodeHeaders): a request a filter before it
    // answered (fault abort, RBAC, JWT, ext_authz denial) is `http` with no gRPC status.
    const grpc = isGrpcRequest(ctx.request.headers.get('content-type'));
    const tracer = this.#p.tracer;
    if (tracer) {
      const s = this.#stateOf(ctx.info);
      s.grpc = grpc;
      s.trace = tracer.start(ctx.request, ctx.info.startTime, ctx.route, true);
    } else if (grpc) ctx.info.telemetry = this.#grpcSeen;
    return CONTINUE;
  }

  /**
   * The stream's trace, started now when a filter before this one answered: Envoy's connection manager
   * traces every request, whichever filter replies. The request goes nowhere, so nothing is injected
   * into it (Envoy injects the context in the router only).
   */
  #trace(ctx: RequestContext, tracer: Tracer): TraceState {
    const s = this.#stateOf(ctx.info);
    if (!s.trace) s.trace = tracer.start(ctx.request, ctx.info.startTime, ctx.route, false);
    return s.trace;
  }

  onResponse(ctx: RequestContext, response: ResponseHead): void {
    if (this.#keepResponse) this.#stateOf(ctx.info).response = response;
    if (this.#p.tracer) this.#p.tracer.onResponse(this.#trace(ctx, this.#p.tracer), response.headers);
    if (!this.#outbound) {
      // Only a mesh peer learns who answered; clients outside the mesh never see mesh metadata (an
      // app's own header of that name included).
      // A carrier's source had it once, in the CONNECT's answer.
      const conn = ctx.request.connection;
      if (conn.peer && conn.peerAnswered !== true) response.headers.set(PEER_RESPONSE_HEADER, this.#selfHeader);
      else response.headers.delete(PEER_RESPONSE_HEADER);
      return;
    }
    const v = header(response.headers, PEER_RESPONSE_HEADER);
    if (v !== undefined) response.headers.delete(PEER_RESPONSE_HEADER);
    const peer = v ?? ctx.info.upstreamPeer;
    // Believed only from a mesh endpoint's sidecar: any other server could name itself anything. Its
    // principal only over the mesh's mTLS (Istio's populatePeerInfo reads the upstream TLS peer's).
    const info = ctx.info;
    if (peer !== undefined && info.upstreamMesh === true) this.#stateOf(info).destination = this.#decodePeer(peer, info.upstreamTls === true ? info.upstreamPrincipal : UNKNOWN);
  }

  onDone(ctx: RequestContext, outcome: StreamOutcome): void {
    const info = ctx.info;
    const state = this.#existing(info);
    const flags = flagsText(info.responseFlags, outcome);
    const req = ctx.request;
    if (this.#p.edges) {
      // The Host fallback reads the header as the client sent it (Istio's stats filter: `headers->Host()`).
      const host = req.sentAuthority;
      const edge: MetricEdge = this.#outbound
        ? this.#p.edges.outbound(routedCluster(info), host, state?.destination, info.upstreamWorkload, info.upstreamTls === true, info.routeName)
        : this.#p.edges.inbound(req.connection, host, info.clusterName);
      // Istio's stats filter: `grpc` and a gRPC status only for a gRPC request (isGrpcRequestHeaders, as
      // onRequest saw it); the status from getGrpcStatus(trailers, headers, info), whose last resort is
      // the HTTP status mapped.
      const grpcRequest = state?.grpc === true;
      const read = outcome.grpcStatus ?? (outcome.status > 0 ? httpToGrpcStatus(outcome.status) : -1);
      const grpc = !grpcRequest ? -1 : outcome.grpcStatus === GRPC_INVALID_CODE ? GRPC_INVALID_STATUS : read;
      const protocol = grpcRequest ? 'grpc' : 'http';
      // Istio's stats filter records the downstream's wire bytes: heads and bodies (HTTP/2: the
      // heads' and trailers' fields uncompressed, see StreamOutcome).
      const requestBytes = outcome.requestHeadBytes + outcome.requestBytes;
      const responseBytes = outcome.responseHeadBytes + outcome.responseBytes;
      const o = this.#p.overrides;
      if (o) o.rules.record(o.metrics, edge.outcomeLabels(protocol, outcome.status, grpc, flags), () => this.#attributes(ctx, outcome, state, flags), outcome.durationMs, requestBytes, responseBytes);
      else edge.record(protocol, outcome.status, grpc, flags, outcome.durationMs, requestBytes, responseBytes);
    }
    // Each log behind its own CEL filter (Envoy's access-log filter: an expression that fails or is not
    // `true` logs nothing there); the attributes are built once, for the first log with a filter. An
    // indexed loop: no iterator per request, even before the function is optimised.
    const logs = this.#p.accessLogs;
    let attributes: object | undefined;
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i] as AccessLogger;
      if (log.filter) {
        attributes ??= this.#attributes(ctx, outcome, state, flags);
        if (log.filter.evaluate(attributes) !== true) continue;
      }
      log.log(req, info, outcome, state?.response, flags);
    }
    if (this.#p.tracer) this.#p.tracer.finish(this.#trace(ctx, this.#p.tracer), req, info, outcome, this.#p.now(), flags);
  }

  /** CEL attributes for this stream: built only on the paths where an expression reads them. */
  #attributes(ctx: RequestContext, outcome: StreamOutcome, state: StreamState | undefined, flags: string): object {
    const peer = this.#outbound ? state?.destination : this.#p.edges?.peer(ctx.request.connection);
    return streamAttributes({ ctx, outcome, response: state?.response, flags, peer, outbound: this.#outbound });
  }

  /** The peer's labels, its principal the one its certificate proved when the tunnel knows it. */
  #decodePeer(v: string, verified: string | undefined): WorkloadLabels | undefined {
    const l = decodePeerMetadata(v, this.#p.peerCache);
    if (!l || verified === undefined || l.principal === verified) return l;
    return decodePeerMetadata(v, this.#p.peerCache, verified);
  }
}

/**
 * Envoy's `%RESPONSE_FLAGS%` (ResponseFlagUtils::toShortString): `-`, or the flags joined by commas in the
 * order the stream set them, as Envoy 1.30+ (Istio 1.22–1.24) keeps them; a downstream that left adds DC,
 * last. Never sorted: a delay the client left is `DI,DC`, retries run out on a refused connect `URX,UF`.
 */
export function flagsText(flags: ReadonlySet<string>, outcome: StreamOutcome): string {
  const dc = outcome.downstreamReset && !flags.has('DC');
  if (flags.size === 0) return dc ? 'DC' : '-';
  let text = '';
  for (const f of flags) text = text === '' ? f : `${text},${f}`;
  return dc ? `${text},DC` : text;
}
