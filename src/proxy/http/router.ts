// The router stage: cluster → load balancer → endpoint → upstream, as Envoy's router filter: circuit
// breakers, the route's retry policy (back-off on the injected timers, another host on retry, body
// replay), route and per-try timeouts, outlier reporting, mirrors, hash policies, streaming both ways.
import { Readable } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { LocalReplies } from '../local-reply.ts';
import type { OutgoingHeaders, UpstreamHead } from '../upstream/upstream.ts';
import { UpstreamRequest } from '../upstream/upstream-request.ts';
import type { LocalReply } from './filter.ts';
import { DEFAULT_RETRY_BUFFER_LIMIT } from './retry/retry-buffer.ts';
import { RetryPolicy } from './retry/retry-policy.ts';
import type { HashPolicy } from './route/hash-policy.ts';
import { type MirrorPolicy, shadowAuthority } from './route/mirror-policy.ts';
import type { DownstreamRequest, HeaderMap, StreamInfo } from './stream.ts';

export interface ResponseWriter {
  /**
   * The response head, after the onResponse filters. `map` is `headers` as a map when the caller
   * already made one (for a retry decision); the writer may then change it instead of making its own.
   */
  head(status: number, headers: OutgoingHeaders, map?: HeaderMap): void;
  data(chunk: Buffer): boolean;
  /** Called once writes may continue after `data` returned false. */
  onDrain(fn: () => void): void;
  end(trailers: OutgoingHeaders): void;
  reply(reply: LocalReply): void;
  /**
   * Reset the downstream stream: the upstream failed, or a timeout expired, after the head was sent.
   * `reason`: what would have been replied before the head, for its flag and details only.
   */
  reset(reason?: LocalReply): void;
}

/** What the router reads from the matched route; `MatchedRoute` satisfies it. */
export interface RouteResilience {
  readonly retryPolicy: RetryPolicy | null;
  readonly retryBufferLimit: number;
  readonly mirrors: readonly MirrorPolicy[];
  readonly hashPolicy: HashPolicy | null;
  /** The route's max_grpc_timeout: the router rewrites a gRPC request's `grpc-timeout` to the timeout it applies (old timeouts only). */
  readonly maxGrpcTimeoutMs: number | undefined;
  /** A route with max_stream_duration (Envoy's usingNewTimeouts): the router rewrites no grpc-timeout. */
  readonly usingNewTimeouts?: boolean;
  /** Each try carries `x-envoy-attempt-count` (the virtual host's include_request_attempt_count). */
  readonly includeAttemptCount?: boolean;
}

export interface ForwardRequest {
  clusterName: string;
  head: UpstreamHead;
  body: Readable | null;
  timeoutMs: number;
  /** Without `route`: connect failures are retried this many times (the legacy contract). */
  retries: number;
  info: StreamInfo;
  /** The original destination, used by ORIGINAL_DST clusters (PassthroughCluster). */
  originalDst?: { address: string; port: number };
  /** The matched route: retry policy, mirrors and hash policy come from it. */
  route?: RouteResilience | null;
  /** The downstream request, for hash policies and retriable_request_headers. */
  request?: DownstreamRequest;
  /** Draws in [0, 1) for back-off jitter and mirror fractions (Math.random when absent). */
  random?: () => number;
  /** The router's suppress_envoy_headers: no x-envoy-upstream-service-time on the response. */
  suppressEnvoyHeaders?: boolean;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
  /** A test clock's time; outlier ejections are measured on it when present. */
  now?(): number;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

const grpcUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 1e-6 };
const grpcTimeoutSyntax = /^\d{1,8}[HMSmun]$/;

/**
 * `grpc-timeout` (`100m`, `5S`) in ms, clamped to a day; undefined when absent or invalid. As Envoy's
 * Grpc::Common::getGrpcTimeout, `0m` is 0 and a fraction of a millisecond (`u`, `n`) rounds up.
 */
export function grpcTimeoutMs(value: string | string[] | undefined | null): number | undefined {
  if (typeof value !== 'string' || !grpcTimeoutSyntax.test(value)) return undefined;
  const ms = Number(value.slice(0, -1)) * (grpcUnits[value.slice(-1)] as number);
  return Math.min(Math.ceil(ms), 86_400_000);
}

/** What of a route decides a gRPC request's timeout (MatchedRoute's fields). */
export interface GrpcTimeoutRoute {
  readonly timeoutMs: number;
  /** The route has a max_stream_duration message (Envoy's usingNewTimeouts). */
  readonly usingNewTimeouts: boolean;
  /** max_stream_duration.max_stream_duration. */
  readonly maxStreamDurationMs?: number | undefined;
  /** max_stream_duration.grpc_timeout_header_max (new timeouts); undefined when not set. */
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  readonly grpcTimeoutHeaderOffsetMs: number;
  /** The deprecated max_grpc_timeout (old timeouts); undefined when not set. */
  readonly maxGrpcTimeoutMs: number | undefined;
  readonly grpcTimeoutOffsetMs: number;
}

/**
 * The router's timeout of a gRPC request (content-type application/grpc), Envoy's
 * FilterUtility::finalTimeout (0: none). With max_grpc_timeout (Istio's outbound routes): the header's
 * value, or 0 without one (0 is infinity); grpc_timeout_offset taken off only when smaller than it;
 * then capped by the maximum unless that is 0, a 0 (infinite) timeout too. Without it, the route
 * timeout. A route with a max_stream_duration message (Istio's inbound routes: Envoy's
 * usingNewTimeouts) has no router timeout at all, whatever its timeout and max_grpc_timeout: the header
 * arms the stream's max duration instead, under grpc_timeout_header_max (streamDeadline in
 * stream-timeouts.ts, Envoy's refreshDurationTimeout).
 */
export function grpcRouteTimeoutMs(route: GrpcTimeoutRoute, header: string | string[] | undefined | null): number {
  if (route.usingNewTimeouts) return 0;
  const max = route.maxGrpcTimeoutMs;
  if (max === undefined) return route.timeoutMs;
  const asked = grpcTimeoutMs(header);
  const offset = route.grpcTimeoutOffsetMs;
  let ms = asked ?? 0;
  if (offset > 0 && offset < ms) ms -= offset;
  if (max !== 0 && (ms === 0 || ms > max)) ms = max;
  return ms;
}

/** Connect-failure-only policies for requests forwarded without a route, one per retry count. */
const legacyPolicies = new Map<number, RetryPolicy>();
function legacyPolicy(retries: number): RetryPolicy | null {
  if (retries <= 0) return null;
  let p = legacyPolicies.get(retries);
  if (!p) {
    p = new RetryPolicy({ retry_on: 'connect-failure', num_retries: { value: retries } }, 'router');
    legacyPolicies.set(retries, p);
  }
  return p;
}

const noCancel = { cancel() {} };

export function forward(clusters: ClusterManager, req: ForwardRequest, out: ResponseWriter, timers: Timers = realTimers): { cancel(): void } {
  const cluster = clusters.get(req.clusterName);
  req.info.clusterName = req.clusterName;
  if (!cluster) {
    out.reply(LocalReplies.clusterNotFound);
    return noCancel;
  }
  cluster.useTimers(timers);
  const rm = cluster.resources();
  if (!rm.tryAcquireRequest()) {
    cluster.stats.upstream_rq_pending_overflow.inc();
    out.reply(LocalReplies.overflow);
    return noCancel;
  }
  const route = req.route ?? null;
  const random = req.random ?? Math.random;
  const policy = route ? route.retryPolicy : legacyPolicy(req.retries);
  // The retry state is made at the first retry decision (most requests never reach one).
  const stream = new UpstreamRequest(cluster, req, out, timers, rm, policy?.enabledFor(req.request) ? policy : null, random);
  if (route && route.mirrors.length > 0) mirror(clusters, route, req, stream, timers, random);
  stream.start(route ? route.retryBufferLimit : DEFAULT_RETRY_BUFFER_LIMIT);
  return stream;
}

const discard: ResponseWriter = {
  head() {},
  data: () => true,
  onDrain() {},
  end() {},
  reply() {},
  reset() {},
};

/** request_mirror_policies: fire-and-forget copies to `-shadow` authorities; their outcome is ignored. */
function mirror(clusters: ClusterManager, route: RouteResilience, req: ForwardRequest, stream: UpstreamRequest, timers: Timers, random: () => number): void {
  for (const m of route.mirrors) {
    if (!m.shouldMirror(random()) || !clusters.get(m.cluster)) continue;
    // Its own headers: the primary's tries write theirs (x-envoy-attempt-count) into the primary's head.
    // Envoy copies the shadow's headers in decodeHeaders after the first try's count is set: a copy says
    // 1, whatever the primary's retries, and is never retried itself (its own forward has no route).
    const headers = { ...req.head.headers };
    if (route.includeAttemptCount) headers['x-envoy-attempt-count'] = '1';
    const head: UpstreamHead = { ...req.head, authority: shadowAuthority(req.head.authority), headers };
    const send = (body: Readable | null) => {
      const info: StreamInfo = { startTime: req.info.startTime, responseFlags: new Set(), dynamicMetadata: new Map() };
      forward(clusters, { clusterName: m.cluster, head, body, timeoutMs: req.timeoutMs, retries: 0, info, random }, discard, timers);
    };
    if (req.body === null) send(null);
    else stream.whenBodyComplete((chunks) => chunks && send(bodyOf(chunks)));
  }
}

/**
 * The copy's body, whole and already ended: Envoy's shadow is sent with the buffered body, its request
 * complete, so the copy's route timer runs from the start (UpstreamRequest reads an ended body as arrived;
 * one that ends only as it is read would never time out while queued behind max_connections).
 */
function bodyOf(chunks: readonly Uint8Array[]): Readable {
  const r = new Readable({ read() {} });
  for (const c of chunks) r.push(c);
  r.push(null);
  return r;
}
