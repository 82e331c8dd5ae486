// The router stage: cluster → load balancer → endpoint → upstream, with circuit-breaker overflow,
// connect-failure retries, the route timeout (or gRPC's grpc-timeout) and streaming both ways.
import type { Readable } from 'node:stream';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { Endpoint } from '../cluster/endpoint.ts';
import type { LocalReply } from './filter.ts';
import { LocalReplies } from '../local-reply.ts';
import type { OutgoingHeaders, UpstreamError, UpstreamExchange, UpstreamHead } from '../upstream/upstream.ts';
import type { StreamInfo } from './stream.ts';

export interface ResponseWriter {
  /** The response head, after the onResponse filters; returns false if the downstream is gone. */
  head(status: number, headers: OutgoingHeaders): void;
  data(chunk: Buffer): boolean;
  /** Called once writes may continue after `data` returned false. */
  onDrain(fn: () => void): void;
  end(trailers: OutgoingHeaders): void;
  reply(reply: LocalReply): void;
  /** Reset the downstream stream (the upstream failed after the head was sent). */
  reset(): void;
}

export interface ForwardRequest {
  clusterName: string;
  head: UpstreamHead;
  body: Readable | null;
  timeoutMs: number;
  retries: number;
  info: StreamInfo;
  /** The original destination, used by ORIGINAL_DST clusters (PassthroughCluster). */
  originalDst?: { address: string; port: number };
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

const grpcUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 1e-6 };

/** `grpc-timeout` (`100m`, `5S`) in ms, clamped to a day; undefined when absent or invalid. */
export function grpcTimeoutMs(value: string | string[] | undefined | null): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,8}[HMSmun]$/.test(value)) return undefined;
  const ms = Number(value.slice(0, -1)) * (grpcUnits[value.slice(-1)] as number);
  return Math.min(Math.max(ms, 1), 86_400_000);
}

export function forward(clusters: ClusterManager, req: ForwardRequest, out: ResponseWriter, timers: Timers = realTimers): { cancel(): void } {
  const cluster = clusters.get(req.clusterName);
  req.info.clusterName = req.clusterName;
  if (!cluster) {
    out.reply(LocalReplies.clusterNotFound);
    return { cancel() {} };
  }
  const stats = cluster.stats;
  const isOriginal = cluster.settings.type === 'ORIGINAL_DST';
  if (stats.upstream_rq_active.value >= cluster.settings.maxRequests) {
    stats.upstream_rq_pending_overflow.inc();
    out.reply(LocalReplies.overflow);
    return { cancel() {} };
  }
  let attemptsLeft = req.body === null ? req.retries : 0;
  let exchange: UpstreamExchange | undefined;
  let finished = false;
  let timer: unknown;
  let endpoint: Endpoint | undefined;
  stats.upstream_rq_total.inc();
  stats.upstream_rq_active.inc();
  const done = () => {
    if (finished) return false;
    finished = true;
    stats.upstream_rq_active.dec();
    if (endpoint && !isOriginal) cluster.requestEnded(endpoint);
    if (timer !== undefined) timers.clear(timer);
    return true;
  };
  const timeoutMs = req.timeoutMs;
  if (timeoutMs > 0) {
    timer = timers.set(() => {
      if (!done()) return;
      stats.upstream_rq_timeout.inc();
      exchange?.abort('timeout');
      if (headSent) out.reset();
      else out.reply(LocalReplies.upstreamTimeout);
    }, timeoutMs);
  }
  let headSent = false;
  const attempt = (retried: boolean) => {
    const e: Endpoint | undefined = isOriginal && req.originalDst
      ? { key: `${req.originalDst.address}:${req.originalDst.port}`, address: req.originalDst.address, port: req.originalDst.port, mesh: false, targetPort: req.originalDst.port, weight: 1, healthy: true, priority: 0, locality: '', active: 0 }
      : cluster.pick();
    if (!e) {
      if (done()) out.reply(LocalReplies.noHealthyUpstream);
      return;
    }
    if (endpoint && e !== endpoint && !isOriginal) cluster.requestEnded(endpoint);
    endpoint = e;
    if (!isOriginal) cluster.requestStarted(e);
    req.info.upstreamHost = e.key;
    const head: UpstreamHead = e.mesh ? { ...req.head, targetPort: e.targetPort } : req.head;
    exchange = cluster.upstream(e).request(head, req.body, {
      onHead(status, headers) {
        if (finished) return;
        headSent = true;
        const cls = status >= 500 ? stats.upstream_rq_5xx : status >= 400 ? stats.upstream_rq_4xx : status >= 300 ? stats.upstream_rq_3xx : stats.upstream_rq_2xx;
        cls.inc();
        out.head(status, headers);
      },
      onData(chunk) {
        return finished ? true : out.data(chunk);
      },
      onEnd(trailers) {
        if (!done()) return;
        stats.upstream_rq_completed.inc();
        out.end(trailers);
      },
      onError(err: UpstreamError) {
        if (finished) return;
        if (err.failure === 'connect') stats.upstream_cx_connect_fail.inc();
        if (!headSent && err.failure === 'connect' && attemptsLeft > 0) {
          attemptsLeft--;
          stats.upstream_rq_retry.inc();
          attempt(true);
          return;
        }
        if (!done()) return;
        if (headSent) {
          out.reset();
          return;
        }
        if (retried) out.reply(LocalReplies.retriesExhausted);
        else if (err.failure === 'connect') out.reply(LocalReplies.connectFailure);
        else if (err.failure === 'protocol') out.reply(LocalReplies.upstreamProtocolError);
        else out.reply(LocalReplies.upstreamReset);
      },
    });
  };
  out.onDrain(() => exchange?.resume());
  attempt(false);
  return {
    cancel() {
      if (done()) exchange?.abort('downstream reset');
    },
  };
}
