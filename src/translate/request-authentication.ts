// RequestAuthentication → Envoy's `jwt_authn` HTTP filter, as Istio builds it: one provider per jwtRule
// (`origins-N`), one rule for every path, `requires_any` of the providers plus `allow_missing`.
import type { RequestAuthentication } from '../config/resource.ts';
import type { JWTRule } from '../config/types/security.ts';
import type { TypedAny } from '../xds/any.ts';
import { duration, parseDurationMs } from '../xds/duration.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { type AuthorizationTarget, type NamedFilter, policySelects } from './authorization.ts';

export interface RequestAuthenticationFilters {
  readonly http: NamedFilter | null;
  readonly warnings: string[];
}

/** Istio refreshes JWKS every 20 minutes (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL). */
const JWKS_CACHE_MS = 20 * 60 * 1000;
const EMPTY_JWKS = '{"keys":[]}';

function jwksCluster(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.protocol === 'file:') return '';
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return `outbound|${port}||${u.hostname}`;
  } catch {
    return '';
  }
}

function provider(rule: JWTRule, warnings: string[], where: string): Record<string, unknown> {
  const p: Record<string, unknown> = { issuer: rule.issuer, payload_in_metadata: rule.issuer };
  if (rule.audiences?.length) p['audiences'] = rule.audiences;
  if (rule.jwks !== undefined) p['local_jwks'] = { inline_string: rule.jwks };
  else if (rule.jwksUri) {
    const timeoutMs = (rule.timeout ? parseDurationMs(rule.timeout) : undefined) ?? 5_000;
    p['remote_jwks'] = {
      http_uri: { uri: rule.jwksUri, cluster: jwksCluster(rule.jwksUri), timeout: duration(timeoutMs) },
      cache_duration: duration(JWKS_CACHE_MS),
    };
  } else {
    // No key source: fail closed (every token of this issuer is rejected) rather than guess keys.
    warnings.push(`${where}: issuer ${rule.issuer} has neither jwks nor jwksUri; its tokens are rejected`);
    p['local_jwks'] = { inline_string: EMPTY_JWKS };
  }
  if (rule.forwardOriginalToken) p['forward'] = true;
  if (rule.fromHeaders?.length) p['from_headers'] = rule.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { value_prefix: h.prefix } : {}) }));
  if (rule.fromParams?.length) p['from_params'] = rule.fromParams;
  if (rule.fromCookies?.length) p['from_cookies'] = rule.fromCookies;
  if (rule.outputPayloadToHeader) p['forward_payload_header'] = rule.outputPayloadToHeader;
  // Istio's defaults, then the rule's own (1.28): RBAC matches one value of these claims.
  p['normalize_payload_in_metadata'] = { space_delimited_claims: [...new Set(['scope', 'permission', ...(rule.spaceDelimitedClaims ?? [])])] };
  if (rule.outputClaimToHeaders?.length) {
    p['claim_to_headers'] = rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  }
  return p;
}

/** Pure: the `jwt_authn` filter for one workload, or null when no RequestAuthentication selects it. */
export function translateRequestAuthentication(policies: readonly RequestAuthentication[], target: AuthorizationTarget): RequestAuthenticationFilters {
  const warnings: string[] = [];
  const selected = policies
    .filter((p) => policySelects(p, target))
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const providers: Record<string, Record<string, unknown>> = {};
  let i = 0;
  for (const p of selected) {
    for (const rule of p.spec.jwtRules ?? []) providers[`origins-${i++}`] = provider(rule, warnings, `${p.metadata.namespace}/${p.metadata.name}`);
  }
  if (i === 0) return { http: null, warnings };
  const typed: TypedAny = {
    '@type': TypeUrl.JwtAuthn,
    providers,
    rules: [
      {
        match: { prefix: '/' },
        requires: { requires_any: { requirements: [...Object.keys(providers).map((provider_name) => ({ provider_name })), { allow_missing: {} }] } },
      },
    ],
    bypass_cors_preflight: true,
  };
  return { http: { name: 'envoy.filters.http.jwt_authn', typed_config: typed }, warnings };
}
