// `envoy.filters.http.jwt_authn`: validates tokens per the first matching rule, rejects an invalid
// token with 401, lets a missing one pass where allowed, and publishes claims for RBAC (`istio_authn`).
import type { TypedAny } from '../../../xds/any.ts';
import { CONTINUE, CONTINUE_CLEAR_ROUTE, FilterConfigError, type FilterVerdict, type HttpFilter, type HttpFilterFactory, type RequestContext } from '../../http/filter.ts';
import { configFieldValue } from '../../http/field-syntax.ts';
import { realTimers, type Timers } from '../../http/router.ts';
import { structValueAt } from '../../http/route/metadata-matcher.ts';
import type { HeaderMap } from '../../http/stream.ts';
import { defaultJwksFetcher, type JwksFetcher } from './jwks.ts';
import { CompiledProvider, type JwtProviderConfig, type Verified } from './provider.ts';
import { compileRequirement, type JwtRequirementConfig, type Requirement } from './requirement.ts';
import { withoutParam } from './token-locations.ts';

export const JWT_AUTHN_FILTER_NAME = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Istio's request-authentication facts, the metadata RBAC `requestPrincipals` and `request.auth.*` read. */
export const ISTIO_AUTHN_METADATA = 'istio_authn';

export interface JwtAuthnOptions {
  /** Milliseconds since the epoch; injected so tests control expiry and JWKS caching. */
  readonly now?: () => number;
  readonly fetchJwks?: JwksFetcher;
  /** The proxy's timers: a remote JWKS fetch's timeout runs on them (a test clock in tests). */
  readonly timers?: Timers;
}

interface JwtAuthnConfig {
  providers?: Record<string, JwtProviderConfig>;
  rules?: { match?: { prefix?: string; path?: string }; requires?: JwtRequirementConfig }[];
  bypass_cors_preflight?: boolean;
}

interface CompiledRule {
  readonly prefix: string | undefined;
  readonly path: string | undefined;
  readonly requires: Requirement | null;
}

/** Envoy's `normalize_payload_in_metadata`: each listed top-level string claim becomes the list of its space-delimited values. */
function normalized(payload: Record<string, unknown>, spaceDelimited: readonly string[]): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const claim of spaceDelimited) {
    const v = payload[claim];
    if (typeof v !== 'string') continue;
    out ??= { ...payload };
    out[claim] = v.split(' ').filter((s) => s !== '');
  }
  return out ?? payload;
}

/** Envoy's `MaximumUriLength`: the path and query in the realm are cut to this many characters. */
const REALM_PATH_MAX = 256;

/**
 * Envoy's `buildOriginalUri` for the realm: scheme, the Host as the client sent it (`getHostValue`, its
 * case kept; the routed authority is lower-cased), then the path with its query, cut to 256 characters.
 * Over HTTP/2 the Host is the `:authority` (Envoy's codec stores it there and drops a `host` header).
 */
function originalUri(request: RequestContext['request']): string {
  const pathAndQuery = request.query === '' ? request.path : `${request.path}?${request.query}`;
  const host = request.sentAuthority;
  return `${request.scheme}://${host}${pathAndQuery.length > REALM_PATH_MAX ? pathAndQuery.slice(0, REALM_PATH_MAX) : pathAndQuery}`;
}

/** Envoy's `addCopy`: a header already set gets another line. */
function addHeader(headers: HeaderMap, name: string, value: string): void {
  const prev = headers.get(name);
  headers.set(name, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]);
}

/** What no header value may hold: a claim with it goes to no header. */
const BAD_CLAIM_VALUE = /[\r\n\0]/;

/**
 * Envoy's convertClaimDoubleToString: an integer in [0, 2^64) as an integer, any other number as C++'s
 * std::to_string(double), `%f` (six decimals: 1.5 is `1.500000`, -3 is `-3.000000`).
 */
function claimNumber(n: number): string {
  if (n >= 0 && n < 2 ** 64 && Number.isInteger(n)) return BigInt(n).toString();
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : n < 0 ? '-inf' : 'nan';
  // toFixed turns to exponent notation from 1e21; a double that large is an integer.
  return Math.abs(n) < 1e21 ? n.toFixed(6) : `${BigInt(n)}.000000`;
}

/**
 * A claim as Envoy's addJWTClaimToHeader writes it (authenticator.cc): a string as its UTF-8 bytes, one
 * character per byte as the proxy carries header values (as it stands, a character above U+00FF would
 * lose its high byte on the wire: `šťɭũŮ` would reach the app as `admin`); a number per claimNumber, a
 * bool as `true`/`false`, an object or a list as the base64 of its JSON; an empty string or a null adds
 * no header.
 */
function claimHeaderValue(v: unknown): string | undefined {
  const text =
    typeof v === 'string'
      ? configFieldValue(v)
      : typeof v === 'number'
        ? claimNumber(v)
        : typeof v === 'boolean'
          ? String(v)
          : typeof v === 'object' && v !== null
            ? Buffer.from(JSON.stringify(v)).toString('base64')
            : undefined;
  return text === '' ? undefined : text;
}

class JwtAuthnFilter implements HttpFilter {
  readonly #providers: readonly CompiledProvider[];
  readonly #rules: readonly CompiledRule[];
  readonly #bypassCors: boolean;
  constructor(providers: readonly CompiledProvider[], rules: readonly CompiledRule[], bypassCors: boolean) {
    this.#providers = providers;
    this.#rules = rules;
    this.#bypassCors = bypassCors;
  }

  async onRequest(ctx: RequestContext): Promise<FilterVerdict> {
    const { request } = ctx;
    // The proxy alone writes these headers: a client's own copy never reaches the app.
    for (const p of this.#providers) for (const h of p.outputHeaders()) request.headers.delete(h);
    // Envoy's preflight test: OPTIONS with non-empty Origin and Access-Control-Request-Method.
    if (this.#bypassCors && request.method === 'OPTIONS' && request.headers.get('origin') && request.headers.get('access-control-request-method')) return CONTINUE;
    const rule = this.#rules.find((r) => (r.path !== undefined ? request.path === r.path : request.path.startsWith(r.prefix ?? '/')));
    if (!rule?.requires) return CONTINUE;
    const anyToken = this.#providers.some((p) => p.tokens(request.headers, request.query).length > 0);
    const outcome = await rule.requires({ headers: request.headers, query: request.query, anyToken });
    if (outcome.kind !== 'ok') {
      const reason = outcome.kind === 'missing' ? 'Jwt_is_missing' : outcome.reason;
      // As Envoy: the status text is the body; a token for another audience is authenticated but not allowed.
      return {
        action: 'respond',
        reply: {
          status: reason === 'Audiences_in_Jwt_are_not_allowed' ? 403 : 401,
          details: `jwt_authn_access_denied{${reason}}`,
          body: reason.replaceAll('_', ' '),
          headers: { 'www-authenticate': `Bearer realm="${originalUri(request)}"${reason === 'Jwt_is_missing' ? '' : ', error="invalid_token"'}` },
        },
      };
    }
    this.#publish(ctx, outcome.verified);
    // Envoy's clear_route_cache: a route may match on the claims just published (Istio's gateways).
    return outcome.verified.some((v) => v.provider.clearRouteCache) ? CONTINUE_CLEAR_ROUTE : CONTINUE;
  }

  #publish(ctx: RequestContext, verified: readonly Verified[]): void {
    if (verified.length === 0) return;
    const { headers } = ctx.request;
    const payloads: Record<string, unknown> = { ...ctx.info.dynamicMetadata.get(JWT_AUTHN_FILTER_NAME) };
    // In Envoy's order: its authenticator verifies the last token found first (authenticator.cc
    // startVerify), each good one overwriting its provider's metadata entry (verifier.cc) and adding
    // (`addCopy`) its output headers. So the metadata keeps the first token's payload, and the headers
    // carry one line per token, the last token's first.
    for (const v of verified.toReversed()) {
      const payload = v.jwt.payload;
      payloads[v.provider.metadataKey] = normalized(payload, v.provider.spaceDelimitedClaims);
      if (!v.provider.forward && v.found.header) headers.delete(v.found.header);
      if (!v.provider.forward && v.found.param) ctx.request.query = withoutParam(ctx.request.query, v.found.param);
      if (v.provider.payloadHeader) addHeader(headers, v.provider.payloadHeader, v.jwt.signingInput.slice(v.jwt.signingInput.indexOf('.') + 1));
      for (const c of v.provider.claimHeaders) {
        const value = claimHeaderValue(structValueAt(payload, c.path));
        if (value !== undefined && !BAD_CLAIM_VALUE.test(value)) addHeader(headers, c.header, value);
      }
    }
    ctx.info.dynamicMetadata.set(JWT_AUTHN_FILTER_NAME, payloads);
    // Istio's facts come from that metadata entry: the first token's.
    const { payload: first, payloadText } = verified[0]!.jwt;
    const { iss, sub, aud } = first;
    ctx.info.dynamicMetadata.set(ISTIO_AUTHN_METADATA, {
      // Istio has a request principal only when the token has both an issuer and a subject.
      ...(typeof iss === 'string' && iss !== '' && typeof sub === 'string' && sub !== '' ? { 'request.auth.principal': `${iss}/${sub}` } : {}),
      'request.auth.audiences': typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [],
      ...(typeof first['azp'] === 'string' ? { 'request.auth.presenter': first['azp'] } : {}),
      'request.auth.claims': normalized(first, verified[0]!.provider.spaceDelimitedClaims),
      'request.auth.raw_claims': payloadText,
    });
  }
}

export function createJwtAuthnFilterFactory(options: JwtAuthnOptions = {}): HttpFilterFactory {
  const deps = { now: options.now ?? Date.now, fetchJwks: options.fetchJwks ?? defaultJwksFetcher, timers: options.timers ?? realTimers };
  return {
    name: JWT_AUTHN_FILTER_NAME,
    typeUrls: [JWT_AUTHN_TYPE_URL],
    create(config: TypedAny): HttpFilter {
      const c = config as JwtAuthnConfig;
      const providers = new Map<string, CompiledProvider>();
      for (const [name, p] of Object.entries(c.providers ?? {})) {
        try {
          providers.set(name, new CompiledProvider(name, p, deps));
        } catch (err) {
          if (err instanceof FilterConfigError) throw err;
          throw new FilterConfigError(`${JWT_AUTHN_FILTER_NAME}.providers[${name}]: ${(err as Error).message}`, { cause: err });
        }
      }
      const rules = (c.rules ?? []).map((r, i) => {
        const at = `${JWT_AUTHN_FILTER_NAME}.rules[${i}]`;
        if (r.match?.prefix === undefined && r.match?.path === undefined) throw new FilterConfigError(`${at}.match: only prefix and path are supported`);
        return { prefix: r.match.prefix, path: r.match.path, requires: r.requires ? compileRequirement(r.requires, providers, `${at}.requires`) : null };
      });
      return new JwtAuthnFilter([...providers.values()], rules, c.bypass_cors_preflight === true);
    },
  };
}
