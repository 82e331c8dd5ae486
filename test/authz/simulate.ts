// Simulation harness: AuthorizationPolicy objects in, the proxy's own RBAC filters' decision out.
// Every emitted filter config is round-tripped through the Envoy protos first and must come back
// unchanged (it is valid xDS and nothing was silently dropped).
import type { AuthorizationPolicy } from '../../src/config/resource.ts';
import type { AuthorizationPolicySpec } from '../../src/config/types/security.ts';
import type { FilterVerdict, RequestContext } from '../../src/proxy/http/filter.ts';
import type { ConnectionInfo, DownstreamRequest, StreamInfo } from '../../src/proxy/http/stream.ts';
import { createRbacFilterFactory } from '../../src/proxy/filters/rbac/http-filter.ts';
import { compileNetworkRbac } from '../../src/proxy/filters/rbac/network-filter.ts';
import { type AuthorizationTarget, translateAuthorization } from '../../src/translate/authorization.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { messageType, protoLoaderOptions } from '../../src/xds/protos.ts';

export function policy(name: string, namespace: string, spec: AuthorizationPolicySpec, annotations: Record<string, string> = {}): AuthorizationPolicy {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace, labels: {}, annotations }, spec };
}

export const TARGET: AuthorizationTarget = {
  workloadLabels: { app: 'httpbin', version: 'v1' },
  namespace: 'foo',
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
};

export interface RequestShape {
  method?: string;
  authority?: string;
  path?: string;
  query?: string;
  headers?: Record<string, string | string[]>;
  connection?: Partial<ConnectionInfo>;
  metadata?: Record<string, Record<string, unknown>>;
}

export function connection(c: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return { remoteAddress: '10.0.0.9', remotePort: 40000, localAddress: '10.0.0.1', localPort: 8000, tls: false, ...c };
}

export function context(r: RequestShape): RequestContext {
  const request: DownstreamRequest = {
    method: r.method ?? 'GET',
    scheme: 'http',
    authority: r.authority ?? 'httpbin.foo',
    sentAuthority: r.authority ?? 'httpbin.foo',
    path: r.path ?? '/',
    query: r.query ?? '',
    headers: new Map(Object.entries(r.headers ?? {})),
    protocol: 'HTTP/1.1',
    connection: connection(r.connection),
  };
  const info: StreamInfo = { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map(Object.entries(r.metadata ?? {})) };
  return { request, info, route: null };
}

const factory = createRbacFilterFactory();

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Proto3 may drop default scalars and empty maps on the wire (Go and C++ do; protobufjs keeps a field set
 * explicitly, so `prefix_len: {value: 0}` of a `/0` range comes back whole): compared without them on
 * both sides, everything else must survive.
 */
function withoutDefaults(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutDefaults);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === false || x === 0 || x === '') continue;
    const inner = withoutDefaults(x);
    if (k === 'policies' && typeof inner === 'object' && inner !== null && Object.keys(inner).length === 0) continue;
    out[k] = inner;
  }
  return out;
}

/** Encodes and decodes through the Envoy proto (enums as strings, as in config dumps) and checks nothing was lost. */
export function roundTrip(config: TypedAny): TypedAny {
  const type = messageType(config['@type']);
  const { '@type': url, ...body } = config;
  const decoded = type.toObject(type.decode(type.encode(type.fromObject(body)).finish()), protoLoaderOptions);
  const out = { '@type': url, ...decoded } as TypedAny;
  if (stable(withoutDefaults(out)) !== stable(withoutDefaults(config))) {
    throw new Error(`config changed through the proto:\n${JSON.stringify(config)}\n${JSON.stringify(out)}`);
  }
  return out;
}

/** Runs the translated HTTP RBAC filters in order (ext_authz skipped); the first local reply wins. */
export function decideHttp(policies: AuthorizationPolicy[], r: RequestShape, target: AuthorizationTarget = TARGET): { status: number; ctx: RequestContext; verdict: FilterVerdict | null } {
  const filters = translateAuthorization(policies, target).http;
  const ctx = context(r);
  for (const f of filters) {
    if (f.name !== 'envoy.filters.http.rbac') continue;
    const config = roundTrip(f.typed_config);
    const verdict = factory.create(config).onRequest!(ctx) as FilterVerdict;
    if (verdict.action === 'respond') return { status: verdict.reply.status, ctx, verdict };
  }
  return { status: 200, ctx, verdict: null };
}

/** Runs the translated network RBAC filters; true when the connection is allowed. */
export function decideTcp(policies: AuthorizationPolicy[], c: Partial<ConnectionInfo> = {}, target: AuthorizationTarget = TARGET): boolean {
  for (const f of translateAuthorization(policies, target).tcp) {
    const config = roundTrip(f.typed_config);
    if (!compileNetworkRbac(config).check(connection(c)).allowed) return false;
  }
  return true;
}
