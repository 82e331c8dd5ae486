// The CORS filter, as Envoy's cors_filter.cc: answers preflights, adds the CORS response headers to the
// responses of the requests it took as CORS requests, and for an unmatched preflight either forwards it
// (FORWARD) or answers it without Allow-Origin (IGNORE). The policy comes from the route's
// typed_per_filter_config; no route policy, no CORS.
import { TypeUrl } from '../../../xds/type-urls.ts';
import {
  CONTINUE,
  type FilterVerdict,
  type HttpFilter,
  type HttpFilterFactory,
  type RequestContext,
  type ResponseHead,
} from '../../http/filter.ts';
import { FILTER_DISABLED } from '../../http/route/per-filter-config.ts';
import { headerValue } from '../../http/route/request-headers.ts';
import { type CorsPolicy, compileCorsPolicy, originAllowed } from './config.ts';

export const CORS_FILTER_NAME = 'envoy.filters.http.cors';

function policyOf(ctx: RequestContext): CorsPolicy | null {
  const route = ctx.route;
  // Envoy's filter needs a route entry: a redirect or a direct response has none (routeEntry() is null).
  if (route === null || route.kind === 'redirect' || route.kind === 'direct_response') return null;
  const p = route.perFilterConfig(CORS_FILTER_NAME);
  return p === undefined || p === FILTER_DISABLED ? null : (p as CorsPolicy);
}

class CorsFilter implements HttpFilter {
  readonly #random: () => number;
  /**
   * Origin and policy latched for each request onRequest took as a CORS request from an allowed origin
   * (Envoy's is_cors_request_, latched_origin_ and policies_): only their responses get the headers, not
   * one answered before this filter ran (a fault abort, an RBAC denial) nor one whose filter_enabled draw
   * failed; a later route change does not alter them. Requests with an Origin on a route with a policy only.
   */
  readonly #latched = new WeakMap<RequestContext, { readonly origin: string; readonly policy: CorsPolicy }>();
  constructor(random: () => number) {
    this.#random = random;
  }

  onRequest(ctx: RequestContext): FilterVerdict {
    const policy = policyOf(ctx);
    if (policy === null) return CONTINUE;
    const origin = headerValue(ctx.request.headers, 'origin');
    if (!origin) return CONTINUE;
    if (!policy.enabled.sample(this.#random())) return CONTINUE;
    const allowed = originAllowed(policy, origin);
    if (allowed) this.#latched.set(ctx, { origin, policy });
    if (ctx.request.method !== 'OPTIONS') return CONTINUE;
    const requestMethod = headerValue(ctx.request.headers, 'access-control-request-method');
    if (!requestMethod) return CONTINUE;
    if (!allowed && policy.forwardNotMatchingPreflights) return CONTINUE;
    // The preflight reply: an unmatched origin (IGNORE) gets every header but Allow-Origin. A `*` for
    // methods or headers echoes what the preflight asks for, credentials or not (an absent
    // Access-Control-Request-Headers echoes as empty).
    const headers: Record<string, string> = {};
    if (allowed) headers['access-control-allow-origin'] = origin;
    if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    if (policy.allowMethods) headers['access-control-allow-methods'] = policy.allowMethods === '*' ? requestMethod : policy.allowMethods;
    if (policy.allowHeaders) {
      headers['access-control-allow-headers'] = policy.allowHeaders === '*' ? (headerValue(ctx.request.headers, 'access-control-request-headers') ?? '') : policy.allowHeaders;
    }
    if (policy.maxAge) headers['access-control-max-age'] = policy.maxAge;
    if (policy.allowPrivateNetworkAccess && headerValue(ctx.request.headers, 'access-control-request-private-network') === 'true') {
      headers['access-control-allow-private-network'] = 'true';
    }
    return { action: 'respond', reply: { status: 200, details: 'cors_response', headers } };
  }

  onResponse(ctx: RequestContext, response: ResponseHead): void {
    const latched = this.#latched.get(ctx);
    if (latched === undefined) return;
    const { origin, policy } = latched;
    // This filter's own preflight reply passes here too, as Envoy's encodeHeaders sees its local reply:
    // it gains Expose-Headers.
    response.headers.set('access-control-allow-origin', origin);
    if (policy.allowCredentials) response.headers.set('access-control-allow-credentials', 'true');
    if (policy.exposeHeaders) response.headers.set('access-control-expose-headers', policy.exposeHeaders);
  }
}

/** The CORS filter factory; `random` decides filter_enabled fractions. */
export function createCorsFilterFactory(random: () => number = Math.random): HttpFilterFactory {
  return {
    name: CORS_FILTER_NAME,
    typeUrls: [TypeUrl.Cors],
    create: () => new CorsFilter(random),
    compilePerRoute: (config) => compileCorsPolicy(config),
  };
}
