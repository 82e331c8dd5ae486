// One routed request and its attempts (Envoy's router filter with its UpstreamRequests): picks hosts,
// sends through the cluster's pool limits, decides retries from each outcome, runs the route, per-try
// and back-off timers on the injected clock, and reports every result to outlier detection. The route
// and per-try timeouts count from the downstream request's end, as Envoy arms them in onRequestComplete:
// they start when the client's end of stream arrives (read or not: a body queued for a connection counts),
// so a slow upload keeps all of its timeout and a stalled one is the stream idle timeout's to end (408 SI),
// never the route's (504 UT). A try's per-try timer also waits for its connection (Envoy's onPoolReady):
// time queued behind max_connections or connecting is the route timeout's, not the try's.
import http2 from 'node:http2';
import type { ResourceManager } from '../cluster/circuit-breaker.ts';
import type { Cluster } from '../cluster/cluster.ts';
import type { Endpoint } from '../cluster/endpoint.ts';
import type { OutlierOutcome } from '../cluster/outlier/outlier-detector.ts';
import type { LbContext } from '../cluster/lb/load-balancer.ts';
import { type AttemptOutcome, type ResetReason, type RetryPolicy, RetryState } from '../http/retry/retry-policy.ts';
import type { ForwardRequest, ResponseWriter, Timers } from '../http/router.ts';
import { type HeaderMap, headerMapOf } from '../http/stream.ts';
import { grpcStatusOf, grpcToHttpStatus, isGrpcRequest } from '../http/grpc-status.ts';
import { LocalReplies } from '../local-reply.ts';
import { Readable } from 'node:stream';
import { ReplayableBody } from './replayable-body.ts';
import { isConnectTimeout, type OutgoingHeaders, transportFailureReason, type UpstreamError, type UpstreamExchange, type UpstreamHead, type UpstreamSink } from './upstream.ts';

/** One attempt's sink: events of an attempt the request has moved past are dropped. */
class Attempt implements UpstreamSink {
  readonly owner: UpstreamRequest;
  readonly endpoint: Endpoint;
  constructor(owner: UpstreamRequest, endpoint: Endpoint) {
    this.owner = owner;
    this.endpoint = endpoint;
  }
  /** The destination's metadata from the carrier the try's connection runs on (its CONNECT's answer). */
  answeredPeer: string | undefined = undefined;
  onPoolReady(answeredPeer?: string): void {
    this.answeredPeer = answeredPeer;
    this.owner.onPoolReady(this);
  }
  onHead(status: number, headers: OutgoingHeaders): void {
    this.owner.onHead(this, status, headers);
  }
  onData(chunk: Buffer): boolean {
    return this.owner.onData(this, chunk);
  }
  onEnd(trailers: OutgoingHeaders): void {
    this.owner.onEnd(this, trailers);
  }
  onError(err: UpstreamError, requestSent?: boolean): void {
    this.owner.onError(this, err, requestSent);
  }
}

function resetReason(err: UpstreamError): ResetReason {
  if (err.failure === 'connect') return 'connect-failure';
  if (err.failure === 'protocol') return 'protocol-error';
  if (err.failure === 'overflow') return 'overflow';
  return /REFUSED_STREAM|code 7\)/.test(err.message) ? 'refused-stream' : 'remote-reset';
}

/**
 * The peer's reset as Envoy's codec names it (onStreamClose) and streamResetReasonToResponseFlag flags it
 * (UR): RemoteRefusedStreamReset for REFUSED_STREAM, ConnectError for CONNECT_ERROR, else RemoteReset;
 * null for any other failure.
 */
function peerResetOf(err: UpstreamError): keyof typeof peerResetReplies | null {
  const code = err.remoteResetCode;
  return code < 0 ? null : code === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused' : code === http2.constants.NGHTTP2_CONNECT_ERROR ? 'connect-error' : 'remote';
}

/** Each kind of peer reset's reply before the response head, and after it (`upstream_reset_after_response_started`). */
const peerResetReplies = {
  remote: [LocalReplies.upstreamRemoteReset, LocalReplies.upstreamRemoteResetAfterHead],
  refused: [LocalReplies.upstreamRemoteRefused, LocalReplies.upstreamRemoteRefusedAfterHead],
  'connect-error': [LocalReplies.upstreamConnectError, LocalReplies.upstreamConnectErrorAfterHead],
} as const;

const outlierOf: Record<UpstreamError['failure'], OutlierOutcome> = { connect: 'connect-failed', reset: 'reset', protocol: 'reset', overflow: 'reset' };

/**
 * What a gRPC answer's head charges to outlier detection (Envoy's Router::Filter::onUpstreamHeaders): a
 * grpc-status there (a trailers-only answer) as grpcToHttpStatus, UNAVAILABLE as 503; else the :status.
 * A grpc-status in the trailers is never charged, as in Envoy. Repeated fields read as Envoy joins them.
 */
function outlierStatus(status: number, grpcStatus: string | string[] | undefined): number {
  if (grpcStatus === undefined || grpcStatus === '') return status;
  return grpcToHttpStatus(grpcStatusOf(typeof grpcStatus === 'string' ? grpcStatus : grpcStatus.join(',')));
}

export class UpstreamRequest {
  readonly #cluster: Cluster;
  readonly #req: ForwardRequest;
  readonly #out: ResponseWriter;
  readonly #timers: Timers;
  readonly #rm: ResourceManager;
  /** The route's retry policy, when this request may be retried. */
  readonly #policy: RetryPolicy | null;
  /** Made at the first retry decision (or at once for previous_priorities, which records every try). */
  #retry: RetryState | null = null;
  readonly #random: () => number;
  readonly #head: UpstreamHead;
  #body: ReplayableBody | null = null;
  #ctx: { hash: number | null; attempted?: Set<string>; maxSelectionAttempts?: number; excludedPriorities?: ReadonlySet<number> | undefined } = { hash: null };
  #setCookie: string | null = null;
  /** previous_hosts: the first attempt's host, until a retry makes the set of tried hosts. */
  #firstHost: string | undefined;
  #attempt: Attempt | null = null;
  #exchange: UpstreamExchange | null = null;
  #finished = false;
  #headSent = false;
  #attempts = 0;
  #retryHeld = false;
  #globalTimer: unknown;
  #perTryTimer: unknown;
  #backoffTimer: unknown;
  #wantsBody = false;
  /** The client's end of stream has arrived (Envoy's downstream_end_stream_): the route and per-try timers run. */
  #requestComplete = false;
  /** The current try has its connection (Envoy's onPoolReady): its per-try timer runs once the request is complete. */
  #poolReady = false;
  /** When the router took the request: `x-envoy-upstream-service-time` counts from here. */
  readonly #startedAt: number;
  /** A gRPC request (Envoy's grpc_request_): a grpc-status in a response head is what outlier detection sees. */
  readonly #grpc: boolean;

  constructor(cluster: Cluster, req: ForwardRequest, out: ResponseWriter, timers: Timers, rm: ResourceManager, policy: RetryPolicy | null, random: () => number) {
    this.#cluster = cluster;
    this.#req = req;
    this.#out = out;
    this.#timers = timers;
    this.#rm = rm;
    this.#policy = policy;
    if (policy !== null && policy.priorityUpdateFrequency > 0) this.#retry = new RetryState(policy, true);
    this.#random = random;
    this.#grpc = isGrpcRequest(req.head.headers['content-type']);
    this.#head = withGrpcTimeout(req, policy, this.#grpc);
    this.#startedAt = timers.now?.() ?? performance.now();
    const route = req.route;
    if (route?.hashPolicy && req.request) {
      const h = route.hashPolicy.compute(req.request);
      if (h) {
        this.#ctx.hash = h.hash;
        this.#setCookie = h.setCookie;
      }
    }
    if (policy?.rejectPreviousHosts) this.#ctx.maxSelectionAttempts = policy.hostSelectionMaxAttempts;
  }

  start(bufferLimit: number): void {
    const stats = this.#cluster.stats;
    stats.upstream_rq_total.inc();
    stats.upstream_rq_active.inc();
    // The body is kept for replay only when a retry or a mirror may need it. A policy that retries only
    // a try that sent nothing (reset-before-request, connect-failure) hands the unread body on instead.
    const body = this.#req.body;
    if (body && (this.#policy?.replaysBody || this.#wantsBody)) this.#body = new ReplayableBody(body, bufferLimit);
    // A request without a body (the common case) is complete now; one with a body when its end arrives.
    if (body === null || bodyArrived(body)) {
      this.#requestComplete = true;
      if (this.#req.timeoutMs > 0) this.#globalTimer = this.#timers.set(this.#onGlobalTimeout, this.#req.timeoutMs);
    } else watchEnd(body, this);
    this.#out.onDrain(this.#onDrain);
    this.#send();
  }

  /** Mirrors call this before start(): the body is then kept until it has fully arrived. */
  whenBodyComplete(fn: (chunks: readonly Uint8Array[] | null) => void): void {
    this.#wantsBody = true;
    queueMicrotask(() => (this.#body ? this.#body.whenComplete(fn) : fn(null)));
  }

  cancel(): void {
    // The body is cut: Node ends a reset HTTP/2 stream's body (any code, RST_STREAM NO_ERROR too) as if
    // whole just after, and a mirror waiting for it would send the cut body as a whole request. Envoy's
    // shadow gets nothing of a request that never completes.
    this.#body?.sourceFailed();
    if (this.#done()) this.#exchange?.abort('downstream reset');
  }

  /**
   * The client's end of stream has arrived (Envoy's Filter::onRequestComplete): the route timer starts,
   * and the per-try timer of a try that already has its connection (one still waiting for it starts its
   * timer when it gets one, as later tries do).
   */
  onRequestComplete(): void {
    if (this.#requestComplete) return;
    this.#requestComplete = true;
    if (this.#finished) return;
    if (this.#req.timeoutMs > 0) this.#globalTimer = this.#timers.set(this.#onGlobalTimeout, this.#req.timeoutMs);
    if (this.#poolReady && this.#attempt !== null && !this.#headSent) this.#startPerTry();
  }

  /**
   * The current try has its connection (Envoy's UpstreamRequest::onPoolReady): its per-try timer starts
   * now if the request is complete, else when it is (onRequestComplete).
   */
  onPoolReady(a: Attempt): void {
    if (a !== this.#attempt || this.#finished) return;
    this.#poolReady = true;
    // Envoy's onPoolReady records the try's upstream SSL connection: only now is one made.
    this.#req.info.upstreamTls = this.#cluster.meshTls(a.endpoint);
    // Envoy's LocalOriginConnectSuccess: with the local-origin split, a connection made ends the run of
    // local-origin failures (without it, it counts for nothing).
    this.#cluster.reportResult(a.endpoint.key, 'connect-success');
    if (this.#requestComplete && !this.#headSent) this.#startPerTry();
  }

  #startPerTry(): void {
    const perTry = this.#policy?.perTryTimeoutMs ?? 0;
    if (perTry > 0 && this.#perTryTimer === undefined) this.#perTryTimer = this.#timers.set(this.#onPerTryTimeout, perTry);
  }

  /** The pick context with the priorities a retry leaves out (previous_priorities), if any. */
  #withRetryPriority(): LbContext {
    const ctx = this.#ctx;
    if (this.#retry) ctx.excludedPriorities = this.#retry.excludedPriorities();
    // Most requests are never retried: the set of tried hosts is made at the first retry.
    if (this.#firstHost !== undefined && ctx.attempted === undefined) ctx.attempted = new Set([this.#firstHost]);
    return ctx;
  }

  #send(): void {
    const req = this.#req;
    const cluster = this.#cluster;
    const original = cluster.settings.type === 'ORIGINAL_DST';
    const e: Endpoint | undefined =
      original && req.originalDst
        ? { key: `${req.originalDst.address}:${req.originalDst.port}`, address: req.originalDst.address, port: req.originalDst.port, mesh: false, targetPort: req.originalDst.port, weight: 1, healthy: true, priority: 0, locality: '', active: 0 }
        : cluster.pick(this.#withRetryPriority());
    if (!e) {
      if (this.#done()) this.#out.reply(LocalReplies.noHealthyUpstream);
      return;
    }
    req.info.attemptCount = ++this.#attempts;
    // The head's headers are this request's own (built per request): each try overwrites the count.
    if (req.route?.includeAttemptCount) this.#head.headers['x-envoy-attempt-count'] = String(this.#attempts);
    this.#retry?.recordPriority(e.priority);
    if (this.#policy?.rejectPreviousHosts) {
      if (this.#ctx.attempted) this.#ctx.attempted.add(e.key);
      else this.#firstHost = e.key;
    }
    if (!original) cluster.requestStarted(e);
    req.info.upstreamHost = e.key;
    // Through the tunnel in the cluster's own TLS (SIMPLE, MUTUAL), the app answers, not its sidecar.
    req.info.upstreamMesh = e.mesh && cluster.settings.origination === undefined;
    // Each try has upstream info of its own (Envoy's UpstreamRequest): no connection yet.
    req.info.upstreamTls = false;
    req.info.upstreamWorkload = e.workload;
    const attempt = new Attempt(this, e);
    this.#attempt = attempt;
    const head: UpstreamHead = e.mesh ? { ...this.#head, targetPort: e.targetPort } : this.#head;
    const body = this.#body ? this.#body.stream() : req.body;
    // The per-try timer waits for the connection: the pool calls onPoolReady (at once when one is idle).
    this.#poolReady = false;
    const x = cluster.send(e, head, body, attempt);
    if (x === null) {
      // max_pending_requests overflowed: 503 UO, never retried. No host was reached (Envoy's pool
      // overflows before it picks one), so telemetry names no destination workload.
      req.info.upstreamWorkload = undefined;
      this.#endAttempt();
      if (this.#done()) this.#out.reply(LocalReplies.overflow);
      return;
    }
    if (this.#attempt === attempt) this.#exchange = x;
  }

  /** The current attempt is over (response passed on, retried or failed): end its accounting. */
  #endAttempt(): Endpoint | undefined {
    const a = this.#attempt;
    if (!a) return undefined;
    this.#attempt = null;
    this.#exchange = null;
    if (this.#perTryTimer !== undefined) {
      this.#timers.clear(this.#perTryTimer);
      this.#perTryTimer = undefined;
    }
    if (this.#cluster.settings.type !== 'ORIGINAL_DST') this.#cluster.requestEnded(a.endpoint);
    return a.endpoint;
  }

  onHead(a: Attempt, status: number, headers: OutgoingHeaders): void {
    if (a !== this.#attempt || this.#finished) return;
    this.#cluster.reportResult(a.endpoint.key, this.#grpc ? outlierStatus(status, headers['grpc-status']) : status);
    // One map of the head serves the retry decision and, passed on, the response filters.
    let map: HeaderMap | undefined;
    if (this.#policy?.retriesResponses && !this.#headSent) {
      map = headerMapOf(headers);
      const outcome: AttemptOutcome = { kind: 'response', status, headers: map };
      const decision = this.#decide(outcome);
      if (decision === 'retry') {
        const x = this.#exchange;
        this.#endAttempt();
        x?.abort('retry');
        return;
      }
      if (decision === 'exhausted') this.#req.info.responseFlags.add('URX');
    } else this.#releaseRetry();
    if (this.#perTryTimer !== undefined) {
      this.#timers.clear(this.#perTryTimer);
      this.#perTryTimer = undefined;
    }
    const stats = this.#cluster.stats;
    (status >= 500 ? stats.upstream_rq_5xx : status >= 400 ? stats.upstream_rq_4xx : status >= 300 ? stats.upstream_rq_3xx : stats.upstream_rq_2xx).inc();
    if (this.#attempts > 1 && status < 500) {
      this.#cluster.resilience.upstream_rq_retry_success++;
      stats.upstream_rq_retry_success.inc();
    }
    // Envoy's router tells the client how long the upstream took, retries and back-off included.
    if (!this.#req.suppressEnvoyHeaders) {
      const took = String(Math.floor((this.#timers.now?.() ?? performance.now()) - this.#startedAt));
      headers['x-envoy-upstream-service-time'] = took;
      map?.set('x-envoy-upstream-service-time', took);
    }
    if (this.#setCookie !== null) {
      headers['set-cookie'] = appendValue(headers['set-cookie'], this.#setCookie);
      map?.set('set-cookie', headers['set-cookie']);
    }
    this.#headSent = true;
    // Who answered, as its certificate proved it: the telemetry's destination principal.
    if (a.endpoint.mesh) {
      this.#req.info.upstreamPrincipal = this.#cluster.verifiedPeer(a.endpoint);
      this.#req.info.upstreamPeer = a.answeredPeer;
    }
    this.#out.head(status, headers, map);
  }

  onData(a: Attempt, chunk: Buffer): boolean {
    return a !== this.#attempt || this.#finished ? true : this.#out.data(chunk);
  }

  onEnd(a: Attempt, trailers: OutgoingHeaders): void {
    if (a !== this.#attempt || !this.#done()) return;
    this.#cluster.stats.upstream_rq_completed.inc();
    this.#out.end(trailers);
  }

  /**
   * `requestSent`: whether the try's request head had gone out (Envoy's upstream_request_started), as
   * the upstream reports it; a connect failure sent nothing.
   */
  onError(a: Attempt, err: UpstreamError, requestSent?: boolean): void {
    if (a !== this.#attempt || this.#finished) return;
    const cluster = this.#cluster;
    if (err.failure === 'connect') {
      cluster.stats.upstream_cx_connect_fail.inc();
      // Envoy counts a timed-out connect in both.
      if (isConnectTimeout(err)) cluster.stats.upstream_cx_connect_timeout.inc();
      this.#req.info.upstreamTransportFailureReason = transportFailureReason(err);
    }
    cluster.reportResult(a.endpoint.key, outlierOf[err.failure]);
    const peer = peerResetOf(err);
    // Envoy's pool counts a RemoteReset (not a refused stream nor a CONNECT error): onStreamReset.
    if (peer === 'remote') {
      cluster.resilience.upstream_rq_rx_reset++;
      cluster.stats.upstream_rq_rx_reset.inc();
    }
    if (this.#headSent) {
      // Envoy's onUpstreamReset once the response has started: the client's stream is reset (its head
      // and what of the body came are out), flagged as the reset before the head would have been.
      if (this.#done()) this.#out.reset(err.failure === 'protocol' ? LocalReplies.upstreamProtocolErrorAfterHead : peer === null ? LocalReplies.upstreamResetAfterHead : peerResetReplies[peer][1]);
      return;
    }
    const reason = resetReason(err);
    // What the upstream says, when it says it; else a connect failure sent nothing and anything else may have.
    let sent = requestSent ?? err.failure !== 'connect';
    // Without a replay copy the next try gets the body itself: only while none of it has been read.
    if (!sent && this.#body === null && this.#req.body !== null && !untouched(this.#req.body)) sent = true;
    const decision = this.#policy ? this.#decide({ kind: 'reset', reason, requestSent: sent }) : 'not-retriable';
    if (decision === 'retry') {
      this.#endAttempt();
      return;
    }
    if (!this.#done()) return;
    const reply = reason === 'connect-failure' ? LocalReplies.connectFailure : reason === 'protocol-error' ? LocalReplies.upstreamProtocolError : peer === null ? LocalReplies.upstreamReset : peerResetReplies[peer][0];
    if (decision !== 'exhausted') {
      this.#out.reply(reply);
      return;
    }
    // Envoy keeps the reset's own flag beside URX and says it retried; URX is set first, so the access
    // log and the metrics write `URX,UF`.
    this.#req.info.responseFlags.add('URX');
    this.#out.reply({ ...reply, body: reply.body.replace('reset reason:', 'retried and the latest reset reason:') });
  }

  /**
   * Asks the retry state; a granted retry also needs the max_retries breaker, then is scheduled. As
   * Envoy's RetryStateImpl, a granted retry holds its `retries` resource through the back-off and the
   * retried try, until the next decision on this request (resetRetry() at the top of shouldRetry) or
   * its end: max_retries bounds the retries in flight, not only those waiting out a back-off.
   */
  #decide(outcome: AttemptOutcome): ReturnType<RetryState['shouldRetry']> {
    this.#releaseRetry();
    this.#retry ??= new RetryState(this.#policy as RetryPolicy, true);
    const retry = this.#retry;
    if (this.#body?.lost) retry.markBodyLost();
    if (!retry.policy.isRetriable(outcome) || retry.retries >= retry.policy.numRetries) return retry.shouldRetry(outcome);
    if (this.#body?.lost) return retry.shouldRetry(outcome);
    if (!this.#rm.tryAcquireRetry()) {
      this.#cluster.resilience.upstream_rq_retry_overflow++;
      this.#cluster.stats.upstream_rq_retry_overflow.inc();
      // Envoy's RetryStatus::NoOverflow: the answer that stands carries UO.
      this.#req.info.responseFlags.add('UO');
      return 'not-retriable';
    }
    const d = retry.shouldRetry(outcome);
    if (d !== 'retry') {
      this.#rm.releaseRetry();
      return d;
    }
    this.#retryHeld = true;
    this.#cluster.stats.upstream_rq_retry.inc();
    const delay = retry.backoffMs(this.#random());
    this.#backoffTimer = this.#timers.set(this.#onBackoff, delay);
    return d;
  }

  #onBackoff = (): void => {
    this.#backoffTimer = undefined;
    // The retry's resource stays held while the retried try runs (#decide or #done gives it back).
    if (!this.#finished) this.#send();
  };

  #onPerTryTimeout = (): void => {
    this.#perTryTimer = undefined;
    const a = this.#attempt;
    if (!a || this.#finished || this.#headSent) return;
    this.#cluster.resilience.upstream_rq_per_try_timeout++;
    this.#cluster.stats.upstream_rq_per_try_timeout.inc();
    this.#cluster.reportResult(a.endpoint.key, 'timeout');
    const x = this.#exchange;
    const decision = this.#policy ? this.#decide({ kind: 'reset', reason: 'per-try-timeout' }) : 'not-retriable';
    this.#endAttempt();
    x?.abort('per-try timeout');
    if (decision === 'retry' || !this.#done()) return;
    if (decision === 'exhausted') this.#req.info.responseFlags.add('URX');
    // 504 UT, but counted and told as the per-try timeout it was (`upstream_per_try_timeout`): Envoy's
    // upstream_rq_timeout and `response_timeout` are the route's.
    this.#out.reply(LocalReplies.upstreamPerTryTimeout);
  };

  #onGlobalTimeout = (): void => {
    this.#globalTimer = undefined;
    if (this.#finished) return;
    const x = this.#exchange;
    const a = this.#attempt;
    if (!this.#done()) return;
    this.#cluster.stats.upstream_rq_timeout.inc();
    if (a) this.#cluster.reportResult(a.endpoint.key, 'timeout');
    x?.abort('timeout');
    if (this.#headSent) this.#out.reset(LocalReplies.upstreamTimeout);
    else this.#out.reply(LocalReplies.upstreamTimeout);
  };

  #onDrain = (): void => {
    this.#exchange?.resume();
  };

  #releaseRetry(): void {
    if (!this.#retryHeld) return;
    this.#retryHeld = false;
    this.#rm.releaseRetry();
  }

  /** Ends the request once: releases the breakers, timers, the current attempt and the body. */
  #done(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    const t = this.#timers;
    if (this.#globalTimer !== undefined) t.clear(this.#globalTimer);
    if (this.#backoffTimer !== undefined) t.clear(this.#backoffTimer);
    this.#releaseRetry();
    const x = this.#exchange;
    this.#endAttempt();
    this.#exchange = x;
    this.#cluster.stats.upstream_rq_active.dec();
    this.#rm.releaseRequest();
    const body = this.#body;
    if (body !== null) {
      // The response is over before the client's end of stream (answered early, or failed): the request
      // never completes, and Envoy's Router::Filter::onDestroy cancels its shadows. Failed here, or the
      // end Node gives an HTTP/2 body as its stream is reset (resetUnfinished) would reach a mirror as whole.
      if (!this.#requestComplete) body.sourceFailed();
      body.detach();
    }
    return true;
  }
}

/**
 * The downstream's END_STREAM has arrived (Envoy's remote decode complete), whether or not an upstream
 * has read the body yet: its codec has ended it (push(null): an HTTP/1.1 body's last bytes parsed, an
 * HTTP/2 stream's remote side closed). A body gone with its stream counts too: the reset ends the request.
 */
function bodyArrived(body: Readable): boolean {
  return body.readableEnded || body.destroyed || (body as Readable & { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

const kWaiting = Symbol('outrigger.upstreamRequest');
type Watched = Readable & { [kWaiting]?: UpstreamRequest | undefined };

/**
 * Tells `owner` when the body's end arrives. Every downstream codec ends a request body with push(null)
 * as the client's end of stream arrives (Node's HTTP/2 stream, the HTTP/1.1 codec, Node's
 * IncomingMessage), read or not; 'end' waits for a reader, and a body queued behind max_connections
 * has none. Requests with a body only: one shared function, no closure.
 */
function watchEnd(body: Readable, owner: UpstreamRequest): void {
  const w = body as Watched;
  w[kWaiting] = owner;
  w.push = pushWatched;
}

function pushWatched(this: Watched, chunk: unknown, encoding?: BufferEncoding): boolean {
  const more = Readable.prototype.push.call(this, chunk, encoding);
  if (chunk === null) {
    const owner = this[kWaiting];
    this[kWaiting] = undefined;
    owner?.onRequestComplete();
  }
  return more;
}

/** A request body no reader has taken anything from yet (it can go to another try as it is). */
function untouched(body: Readable): boolean {
  return !body.readableDidRead && !body.destroyed;
}

function appendValue(prev: string | string[] | undefined, v: string): string | string[] {
  if (prev === undefined) return v;
  return Array.isArray(prev) ? [...prev, v] : [prev, v];
}

/**
 * Envoy rewrites `grpc-timeout` to the timeout it applies when the route caps the header; not on a
 * route with max_stream_duration (usingNewTimeouts: the connection manager wrote it, setTimeoutHeaders skips it).
 * A gRPC request's only (FilterUtility::finalTimeout's grpc_request): a grpc-web or plain request's
 * grpc-timeout, if it has one, passes as sent.
 */
function withGrpcTimeout(req: ForwardRequest, policy: RetryPolicy | null, grpc: boolean): UpstreamHead {
  if (!grpc || req.route?.maxGrpcTimeoutMs === undefined || req.route.usingNewTimeouts === true) return req.head;
  const perTry = policy?.perTryTimeoutMs ?? 0;
  const expected = perTry > 0 && (req.timeoutMs === 0 || perTry < req.timeoutMs) ? perTry : req.timeoutMs;
  if (expected <= 0) return req.head;
  return { ...req.head, headers: { ...req.head.headers, 'grpc-timeout': `${Math.ceil(expected)}m` } };
}

