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
}

export class TraceCollector {
  #traces = new Map<string, CollectedSpan[]>();
  #max: number;
  #maxBody: number;
  #server: Server | undefined;
  accepted = 0;

  constructor(options: TraceCollectorOptions = {}) {
    this.#max = options.maxTraces ?? 1000;
    this.#maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  }

  /** Adds the spans of one OTLP request; returns how many were accepted. */
  ingest(body: OtlpTracesRequest): number {
    let n = 0;
    for (const rs of body.resourceSpans ?? []) {
      const serviceName = stringAttr(rs.resource?.attributes, 'service.name') ?? 'unknown';
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          if (typeof span.traceId !== 'string' || typeof span.spanId !== 'string') continue;
          this.#add({ ...span, serviceName });
          n++;
        }
      }
    }
    this.accepted += n;
    return n;
  }

  #add(span: CollectedSpan): void {
    let spans = this.#traces.get(span.traceId);
    if (spans) {
      // Re-insert so the most recently active trace is evicted last.
      this.#traces.delete(span.traceId);
    } else spans = [];
    spans.push(span);
    this.#traces.set(span.traceId, spans);
    while (this.#traces.size > this.#max) {
      const oldest = this.#traces.keys().next().value;
      if (oldest === undefined) break;
      this.#traces.delete(oldest);
    }
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
    const url = new URL(req.url ?? '/', 'http://collector');
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

function stringAttr(attrs: readonly OtlpAttribute[] | undefined, key: string): string | undefined {
  return attrs?.find((a) => a.key === key)?.value.stringValue;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
