// One compiled JwtProvider: issuer, audiences, key source, token locations and what to emit for a
// verified token. Compiled once per listener from `envoy.extensions.filters.http.jwt_authn.v3.JwtProvider`.
import { durationMs, type XdsDuration } from '../../../xds/duration.ts';
import { FilterConfigError } from '../../http/filter.ts';
import type { Timers } from '../../http/router.ts';
import type { HeaderMap } from '../../http/stream.ts';
import { type Jwk, JwksError, type JwksFetcher, parseJwks, RemoteJwks } from './jwks.ts';
import { checkTime, type DecodedJwt, decodeJwt, type JwtFailure, sanitizeAudience, verifySignature } from './jwt-verify.ts';
import { DEFAULT_LOCATIONS, extractTokens, type FoundToken, type TokenLocations } from './token-locations.ts';

export interface JwtProviderConfig {
  issuer?: string;
  audiences?: string[];
  local_jwks?: { inline_string?: string; filename?: string };
  remote_jwks?: { http_uri?: { uri?: string; cluster?: string; timeout?: XdsDuration }; cache_duration?: XdsDuration };
  forward?: boolean;
  from_headers?: { name?: string; value_prefix?: string }[];
  from_params?: string[];
  from_cookies?: string[];
  forward_payload_header?: string;
  payload_in_metadata?: string;
  normalize_payload_in_metadata?: { space_delimited_claims?: string[] };
  clock_skew_seconds?: number;
  claim_to_headers?: { header_name?: string; claim_name?: string }[];
  clear_route_cache?: boolean;
}

export interface Verified {
  readonly provider: CompiledProvider;
  readonly found: FoundToken;
  readonly jwt: DecodedJwt;
}

export type ProviderResult = { kind: 'ok'; verified: Verified[] } | { kind: 'missing' } | { kind: 'failed'; reason: JwtFailure };

export interface ProviderDeps {
  readonly now: () => number;
  readonly fetchJwks: JwksFetcher;
  /** Where a remote key set's fetch timeout runs (the proxy's timers). */
  readonly timers: Timers;
}

/** As Envoy: an inline key set that does not parse is accepted and holds no key, so its tokens fail. */
function inlineKeys(text: string): Jwk[] {
  try {
    return parseJwks(text);
  } catch (err) {
    if (err instanceof JwksError) return [];
    throw err;
  }
}

export class CompiledProvider {
  readonly name: string;
  readonly issuer: string | undefined;
  readonly forward: boolean;
  readonly payloadHeader: string | undefined;
  readonly metadataKey: string;
  /** A token of this provider, once verified, has the route matched again (JWT claim routing). */
  readonly clearRouteCache: boolean;
  /** `claim_to_headers`, each claim's dotted name split once (a nested claim's path). */
  readonly claimHeaders: readonly { header: string; claim: string; path: readonly string[] }[];
  /** Top-level claims published as lists of their space-delimited values (`normalize_payload_in_metadata`). */
  readonly spaceDelimitedClaims: readonly string[];
  /** The configured audiences, sanitized once (CheckAudience); empty allows any. */
  readonly #audiences: ReadonlySet<string>;
  readonly #locations: TokenLocations;
  readonly #skew: number;
  readonly #keys: Jwk[] | RemoteJwks;
  readonly #now: () => number;

  constructor(name: string, c: JwtProviderConfig, deps: ProviderDeps) {
    const at = `providers[${name}]`;
    this.name = name;
    this.issuer = c.issuer || undefined;
    this.forward = c.forward === true;
    this.payloadHeader = c.forward_payload_header?.toLowerCase() || undefined;
    this.metadataKey = c.payload_in_metadata || c.issuer || name;
    this.clearRouteCache = c.clear_route_cache === true;
    this.claimHeaders = (c.claim_to_headers ?? []).map((h, i) => {
      if (!h.header_name || !h.claim_name) throw new FilterConfigError(`${at}.claim_to_headers[${i}]: header_name and claim_name required`);
      return { header: h.header_name.toLowerCase(), claim: h.claim_name, path: h.claim_name.split('.') };
    });
    this.spaceDelimitedClaims = c.normalize_payload_in_metadata?.space_delimited_claims ?? [];
    this.#audiences = new Set((c.audiences ?? []).map(sanitizeAudience));
    // Envoy: a skew of 0 (unset) is jwt_verify_lib's default of 60 seconds.
    this.#skew = c.clock_skew_seconds || 60;
    this.#now = deps.now;
    const custom = (c.from_headers?.length ?? 0) + (c.from_params?.length ?? 0) + (c.from_cookies?.length ?? 0) > 0;
    // In Envoy's order, which decides whose failure answers (see verify): its extractor keeps the
    // locations in sorted maps, headers by name and prefix, then parameters, then cookies, each once.
    const sorted = <T>(items: T[], key: (t: T) => string) => [...new Map(items.map((t) => [key(t), t])).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
    this.#locations = custom
      ? {
          headers: sorted(
            (c.from_headers ?? []).map((h) => ({ name: (h.name ?? '').toLowerCase(), prefix: h.value_prefix ?? '' })),
            (h) => h.name + h.prefix,
          ),
          params: sorted(c.from_params ?? [], (p) => p),
          cookies: sorted(c.from_cookies ?? [], (k) => k),
        }
      : DEFAULT_LOCATIONS;
    if (c.local_jwks?.inline_string !== undefined) this.#keys = inlineKeys(c.local_jwks.inline_string);
    else if (c.remote_jwks?.http_uri?.uri) {
      const timeoutMs = durationMs(c.remote_jwks.http_uri.timeout) || 5_000;
      const cacheMs = durationMs(c.remote_jwks.cache_duration) || 600_000;
      this.#keys = new RemoteJwks(c.remote_jwks.http_uri.uri, { cacheMs, timeoutMs, fetch: deps.fetchJwks, now: deps.now, timers: deps.timers });
    } else throw new FilterConfigError(`${at}: local_jwks.inline_string or remote_jwks.http_uri.uri required`);
  }

  /** Headers this provider writes: a client's own copy is always removed first. */
  outputHeaders(): string[] {
    return [...(this.payloadHeader ? [this.payloadHeader] : []), ...this.claimHeaders.map((h) => h.header)];
  }

  tokens(headers: HeaderMap, query: string): FoundToken[] {
    return extractTokens(this.#locations, headers, query);
  }

  /**
   * Every token in this provider's locations must verify, as Envoy's authenticator: a token of another
   * issuer fails (`Jwt_issuer_is_not_configured`). Envoy takes the tokens from the last to the first and
   * stops at the first that fails, so of several bad tokens it is the last one's failure that answers.
   * `verified` keeps the tokens in the order they were found.
   */
  async verify(found: readonly FoundToken[]): Promise<ProviderResult> {
    if (found.length === 0) return { kind: 'missing' };
    const verified: Verified[] = [];
    for (let i = found.length - 1; i >= 0; i--) {
      const f = found[i] as FoundToken;
      const jwt = decodeJwt(f.token);
      if (typeof jwt === 'string') return { kind: 'failed', reason: jwt };
      // Envoy's order (authenticator.cc startVerify): the parse above (claim types, `alg`), then issuer,
      // time, audience, then the key set and the signature.
      const bad =
        (this.issuer !== undefined && jwt.iss !== this.issuer ? 'Jwt_issuer_is_not_configured' : null) ??
        checkTime(jwt, this.#now(), this.#skew) ??
        (this.#audiences.size > 0 && !jwt.audiences.some((a) => this.#audiences.has(sanitizeAudience(a))) ? 'Audiences_in_Jwt_are_not_allowed' : null) ??
        (await this.#checkSignature(jwt));
      if (bad) return { kind: 'failed', reason: bad };
      verified.unshift({ provider: this, found: f, jwt });
    }
    return { kind: 'ok', verified };
  }

  async #checkSignature(jwt: DecodedJwt): Promise<JwtFailure | null> {
    const keyList = this.#keys instanceof RemoteJwks ? await this.#keys.keys() : this.#keys;
    if (keyList.length === 0) return this.#keys instanceof RemoteJwks && this.#keys.failed ? 'Jwks_remote_fetch_is_failed' : 'Jwks_doesn\u0027t_have_any_valid_public_key';
    return verifySignature(jwt, keyList);
  }
}
