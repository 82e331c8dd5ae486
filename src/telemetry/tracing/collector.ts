// A tiny trace collector for local mode (Jaeger is not run locally): receives OTLP/HTTP JSON on
// POST /v1/traces, keeps the last N traces in memory, and answers GET /api/traces[?service=&limit=]
// and GET /api/traces/{traceId} for the dashboard and `outrigger` tools.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OtlpAttribute, OtlpSpan, OtlpTracesRequest } from './span.ts';

export interface CollectedSpan extends OtlpSpan {
  serviceName: string;
}

export interface TraceSummary {
  traceId: string;
  spans: CollectedSpan[];
}

export interface TraceCollectorOptions {
  maxTraces?: number;
  /** Largest request body accepted (bytes). */
  maxBodyBytes?: number;
  /** Spans kept per trace; later ones are dropped (default 1,000). */
  maxSpansPerTrace?: number;
  /** Spans kept in all (default 50,000): the oldest traces go first. */
  maxSpans?: number;
}

export class TraceCollector {
  #traces = new Map<string, CollectedSpan[]>();
  #max: number;
  #maxBody: number;
  #maxPerTrace: number;
  #maxSpans: number;
  #spans = 0;
  #server: Server | undefined;
  accepted = 0;
  /** Spans refused because their trace already held maxSpansPerTrace. */
  dropped = 0;

  constructor(options: TraceCollectorOptions = {}) {
    this.#max = options.maxTraces ?? 1000;
    this.#maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
    this.#maxPerTrace = options.maxSpansPerTrace ?? 1000;
    this.#maxSpans = options.maxSpans ?? 50_000;
  }

  /**
   * Adds the spans of one OTLP request; returns how many were accepted. The body is the sender's JSON,
   * any shape: what is not OTLP is skipped, and each span is kept as the fields the views read.
   */
  ingest(body: OtlpTracesRequest): number {
    let n = 0;
    for (const rs of list((body as unknown as { resourceSpans?: unknown } | null)?.resourceSpans)) {
      const r = rs as { resource?: { attributes?: unknown }; scopeSpans?: unknown } | null;
      const serviceName = stringAttr(attributesOf(r?.resource?.attributes), 'service.name') ?? 'unknown';
      for (const ss of list(r?.scopeSpans)) {
        for (const raw of list((ss as { spans?: unknown } | null)?.spans)) {
          const span = collected(raw, serviceName);
          if (span === undefined) continue;
          if (this.#add(span)) n++;
        }
      }
    }
    this.accepted += n;
    return n;
  }

  /**
   * Memory is bounded whatever the senders do: one trace id sent without end (a client that repeats its
   * `traceparent`, and every proxy on the path reports a span) keeps maxSpansPerTrace, and all traces
   * together maxSpans, the least recently active evicted first.
   */
  #add(span: CollectedSpan): boolean {
    let spans = this.#traces.get(span.traceId);
    if (spans) {
      if (spans.length >= this.#maxPerTrace) {
        this.dropped++;
        return false;
      }
      // Re-insert so the most recently active trace is evicted last.
      this.#traces.delete(span.traceId);
    } else spans = [];
    spans.push(span);
    this.#spans++;
    this.#traces.set(span.traceId, spans);
    while (this.#traces.size > this.#max || this.#spans > this.#maxSpans) {
      const oldest = this.#traces.entries().next().value;
      if (oldest === undefined) break;
      this.#traces.delete(oldest[0]);
      this.#spans -= oldest[1].length;
    }
    return true;
  }

  /** Spans held, over all traces. */
  get spanCount(): number {
    return this.#spans;
  }

  trace(traceId: string): TraceSummary | undefined {
    const spans = this.#traces.get(traceId);
    return spans ? { traceId, spans } : undefined;
  }

  /** Most recent first; `service` keeps traces with a span from that service. */
  traces(query: { service?: string; limit?: number } = {}): TraceSummary[] {
    const out: TraceSummary[] = [];
    const limit = query.limit ?? 20;
    const ids = [...this.#traces.keys()].reverse();
    for (const id of ids) {
      if (out.length >= limit) break;
      const spans = this.#traces.get(id) ?? [];
      if (query.service && !spans.some((s) => s.serviceName === query.service)) continue;
      out.push({ traceId: id, spans });
    }
    return out;
  }

  /** Starts the HTTP receiver; port 0 picks a free port. Returns the bound port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('clientError', (_err, socket) => socket.destroy());
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    const s = this.#server;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // A target WHATWG's parser refuses (`GET http://a:99999/`) would throw here, uncaught.
    const url = URL.parse(req.url ?? '/', 'http://collector');
    if (url === null) {
      json(res, 400, { error: 'bad request target' });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/traces') {
      this.#receive(req, res);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/traces') {
      const service = url.searchParams.get('service');
      const limit = Number(url.searchParams.get('limit') ?? '20');
      json(res, 200, { data: this.traces({ ...(service ? { service } : {}), limit: Number.isFinite(limit) ? limit : 20 }) });
      return;
    }
    const m = /^\/api\/traces\/([0-9a-f]{32})$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      const t = this.trace(m[1] ?? '');
      if (t) json(res, 200, { data: [t] });
      else json(res, 404, { error: 'trace not found' });
      return;
    }
    json(res, 404, { error: 'not found' });
  }

  #receive(req: IncomingMessage, res: ServerResponse): void {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      req.resume();
      json(res, 415, { error: 'only OTLP/HTTP JSON (application/json) is accepted' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > this.#maxBody) {
        json(res, 413, { error: 'body too large' });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      let body: OtlpTracesRequest;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTracesRequest;
      } catch {
        json(res, 400, { error: 'invalid JSON' });
        return;
      }
      this.ingest(body);
      json(res, 200, { partialSuccess: {} });
    });
  }
}

function stringAttr(attrs: readonly OtlpAttribute[], key: string): string | undefined {
  return attrs.find((a) => a.key === key)?.value.stringValue;
}

function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/** OTLP attributes with a string key and a value object, each value one of OTLP's scalar kinds. */
function attributesOf(v: unknown): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const a of list(v)) {
    const key = str((a as { key?: unknown } | null)?.key);
    const value = (a as { value?: unknown } | null)?.value;
    if (key === undefined || typeof value !== 'object' || value === null) continue;
    const x = value as Record<string, unknown>;
    const kept: OtlpAttribute['value'] = {};
    const s = str(x['stringValue']);
    const i = str(x['intValue']) ?? (typeof x['intValue'] === 'number' ? String(x['intValue']) : undefined);
    const d = num(x['doubleValue']);
    const b = bool(x['boolValue']);
    if (s !== undefined) kept.stringValue = s;
    if (i !== undefined) kept.intValue = i;
    if (d !== undefined) kept.doubleValue = d;
    if (b !== undefined) kept.boolValue = b;
    out.push({ key, value: kept });
  }
  return out;
}

/** One span as kept: ids and times as strings, the fields the views read, nothing else the sender added. */
function collected(raw: unknown, serviceName: string): CollectedSpan | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const s = raw as Record<string, unknown>;
  const traceId = str(s['traceId']);
  const spanId = str(s['spanId']);
  if (traceId === undefined || spanId === undefined) return undefined;
  const parentSpanId = str(s['parentSpanId']);
  const code = num((s['status'] as { code?: unknown } | null | undefined)?.code) ?? 0;
  return {
    traceId,
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name: str(s['name']) ?? '',
    kind: num(s['kind']) ?? 0,
    startTimeUnixNano: str(s['startTimeUnixNano']) ?? '0',
    endTimeUnixNano: str(s['endTimeUnixNano']) ?? '0',
    attributes: attributesOf(s['attributes']),
    status: { code },
    serviceName,
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
