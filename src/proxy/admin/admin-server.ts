// The admin endpoint (15000, loopback only) and the health (15021) and Prometheus (15090) ports.
import type { Server, ServerResponse } from 'node:http';
import { http } from '../node-http.ts';
import type net from 'node:net';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
const levels = new Set<string>(['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off']);

export interface AdminDeps {
  configDump(): object;
  clusters(format: 'text' | 'json'): string;
  stats(): string;
  prometheus(): string;
  ready(): boolean;
  setLogLevel(level: LogLevel): void;
  logLevel(): LogLevel;
  /** Starts the drain; resolves when the proxy has stopped. */
  quit(): void;
  /** Bound listeners and their actual ports (`/listeners`); absent: none listed. */
  listeners?(): Promise<{ name: string; address: string; port: number }[]>;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=UTF-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, max-age=0' });
  res.end(body);
}

function listen(server: Server, port: number): Promise<number> {
  server.on('clientError', (_e, s) => s.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/**
 * Envoy's `/memory` keys (as strings, like Envoy's uint64 JSON), read from V8 instead of tcmalloc:
 * `allocated` is the live JS heap, `heap_size` what V8 reserved for it, `total_physical_bytes` the RSS;
 * plus Node's own split (external memory and array buffers: TLS and socket buffers live there).
 */
function memoryReport(): Record<string, string> {
  const m = process.memoryUsage();
  return {
    allocated: String(m.heapUsed),
    heap_size: String(m.heapTotal),
    total_physical_bytes: String(m.rss),
    external: String(m.external),
    array_buffers: String(m.arrayBuffers),
  };
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

export class AdminServers {
  #admin: Server;
  #health: Server;
  #prom: Server;

  constructor(deps: AdminDeps) {
    this.#admin = http.createServer((req, res) => {
      // A target WHATWG's parser refuses (`GET http://a:99999/`, which Node's HTTP parser lets through)
      // is the client's error: thrown here, it would be uncaught and end the proxy.
      const url = URL.parse(req.url ?? '/', 'http://admin');
      if (url === null) return send(res, 400, 'bad request target\n');
      switch (url.pathname) {
        case '/config_dump':
          return send(res, 200, JSON.stringify(deps.configDump(), null, 2), 'application/json');
        case '/clusters': {
          const json = url.searchParams.get('format') === 'json';
          return send(res, 200, deps.clusters(json ? 'json' : 'text'), json ? 'application/json' : undefined);
        }
        case '/stats':
          return send(res, 200, deps.stats());
        case '/stats/prometheus':
          return send(res, 200, deps.prometheus(), 'text/plain; version=0.0.4');
        case '/memory':
          return send(res, 200, JSON.stringify(memoryReport(), null, 2), 'application/json');
        case '/ready':
          return deps.ready() ? send(res, 200, 'LIVE\n') : send(res, 503, 'PRE_INITIALIZING\n');
        case '/logging': {
          const level = url.searchParams.get('level');
          if (level !== null) {
            if (!levels.has(level)) return send(res, 400, `unknown level ${level}\n`);
            if (req.method !== 'POST') return send(res, 405, 'use POST\n');
            deps.setLogLevel(level as LogLevel);
          }
          return send(res, 200, `active loggers:\n  proxy: ${deps.logLevel()}\n`);
        }
        case '/listeners': {
          // Envoy's: `name::address:port` lines, or `listener_statuses` with `?format=json`.
          const json = url.searchParams.get('format') === 'json';
          void (deps.listeners?.() ?? Promise.resolve([])).then((ls) =>
            json
              ? send(res, 200, JSON.stringify({ listener_statuses: ls.map((l) => ({ name: l.name, local_address: { socket_address: { address: l.address, port_value: l.port } } })) }, null, 2), 'application/json')
              : send(res, 200, ls.map((l) => `${l.name}::${l.address}:${l.port}\n`).join('')),
            () => res.destroy(),
          );
          return;
        }
        case '/quitquitquit':
          if (req.method !== 'POST') return send(res, 405, 'use POST\n');
          send(res, 200, 'OK\n');
          deps.quit();
          return;
        default:
          return send(res, 404, 'not found: /config_dump /clusters /listeners /stats /stats/prometheus /memory /ready /logging /quitquitquit\n');
      }
    });
    // By path, whatever the query: Istio's 15090 listener routes the prefix /stats/prometheus to the admin
    // (a scrape config with `params:` still gets metrics), and kubelet probes may carry a query too.
    this.#health = http.createServer((req, res) => {
      if (pathOf(req.url) === '/healthz/ready') return deps.ready() ? send(res, 200, '') : send(res, 503, 'not ready\n');
      send(res, 404, '');
    });
    this.#prom = http.createServer((req, res) => {
      if (pathOf(req.url) === '/stats/prometheus') return send(res, 200, deps.prometheus(), 'text/plain; version=0.0.4');
      send(res, 404, '');
    });
  }

  /** Binds the three servers; returns their actual ports. */
  async listen(ports: { admin: number; health: number; prometheus: number }): Promise<{ admin: number; health: number; prometheus: number }> {
    const [admin, health, prometheus] = await Promise.all([listen(this.#admin, ports.admin), listen(this.#health, ports.health), listen(this.#prom, ports.prometheus)]);
    return { admin, health, prometheus };
  }

  close(): void {
    for (const s of [this.#admin, this.#health, this.#prom]) {
      s.close();
      s.closeAllConnections();
    }
  }
}
