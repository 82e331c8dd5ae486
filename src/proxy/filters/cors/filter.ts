// The CORS filter: answers preflights for allowed origins, adds the CORS response headers to actual
// requests, and for an unmatched preflight either forwards it (FORWARD) or answers 200 without CORS
// headers (IGNORE). The policy comes from the route's typed_per_filter_config; no route policy, no CORS.
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
  const p = ctx.route?.perFilterConfig(CORS_FILTER_NAME);
  return p === undefined || p === FILTER_DISABLED ? null : (p as CorsPolicy);
}

class CorsFilter implements HttpFilter {
  readonly #random: () => number;
  constructor(random: () => number) {
    this.#random = random;
  }

  onRequest(ctx: RequestContext): FilterVerdict {
    const policy = policyOf(ctx);
    if (policy === null) return CONTINUE;
    const origin = headerValue(ctx.request.headers, 'origin');
    if (!origin) return CONTINUE;
    if (!policy.enabled.sample(this.#random())) return CONTINUE;
    const preflight = ctx.request.method === 'OPTIONS' && !!headerValue(ctx.request.headers, 'access-control-request-method');
    if (!originAllowed(policy, origin)) {
      if (preflight && !policy.forwardNotMatchingPreflights) {
        return { action: 'respond', reply: { status: 200, details: 'cors_preflight_unmatched' } };
      }
      return CONTINUE;
    }
    if (!preflight) return CONTINUE;
    const headers: Record<string, string> = { 'access-control-allow-origin': origin };
    if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    if (policy.allowMethods) headers['access-control-allow-methods'] = policy.allowMethods;
    if (policy.allowHeaders) headers['access-control-allow-headers'] = policy.allowHeaders;
    if (policy.maxAge) headers['access-control-max-age'] = policy.maxAge;
    if (policy.allowPrivateNetworkAccess && headerValue(ctx.request.headers, 'access-control-request-private-network') === 'true') {
      headers['access-control-allow-private-network'] = 'true';
    }
    return { action: 'respond', reply: { status: 200, details: 'cors_preflight', headers } };
  }

  onResponse(ctx: RequestContext, response: ResponseHead): void {
    const policy = policyOf(ctx);
    if (policy === null) return;
    const origin = headerValue(ctx.request.headers, 'origin');
    if (!origin || !originAllowed(policy, origin)) return;
    // A preflight answered by this filter already carries its headers; a forwarded one gets these too.
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
