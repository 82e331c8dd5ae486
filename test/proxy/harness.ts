// Test harness for the proxy: Envoy-JSON resource builders, a proxy with every port ephemeral, and
// small raw-socket and HTTP helpers. Config is applied through XdsState, as ADS would.
import http from 'node:http';
import net from 'node:net';
import { istioMutualContext } from '../../src/translate/client-tls.ts';
import { type TypedAny, toStruct } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import type { Timers } from '../../src/proxy/http/router.ts';
import type { ProxyOptions } from '../../src/proxy/proxy.ts';
import { OutriggerProxy } from '../../src/proxy/proxy.ts';

/**
 * An EDS cluster. `mtls`: Istio's auto mTLS, as translation writes it: the mesh TLS context naming these
 * accounts for `tlsMode: istio` endpoints (without it, meshed endpoints are reached as plaintext would be).
 */
export function cluster(name: string, opts: { http2?: boolean; type?: string; maxRequests?: number; lb?: string; mtls?: string[] } = {}): TypedAny {
  return {
    ...(opts.mtls
      ? {
          transport_socket_matches: [
            { name: 'tlsMode-istio', match: toStruct({ tlsMode: 'istio' }), transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: istioMutualContext(name, opts.mtls) } },
            { name: 'tlsMode-disabled', transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } },
          ],
        }
      : {}),
    '@type': TypeUrl.Cluster,
    name,
    type: opts.type ?? 'EDS',
    connect_timeout: { seconds: '1' },
    ...(opts.type === 'ORIGINAL_DST' ? { lb_policy: 'CLUSTER_PROVIDED' } : opts.lb ? { lb_policy: opts.lb } : {}),
    ...(opts.type === 'ORIGINAL_DST' ? {} : { eds_cluster_config: { service_name: name } }),
    ...(opts.maxRequests !== undefined ? { circuit_breakers: { thresholds: [{ max_requests: { value: opts.maxRequests } }] } } : {}),
    ...(opts.http2
      ? { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } } }
      : {}),
  };
}

export interface EndpointSpec {
  port: number;
  address?: string;
  mesh?: { targetPort: number };
}

export function cla(name: string, endpoints: EndpointSpec[]): TypedAny {
  return {
    '@type': TypeUrl.ClusterLoadAssignment,
    cluster_name: name,
    endpoints: [
      {
        lb_endpoints: endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address ?? '127.0.0.1', port_value: e.port } } },
          ...(e.mesh ? { metadata: { filter_metadata: { istio: { tlsMode: 'istio' }, outrigger: { target_port: e.mesh.targetPort } } } } : {}),
        })),
      },
    ],
  };
}

export function hcm(rds: string, extra: Record<string, unknown> = {}): TypedAny {
  return {
    '@type': TypeUrl.HttpConnectionManager,
    stat_prefix: rds,
    rds: { route_config_name: rds, config_source: { ads: {} } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }],
    ...extra,
  };
}

export function tcpProxy(clusterName: string): TypedAny {
  return { '@type': TypeUrl.TcpProxy, stat_prefix: clusterName, cluster: clusterName };
}

export function listener(name: string, port: number, chains: { port?: number; filter: TypedAny; tls?: TypedAny }[], extra: Record<string, unknown> = {}): TypedAny {
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: chains.map((c) => ({
      ...(c.port !== undefined ? { filter_chain_match: { destination_port: { value: c.port } } } : {}),
      filters: [{ name: c.filter['@type'] === TypeUrl.TcpProxy ? 'envoy.filters.network.tcp_proxy' : 'envoy.filters.network.http_connection_manager', typed_config: c.filter }],
      ...(c.tls ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: c.tls } } : {}),
    })),
    ...extra,
  };
}

export interface RouteSpec {
  prefix?: string;
  path?: string;
  cluster?: string;
  weighted?: { name: string; weight: number }[];
  timeout?: { seconds: string; nanos?: number };
  direct?: { status: number; body: string };
  retries?: number;
  prefixRewrite?: string;
}

export function routeConfig(name: string, vhosts: { domains: string[]; routes: RouteSpec[] }[]): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name,
    virtual_hosts: vhosts.map((vh, i) => ({
      name: `${vh.domains[0]}-${i}`,
      domains: vh.domains,
      routes: vh.routes.map((r, j) => ({
        name: `r${j}`,
        match: r.path !== undefined ? { path: r.path } : { prefix: r.prefix ?? '/' },
        ...(r.direct
          ? { direct_response: { status: r.direct.status, body: { inline_string: r.direct.body } } }
          : {
              route: {
                ...(r.cluster ? { cluster: r.cluster } : {}),
                ...(r.weighted ? { weighted_clusters: { clusters: r.weighted.map((w) => ({ name: w.name, weight: { value: w.weight } })) } } : {}),
                ...(r.timeout ? { timeout: r.timeout } : {}),
                ...(r.retries !== undefined ? { retry_policy: { retry_on: 'connect-failure', num_retries: { value: r.retries } } } : {}),
                ...(r.prefixRewrite !== undefined ? { prefix_rewrite: r.prefixRewrite } : {}),
              },
            }),
      })),
    })),
  };
}

const istioPorts = [15000, 15001, 15006, 15008, 15021, 15090, 8080, 8443, 9898];

/** A port map that sends every port, Istio's and any a test's listener names, to an ephemeral one. */
class EphemeralPorts extends Map<number, number> {
  override get(port: number): number {
    return super.get(port) ?? 0;
  }
}

/** A proxy whose ports all bind ephemeral ports; `port(listener)` tells where each landed. */
export async function startProxy(opts: Partial<ProxyOptions> = {}): Promise<{ proxy: OutriggerProxy; admin: number; metricsPort: number; port(name: string): Promise<number>; close(): Promise<void> }> {
  const proxy = new OutriggerProxy({
    role: 'sidecar',
    nodeId: 'sidecar~127.0.0.1~test.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default', WORKLOAD_NAME: 'test', LABELS: { app: 'test' } },
    portMap: new EphemeralPorts(istioPorts.map((p) => [p, 0])),
    ...opts,
  });
  const ports = await proxy.start();
  return {
    proxy,
    admin: ports.admin,
    metricsPort: ports.prometheus,
    async port(name) {
      const p = (await proxy.listeners.boundPorts())[name];
      if (p === undefined) throw new Error(`listener ${name} not bound`);
      return p;
    },
    close: () => proxy.close(),
  };
}

/** Applies resources of every type in ADS order. */
export function push(proxy: OutriggerProxy, resources: TypedAny[], version = 'v1'): void {
  for (const type of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret]) {
    const list = resources.filter((r) => r['@type'] === type);
    if (list.length) proxy.xds.apply(type, list, version);
  }
}

/** Answers with the request's method, path, headers and body as JSON, and records the request in `requests`. */
export function echoHandler(requests: http.IncomingMessage[]): http.RequestListener {
  return (req, res) => {
    requests.push(req);
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  };
}

/** An HTTP/1.1 backend: `handler`, or echoing method, path, and headers as JSON. */
export async function echoBackend(handler?: http.RequestListener): Promise<{ port: number; server: http.Server; requests: http.IncomingMessage[] }> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer(handler ?? echoHandler(requests));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, server, requests };
}

/** Sends raw bytes and collects everything until the peer closes (bounded by maxMs). */
export function rawExchange(port: number, bytes: string, maxMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => s.destroy(), maxMs);
    s.on('data', (c) => {
      out += c.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.write(bytes);
  });
}

/** An unused local port (bound, then closed): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request with full control of Host (fetch cannot set it). */
export function request(port: number, path: string, opts: { host?: string; method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: false, headers: { host: opts.host ?? 'echo.example.com', ...opts.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Timers a test fires by hand (`startProxy({ timers })`): `fire(ms)` runs the first pending one of that length. */
export class ManualTimers implements Timers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 1;
  set(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clear(h: unknown): void {
    this.pending.delete(h as number);
  }
  fire(ms: number): boolean {
    for (const [id, t] of this.pending) {
      if (t.ms !== ms) continue;
      this.pending.delete(id);
      t.fn();
      return true;
    }
    return false;
  }
}
