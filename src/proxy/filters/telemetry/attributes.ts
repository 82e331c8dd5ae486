// Envoy's attributes (envoyproxy.io, "Attributes") for one finished stream or TCP connection, as CEL expressions
// of the Telemetry API read them: `response.code >= 400`, `request.headers['x-user']`,
// `string(destination.port)`. Built only for listeners whose config has an expression; header maps are
// made on first use. Integers are CEL ints (bigint), so `response.code == 200` holds.
import type { WorkloadLabels } from '../../../telemetry/workload-labels.ts';
import type { RequestContext, ResponseHead, StreamOutcome } from '../../http/filter.ts';
import type { ConnectionInfo, HeaderMap } from '../../http/stream.ts';
import { routedCluster } from './edges.ts';
import { header } from './tracer.ts';

/** Envoy's `response.flags` bits (StreamInfo::CoreResponseFlag order), by short name. */
const FLAG_BITS: Readonly<Record<string, number>> = {
  LH: 0x1, UH: 0x2, UT: 0x4, LR: 0x8, UR: 0x10, UF: 0x20, UC: 0x40, UO: 0x80, NR: 0x100, DI: 0x200, FI: 0x400, RL: 0x800,
  UAEX: 0x1000, RLSE: 0x2000, DC: 0x4000, URX: 0x8000, SI: 0x10000, IH: 0x20000, DPE: 0x40000, UMSDR: 0x80000,
  RFCF: 0x100000, NFCF: 0x200000, DT: 0x400000, UPE: 0x800000, NC: 0x1000000, OM: 0x2000000,
};

function flagBits(flags: string): bigint {
  let bits = 0;
  if (flags !== '-') for (const f of flags.split(',')) bits |= FLAG_BITS[f] ?? 0;
  return BigInt(bits);
}

/** A header map as CEL sees it: lower-case names, repeated values joined by commas (Envoy's view). */
function celHeaders(h: HeaderMap): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of h) out.set(k, typeof v === 'string' ? v : v.join(','));
  return out;
}

function peerAttributes(p: WorkloadLabels, labels?: Readonly<Record<string, string>>): Record<string, unknown> {
  return { workload: p.workload, namespace: p.namespace, app: p.app, version: p.version, service: p.canonicalService, revision: p.canonicalRevision, cluster: p.cluster, labels: new Map(Object.entries(labels ?? {})) };
}

export interface StreamFacts {
  readonly ctx: RequestContext;
  readonly outcome: StreamOutcome;
  readonly response: ResponseHead | undefined;
  /** Envoy's `%RESPONSE_FLAGS%` text (`-` when none). */
  readonly flags: string;
  /** The workload at the other end, when known (upstream for the source reporter, downstream for the destination). */
  readonly peer: WorkloadLabels | undefined;
  readonly outbound: boolean;
}

/** The attribute tree one CEL evaluation reads. */
export function streamAttributes(f: StreamFacts): Record<string, unknown> {
  const { request: r, info } = f.ctx;
  const opt = (k: string, v: string | undefined): Record<string, string> => (v === undefined ? {} : { [k]: v });
  let reqHeaders: Map<string, string> | undefined;
  let resHeaders: Map<string, string> | undefined;
  const request = {
    path: r.query ? `${r.path}?${r.query}` : r.path,
    url_path: r.path,
    // The Host header as the client sent it (Envoy's RequestWrapper reads the header entry; only the
    // virtual-host match lower-cases a copy).
    host: r.sentAuthority,
    scheme: r.scheme,
    method: r.method,
    protocol: r.protocol,
    query: r.query,
    time: new Date(info.startTime),
    size: BigInt(f.outcome.requestBytes),
    ...opt('id', header(r.headers, 'x-request-id')),
    ...opt('referer', header(r.headers, 'referer')),
    ...opt('useragent', header(r.headers, 'user-agent')),
    get headers() {
      reqHeaders ??= celHeaders(r.headers);
      return reqHeaders;
    },
  };
  const response = {
    code: BigInt(f.outcome.status),
    code_details: info.responseCodeDetails ?? (f.outcome.status ? 'via_upstream' : ''),
    flags: flagBits(f.flags),
    size: BigInt(f.outcome.responseBytes),
    ...(f.outcome.grpcStatus !== undefined ? { grpc_status: BigInt(f.outcome.grpcStatus) } : {}),
    get headers() {
      resHeaders ??= f.response ? celHeaders(f.response.headers) : new Map<string, string>();
      return resHeaders;
    },
  };
  const tree = { request, response, ...connectionTree(r.connection, info.upstreamHost, routedCluster(info), info.routeName, f.peer, f.outbound) };
  return withMetadata(tree, info.dynamicMetadata);
}

/**
 * Envoy's `metadata` attribute, the stream's (or connection's) dynamic metadata as a `Metadata` message:
 * `metadata.filter_metadata['envoy.common'].access_log_hint` is `true` where an AUDIT policy matched, `false` where one applied but none matched.
 * Made on first read.
 */
function withMetadata(tree: Record<string, unknown>, dynamic: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined): Record<string, unknown> {
  let made: { filter_metadata: ReadonlyMap<string, Readonly<Record<string, unknown>>> } | undefined;
  return Object.defineProperty(tree, 'metadata', {
    enumerable: true,
    get() {
      made ??= { filter_metadata: dynamic ?? new Map() };
      return made;
    },
  });
}

/** What one TCP connection tells CEL (tcp_proxy has no request, nor a response code: only its flags). */
export interface ConnectionFacts {
  readonly connection: ConnectionInfo;
  readonly flags: string;
  readonly clusterName: string | undefined;
  readonly upstreamHost: string | undefined;
  readonly peer: WorkloadLabels | undefined;
  readonly outbound: boolean;
  /** Network RBAC's refusal (`connection.termination_details`). */
  readonly terminationDetails?: string;
  /** Network ext_authz's refusal (`response.code_details`). */
  readonly codeDetails?: string;
  /** The connection's dynamic metadata (`metadata.filter_metadata`), when a filter wrote any. */
  readonly dynamicMetadata?: ReadonlyMap<string, Readonly<Record<string, unknown>>> | undefined;
}

/** The attribute tree one CEL evaluation over a TCP connection reads; `request.*` is absent, as in Envoy. */
export function connectionAttributes(f: ConnectionFacts): Record<string, unknown> {
  const tree = connectionTree(f.connection, f.upstreamHost, f.clusterName, undefined, f.peer, f.outbound);
  if (f.terminationDetails !== undefined) (tree['connection'] as Record<string, unknown>)['termination_details'] = f.terminationDetails;
  return withMetadata({ response: { flags: flagBits(f.flags), ...(f.codeDetails !== undefined ? { code_details: f.codeDetails } : {}) }, ...tree }, f.dynamicMetadata);
}

/** The connection, addresses, upstream, xds and peer attributes, common to HTTP streams and TCP connections. */
function connectionTree(c: ConnectionInfo, upstreamHost: string | undefined, clusterName: string | undefined, routeName: string | undefined, other: WorkloadLabels | undefined, outbound: boolean): Record<string, unknown> {
  const opt = (k: string, v: string | undefined): Record<string, string> => (v === undefined ? {} : { [k]: v });
  const upstreamAt = upstreamHost?.lastIndexOf(':') ?? -1;
  const peer = other ? peerAttributes(other, outbound ? undefined : c.peer?.labels) : undefined;
  return {
    connection: {
      mtls: c.peerPrincipal !== undefined,
      requested_server_name: c.sni ?? '',
      ...opt('uri_san_peer_certificate', c.peerPrincipal),
    },
    source: { address: c.remoteAddress, port: BigInt(c.remotePort) },
    destination: { address: c.localAddress, port: BigInt(c.localPort) },
    ...(upstreamHost && upstreamAt > 0 ? { upstream: { address: upstreamHost.slice(0, upstreamAt), port: BigInt(Number(upstreamHost.slice(upstreamAt + 1)) || 0) } } : {}),
    xds: { ...opt('cluster_name', clusterName), ...opt('route_name', routeName) },
    ...(peer ? { [outbound ? 'upstream_peer' : 'downstream_peer']: peer } : {}),
  };
}
