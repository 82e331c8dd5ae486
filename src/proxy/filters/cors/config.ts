// envoy.filters.http.cors per-route CorsPolicy compiled once: origin matchers, the allow/expose
// header values, credentials, and forward_not_matching_preflights (Istio's unmatchedPreflights).
import type { TypedAny } from '../../../xds/any.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { FilterConfigError } from '../../http/filter.ts';
import type { EnvoyRuntimeFractionalPercent, EnvoyStringMatcher } from '../../http/route/envoy-types.ts';
import { ALWAYS, compileFraction, type Fraction } from '../../http/route/fractional-percent.ts';
import { compileStringMatcher, type StringPredicate } from '../../http/route/string-matcher.ts';

interface EnvoyCorsPolicy {
  allow_origin_string_match?: EnvoyStringMatcher[];
  allow_methods?: string;
  allow_headers?: string;
  expose_headers?: string;
  max_age?: string;
  allow_credentials?: { value?: boolean };
  filter_enabled?: EnvoyRuntimeFractionalPercent;
  shadow_enabled?: EnvoyRuntimeFractionalPercent;
  allow_private_network_access?: { value?: boolean };
  forward_not_matching_preflights?: { value?: boolean };
}

export interface CorsPolicy {
  readonly origins: readonly StringPredicate[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  readonly enabled: Fraction;
  readonly forwardNotMatchingPreflights: boolean;
}

export function compileCorsPolicy(config: TypedAny): CorsPolicy {
  if (config['@type'] !== TypeUrl.CorsPolicy) throw new FilterConfigError(`cors: expected ${TypeUrl.CorsPolicy}, got ${config['@type']}`);
  const c = config as unknown as EnvoyCorsPolicy;
  if (c.shadow_enabled !== undefined) throw new FilterConfigError('cors: shadow_enabled is not supported');
  if (c.max_age !== undefined && !/^\d+$/.test(c.max_age)) throw new FilterConfigError(`cors: max_age ${JSON.stringify(c.max_age)} is not a number of seconds`);
  let origins: StringPredicate[];
  try {
    origins = (c.allow_origin_string_match ?? []).map((m, i) => compileStringMatcher(m, `allow_origin_string_match[${i}]`));
  } catch (err) {
    throw new FilterConfigError(`cors: ${(err as Error).message}`, { cause: err });
  }
  return {
    origins,
    allowMethods: c.allow_methods ?? '',
    allowHeaders: c.allow_headers ?? '',
    exposeHeaders: c.expose_headers ?? '',
    maxAge: c.max_age ?? '',
    allowCredentials: c.allow_credentials?.value === true,
    allowPrivateNetworkAccess: c.allow_private_network_access?.value === true,
    enabled: c.filter_enabled ? compileFraction(c.filter_enabled.default_value, 'filter_enabled') : ALWAYS,
    forwardNotMatchingPreflights: c.forward_not_matching_preflights?.value ?? true,
  };
}

/** Envoy also allows an origin when a matcher matches the literal `*`. */
export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  for (const m of policy.origins) if (m.match('*') || m.match(origin)) return true;
  return false;
}
