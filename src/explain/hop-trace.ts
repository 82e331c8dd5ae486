// One proxy on the request's path: the filter chain its listener selects, the path as its connection
// manager normalises it, the route its table picks and what its HTTP filters decide.
import { newStreamInfo } from '../proxy/http/connection-manager.ts';
import type { LocalReply, RequestContext } from '../proxy/http/filter.ts';
import { compilePathNormalizer, type PathNormalizationMode } from '../proxy/http/normalize-path.ts';
import { parseRequest } from '../proxy/http/parse-request.ts';
import type { EnvoyRouteConfiguration } from '../proxy/http/route/index.ts';
import type { ConnectionInfo, DownstreamRequest } from '../proxy/http/stream.ts';
import type { EnvoyHcm } from '../proxy/config/envoy-shapes.ts';
import { type ChainQuery, selectChain } from '../proxy/listener/select-chain.ts';
import type { CompiledProxy } from './compiled-proxy.ts';
import { runFilters } from './filter-trace.ts';
import { type RouteDecision, traceRoute } from './route-trace.ts';
import type { HopTrace, ProxyIdentity } from './trace.ts';

export interface RequestHead {
  method: string;
  target: string;
  authority: string;
  /** Lower-case name/value pairs, `host` excluded. */
  headers: readonly [string, string][];
}

export interface HopResult {
  trace: HopTrace;
  /** Set when the chain is TCP: the cluster tcp_proxy picked. */
  tcpCluster?: string;
  /** No chain accepted the connection (the listener has no default chain, or it leads nowhere). */
  refused?: boolean;
  request?: DownstreamRequest;
  decision?: RouteDecision;
  reply?: LocalReply;
}

/** The mode an HCM asks for (Istio's meshConfig.pathNormalization, as translated). */
export function normalizationOf(hcm: EnvoyHcm | undefined): PathNormalizationMode {
  if (!hcm?.normalize_path?.value) return 'NONE';
  if (hcm.path_with_escaped_slashes_action === 'UNESCAPE_AND_FORWARD') return 'DECODE_AND_MERGE_SLASHES';
  return hcm.merge_slashes ? 'MERGE_SLASHES' : 'BASE';
}

function describeQuery(q: ChainQuery): string {
  return `destination port ${q.destinationPort}, transport ${q.transportProtocol}${q.serverName ? `, SNI ${q.serverName}` : ''}`;
}

export async function traceHop(
  proxy: CompiledProxy,
  identity: ProxyIdentity,
  listenerName: string,
  query: ChainQuery,
  head: RequestHead,
  connection: ConnectionInfo,
  draw: () => number,
): Promise<HopResult> {
  const trace: HopTrace = { proxy: identity, listener: listenerName, filterChain: '-', chainMatch: describeQuery(query), pathNormalization: '-', normalizedPath: head.target };
  const listener = proxy.listener(listenerName);
  const chain = listener && selectChain(listener, query);
  if (!chain) return { trace, refused: true };
  trace.filterChain = chain.name || '(unnamed)';
  if (chain === listener.defaultChain) trace.chainMatch += ' (no chain matched: default chain)';
  if (chain.transportProtocol) trace.serverTransport = chain.transportProtocol;
  const handler = chain.handler;
  if (handler.kind === 'tcp') {
    const cluster = handler.pickCluster(draw());
    return { trace, tcpCluster: cluster, ...(cluster === 'BlackHoleCluster' ? { refused: true } : {}) };
  }
  const { hcm } = proxy.chain(listenerName, chain);
  const mode = normalizationOf(hcm);
  trace.pathNormalization = mode;
  const rawHeaders = ['host', head.authority, ...head.headers.flat()];
  const parsed = parseRequest({ method: head.method, target: head.target, protocol: 'HTTP/1.1', rawHeaders }, connection, compilePathNormalizer(mode));
  if (!parsed.ok) return { trace, reply: parsed.reply };
  const request = parsed.request;
  trace.normalizedPath = request.path + (request.query ? `?${request.query}` : '');
  const table = handler.inlineRoutes ?? (handler.rdsName ? proxy.routeTable(handler.rdsName) : undefined);
  if (!table) {
    trace.route = { routeConfiguration: handler.rdsName ?? '(inline)', skipped: [], clusters: [] };
    return { trace, request, reply: { status: 404, flag: 'NR', details: 'route_configuration_not_found' } };
  }
  const raw = handler.inlineRoutes ? (hcm?.route_config as EnvoyRouteConfiguration | undefined) : proxy.rawRouteConfiguration(handler.rdsName ?? '');
  const decision = traceRoute(table, raw, request, draw);
  trace.route = decision.trace;
  const ctx: RequestContext = { request, info: newStreamInfo(0), route: decision.route };
  const run = await runFilters(proxy, handler, ctx, draw);
  if (run.authorization) trace.authorization = run.authorization;
  if (run.fault) trace.route.fault = run.fault;
  return { trace, request, decision, ...(run.reply ? { reply: run.reply } : {}) };
}
