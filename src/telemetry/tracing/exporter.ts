// Exports spans in batches as OTLP/HTTP JSON (POST {endpoint}/v1/traces). Recording a span is a push
// onto a bounded queue; a full queue drops the span and counts it. One timer per exporter flushes
// partial batches; one request is in flight at a time, so a slow collector never piles up sockets.
import { createRequire } from 'node:module';
import type { AttributeValue, SpanRecord } from './span.ts';
import { toOtlpRequest } from './span.ts';

// node:http and node:https through require(): an ESM import reads every export, and node:http's lazy
// WebSocket ones load Node's bundled undici, as global fetch does on its first call, which takes the
// event loop for about 50 ms (and 2.5 MB of heap) in a proxy that is serving requests by then.
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof import('node:http');
const https = require('node:https') as typeof import('node:https');

/** How long closing an exporter waits for its last spans to be sent. */
const CLOSE_DEADLINE_MS = 2_000;

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

export interface SpanExporterOptions {
  /** Full URL of the OTLP/HTTP traces endpoint: `http://127.0.0.1:4318/v1/traces`. */
  url: string;
  serviceName: string;
  resource?: Record<string, AttributeValue>;
  maxQueue?: number;
  maxBatch?: number;
  flushIntervalMs?: number;
  requestTimeoutMs?: number;
  timers?: ExportTimers;
  /** Sends one batch: resolves whether the collector took it (2xx). Defaults to postJson. */
  post?: (url: string, body: string, timeoutMs: number) => Promise<boolean>;
}

export interface ExporterStats {
  exported: number;
  dropped: number;
  failed: number;
}

export class SpanExporter {
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failed: 0 };
  #o: Required<Omit<SpanExporterOptions, 'resource'>> & { resource: Record<string, AttributeValue> };
  #queue: SpanRecord[] = [];
  #inFlight: Promise<void> | undefined;
  #timer: unknown;

  constructor(options: SpanExporterOptions) {
    this.#o = {
      maxQueue: 2048,
      maxBatch: 512,
      flushIntervalMs: 5000,
      requestTimeoutMs: 10_000,
      timers: realExportTimers,
      post: postJson,
      resource: {},
      ...options,
    };
    this.#timer = this.#o.timers.setInterval(() => void this.flush(), this.#o.flushIntervalMs);
  }

  /** Queues a finished span; never blocks, never throws. */
  record(span: SpanRecord): void {
    if (this.#queue.length >= this.#o.maxQueue) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#o.maxBatch && !this.#inFlight) void this.flush();
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
      const batch = this.#queue.splice(0, this.#o.maxBatch);
      const ok = await this.#send(batch);
      if (!ok) {
        this.stats.failed += batch.length;
        return;
      }
      this.stats.exported += batch.length;
    }
  }

  async #send(batch: SpanRecord[]): Promise<boolean> {
    try {
      return await this.#o.post(this.#o.url, JSON.stringify(toOtlpRequest(this.#o.serviceName, this.#o.resource, batch)), this.#o.requestTimeoutMs);
    } catch {
      return false;
    }
  }

  /**
   * Stops the timer and sends what is left, waiting at most `deadlineMs`: a proxy shutting down must not
   * spend its drain on a collector that does not answer (what is still sending finishes on its own).
   */
  async close(deadlineMs = CLOSE_DEADLINE_MS): Promise<void> {
    this.#o.timers.clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
      timer.unref();
    });
    await Promise.race([this.flush(), deadline]);
    clearTimeout(timer);
  }
}

/** POSTs a JSON body with node:http(s); resolves whether the answer was 2xx, false on any failure or after `timeoutMs`. */
export function postJson(url: string, body: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(u, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
