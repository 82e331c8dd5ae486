// RequestAuthentication → Envoy's `jwt_authn` HTTP filter, as Istio builds it: one provider per jwtRule
// (`origins-N`, by issuer), one rule for every path: a token must be valid, none at all passes.
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

/** pilot's convertToEnvoyJwtConfig: a key set Envoy fetches is cached `{Seconds: 5 * 60}`. */
const JWKS_CACHE_MS = 5 * 60 * 1000;
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

function provider(rule: JWTRule, warnings: string[], where: string, clearRouteCache: boolean): Record<string, unknown> {
  // As pilot's convertToEnvoyJwtConfig: the payload under `payload`, where JWT claim routes look.
  const p: Record<string, unknown> = { issuer: rule.issuer, payload_in_metadata: 'payload' };
  if (clearRouteCache) p['clear_route_cache'] = true;
  if (rule.audiences?.length) p['audiences'] = rule.audiences;
  // proto3: `jwks: ""` is unset. Inline keys win over `jwksUri`, as istiod's BuildLocalJwks (the
  // default fetch mode) takes them.
  if (rule.jwks) p['local_jwks'] = { inline_string: rule.jwks };
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

/**
 * pilot's convertToEnvoyJwtConfig: one provider is `any{P, allow_missing}`; several are
 * `any{P1..Pn, all{any{P1, allow_missing}..any{Pn, allow_missing}}}`, a token, where present, valid for
 * its provider, the outer ORs letting providers that share a location accept each other's tokens.
 */
function requirement(names: readonly string[]): Record<string, unknown> {
  const optional = names.map((provider_name) => ({ requires_any: { requirements: [{ provider_name }, { allow_missing: {} }] } }));
  if (optional.length === 1) return optional[0]!;
  return { requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { requires_all: { requirements: optional } }] } };
}

/**
 * Pure: the `jwt_authn` filter for one workload, or null when no RequestAuthentication selects it.
 * `clearRouteCache` (pilot's JwtFilter argument, true on gateways) has a verified token re-match the
 * route, so a VirtualService may route on its claims.
 */
export function translateRequestAuthentication(policies: readonly RequestAuthentication[], target: AuthorizationTarget, clearRouteCache = false): RequestAuthenticationFilters {
  const warnings: string[] = [];
  const rules = policies
    .filter((p) => policySelects(p, target))
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`))
    .flatMap((p) => (p.spec.jwtRules ?? []).map((rule) => ({ rule, where: `${p.metadata.namespace}/${p.metadata.name}` })))
    // pilot's newPolicyApplier sorts every rule by issuer (byte order); it decides whose failure answers.
    .sort((a, b) => (a.rule.issuer < b.rule.issuer ? -1 : a.rule.issuer > b.rule.issuer ? 1 : 0));
  if (rules.length === 0) return { http: null, warnings };
  const providers: Record<string, Record<string, unknown>> = {};
  rules.forEach(({ rule, where }, i) => {
    providers[`origins-${i}`] = provider(rule, warnings, where, clearRouteCache);
  });
  const typed: TypedAny = {
    '@type': TypeUrl.JwtAuthn,
    providers,
    rules: [{ match: { prefix: '/' }, requires: requirement(Object.keys(providers)) }],
    bypass_cors_preflight: true,
  };
  return { http: { name: 'envoy.filters.http.jwt_authn', typed_config: typed }, warnings };
}
