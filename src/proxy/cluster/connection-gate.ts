// Envoy's HTTP/1.1 connection pool limits for one cluster: a request needs a connection of its own;
// past max_connections it waits in the pending queue, and past max_pending_requests it is refused
// (503 UO). HTTP/1.1 to an app and through the mesh tunnel comes here; multiplexed upstreams (h2c, the
// tunnel's HTTP/2 session) never queue here.
import type { Readable } from 'node:stream';
import type { ClusterStats } from '../../telemetry/metrics/cluster-stats.ts';
import type { OutgoingHeaders, Upstream, UpstreamError, UpstreamExchange, UpstreamHead, UpstreamSink } from '../upstream/upstream.ts';
import type { ResourceManager } from './circuit-breaker.ts';

/** One request through the gate: queued, then dispatched, then finished; forwards the sink. */
class GatedExchange implements UpstreamExchange, UpstreamSink {
  readonly #gate: ConnectionGate;
  readonly #upstream: Upstream;
  readonly #head: UpstreamHead;
  readonly #body: Readable | null;
  readonly #sink: UpstreamSink;
  readonly rm: ResourceManager;
  #inner: UpstreamExchange | null = null;
  #state: 'queued' | 'running' | 'done' = 'queued';

  constructor(gate: ConnectionGate, upstream: Upstream, head: UpstreamHead, body: Readable | null, sink: UpstreamSink, rm: ResourceManager) {
    this.#gate = gate;
    this.#upstream = upstream;
    this.#head = head;
    this.#body = body;
    this.#sink = sink;
    this.rm = rm;
  }

  get upstream(): Upstream {
    return this.#upstream;
  }

  get queued(): boolean {
    return this.#state === 'queued';
  }

  run(): void {
    this.#state = 'running';
    this.#inner = this.#upstream.request(this.#head, this.#body, this);
  }

  onPoolReady(answeredPeer?: string): void {
    this.#sink.onPoolReady?.(answeredPeer);
  }

  onHead(status: number, headers: OutgoingHeaders): void {
    this.#sink.onHead(status, headers);
  }

  onData(chunk: Buffer): boolean {
    return this.#sink.onData(chunk);
  }

  onEnd(trailers: OutgoingHeaders): void {
    this.#finish();
    this.#sink.onEnd(trailers);
  }

  onError(err: UpstreamError): void {
    this.#finish();
    this.#sink.onError(err);
  }

  resume(): void {
    this.#inner?.resume();
  }

  abort(reason: string): void {
    if (this.#state === 'queued') {
      this.#state = 'done';
      this.#gate.dequeued(this);
      return;
    }
    this.#inner?.abort(reason);
    this.#finish();
  }

  #finish(): void {
    if (this.#state !== 'running') return;
    this.#state = 'done';
    this.#gate.released(this);
  }
}

export class ConnectionGate {
  readonly #stats: ClusterStats;
  #queue: GatedExchange[] = [];

  constructor(stats: ClusterStats) {
    this.#stats = stats;
  }

  /** Whether a queued request waits for `upstream`. */
  waitsFor(upstream: Upstream): boolean {
    return this.#queue.some((x) => x.upstream === upstream);
  }

  /** Requests waiting for a connection. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Sends now if a connection is free, queues if the pending bound allows, else null (overflow: 503 UO). */
  send(rm: ResourceManager, upstream: Upstream, head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange | null {
    const x = new GatedExchange(this, upstream, head, body, sink, rm);
    if (rm.tryAcquireConnection()) {
      x.run();
      return x;
    }
    this.#stats.upstream_cx_overflow.inc();
    if (!rm.tryAcquirePending()) {
      this.#stats.upstream_rq_pending_overflow.inc();
      return null;
    }
    this.#stats.upstream_rq_pending_total.inc();
    this.#stats.upstream_rq_pending_active.inc();
    this.#queue.push(x);
    return x;
  }

  /** A queued request gave up (timeout, downstream reset). */
  dequeued(x: GatedExchange): void {
    const i = this.#queue.indexOf(x);
    if (i === -1) return;
    this.#queue.splice(i, 1);
    x.rm.releasePending();
    this.#stats.upstream_rq_pending_active.dec();
  }

  /** A running request finished: its connection goes to the oldest waiter, or back to the pool. */
  released(x: GatedExchange): void {
    const next = this.#queue.shift();
    if (!next) {
      x.rm.releaseConnection();
      return;
    }
    next.rm.releasePending();
    this.#stats.upstream_rq_pending_active.dec();
    // The connection slot passes on: acquired by x, now held by next.
    queueMicrotask(() => (next.queued ? next.run() : x.rm.releaseConnection()));
  }
}
