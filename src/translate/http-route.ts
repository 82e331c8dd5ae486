// One VirtualService HTTPRoute → Envoy Routes (one per applicable match clause, in order), with
// its action (weighted clusters, redirect, direct response) and per-route policies.
import type { Destination, HTTPMatchRequest, HTTPRetry, HTTPRoute } from '../config/types/networking.ts';
import type { MeshSettings } from '../model/mesh-config.ts';
import { toStruct } from '../xds/any.ts';
import { matchApplies, type RouteContext, translateRouteMatch } from './route-match.ts';
import { routeDecorator } from './route-decorator.ts';
import { translateCors, translateFault, translateHeaders, translateMirror, translateRetries } from './route-policies.ts';
import { istioDuration } from './xds-values.ts';
import { PREFIX_REDIRECT } from '../model/gateway-api/gateways.ts';

export interface RouteEnv {
  readonly mesh: MeshSettings;
  readonly ctx: RouteContext;
  /** Envoy's `istio.config` metadata names the VirtualService a route came from. */
  readonly configPath: string;
  /** The route `metadata` naming `configPath`, built once per environment (shared by its routes). */
  readonly metadata?: Record<string, unknown>;
  /** The VirtualService's name (a delegate's routes take their root's, as pilot merges them): span names. */
  readonly vsName?: string;
  /**
   * Converted from the Gateway API (Istio's `internal.istio.io/route-semantics: gateway`): a route to a
   * backend that has no cluster answers 500, as the API asks of an invalid backend, not 503.
   */
  readonly gatewaySemantics?: boolean;
  /** The cluster a destination names, and the hash policy of its DestinationRule (consistent hash). */
  destination(dest: Destination): { cluster: string; hashPolicy?: Record<string, unknown>[] };
}


const redirectCodes: Record<number, string> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

/** Envoy routes for one HTTPRoute; none when every match clause is filtered out for this proxy. */
export function translateHttpRoute(route: HTTPRoute, env: RouteEnv): Record<string, unknown>[] {
  const clauses: (HTTPMatchRequest | undefined)[] = route.match?.length ? route.match : [undefined];
  const out: Record<string, unknown>[] = [];
  for (const m of clauses) {
    if (m ? !matchApplies(m, env.ctx) : !matchApplies({}, env.ctx)) continue;
    out.push(translateOne(route, m, env));
  }
  return out;
}

function translateOne(route: HTTPRoute, m: HTTPMatchRequest | undefined, env: RouteEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { match: translateRouteMatch(m) };
  // pilot's translateRoute: `<route>.<match>`, so a named match of an unnamed route is `.<match>`.
  const name = m?.name ? `${route.name ?? ''}.${m.name}` : route.name;
  if (name) out['name'] = name;
  out['metadata'] = env.metadata ?? { filter_metadata: { istio: toStruct({ config: env.configPath }) } };
  const headers = translateHeaders(route.headers);
  Object.assign(out, headers.fields);
  if (route.redirect) out['redirect'] = translateRedirect(route, env.ctx);
  else if (route.directResponse) {
    const body = route.directResponse.body;
    out['direct_response'] = {
      status: route.directResponse.status,
      ...(body?.string !== undefined ? { body: { inline_string: body.string } } : {}),
      ...(body?.bytes !== undefined ? { body: { inline_bytes: body.bytes } } : {}),
    };
  } else out['route'] = translateAction(route, env, out, headers.authority);
  // pilot names the span by the route's one destination; a route with several (even with zero weights) has none.
  const single = route.route?.length === 1 ? ((out['route'] as Record<string, unknown> | undefined)?.['cluster'] as string | undefined) : undefined;
  out['decorator'] = routeDecorator(out['match'] as Record<string, unknown>, single, env.vsName ?? '', env.ctx.port);
  const perFilter: Record<string, unknown> = {};
  const fault = route.fault && translateFault(route.fault);
  if (fault) perFilter['envoy.filters.http.fault'] = fault;
  if (route.corsPolicy) perFilter['envoy.filters.http.cors'] = translateCors(route.corsPolicy);
  if (Object.keys(perFilter).length > 0) out['typed_per_filter_config'] = perFilter;
  return out;
}

function translateRedirect(route: HTTPRoute, ctx: RouteContext): Record<string, unknown> {
  const r = route.redirect ?? {};
  const out: Record<string, unknown> = {};
  // Istio's marker for a Gateway API ReplacePrefixMatch redirect: the matched prefix is replaced.
  if (r.uri?.startsWith(PREFIX_REDIRECT)) out['prefix_rewrite'] = r.uri.slice(PREFIX_REDIRECT.length);
  else if (r.uri) out['path_redirect'] = r.uri;
  if (r.authority) out['host_redirect'] = r.authority;
  if (r.scheme) out['scheme_redirect'] = r.scheme;
  // Envoy cannot derive the port per request, but routes are built per listener port.
  const port = r.port ?? (r.derivePort === 'FROM_REQUEST_PORT' ? ctx.port : undefined);
  // As pilot's ApplyRedirect: no explicit :80 for http nor :443 for https (the scheme the redirect
  // sets, else https on a gateway server with tls, else http). Envoy then keeps the request's host as
  // it came, with its port only if the client wrote one.
  const scheme = r.scheme || (ctx.tls ? 'https' : 'http');
  if (port && !(port === 80 && scheme === 'http') && !(port === 443 && scheme === 'https')) out['port_redirect'] = port;
  const code = redirectCodes[r.redirectCode ?? 301];
  if (code && code !== 'MOVED_PERMANENTLY') out['response_code'] = code;
  return out;
}

/**
 * The forwarding action. `authority` is the host the route's request headers set or add (Istio's
 * TranslateHeadersOperations): with rewrite.authority, which wins, the route's host_rewrite_literal.
 */
function translateAction(route: HTTPRoute, env: RouteEnv, outRoute: Record<string, unknown>, authority: string | undefined): Record<string, unknown> {
  const action: Record<string, unknown> = {};
  const dests = route.route ?? [];
  let destinationAuthority: string | undefined;
  // As pilot's applyHTTPRouteDestination: one destination is a cluster; several are weighted clusters
  // without the zero weights (even when one remains), each adding its DestinationRule's hash policy
  // (processWeightedDestination).
  if (dests.length === 1) {
    const d = dests[0]!;
    const target = env.destination(d.destination);
    action['cluster'] = target.cluster;
    if (target.hashPolicy) action['hash_policy'] = target.hashPolicy;
    const headers = translateHeaders(d.headers);
    Object.assign(outRoute, mergeHeaderOps(outRoute, headers.fields));
    destinationAuthority = headers.authority;
  } else {
    const hashPolicy: Record<string, unknown>[] = [];
    action['weighted_clusters'] = {
      clusters: dests
        .filter((d) => (d.weight ?? 0) > 0)
        .map((d) => {
          const target = env.destination(d.destination);
          if (target.hashPolicy) hashPolicy.push(...target.hashPolicy);
          const headers = translateHeaders(d.headers);
          return {
            name: target.cluster,
            weight: { value: d.weight ?? 0 },
            ...headers.fields,
            ...(headers.authority ? { host_rewrite_literal: headers.authority } : {}),
          };
        }),
    };
    if (hashPolicy.length > 0) action['hash_policy'] = hashPolicy;
  }
  if (env.gatewaySemantics) action['cluster_not_found_response_code'] = 'INTERNAL_SERVER_ERROR';
  action['timeout'] = istioDuration(route.timeout) ?? { seconds: 0 };
  // Istio's setTimeout: the grpc-timeout header is honoured up to the route timeout (0: unbounded).
  action['max_grpc_timeout'] = action['timeout'];
  // Istio hashes (and then keeps a retry on its host) only for a route of a single destination.
  const retry = retryPolicy(route.retries, env.mesh, (route.route?.length ?? 0) === 1 && action['hash_policy'] !== undefined);
  if (retry) action['retry_policy'] = retry;
  const rw = route.rewrite;
  // As pilot's applyHTTPRouteDestination: the regex rewrite, else a non-empty uri (`uri: ""` with an
  // authority rewrites only the authority).
  if (rw?.uriRegexRewrite) {
    action['regex_rewrite'] = { pattern: { regex: rw.uriRegexRewrite.match }, substitution: rw.uriRegexRewrite.rewrite };
  } else if (rw?.uri) action['prefix_rewrite'] = rw.uri;
  // As pilot's applyHTTPRouteDestination and processDestination: rewrite.authority, else the route's
  // headers' authority, else (one destination) the destination's headers' authority.
  const host = rw?.authority || authority || destinationAuthority;
  if (host) action['host_rewrite_literal'] = host;
  const mirrors = [
    ...(route.mirror ? [{ destination: route.mirror, percent: route.mirrorPercentage?.value ?? route.mirrorPercent }] : []),
    ...(route.mirrors ?? []).map((m) => ({ destination: m.destination, percent: m.percentage?.value })),
  ];
  if (mirrors.length > 0) {
    action['request_mirror_policies'] = mirrors.map((m) => translateMirror(env.destination(m.destination).cluster, m.percent));
  }
  // Istio's websocket upgrade is on for every HTTP route.
  action['upgrade_configs'] = [{ upgrade_type: 'websocket' }];
  return action;
}

// Most routes share one retry setting (the mesh default): its policy is built once per setting and
// shared (translation output is read-only). Weak on both sides, so old snapshots' settings can go.
interface RetryPolicies {
  byDefault: { policy: Record<string, unknown> | undefined } | undefined;
  bySetting: WeakMap<HTTPRetry, { policy: Record<string, unknown> | undefined }>;
}
/** One cache per mesh for routes without a hash policy, one for routes with one. */
const retryPolicies = [new WeakMap<MeshSettings, RetryPolicies>(), new WeakMap<MeshSettings, RetryPolicies>()] as const;

/** The route's Envoy retry policy (translateRetries), shared per retry setting and hashing. */
export function retryPolicy(retries: HTTPRetry | undefined, mesh: MeshSettings, consistentHash = false): Record<string, unknown> | undefined {
  const caches = retryPolicies[consistentHash ? 1 : 0];
  let cache = caches.get(mesh);
  if (!cache) {
    cache = { byDefault: undefined, bySetting: new WeakMap() };
    caches.set(mesh, cache);
  }
  let entry = retries ? cache.bySetting.get(retries) : cache.byDefault;
  if (!entry) {
    entry = { policy: translateRetries(retries, mesh, consistentHash) };
    if (retries) cache.bySetting.set(retries, entry);
    else cache.byDefault = entry;
  }
  return entry.policy;
}

function mergeHeaderOps(route: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extra)) {
    const existing = route[k];
    out[k] = Array.isArray(existing) && Array.isArray(v) ? [...existing, ...v] : v;
  }
  return out;
}

