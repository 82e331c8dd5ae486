// istio.stats: Istio's standard metrics, the access log and the span of every HTTP stream, recorded
// once in onDone; trace headers and x-request-id set in onRequest; peer metadata exchanged in
// response headers so the source side reports the destination workload's labels, as Istio does.
import type { MetricEdge } from '../../../telemetry/istio-metrics.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { type WorkloadLabels, workloadLabels } from '../../../telemetry/workload-labels.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type RequestContext, type ResponseHead, type StreamOutcome } from '../../http/filter.ts';
import type { StreamInfo } from '../../http/stream.ts';
import type { AccessLogger } from './access-log.ts';
import type { EdgeIndex } from './edges.ts';
import { header, type TraceState, type Tracer } from './tracer.ts';

/** Response header carrying the destination workload's metadata back to the source sidecar (base64 JSON). */
export const PEER_RESPONSE_HEADER = 'x-outrigger-peer';

/** Per-stream facts kept between hooks (only allocated when tracing, logging or exchange needs them). */
interface StreamState {
  /** The filter that made it (a stream passes one telemetry filter; the check keeps that an assumption no more). */
  owner: TelemetryFilter;
  trace: TraceState | undefined;
  destination: WorkloadLabels | undefined;
  response: ResponseHead | undefined;
}

export interface TelemetryParts {
  config: TelemetryFilterConfig;
  edges: EdgeIndex | undefined;
  tracer: Tracer | undefined;
  accessLog: AccessLogger | undefined;
  now: () => number;
  /** Shared across filters of one proxy: decoded peer metadata by header value. */
  peerCache: Map<string, WorkloadLabels>;
}

export class TelemetryFilter implements HttpFilter {
  #p: TelemetryParts;
  #selfHeader: string;
  #outbound: boolean;
  /** Whether any hook keeps per-stream state (tracing, access log, or the source side of the exchange). */
  #stateful: boolean;

  constructor(parts: TelemetryParts) {
    this.#p = parts;
    const w = parts.config.workload;
    this.#selfHeader = Buffer.from(JSON.stringify({ workload: w.workload, namespace: w.namespace, labels: w.labels, ...(w.principal ? { principal: w.principal } : {}) })).toString('base64');
    this.#outbound = parts.config.reporter === 'source';
    this.#stateful = this.#outbound || parts.tracer !== undefined || parts.accessLog !== undefined;
  }

  #stateOf(info: StreamInfo): StreamState {
    const s = this.#existing(info);
    if (s) return s;
    const made: StreamState = { owner: this, trace: undefined, destination: undefined, response: undefined };
    info.telemetry = made;
    return made;
  }

  #existing(info: StreamInfo): StreamState | undefined {
    const s = info.telemetry as StreamState | undefined;
    return s?.owner === this ? s : undefined;
  }

  onRequest(ctx: RequestContext): FilterVerdict {
    if (this.#p.tracer) this.#stateOf(ctx.info).trace = this.#p.tracer.start(ctx.request, ctx.info.startTime);
    return CONTINUE;
  }

  onResponse(ctx: RequestContext, response: ResponseHead): void {
    if (this.#p.accessLog) this.#stateOf(ctx.info).response = response;
    if (!this.#outbound) {
      // Only a mesh peer learns who answered; clients outside the mesh never see mesh metadata.
      if (ctx.request.connection.peer) response.headers.set(PEER_RESPONSE_HEADER, this.#selfHeader);
      return;
    }
    const v = header(response.headers, PEER_RESPONSE_HEADER);
    if (v === undefined) return;
    response.headers.delete(PEER_RESPONSE_HEADER);
    this.#stateOf(ctx.info).destination = this.#decodePeer(v);
  }

  onDone(ctx: RequestContext, outcome: StreamOutcome): void {
    const info = ctx.info;
    const state = this.#stateful ? this.#existing(info) : undefined;
    const flags = flagsText(info.responseFlags, outcome);
    const req = ctx.request;
    if (this.#p.edges) {
      const edge: MetricEdge = this.#outbound ? this.#p.edges.outbound(info.clusterName, req.authority, state?.destination) : this.#p.edges.inbound(req.connection, req.authority, info.clusterName);
      const grpc = outcome.grpcStatus ?? -1;
      edge.record(isGrpc(ctx) ? 'grpc' : 'http', outcome.status, grpc, flags, outcome.durationMs, outcome.requestBytes, outcome.responseBytes);
    }
    if (this.#p.accessLog) this.#p.accessLog.log(req, info, outcome, state?.response, flags);
    if (this.#p.tracer && state?.trace) this.#p.tracer.finish(state.trace, req, info, outcome, this.#p.now(), flags);
  }

  #decodePeer(v: string): WorkloadLabels | undefined {
    const cache = this.#p.peerCache;
    const hit = cache.get(v);
    if (hit) return hit;
    try {
      const m = JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as { workload?: unknown; namespace?: unknown; labels?: unknown; principal?: unknown };
      if (typeof m.workload !== 'string' || typeof m.namespace !== 'string') return undefined;
      const labels = typeof m.labels === 'object' && m.labels !== null ? (m.labels as Record<string, string>) : {};
      const l = workloadLabels({ workload: m.workload, namespace: m.namespace, labels, ...(typeof m.principal === 'string' ? { principal: m.principal } : {}) });
      if (cache.size >= 1000) cache.clear();
      cache.set(v, l);
      return l;
    } catch {
      return undefined;
    }
  }
}

function isGrpc(ctx: RequestContext): boolean {
  const ct = header(ctx.request.headers, 'content-type');
  return ct?.startsWith('application/grpc') === true;
}

/** Envoy's `%RESPONSE_FLAGS%`: `-`, or the flags joined by commas; a downstream that left adds DC. */
export function flagsText(flags: ReadonlySet<string>, outcome: StreamOutcome): string {
  if (flags.size === 0 && !outcome.downstreamReset) return '-';
  const all = [...flags];
  if (outcome.downstreamReset && !flags.has('DC')) all.push('DC');
  return all.sort().join(',');
}
