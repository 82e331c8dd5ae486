// A podinfo-compatible HTTP server: the built-in program `outrigger up` runs for ghcr.io/stefanprodan/podinfo,
// reporting its version so that canary routing is visible. Also runnable on its own: `node src/runtime/demo/podinfo.ts`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { PodinfoMetrics } from './podinfo-metrics.ts';

export interface PodinfoOptions {
  /** 0 picks an ephemeral port. */
  port?: number;
  host?: string;
  version?: string;
  message?: string;
  /** What `/env` reports; the process environment when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  hostname?: string;
  /** `/delay/{seconds}` above this is refused (400), so a client cannot park connections for ever. */
  maxDelaySeconds?: number;
  /** Injected for tests: waits `ms` or rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Injected for tests: a monotonic clock in milliseconds. */
  now?: () => number;
}

export interface PodinfoServer {
  port: number;
  close(): Promise<void>;
}

const maxEchoBytes = 1024 * 1024;
const defaultVersion = '6.5.4';

class BodyTooLarge extends Error {
  code = 'ERR_BODY_TOO_LARGE';
}

function canonicalHeader(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxEchoBytes) throw new BodyTooLarge(`body over ${maxEchoBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts the server and resolves once it listens. */
export async function startPodinfo(options: PodinfoOptions = {}): Promise<PodinfoServer> {
  const version = options.version ?? defaultVersion;
  const host = options.hostname ?? osHostname();
  const message = options.message ?? `greetings from podinfo v${version}`;
  const env = options.env ?? process.env;
  const maxDelay = options.maxDelaySeconds ?? 10;
  const sleep = options.sleep ?? ((ms: number, signal: AbortSignal) => sleepFor(ms, undefined, { signal }));
  const now = options.now ?? (() => performance.now());
  const metrics = new PodinfoMetrics(version, Math.floor(Date.now() / 1000));
  const closing = new AbortController();
  let ready = true;
  let faulty = false;

  const info = () => ({
    hostname: host,
    version,
    revision: '',
    color: '#34577c',
    logo: 'https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif',
    message,
    goos: process.platform,
    goarch: process.arch,
    runtime: `node${process.versions.node}`,
    num_goroutine: '1',
    num_cpu: String(availableParallelism()),
  });

  // Returns the route template, used as the bounded `path` label of the metrics.
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<string> {
    const path = new URL(req.url ?? '/', 'http://podinfo').pathname;
    const method = req.method ?? 'GET';
    const fault = faultInjection(path, method);
    if (fault !== undefined) {
      if (fault.status === 500) {
        // podinfo answers as Go's http.Error does: text/plain, the JSON text plus a newline.
        const text = '{"status":"fault injection enabled"}\n';
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      } else send(res, fault.status, fault.body);
      return fault.route;
    }
    if (path === '/' || path === '/api/info') {
      send(res, 200, info());
      return path;
    }
    if (path === '/version') {
      send(res, 200, { commit: '', version });
      return path;
    }
    if (path === '/healthz') {
      send(res, 200, { status: 'OK' });
      return path;
    }
    if (path === '/readyz') {
      send(res, ready ? 200 : 503, { status: ready ? 'OK' : 'NOT OK' });
      return path;
    }
    if ((path === '/readyz/enable' || path === '/readyz/disable') && method === 'POST') {
      ready = path === '/readyz/enable';
      res.writeHead(202).end();
      return path;
    }
    if (path === '/headers') {
      const headers: Record<string, string[]> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = canonicalHeader((req.rawHeaders[i] ?? '').toLowerCase());
        const values = headers[name] ?? [];
        values.push(req.rawHeaders[i + 1] ?? '');
        headers[name] = values;
      }
      send(res, 200, headers);
      return path;
    }
    if (path === '/env') {
      send(res, 200, Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`));
      return path;
    }
    if (path === '/metrics') {
      const text = metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
      return path;
    }
    if (path === '/echo') {
      if (method !== 'POST' && method !== 'PUT') {
        send(res, 405, { code: 405, message: 'POST or PUT a body to /echo' });
        return path;
      }
      const body = await readBody(req);
      res.writeHead(202, { 'content-type': req.headers['content-type'] ?? 'text/plain', 'content-length': body.length });
      res.end(body);
      return path;
    }
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      const code = Number(status[1]);
      if (code < 200 || code > 599) send(res, 400, { code: 400, message: `status ${code} out of range 200-599` });
      else send(res, code, { status: code });
      return '/status/{code}';
    }
    const delay = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(path);
    if (delay) {
      const seconds = Number(delay[1]);
      if (seconds > maxDelay) {
        send(res, 400, { code: 400, message: `delay ${seconds}s over the limit of ${maxDelay}s` });
        return '/delay/{seconds}';
      }
      // Abort the wait when the client goes away or the server closes, so nothing lingers.
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      await sleep(seconds * 1000, AbortSignal.any([gone.signal, closing.signal]));
      send(res, 200, { delay: seconds });
      return '/delay/{seconds}';
    }
    send(res, 404, { code: 404, message: `${path} not found` });
    return 'other';
  }

  /**
   * podinfo's fault injection (v6.14): `POST /fault_injection/enable` makes this replica answer 500 on
   * every application endpoint until `POST /fault_injection/disable`, while `/healthz`, `/readyz`,
   * `/metrics` and `/debug/` stay up, so the platform keeps the sick replica and a client's circuit
   * breaker (outlier detection) is what takes it out. Undefined: not a fault-injection matter.
   */
  function faultInjection(path: string, method: string): { status: number; body?: unknown; route: string } | undefined {
    if (path === '/fault_injection/enable' || path === '/fault_injection/disable') {
      if (method !== 'POST') return { status: 405, body: { code: 405, message: `POST ${path}` }, route: path };
      faulty = path === '/fault_injection/enable';
      return { status: 202, body: { fault_injection: faulty ? 'enabled' : 'disabled' }, route: path };
    }
    if (path === '/fault_injection/status') return { status: 200, body: { fault_injection: faulty ? 'enabled' : 'disabled' }, route: path };
    if (!faulty || path === '/healthz' || path === '/readyz' || path === '/metrics' || path.startsWith('/debug/') || path.startsWith('/fault_injection')) return undefined;
    // The metrics label stays bounded: every refused request under one name.
    return { status: 500, route: 'fault_injection' };
  }

  const server = createServer((req, res) => {
    const started = now();
    handle(req, res).then(
      (route) => metrics.record(req.method ?? 'GET', route, res.statusCode, (now() - started) / 1000),
      (err: unknown) => {
        if (res.headersSent) return void res.destroy();
        if (err instanceof BodyTooLarge) send(res, 413, { code: 413, message: err.message });
        else if (closing.signal.aborted || res.destroyed) res.destroy();
        else send(res, 500, { code: 500, message: String(err) });
      },
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (import.meta.main) {
  const env = process.env;
  const server = await startPodinfo({
    port: Number(env['PORT'] ?? env['PODINFO_PORT'] ?? 9898),
    host: env['PODINFO_HOST'] ?? '0.0.0.0',
    version: env['PODINFO_VERSION'] ?? defaultVersion,
    ...(env['PODINFO_UI_MESSAGE'] !== undefined ? { message: env['PODINFO_UI_MESSAGE'] } : {}),
    ...(env['HOSTNAME'] !== undefined ? { hostname: env['HOSTNAME'] } : {}),
  });
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'podinfo listening', port: server.port })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
