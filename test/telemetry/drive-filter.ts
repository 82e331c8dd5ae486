// Drives an HTTP filter's hooks the way the connection manager does, for one request, with a
// constructed request context: onRequest → onResponse → onDone.
import type { HttpFilter, RequestContext, RouteView, StreamOutcome } from '../../src/proxy/http/filter.ts';
import type { ConnectionInfo, DownstreamRequest, HeaderMap, StreamInfo } from '../../src/proxy/http/stream.ts';
import { typedStruct } from '../../src/xds/any.ts';
import { OutriggerExtension } from '../../src/xds/type-urls.ts';
import type { TelemetryFilterConfig } from '../../src/telemetry/filter-config.ts';

export interface DriveRequest {
  authority: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  connection?: Partial<ConnectionInfo>;
  /** The request's scheme as parsed: `https` for one that came over TLS (the mesh tunnel). */
  scheme?: 'http' | 'https';
  status: number;
  responseHeaders?: Record<string, string>;
  durationMs?: number;
  requestBytes?: number;
  responseBytes?: number;
  /** The heads' sizes on an HTTP/1.1 downstream (0: HTTP/2). */
  requestHeadBytes?: number;
  responseHeadBytes?: number;
  clusterName?: string;
  /** The chosen endpoint's `istio.workload` metadata (`name;namespace`), as the router records it. */
  upstreamWorkload?: string;
  flags?: string[];
  grpcStatus?: number;
  /** The endpoint was a mesh proxy behind the tunnel: only then is its `x-outrigger-peer` believed. */
  upstreamMesh?: boolean;
  /** The try's connection was made in the mesh's mutual TLS (not a plaintext or originated hop, not a failed connect). */
  upstreamTls?: boolean;
  /** The identity the answering endpoint's certificate proved (the tunnel's). */
  upstreamPrincipal?: string;
  /** The metadata the endpoint's sidecar answered a CONNECT with (a carried connection's responses go without). */
  upstreamPeer?: string;
  /** The route the request matched (its decorator names the span). */
  route?: RouteView;
  startTime?: number;
}

export interface Driven {
  ctx: RequestContext;
  responseHeaders: HeaderMap;
}

export function telemetryConfig(config: TelemetryFilterConfig): ReturnType<typeof typedStruct> {
  return typedStruct(OutriggerExtension.Telemetry, config as unknown as Record<string, unknown>);
}

export async function drive(filter: HttpFilter, r: DriveRequest): Promise<Driven> {
  const [pathOnly = '/', query = ''] = (r.path ?? '/').split('?');
  const request: DownstreamRequest = {
    method: r.method ?? 'GET',
    scheme: r.scheme ?? 'http',
    authority: r.authority,
    sentAuthority: r.authority,
    path: pathOnly,
    query,
    headers: new Map(Object.entries(r.headers ?? {})),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '127.0.0.1', remotePort: 40000, localAddress: '127.0.0.1', localPort: 9898, tls: false, ...r.connection },
  };
  const info: StreamInfo = { startTime: r.startTime ?? 1_700_000_000_000, responseFlags: new Set(r.flags ?? []), dynamicMetadata: new Map() };
  if (r.clusterName) info.clusterName = r.clusterName;
  if (r.upstreamWorkload) info.upstreamWorkload = r.upstreamWorkload;
  if (r.upstreamMesh !== undefined) info.upstreamMesh = r.upstreamMesh;
  if (r.upstreamTls !== undefined) info.upstreamTls = r.upstreamTls;
  if (r.upstreamPrincipal !== undefined) info.upstreamPrincipal = r.upstreamPrincipal;
  if (r.upstreamPeer !== undefined) info.upstreamPeer = r.upstreamPeer;
  const ctx: RequestContext = { request, info, route: r.route ?? null };
  const verdict = await filter.onRequest?.(ctx);
  if (verdict && verdict.action !== 'continue') throw new Error('filter answered the request itself');
  const responseHeaders: HeaderMap = new Map(Object.entries(r.responseHeaders ?? {}));
  filter.onResponse?.(ctx, { status: r.status, headers: responseHeaders });
  const outcome: StreamOutcome = {
    status: r.status,
    requestBytes: r.requestBytes ?? 0,
    responseBytes: r.responseBytes ?? 0,
    requestHeadBytes: r.requestHeadBytes ?? 0,
    responseHeadBytes: r.responseHeadBytes ?? 0,
    durationMs: r.durationMs ?? 1,
    downstreamReset: false,
  };
  if (r.grpcStatus !== undefined) outcome.grpcStatus = r.grpcStatus;
  filter.onDone?.(ctx, outcome);
  return { ctx, responseHeaders };
}
