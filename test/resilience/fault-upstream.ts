// A fault-injecting HTTP/1.1 upstream for resilience tests: per request it answers normally, with a
// status (5xx storms), resets the connection, hangs, trickles the body, or truncates it. It counts
// every request it sees, so tests assert "exactly N tries" or "zero requests while ejected".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'ok'; status?: number; body?: string; headers?: Record<string, string> }
  | { kind: 'status'; status: number }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'slow-body'; chunks: number; intervalMs: number }
  | { kind: 'truncate'; sendBytes: number; declaredBytes: number };

/** Chooses the fault for the n-th request (0-based). A header `x-fault: <json>` overrides it. */
export type FaultPlan = (n: number, req: IncomingMessage) => Fault;

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly fault: Fault['kind'];
  /** The client port of the connection the request came on (distinct ports = distinct connections). */
  readonly remotePort: number;
  /** The request body, filled in once it has fully arrived. */
  body: string;
}

export class FaultUpstream {
  readonly seen: SeenRequest[] = [];
  #server: Server;
  #plan: FaultPlan;
  #sockets = new Set<Socket>();
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(plan: FaultPlan = () => ({ kind: 'ok' })) {
    this.#plan = plan;
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {});
    });
  }

  /** Listens on an ephemeral loopback port; resolves to `host:port`. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Swap the plan mid-test (a storm starts or stops). */
  setPlan(plan: FaultPlan): void {
    this.#plan = plan;
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const n = this.seen.length;
    const header = req.headers['x-fault'];
    const fault: Fault = typeof header === 'string' ? (JSON.parse(header) as Fault) : this.#plan(n, req);
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, fault: fault.kind, remotePort: req.socket.remotePort ?? 0, body: '' };
    this.seen.push(seen);
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      seen.body += c;
    });
    switch (fault.kind) {
      case 'ok':
        res.writeHead(fault.status ?? 200, { 'content-type': 'text/plain', ...fault.headers }).end(fault.body ?? `ok ${n}\n`);
        return;
      case 'status':
        res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`fault ${fault.status}\n`);
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'hang':
        return; // never answered; close() destroys the socket
      case 'slow-body': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let left = fault.chunks;
        const tick = () => {
          if (left-- <= 0) {
            res.end();
            return;
          }
          res.write('.');
          const t = setTimeout(() => {
            this.#timers.delete(t);
            tick();
          }, fault.intervalMs);
          this.#timers.add(t);
        };
        tick();
        return;
      }
      case 'truncate':
        res.writeHead(200, { 'content-length': String(fault.declaredBytes) });
        res.write('x'.repeat(fault.sendBytes), () => req.socket.destroy());
        return;
    }
  }
}

/** The first `n` requests get `fault`, the rest are answered normally. */
export function firstN(n: number, fault: Fault): FaultPlan {
  return (i) => (i < n ? fault : { kind: 'ok' });
}
