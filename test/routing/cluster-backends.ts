// One small HTTP/1.1 echo backend per upstream cluster name, so a request routed through a real proxy
// tells which cluster answered and what it saw (method, path with query, authority, headers).
import http from 'node:http';
import type net from 'node:net';
import type { EnvoyRouteConfiguration } from '../../src/proxy/http/route/index.ts';

/** The response header a backend names its cluster in. */
export const CLUSTER_HEADER = 'x-conformance-cluster';

/** What a backend saw: headers as the route library reports them (repeated values joined with `,`). */
export interface UpstreamSeen {
  cluster: string;
  method: string;
  path: string;
  authority: string;
  headers: Record<string, string>;
}

/** Headers from Node's raw list, lower-cased, repeated names joined with `,` as `headerValue` does. */
export function joinRawHeaders(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    out[name] = name in out ? `${out[name]},${value}` : value;
  }
  return out;
}

/** Every cluster name a route configuration can send traffic to (single and weighted). */
export function clusterNames(config: EnvoyRouteConfiguration): string[] {
  const names: string[] = [];
  for (const vh of config.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster) names.push(r.route.cluster);
      for (const w of r.route?.weighted_clusters?.clusters ?? []) if (w.name) names.push(w.name);
    }
  }
  return names;
}

export class ClusterBackends {
  readonly #servers = new Map<string, { server: http.Server; port: number }>();
  /** Headers every backend adds to its answer (the case's `responseHeadersIn`). */
  responseHeaders: Readonly<Record<string, string>> = {};

  /** Starts one backend per distinct name; returns name → port. */
  async start(names: Iterable<string>): Promise<Map<string, number>> {
    for (const name of new Set(names)) {
      if (this.#servers.has(name)) continue;
      const server = http.createServer((req, res) => this.#answer(name, req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      this.#servers.set(name, { server, port: (server.address() as net.AddressInfo).port });
    }
    return new Map([...this.#servers].map(([n, s]) => [n, s.port]));
  }

  #answer(cluster: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    req.on('end', () => {
      const headers = joinRawHeaders(req.rawHeaders);
      const seen: UpstreamSeen = { cluster, method: req.method ?? '', path: req.url ?? '', authority: headers['host'] ?? '', headers };
      for (const [k, v] of Object.entries(this.responseHeaders)) res.setHeader(k, v);
      res.setHeader(CLUSTER_HEADER, cluster);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#servers.values()].map(({ server }) => {
        server.closeAllConnections();
        return new Promise<void>((r) => server.close(() => r()));
      }),
    );
    this.#servers.clear();
  }
}
