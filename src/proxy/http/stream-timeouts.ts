// The connection manager's per-stream timers, as Envoy's: `stream_idle_timeout` (5 min by default; Istio
// leaves Envoy's default on sidecars and gateways) and `max_stream_duration` (HCM
// common_http_protocol_options, overridden by the route's max_stream_duration). On the injected clock.
import type { LocalReply } from './filter.ts';
import { type GrpcTimeoutRoute, grpcTimeoutMs, type Timers } from './router.ts';
import { durationMs, type XdsDuration } from '../../xds/duration.ts';

/** Envoy's default stream_idle_timeout. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

export interface StreamTimeoutConfig {
  /** 0 disables. */
  readonly idleMs: number;
  /** 0 means no limit. */
  readonly maxDurationMs: number;
}

/** The two HCM fields; an absent stream_idle_timeout is Envoy's 5 min, an explicit 0 disables it. */
export function compileStreamTimeouts(hcm: { stream_idle_timeout?: XdsDuration; common_http_protocol_options?: { max_stream_duration?: XdsDuration } }): StreamTimeoutConfig {
  return {
    idleMs: hcm.stream_idle_timeout === undefined ? DEFAULT_STREAM_IDLE_TIMEOUT_MS : durationMs(hcm.stream_idle_timeout),
    maxDurationMs: durationMs(hcm.common_http_protocol_options?.max_stream_duration),
  };
}

/**
 * Envoy's maybeRequestTimeoutCode: 504 once the whole request has arrived (the wait is the upstream's),
 * 408 while the client is still sending.
 */
export function timeoutReply(kind: 'idle' | 'duration', requestComplete: boolean): LocalReply {
  const status = requestComplete ? 504 : 408;
  return kind === 'idle'
    ? { status, flag: 'SI', details: 'stream_idle_timeout', body: 'stream timeout' }
    : { status, flag: 'UMSDR', details: 'max_duration_timeout', body: 'downstream duration timeout' };
}

/**
 * Envoy's refreshDurationTimeout on a route with a max_stream_duration message (usingNewTimeouts,
 * whatever fields it holds): a request's `grpc-timeout` (with grpc_timeout_header_max set; capped by it
 * unless 0, less grpc_timeout_header_offset, 0 when the offset is not smaller) sets the stream's max
 * duration, counted from the stream's start; without one the route's max_stream_duration (0: none)
 * stands. Undefined: no timer of the route's (the HCM's max_stream_duration then applies), or a route
 * of old timeouts (max_grpc_timeout is the router's, grpcRouteTimeoutMs).
 */
export function streamDeadline(route: GrpcTimeoutRoute, header: string | string[] | undefined | null): number | undefined {
  if (!route.usingNewTimeouts) return undefined;
  return grpcDeadline(route, header) ?? (route.maxStreamDurationMs === 0 ? undefined : route.maxStreamDurationMs);
}

/** streamDeadline's value when a `grpc-timeout` header sets it; undefined when the header does not apply. */
export function grpcDeadline(route: GrpcTimeoutRoute, header: string | string[] | undefined | null): number | undefined {
  const max = route.grpcTimeoutHeaderMaxMs;
  if (!route.usingNewTimeouts || max === undefined) return undefined;
  const asked = grpcTimeoutMs(header);
  if (asked === undefined) return undefined;
  let ms = max !== 0 && asked > max ? max : asked;
  const offset = route.grpcTimeoutHeaderOffsetMs;
  if (ms !== 0 && offset > 0) ms = offset < ms ? ms - offset : 0;
  return ms;
}

/** Envoy's Grpc::Common::toGrpcTimeout: milliseconds, or a larger unit past 8 digits. */
export function toGrpcTimeout(ms: number): string {
  let time = ms;
  const units = 'mSMH';
  let unit = 0;
  if (time > 99_999_999) {
    time = Math.floor(time / 1000);
    unit++;
  }
  while (time > 99_999_999) {
    if (unit === 3) {
      time = 99_999_999;
      break;
    }
    time = Math.floor(time / 60);
    unit++;
  }
  return `${time}${units[unit]}`;
}

/** What the timers need of a stream: its progress (its own byte counts), whether its request is in, how to end it. */
export interface TimedStream {
  /** The stream's own progress so far: its body bytes each way and its response head (any change is activity). */
  progress(): number;
  requestComplete(): boolean;
  /** A local reply when no head has left yet, else a reset; either way the upstream is cancelled. */
  expire(reply: LocalReply): void;
  /** A gRPC request: its max duration ends with DEADLINE_EXCEEDED (Envoy's onStreamMaxDurationReached). */
  readonly grpc?: boolean;
}

/** A stream's timer never keeps the process alive on its own (a drained proxy exits; a test ends). */
function unref(handle: unknown): unknown {
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return handle;
}

export class StreamTimeouts {
  readonly #stream: TimedStream;
  readonly #timers: Timers;
  readonly #idleMs: number;
  #idle: unknown;
  #duration: unknown;
  #seen = -1;
  #done = false;

  /**
   * `routeMaxDurationMs`: the route's max_stream_duration, which replaces the HCM's when set.
   * `deadlineMs`, when given, replaces both: the time left of streamDeadline's, armed even at 0 (it
   * expires at once, as Envoy's enableTimer(0)).
   */
  constructor(stream: TimedStream, config: StreamTimeoutConfig, timers: Timers, routeMaxDurationMs?: number, deadlineMs?: number) {
    this.#stream = stream;
    this.#timers = timers;
    this.#idleMs = config.idleMs;
    if (deadlineMs !== undefined) this.#duration = unref(timers.set(this.#onDuration, Math.max(0, deadlineMs)));
    else {
      const max = routeMaxDurationMs ?? config.maxDurationMs;
      if (max > 0) this.#duration = unref(timers.set(this.#onDuration, max));
    }
    if (this.#idleMs > 0) {
      this.#seen = stream.progress();
      this.#idle = unref(timers.set(this.#onIdle, this.#idleMs));
    }
  }

  /** The stream ended (finished or reset): no timer may fire on it any more. */
  clear(): void {
    this.#done = true;
    if (this.#idle !== undefined) this.#timers.clear(this.#idle);
    if (this.#duration !== undefined) this.#timers.clear(this.#duration);
    this.#idle = this.#duration = undefined;
  }

  // Activity is read from the stream's counters when the timer fires, so the hot path pays nothing
  // per chunk beyond the count: a stream that moved re-arms for another full period (an idle stream is caught
  // between one and two periods after its last byte, where Envoy takes exactly one).
  #onIdle = (): void => {
    this.#idle = undefined;
    if (this.#done) return;
    const now = this.#stream.progress();
    if (now !== this.#seen) {
      this.#seen = now;
      this.#idle = unref(this.#timers.set(this.#onIdle, this.#idleMs));
      return;
    }
    this.#expire('idle');
  };

  #onDuration = (): void => {
    this.#duration = undefined;
    if (!this.#done) this.#expire('duration');
  };

  #expire(kind: 'idle' | 'duration'): void {
    let reply = timeoutReply(kind, this.#stream.requestComplete());
    // onStreamMaxDurationReached names its gRPC status: DEADLINE_EXCEEDED, not the 504's UNAVAILABLE.
    if (kind === 'duration' && this.#stream.grpc === true) reply = { ...reply, headers: { 'grpc-status': '4' } };
    this.clear();
    this.#stream.expire(reply);
  }
}
