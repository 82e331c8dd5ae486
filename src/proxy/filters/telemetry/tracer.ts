// The tracing half of istio.stats, compiled once per listener: sampling, context extraction and
// injection on the request, and the span recorded when the stream ends.
import type { CustomTagConfig, TracingConfig } from '../../../telemetry/filter-config.ts';
import type { SpanExporter } from '../../../telemetry/tracing/exporter.ts';
import { newRequestId, newSpanId, newTraceId, type Random } from '../../../telemetry/tracing/ids.ts';
import { Sampler } from '../../../telemetry/tracing/sampler.ts';
import type { AttributeValue, SpanKind } from '../../../telemetry/tracing/span.ts';
import { extractTraceContext, injectTraceContext } from '../../../telemetry/tracing/trace-context.ts';
import type { WorkloadLabels } from '../../../telemetry/workload-labels.ts';
import type { RouteView, StreamOutcome } from '../../http/filter.ts';
import type { DownstreamRequest, HeaderMap, StreamInfo } from '../../http/stream.ts';
import { routedCluster } from './edges.ts';

/** Envoy's header for a span name handed between proxies (a client's to its server, a server's back). */
export const DECORATOR_OPERATION_HEADER = 'x-envoy-decorator-operation';

export interface TraceState {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly sampled: boolean;
  readonly startMs: number;
  /** The span name: the route's decorator, or the peer's x-envoy-decorator-operation; unset: Envoy's default. */
  operation: string | undefined;
  /** A server span's name for the response's x-envoy-decorator-operation (its own decorator, not a caller's). */
  readonly respondOperation: string | undefined;
}

export function header(h: HeaderMap, name: string): string | undefined {
  const v = h.get(name);
  return typeof v === 'string' ? v : v?.[0];
}

const noHeaders: HeaderMap = new Map();

export class Tracer {
  #sampler: Sampler;
  #random: Random;
  #exporter: SpanExporter | undefined;
  #kind: SpanKind;
  #static: Record<string, AttributeValue>;
  #headerTags: readonly { tag: string; header: string; fallback: string | undefined }[];
  #maxPath: number;
  /** The headers `start` works on; the accessors below read it, made once instead of two closures per request. */
  #headers: HeaderMap = noHeaders;
  readonly #get = (name: string): string | undefined => header(this.#headers, name);
  readonly #set = (name: string, value: string): void => {
    this.#headers.set(name, value);
  };

  /** `nodeId`: the proxy's xDS node id, which Envoy's tracer tags every span with (`node_id`). */
  constructor(config: TracingConfig, kind: SpanKind, self: WorkloadLabels, random: Random, env: Readonly<Record<string, string | undefined>>, exporter: SpanExporter | undefined, nodeId?: string) {
    this.#sampler = new Sampler(config.sampling, config.rules ?? [], random);
    this.#random = random;
    this.#exporter = exporter;
    this.#kind = kind;
    this.#maxPath = config.max_path_tag_length ?? 256;
    // Istio's own tags, then the custom ones; literal and environment tags are resolved once here.
    this.#static = {
      component: 'proxy',
      'istio.canonical_service': self.canonicalService,
      'istio.canonical_revision': self.canonicalRevision,
      'istio.namespace': self.namespace,
      'istio.mesh_id': 'cluster.local',
      ...(nodeId ? { node_id: nodeId } : {}),
    };
    const headerTags: { tag: string; header: string; fallback: string | undefined }[] = [];
    for (const [tag, c] of Object.entries(config.custom_tags ?? {})) {
      const v = staticTag(c, env);
      if (v !== undefined) this.#static[tag] = v;
      else if ('header' in c) headerTags.push({ tag, header: c.header.name.toLowerCase(), fallback: c.header.default_value });
    }
    this.#headerTags = headerTags;
  }

  /**
   * Decides sampling, sets x-request-id when absent, rewrites the trace headers for the upstream and
   * names the span as Envoy's connection manager does: the route's decorator; a client span sends it
   * upstream in x-envoy-decorator-operation, a server span takes its caller's from there instead.
   * Sampled or not, as Envoy's traceRequest: its tracer returns a span for an unsampled request too, and
   * the name travels whenever the connection manager traces (a propagate: false decorator keeps it home).
   * `forwarded` false: a span started for a request a filter already answered, which goes nowhere: the
   * request is read, never written (no x-request-id, trace or decorator header: %REQ(...)% stays as sent).
   */
  start(request: DownstreamRequest, startMs: number, route: RouteView | null, forwarded: boolean): TraceState {
    const h = request.headers;
    if (forwarded && !h.has('x-request-id')) h.set('x-request-id', newRequestId(this.#random));
    this.#headers = h;
    const incoming = extractTraceContext(this.#get);
    const url = this.#sampler.hasRules ? requestUrl(request) : '';
    const sampled = this.#sampler.decide(incoming.sampled, url);
    const traceId = incoming.context?.traceId ?? newTraceId(this.#random);
    const spanId = newSpanId(this.#random);
    const parentSpanId = incoming.context?.spanId;
    if (forwarded) injectTraceContext(this.#set, traceId, spanId, parentSpanId, sampled, incoming.context);
    this.#headers = noHeaders;
    const decorator = route?.decorator ?? null;
    let operation = decorator?.operation;
    let respondOperation: string | undefined;
    if (this.#kind === 'CLIENT') {
      if (forwarded && decorator?.propagate) h.set(DECORATOR_OPERATION_HEADER, decorator.operation);
    } else {
      if (decorator?.propagate) respondOperation = decorator.operation;
      // The caller's name wins, and goes no further (Envoy removes it before the app).
      const fromCaller = h.get(DECORATOR_OPERATION_HEADER);
      if (fromCaller !== undefined) {
        const name = typeof fromCaller === 'string' ? fromCaller : fromCaller[0];
        if (name) {
          operation = name;
          respondOperation = undefined;
        }
        if (forwarded) h.delete(DECORATOR_OPERATION_HEADER);
      }
    }
    return { traceId, spanId, parentSpanId, sampled, startMs, operation, respondOperation };
  }

  /**
   * The response head: a server span tells its caller its name; a client span takes the name its
   * server sent, and the header goes no further (Envoy's encodeHeaders).
   */
  onResponse(state: TraceState, headers: HeaderMap): void {
    if (this.#kind === 'SERVER') {
      if (state.respondOperation !== undefined) headers.set(DECORATOR_OPERATION_HEADER, state.respondOperation);
      return;
    }
    const v = headers.get(DECORATOR_OPERATION_HEADER);
    if (v === undefined) return;
    const name = typeof v === 'string' ? v : v[0];
    if (name) state.operation = name;
    headers.delete(DECORATOR_OPERATION_HEADER);
  }

  /** Records the span of a sampled stream; a no-op when not sampled or when nothing exports the spans. */
  finish(state: TraceState, request: DownstreamRequest, info: StreamInfo, outcome: StreamOutcome, endMs: number, flags: string): void {
    if (!state.sampled || !this.#exporter) return;
    const attributes: Record<string, AttributeValue> = { ...this.#static };
    attributes['http.method'] = request.method;
    attributes['http.url'] = requestUrl(request, this.#maxPath);
    attributes['http.protocol'] = request.protocol;
    attributes['http.status_code'] = String(outcome.status);
    attributes['response_flags'] = flags;
    attributes['request_size'] = String(outcome.requestBytes);
    attributes['response_size'] = String(outcome.responseBytes);
    // Only with a cluster (Envoy's finalizeSpan reads the stream's cluster info): none on NR or NC.
    const cluster = routedCluster(info);
    if (cluster !== undefined) {
      attributes['upstream_cluster'] = cluster;
      attributes['upstream_cluster.name'] = cluster;
    }
    attributes['guid:x-request-id'] = header(request.headers, 'x-request-id') ?? '';
    attributes['user_agent'] = header(request.headers, 'user-agent') ?? '-';
    attributes['peer.address'] = request.connection.remoteAddress;
    if (outcome.grpcStatus !== undefined) attributes['grpc.status_code'] = String(outcome.grpcStatus);
    for (const t of this.#headerTags) {
      const v = header(request.headers, t.header) ?? t.fallback;
      if (v !== undefined) attributes[t.tag] = v;
    }
    const error = outcome.status >= 500 || outcome.status === 0;
    if (error) attributes['error'] = true;
    this.#exporter.record({
      traceId: state.traceId,
      spanId: state.spanId,
      ...(state.parentSpanId ? { parentSpanId: state.parentSpanId } : {}),
      // Without a decorator, Envoy's default: `ingress`, or `egress` and the Host the client sent, as sent
      // (HttpTracerImpl::startSpan appends getHostValue()).
      name: state.operation ?? (this.#kind === 'CLIENT' ? `egress ${request.sentAuthority}` : 'ingress'),
      kind: this.#kind,
      startMs: state.startMs,
      endMs,
      attributes,
      error,
    });
  }
}

function staticTag(c: CustomTagConfig, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if ('literal' in c) return c.literal.value;
  if ('environment' in c) return env[c.environment.name] ?? c.environment.default_value ?? '';
  return undefined;
}

/**
 * `http://host/path?query`: what the span's http.url says and what per-path sampling rules search, as
 * Envoy's buildUrl (tracing/http_tracer_impl.cc) makes it: the scheme is x-forwarded-proto's where the
 * request has one (a request that came over the mesh tunnel keeps the `http` its client used, not the
 * tunnel's TLS), the Host the header as the client sent it, and only the path (with its query) is cut at
 * `maxPath` (max_path_tag_length).
 */
export function requestUrl(r: DownstreamRequest, maxPath = Number.POSITIVE_INFINITY): string {
  const proto = header(r.headers, 'x-forwarded-proto');
  const path = r.query ? `${r.path}?${r.query}` : r.path;
  return `${proto === 'http' || proto === 'https' ? proto : r.scheme}://${r.sentAuthority}${path.length > maxPath ? path.slice(0, maxPath) : path}`;
}
