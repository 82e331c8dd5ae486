// The compiled `envoy.extensions.filters.http.ext_authz.v3.ExtAuthz` config (HTTP or gRPC service):
// where to send the check, which headers travel each way, and what to do when the server fails.
import type { TypedAny } from '../../../xds/any.ts';
import { durationMs, type XdsDuration } from '../../../xds/duration.ts';
import { FilterConfigError } from '../../http/filter.ts';

type Pattern = { exact?: string; prefix?: string; suffix?: string; contains?: string; ignore_case?: boolean };

export interface ExtAuthzConfigJson {
  http_service?: {
    server_uri?: { uri?: string; cluster?: string; timeout?: XdsDuration };
    path_prefix?: string;
    authorization_request?: { allowed_headers?: { patterns?: Pattern[] }; headers_to_add?: { key?: string; value?: string }[] };
    authorization_response?: { allowed_upstream_headers?: { patterns?: Pattern[] }; allowed_client_headers?: { patterns?: Pattern[] } };
  };
  grpc_service?: GrpcServiceJson;
  failure_mode_allow?: boolean;
  status_on_error?: { code?: number | string };
  filter_enabled_metadata?: { filter?: string; path?: { key?: string }[]; value?: { string_match?: Pattern } };
  transport_api_version?: string;
}

/** `config.core.v3.GrpcService`: only `envoy_grpc` (a cluster) is supported, as Istio emits. */
export interface GrpcServiceJson {
  envoy_grpc?: { cluster_name?: string; authority?: string };
  google_grpc?: unknown;
  timeout?: XdsDuration;
}

export interface CompiledGrpcService {
  readonly cluster: string;
  readonly authority: string;
  /** Envoy's default for a gRPC check is 200 ms. */
  readonly timeoutMs: number;
}

export function compileGrpcService(g: GrpcServiceJson, at: string): CompiledGrpcService {
  if (g.google_grpc !== undefined) throw new FilterConfigError(`${at}.google_grpc: only envoy_grpc is supported`);
  const cluster = g.envoy_grpc?.cluster_name;
  if (!cluster) throw new FilterConfigError(`${at}.envoy_grpc.cluster_name: required`);
  // Istio's authority: the cluster name with `|` (invalid in :authority) replaced.
  return { cluster, authority: g.envoy_grpc?.authority || cluster.replaceAll('|', '_.'), timeoutMs: durationMs(g.timeout) || 200 };
}

type MetadataMatcherJson = NonNullable<ExtAuthzConfigJson['filter_enabled_metadata']>;
export type EnabledPredicate = (metadata: ReadonlyMap<string, Record<string, unknown>>) => boolean;

/** `filter_enabled_metadata`: a string match on one metadata path (Istio's CUSTOM marker). */
export function compileEnabledMetadata(m: MetadataMatcherJson | undefined, at: string): EnabledPredicate | null {
  if (!m) return null;
  const keys = (m.path ?? []).map((p) => p.key ?? '');
  const sm = m.value?.string_match;
  if (!m.filter || keys.length === 0 || !sm || (sm.prefix === undefined && sm.exact === undefined)) {
    throw new FilterConfigError(`${at}.filter_enabled_metadata: filter, path and a prefix or exact string_match required`);
  }
  const filter = m.filter;
  return (md) => {
    let node: unknown = md.get(filter);
    for (const k of keys) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[k] : undefined;
    if (typeof node !== 'string') return false;
    return sm.exact !== undefined ? node === sm.exact : node.startsWith(sm.prefix!);
  };
}

export type HeaderNamePredicate = (name: string) => boolean;

/** Header names are lower case on our side, so patterns compare lower-cased. */
function compilePatterns(patterns: Pattern[] | undefined, path: string): HeaderNamePredicate | null {
  if (!patterns?.length) return null;
  const tests = patterns.map((p, i) => {
    const fold = (s: string) => s.toLowerCase();
    if (p.exact !== undefined) return (n: string) => n === fold(p.exact!);
    if (p.prefix !== undefined) return (n: string) => n.startsWith(fold(p.prefix!));
    if (p.suffix !== undefined) return (n: string) => n.endsWith(fold(p.suffix!));
    if (p.contains !== undefined) return (n: string) => n.includes(fold(p.contains!));
    throw new FilterConfigError(`${path}[${i}]: only exact, prefix, suffix and contains are supported`);
  });
  return (name) => tests.some((t) => t(name));
}

/** Envoy's HttpStatus enum arrives as a number or, decoded from the wire, as its name. */
const STATUS_NAMES: Record<string, number> = { Forbidden: 403, Unauthorized: 401, InternalServerError: 500, ServiceUnavailable: 503, BadGateway: 502, GatewayTimeout: 504 };

export interface CompiledHttpService {
  readonly kind: 'http';
  readonly uri: URL;
  readonly cluster: string;
  readonly pathPrefix: string;
  readonly allowedRequestHeaders: HeaderNamePredicate | null;
  readonly headersToAdd: readonly [string, string][];
  readonly allowedUpstreamHeaders: HeaderNamePredicate | null;
  readonly allowedClientHeaders: HeaderNamePredicate | null;
}

export interface CompiledExtAuthz {
  readonly service: CompiledHttpService | (CompiledGrpcService & { readonly kind: 'grpc' });
  readonly timeoutMs: number;
  readonly failureModeAllow: boolean;
  readonly statusOnError: number;
  /** When set, the check runs only for requests whose metadata matches (Istio's CUSTOM marker). */
  readonly enabled: EnabledPredicate | null;
}

function compileHttpService(svc: NonNullable<ExtAuthzConfigJson['http_service']>, at: string): CompiledHttpService & { timeoutMs: number } {
  if (!svc.server_uri?.uri) throw new FilterConfigError(`${at}.http_service.server_uri.uri: required`);
  let uri: URL;
  try {
    uri = new URL(svc.server_uri.uri);
  } catch (err) {
    throw new FilterConfigError(`${at}.http_service.server_uri.uri: not a URL`, { cause: err });
  }
  return {
    kind: 'http',
    uri,
    cluster: svc.server_uri.cluster ?? '',
    timeoutMs: durationMs(svc.server_uri.timeout) || 200,
    pathPrefix: svc.path_prefix ?? '',
    allowedRequestHeaders: compilePatterns(svc.authorization_request?.allowed_headers?.patterns, `${at}.allowed_headers`),
    headersToAdd: (svc.authorization_request?.headers_to_add ?? []).map((h) => [(h.key ?? '').toLowerCase(), h.value ?? ''] as [string, string]),
    allowedUpstreamHeaders: compilePatterns(svc.authorization_response?.allowed_upstream_headers?.patterns, `${at}.allowed_upstream_headers`),
    allowedClientHeaders: compilePatterns(svc.authorization_response?.allowed_client_headers?.patterns, `${at}.allowed_client_headers`),
  };
}

export function compileExtAuthz(config: TypedAny): CompiledExtAuthz {
  const c = config as ExtAuthzConfigJson;
  const at = 'envoy.filters.http.ext_authz';
  if (c.grpc_service && c.http_service) throw new FilterConfigError(`${at}: grpc_service and http_service are exclusive`);
  let service: CompiledExtAuthz['service'];
  let timeoutMs: number;
  if (c.grpc_service) {
    const g = compileGrpcService(c.grpc_service, `${at}.grpc_service`);
    service = { kind: 'grpc', ...g };
    timeoutMs = g.timeoutMs;
  } else {
    if (!c.http_service) throw new FilterConfigError(`${at}: http_service or grpc_service is required`);
    const { timeoutMs: t, ...h } = compileHttpService(c.http_service, at);
    service = h;
    timeoutMs = t;
  }
  const code = c.status_on_error?.code;
  const statusOnError = typeof code === 'number' ? code : typeof code === 'string' ? (STATUS_NAMES[code] ?? Number(code)) : 403;
  return {
    service,
    timeoutMs,
    failureModeAllow: c.failure_mode_allow === true,
    statusOnError: Number.isInteger(statusOnError) && statusOnError >= 200 && statusOnError <= 599 ? statusOnError : 403,
    enabled: compileEnabledMetadata(c.filter_enabled_metadata, at),
  };
}
