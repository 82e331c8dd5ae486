// A small HTTP/1.1 load generator, run in its own process pinned to the load core. Open loop: requests
// are scheduled at a constant rate and latency is measured from the intended send time, so a stall is
// not hidden by waiting (no coordinated omission). Closed loop: N connections back to back, for
// capacity where wrk cannot go (through an HTTP CONNECT tunnel). Prints one JSON result line.
import net from 'node:net';
import { quantile } from './stats.ts';

export interface LoadSpec {
  port: number;
  /** Host header of each request. */
  host: string;
  path: string;
  /** Authority to CONNECT to first on every connection (a forward proxy's L4 tunnel). */
  connect?: string;
  mode: 'open' | 'closed';
  /** Requests per second (open loop). */
  rate: number;
  durationMs: number;
  /** Connections opened up front; open loop adds more (up to maxConnections) when all are busy. */
  connections: number;
  maxConnections: number;
}

export interface LoadResult {
  completed: number;
  errors: number;
  /** Requests the open loop could not send in time because every connection was busy. */
  queuedMax: number;
  elapsedMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /**
   * p50 and p99 of the requests sent after the first LEAD_IN_MS of the run (NaN for a shorter run): the
   * steady state, without the run's start (new connections, the load generator's own first stalls).
   */
  steadyP50Ms: number;
  steadyP99Ms: number;
}

/** What the steady-state percentiles leave out of each open-loop run: its first second. */
export const LEAD_IN_MS = 1000;

const headerEnd = Buffer.from('\r\n\r\n');
const chunkedEnd = Buffer.from('0\r\n\r\n');

/** One keep-alive connection with at most one request in flight. */
class Conn {
  #socket: net.Socket;
  #request: Buffer;
  #buf: Buffer = Buffer.alloc(0);
  #need = -1;
  #chunked = false;
  #tunnelled: boolean;
  #startedAt = 0;
  busy = true;
  onDone: (startedAt: number) => void = () => {};
  onFail: () => void = () => {};
  ready: Promise<void>;

  constructor(spec: LoadSpec, request: Buffer) {
    this.#request = request;
    this.#tunnelled = spec.connect === undefined;
    this.#socket = net.connect(spec.port, '127.0.0.1');
    this.#socket.setNoDelay(true);
    const ready = Promise.withResolvers<void>();
    this.ready = ready.promise;
    this.#socket.once('connect', () => {
      if (spec.connect) this.#socket.write(`CONNECT ${spec.connect} HTTP/1.1\r\nHost: ${spec.connect}\r\n\r\n`);
      else {
        this.busy = false;
        ready.resolve();
      }
    });
    this.#socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      if (!this.#tunnelled) {
        const end = this.#buf.indexOf(headerEnd);
        if (end < 0) return;
        if (!this.#buf.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) {
          ready.reject(new Error(`CONNECT refused: ${this.#buf.subarray(0, end).toString('latin1')}`));
          this.#socket.destroy();
          return;
        }
        this.#buf = this.#buf.subarray(end + 4);
        this.#tunnelled = true;
        this.busy = false;
        ready.resolve();
        return;
      }
      this.#parse();
    });
    this.#socket.on('error', (err) => {
      ready.reject(err);
      if (this.busy) this.onFail();
    });
  }

  send(startedAt: number): void {
    this.busy = true;
    this.#startedAt = startedAt;
    this.#socket.write(this.#request);
  }

  #parse(): void {
    if (this.#need < 0) {
      const end = this.#buf.indexOf(headerEnd);
      if (end < 0) return;
      const head = this.#buf.subarray(0, end).toString('latin1');
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      this.#chunked = !len && /\r\ntransfer-encoding:\s*chunked/i.test(head);
      this.#need = end + 4 + (len ? Number(len[1]) : 0);
    }
    if (this.#chunked ? !this.#buf.subarray(this.#buf.length - 5).equals(chunkedEnd) : this.#buf.length < this.#need) return;
    this.#buf = Buffer.alloc(0);
    this.#need = -1;
    this.busy = false;
    this.onDone(this.#startedAt);
  }

  close(): void {
    this.#socket.destroy();
  }
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const request = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${spec.host}\r\nUser-Agent: outrigger-bench\r\n\r\n`);
  const conns: Conn[] = [];
  const free: Conn[] = [];
  const queue: number[] = [];
  const samples = new Float64Array(Math.ceil((spec.rate * spec.durationMs) / 1000) + 1_000_000 * (spec.mode === 'closed' ? 1 : 0));
  /** Each sample's send time (intended, for the open loop), from the run's start. */
  const sentAt = new Float64Array(samples.length);
  let start = Number.NaN;
  let completed = 0;
  let errors = 0;
  let queuedMax = 0;
  let stopAt = Number.POSITIVE_INFINITY;
  const done = Promise.withResolvers<void>();

  const dispatch = (c: Conn) => {
    if (spec.mode === 'closed') {
      if (stopAt === Number.POSITIVE_INFINITY) free.push(c);
      else if (performance.now() < stopAt) c.send(performance.now());
      return;
    }
    const intended = queue.shift();
    if (intended === undefined) free.push(c);
    else c.send(intended);
  };
  const open = async () => {
    const c = new Conn(spec, request);
    conns.push(c);
    c.onDone = (startedAt) => {
      if (completed < samples.length) {
        samples[completed] = performance.now() - startedAt;
        sentAt[completed] = startedAt - start;
      }
      completed++;
      dispatch(c);
    };
    c.onFail = () => {
      errors++;
    };
    await c.ready;
    dispatch(c);
  };
  await Promise.all(Array.from({ length: spec.connections }, open));

  start = performance.now();
  stopAt = start + spec.durationMs;
  if (spec.mode === 'closed') {
    for (const c of free.splice(0)) c.send(performance.now());
  } else {
    const interval = 1000 / spec.rate;
    let next = 0;
    // Spinning on setImmediate keeps send times within a few µs of schedule and lets I/O run between.
    const tick = () => {
      const now = performance.now();
      while (start + next * interval <= now && start + next * interval < stopAt) {
        const intended = start + next * interval;
        next++;
        const c = free.pop();
        if (c) c.send(intended);
        else {
          queue.push(intended);
          queuedMax = Math.max(queuedMax, queue.length);
          if (conns.length < spec.maxConnections) open().catch(() => errors++);
        }
      }
      if (now < stopAt) setImmediate(tick);
    };
    setImmediate(tick);
  }
  // Let the last requests finish (bounded), then stop.
  setTimeout(
    () => {
      const waitUntil = performance.now() + 2000;
      const poll = () => {
        if (conns.every((c) => !c.busy) || performance.now() > waitUntil) done.resolve();
        else setTimeout(poll, 5);
      };
      poll();
    },
    spec.durationMs + 1,
  );
  await done.promise;
  const elapsedMs = performance.now() - start;
  for (const c of conns) c.close();
  const n = Math.min(completed, samples.length);
  const steady = samples.subarray(0, n).filter((_, i) => (sentAt[i] as number) >= LEAD_IN_MS).sort();
  const measured = samples.subarray(0, n).sort();
  const enough = spec.durationMs >= 2 * LEAD_IN_MS && steady.length > 0;
  return {
    completed,
    errors: errors + queue.length,
    queuedMax,
    elapsedMs,
    p50Ms: quantile(measured, 0.5),
    p90Ms: quantile(measured, 0.9),
    p99Ms: quantile(measured, 0.99),
    p999Ms: quantile(measured, 0.999),
    maxMs: quantile(measured, 1),
    steadyP50Ms: enough ? quantile(steady, 0.5) : Number.NaN,
    steadyP99Ms: enough ? quantile(steady, 0.99) : Number.NaN,
  };
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`load-gen: ${err.message}\n`);
      process.exit(1);
    },
  );
}
