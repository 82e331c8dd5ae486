// Envoy's HTTP/1.1 connection pool limits for one cluster: a request needs a connection of its own;
// past max_connections it waits in the pending queue, and past max_pending_requests it is refused
// (503 UO). As Envoy's ConnPoolImplBase::tryCreateNewConnection, a host with no connection at all
// (none busy, none waited for here) still gets one past the limit, counted in upstream_cx_overflow,
// once the pending bound has admitted the request (newStreamImpl checks pendingRequests() first). A
// request queued for a host that has connections still waits for a slot freed anywhere in the cluster:
// the queue is FIFO across hosts, so a waiter may be served only when another host's request ends
// (as Envoy's per-host pools, which share the cluster's limit). HTTP/1.1 to an app and through
// the mesh tunnel comes here; multiplexed upstreams (h2c, the tunnel's HTTP/2 session) never queue
// here. tcp_proxy takes its connections from the same limit (handOff gives them back).
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
  /** 'handed': given a freed slot, dispatched in a microtask; counted as running already. */
  #state: 'queued' | 'handed' | 'running' | 'done' = 'queued';

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

  get handed(): boolean {
    return this.#state === 'handed';
  }

  run(): void {
    this.#upstream.gated = (this.#upstream.gated ?? 0) + 1;
    this.dispatch();
  }

  /** Out of the queue with a slot: counted as running on its host now, dispatched in a microtask. */
  hand(): void {
    this.#upstream.gated = (this.#upstream.gated ?? 0) + 1;
    this.#state = 'handed';
  }

  dispatch(): void {
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

  onError(err: UpstreamError, requestSent?: boolean): void {
    this.#finish();
    this.#sink.onError(err, requestSent);
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
    if (this.#state !== 'running' && this.#state !== 'handed') return;
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

  /**
   * Sends now if a connection is free (or the host has none: Envoy's exemption past the limit), queues
   * if the pending bound allows, else null (overflow: 503 UO).
   */
  send(rm: ResourceManager, upstream: Upstream, head: UpstreamHead, body: Readable | null, sink: UpstreamSink): UpstreamExchange | null {
    const x = new GatedExchange(this, upstream, head, body, sink, rm);
    if (rm.tryAcquireConnection()) {
      x.run();
      return x;
    }
    // As ConnPoolImplBase::newStreamImpl: the pending bound first (503 UO, counted as a pending
    // overflow only), then the connection it cannot create (a connection overflow, counted by
    // tryCreateNewConnection whether or not the exemption below creates it anyway).
    if (!rm.tryAcquirePending()) {
      this.#stats.upstream_rq_pending_overflow.inc();
      return null;
    }
    this.#stats.upstream_cx_overflow.inc();
    if (!upstream.gated && !this.waitsFor(upstream)) {
      // Envoy creates the connection anyway ("to prevent pending streams being queued to this upstream
      // with no way to be processed") and counts it: the cluster holds more than max_connections. The
      // stream was pending only until that connection was up; here it is sent at once.
      rm.releasePending();
      rm.connections.acquirePastLimit();
      x.run();
      return x;
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

  /** A running request finished: its connection goes to a waiter, or back to the pool. */
  released(x: GatedExchange): void {
    (x.upstream.gated as number)--;
    this.handOff(x.rm, x.upstream);
  }

  /**
   * A connection slot of `rm` is free (a request finished on `from`, or a tcp_proxy connection closed):
   * it goes to the oldest waiter, or back to the limit. Past the limit (slots taken by the per-host
   * exemption) it is given back, unless a request waits for the same host: as Envoy's pool, whose
   * connection then serves its own host's pending requests. A slot goes only to a waiter that queued on
   * the same resource manager (a CDS update that changed the cluster leaves older slots on the old one).
   */
  handOff(rm: ResourceManager, from?: Upstream): void {
    if (this.#queue.length === 0) return void rm.releaseConnection();
    let i: number;
    if (rm.connections.current > rm.connections.max) i = from === undefined ? -1 : this.#queue.findIndex((q) => q.upstream === from && q.rm === rm);
    else i = this.#queue[0]!.rm === rm ? 0 : this.#queue.findIndex((q) => q.rm === rm);
    if (i === -1) return void rm.releaseConnection();
    const next = this.#queue.splice(i, 1)[0] as GatedExchange;
    rm.releasePending();
    this.#stats.upstream_rq_pending_active.dec();
    // The connection slot passes on: acquired by the finished one, now held by next, which counts as
    // running on its host from now on (a request sent before the microtask sees that host busy).
    next.hand();
    queueMicrotask(() => {
      if (next.handed) next.dispatch();
    });
  }
}
