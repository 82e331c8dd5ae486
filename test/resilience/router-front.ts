// A minimal HTTP front for router integration tests: real sockets in, a compiled RouteTable, the real
// router and ClusterManager, real upstream sockets out. It hands the router the matched route and the
// downstream request, which the connection manager does too once it passes `route` and `request`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClusterManager } from '../../src/proxy/cluster/cluster-manager.ts';
import { compileCluster } from '../../src/proxy/cluster/compile-cluster.ts';
import { compileLoadAssignment } from '../../src/proxy/cluster/endpoint.ts';
import type { EnvoyCluster, EnvoyClusterLoadAssignment } from '../../src/proxy/config/envoy-shapes.ts';
import { compileRouteConfiguration, type RouteTable } from '../../src/proxy/http/route/index.ts';
import type { EnvoyRouteConfiguration } from '../../src/proxy/http/route/envoy-types.ts';
import { forward, type Timers } from '../../src/proxy/http/router.ts';
import type { DownstreamRequest, StreamInfo } from '../../src/proxy/http/stream.ts';
import { ClusterStatsFamilies } from '../../src/telemetry/metrics/cluster-stats.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';

export interface FrontOptions {
  clusters: Record<string, unknown>[];
  assignments: Record<string, unknown>[];
  routes: Record<string, unknown>;
  timers?: Timers;
  random?: () => number;
}

export interface Front {
  port: number;
  clusters: ClusterManager;
  metrics: MetricsRegistry;
  /** StreamInfo of every request, in arrival order (response flags, upstream host). */
  infos: StreamInfo[];
  close(): Promise<void>;
}

export async function startFront(opts: FrontOptions): Promise<Front> {
  const metrics = new MetricsRegistry();
  const clusters = new ClusterManager({ stats: new ClusterStatsFamilies(metrics), tunnelTls: () => undefined, ...(opts.random ? { random: opts.random } : {}) });
  clusters.applyClusters(opts.clusters.map((c) => compileCluster(c as unknown as EnvoyCluster)));
  clusters.applyEndpoints(new Map(opts.assignments.map((a) => [String(a['cluster_name']), compileLoadAssignment(a as unknown as EnvoyClusterLoadAssignment)])));
  const table: RouteTable = compileRouteConfiguration(opts.routes as EnvoyRouteConfiguration);
  const infos: StreamInfo[] = [];
  const server = http.createServer((req, res) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const headers = new Map<string, string | string[]>();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, v);
    const request: DownstreamRequest = {
      method: req.method ?? 'GET',
      scheme: 'http',
      authority: req.headers.host ?? '',
      sentAuthority: req.headers.host ?? '',
      path,
      query,
      headers,
      protocol: 'HTTP/1.1',
      connection: { remoteAddress: req.socket.remoteAddress ?? '', remotePort: req.socket.remotePort ?? 0, localAddress: '127.0.0.1', localPort: 0, tls: false },
    };
    const info: StreamInfo = { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() };
    infos.push(info);
    const route = table.match(request, 0.5);
    const choice = route?.pickCluster(0.5, headers);
    if (!route || !choice) {
      res.writeHead(404).end();
      return;
    }
    const up: Record<string, string | string[]> = {};
    for (const [k, v] of headers) if (k !== 'host' && k !== 'connection' && k !== 'transfer-encoding') up[k] = v;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const fwd = forward(
      clusters,
      {
        clusterName: choice.name,
        head: { method: request.method, path: req.url ?? '/', authority: request.authority, scheme: 'http', headers: up },
        body: hasBody ? req : null,
        timeoutMs: route.timeoutMs,
        retries: 0,
        info,
        route,
        request,
        ...(opts.random ? { random: opts.random } : {}),
      },
      {
        head: (s, h) => void res.writeHead(s, h),
        data: (c) => res.write(c),
        onDrain: (fn) => void res.on('drain', fn),
        end: () => void res.end(),
        reply: (r) => {
          if (r.flag) info.responseFlags.add(r.flag);
          res.writeHead(r.status, { 'x-envoy-response-flags': r.flag ?? '' }).end(r.body ?? '');
        },
        reset: () => void res.destroy(),
      },
      opts.timers,
    );
    res.once('close', () => {
      if (!res.writableFinished) fwd.cancel();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    clusters,
    metrics,
    infos,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await clusters.close();
    },
  };
}

/** An EDS cluster in Envoy JSON, with optional extra fields (circuit_breakers, outlier_detection...). */
export function edsCluster(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: { seconds: '1' }, eds_cluster_config: { service_name: name }, ...extra };
}

export function assignment(name: string, ports: number[]): Record<string, unknown> {
  return { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] };
}

/** One virtual host `*` with one route to `cluster` carrying `action` fields (retry_policy, timeout...). */
export function routes(cluster: string, action: Record<string, unknown> = {}, extraRoute: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'r', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r0', match: { prefix: '/' }, route: { cluster, ...action }, ...extraRoute }] }] };
}
