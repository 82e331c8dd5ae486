// Exports spans in batches through a SpanSender (OTLP/gRPC, OTLP/HTTP protobuf or Zipkin for a provider;
// OTLP/HTTP JSON to a URL, the built-in collector's). Recording a span is a push onto a queue bounded in
// spans and in bytes; a full queue drops the span and counts it. One timer per exporter flushes partial
// batches, a full batch goes out on the next turn of the event loop; one request is in flight at a time,
// so a slow collector never piles up sockets.
import { postBody } from './http-post.ts';
import type { SpanBatch, SpanSender } from './sender.ts';
import type { AttributeValue, SpanRecord } from './span.ts';
import { toOtlpRequest } from './span.ts';

/** How long closing an exporter waits for its last spans to be sent. */
const CLOSE_DEADLINE_MS = 2_000;

/**
 * The estimated encoded bytes a batch stays under: a gRPC server refuses a message over 4 MiB by
 * default (the OpenTelemetry Collector's OTLP receiver keeps that default), and would lose the whole
 * batch for a few spans whose tags are as long as a request's head.
 */
const MAX_BATCH_BYTES = 3_500_000;
/** The queue's bound in estimated bytes: a collector that is stuck holds no more of the proxy's memory. */
const MAX_QUEUE_BYTES = 16 * 1024 * 1024;
/** A span's ids, times, kind and status, and one attribute's key and value framing, estimated generously (Zipkin's JSON spends the most). */
const SPAN_OVERHEAD = 160;
const ATTRIBUTE_OVERHEAD = 16;

export interface ExportTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realExportTimers: ExportTimers = {
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

/** Sends one OTLP/HTTP JSON body: resolves whether the collector took it (2xx). */
export type PostJson = (url: string, body: string, timeoutMs: number) => Promise<boolean>;

interface ExporterBase {
  serviceName: string;
  resource?: Record<string, AttributeValue>;
  maxQueue?: number;
  maxBatch?: number;
  /** Bounds in estimated encoded bytes (MAX_QUEUE_BYTES and MAX_BATCH_BYTES by default). */
  maxQueueBytes?: number;
  maxBatchBytes?: number;
  flushIntervalMs?: number;
  timers?: ExportTimers;
}

export type SpanExporterOptions = ExporterBase &
  (
    | {
        /** How batches go out; the exporter owns it and closes it on close(). */
        sender: SpanSender;
      }
    | {
        /** Full URL of an OTLP/HTTP JSON traces endpoint: `http://127.0.0.1:4318/v1/traces`. */
        url: string;
        requestTimeoutMs?: number;
        /** Defaults to postJson. */
        post?: PostJson;
      }
  );

export interface ExporterStats {
  exported: number;
  dropped: number;
  failed: number;
}

export class SpanExporter {
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failed: 0 };
  readonly #serviceName: string;
  readonly #resource: Record<string, AttributeValue>;
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #maxQueueBytes: number;
  readonly #maxBatchBytes: number;
  readonly #timers: ExportTimers;
  readonly #sender: SpanSender;
  #queue: SpanRecord[] = [];
  /** Each queued span's estimated size, in the queue's order, and their sum. */
  #sizes: number[] = [];
  #queueBytes = 0;
  #inFlight: Promise<void> | undefined;
  #flushNext = false;
  #timer: unknown;
  /** Closed (the proxy stopping, or its provider's settings replaced): spans recorded after are dropped. */
  #closed = false;

  constructor(options: SpanExporterOptions) {
    this.#serviceName = options.serviceName;
    this.#resource = options.resource ?? {};
    this.#maxQueue = options.maxQueue ?? 2048;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#maxQueueBytes = options.maxQueueBytes ?? MAX_QUEUE_BYTES;
    this.#maxBatchBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
    this.#timers = options.timers ?? realExportTimers;
    this.#sender = 'sender' in options ? options.sender : otlpJsonSender(options.url, options.requestTimeoutMs ?? 10_000, options.post ?? postJson);
    this.#timer = this.#timers.setInterval(() => void this.flush(), options.flushIntervalMs ?? 5000);
  }

  /** Queues a finished span; never blocks, never throws. A closed exporter drops it. */
  record(span: SpanRecord): void {
    if (this.#closed) {
      this.stats.dropped++;
      return;
    }
    const size = estimatedSize(span);
    // A span larger than a batch may be would have every batch it went in refused: it is dropped alone.
    if (size > this.#maxBatchBytes || this.#queue.length >= this.#maxQueue || this.#queueBytes + size > this.#maxQueueBytes) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(span);
    this.#sizes.push(size);
    this.#queueBytes += size;
    if ((this.#queue.length >= this.#maxBatch || this.#queueBytes >= this.#maxBatchBytes) && !this.#inFlight && !this.#flushNext) {
      // Not inside the request that recorded the span: encoding a batch takes milliseconds.
      this.#flushNext = true;
      setImmediate(() => {
        this.#flushNext = false;
        void this.flush();
      });
    }
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Sends what is queued, one batch after another; resolves when the queue is empty or a send failed. */
  flush(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    if (this.#queue.length === 0) return Promise.resolve();
    this.#inFlight = this.#drain().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#nextBatch();
      const ok = await this.#send(batch);
      if (!ok) {
        this.stats.failed += batch.length;
        return;
      }
      this.stats.exported += batch.length;
    }
  }

  /** The queue's first spans, as many as fit in a batch by count and by bytes (one at least: none is over the bound). */
  #nextBatch(): SpanRecord[] {
    let n = 0;
    let bytes = 0;
    while (n < this.#queue.length && n < this.#maxBatch) {
      const size = this.#sizes[n] as number;
      if (n > 0 && bytes + size > this.#maxBatchBytes) break;
      bytes += size;
      n++;
    }
    this.#sizes.splice(0, n);
    this.#queueBytes -= bytes;
    return this.#queue.splice(0, n);
  }

  async #send(spans: SpanRecord[]): Promise<boolean> {
    try {
      return await this.#sender.send({ serviceName: this.#serviceName, resource: this.#resource, spans });
    } catch {
      return false;
    }
  }

  /**
   * Stops the timer and sends what is left, waiting at most `deadlineMs`: a proxy shutting down must not
   * spend its drain on a collector that does not answer (what is still sending finishes on its own).
   */
  async close(deadlineMs = CLOSE_DEADLINE_MS): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
      timer.unref();
    });
    await Promise.race([this.flush(), deadline]);
    clearTimeout(timer);
    this.#sender.close();
  }
}

/** About a span's encoded size: its strings' UTF-8 bytes and each field's framing. */
function estimatedSize(span: SpanRecord): number {
  let n = SPAN_OVERHEAD + Buffer.byteLength(span.name);
  const attributes = span.attributes;
  for (const key in attributes) {
    const value = attributes[key];
    n += ATTRIBUTE_OVERHEAD + Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 24);
  }
  return n;
}

/** OTLP/HTTP JSON to one URL: the built-in collector's protocol. */
function otlpJsonSender(url: string, timeoutMs: number, post: PostJson): SpanSender {
  return {
    send: (batch: SpanBatch) => post(url, JSON.stringify(toOtlpRequest(batch.serviceName, batch.resource, batch.spans)), timeoutMs),
    close() {},
  };
}

/** POSTs a JSON body with node:http(s); resolves whether the answer was 2xx, false on any failure or after `timeoutMs`. */
export function postJson(url: string, body: string, timeoutMs: number): Promise<boolean> {
  return postBody(url, body, { 'content-type': 'application/json' }, timeoutMs);
}
