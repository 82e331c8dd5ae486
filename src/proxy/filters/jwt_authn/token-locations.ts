// Where a provider looks for its token: headers (with a value prefix), query parameters, cookies.
// Envoy's default when none is configured: `Authorization: Bearer` and the `access_token` parameter.
// Extraction is Envoy's (jwt_authn extractor.cc, Envoy 1.28+ as in Istio 1.20-1.24): the prefix is found
// anywhere in the value, case included; the token is the rest of the value from the first base64url
// character or dot after it (`token_passed_entirely`), so anything after the token makes it invalid.
import type { HeaderMap } from '../../http/stream.ts';

export interface HeaderLocation {
  readonly name: string;
  readonly prefix: string;
}

export interface TokenLocations {
  readonly headers: readonly HeaderLocation[];
  readonly params: readonly string[];
  readonly cookies: readonly string[];
}

/** A token and where it came from (so it can be removed when not forwarded). */
export interface FoundToken {
  readonly token: string;
  readonly header?: string;
  /** The query parameter it was read from. */
  readonly param?: string;
}

export const DEFAULT_LOCATIONS: TokenLocations = {
  headers: [{ name: 'authorization', prefix: 'Bearer ' }],
  params: ['access_token'],
  cookies: [],
};

function values(headers: HeaderMap, name: string): string[] {
  const v = headers.get(name);
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

function keyIs(pair: string, name: string): boolean {
  const eq = pair.indexOf('=');
  try {
    return decodeURIComponent((eq === -1 ? pair : pair.slice(0, eq)).replaceAll('+', ' ')) === name;
  } catch {
    return false; // A malformed escape is not the parameter.
  }
}

/** The first value of `name`, as Envoy's `getFirstValue` (later ones are neither read nor verified). */
function firstQueryValue(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  for (const pair of query.split('&')) {
    if (!keyIs(pair, name)) continue;
    const eq = pair.indexOf('=');
    const raw = eq === -1 ? '' : pair.slice(eq + 1);
    try {
      return decodeURIComponent(raw.replaceAll('+', ' '));
    } catch {
      return raw; // As Envoy, a malformed escape stays as it is: the token is then malformed, not missing.
    }
  }
  return undefined;
}

/** The query without any value of `name` (Envoy removes a verified token's parameter unless forwarded). */
export function withoutParam(query: string, name: string): string {
  return query.split('&').filter((pair) => !keyIs(pair, name)).join('&');
}

/**
 * Envoy's `parseCookies`: the first cookie of that name across the Cookie headers, its name taken after
 * leading spaces, its value up to the `;` with one pair of enclosing double quotes removed.
 */
function cookieValue(headers: HeaderMap, name: string): string | undefined {
  for (const header of values(headers, 'cookie')) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trimStart() !== name) continue;
      const v = part.slice(eq + 1);
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}

/** RFC 4648 §5 base64url and the dot: where Envoy's `extractJWT` starts the token. */
function isJwtChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e;
}

/**
 * The token in one header value: the value itself without a prefix; else none when the prefix is
 * nowhere in it (case-sensitive), or the rest of the value from the first base64url character or dot
 * after the prefix, as Envoy's `extractJWT` since 1.28 (`Bearer  x.y.z` gives `x.y.z`, `Bearer x.y.z,
 * Basic q` gives `x.y.z, Basic q`, which fails). With no such character the whole value is the token, as
 * in Envoy, so it fails as malformed rather than counting as missing.
 */
export function tokenInHeader(value: string, prefix: string): string | undefined {
  if (prefix === '') return value;
  const at = value.indexOf(prefix);
  if (at === -1) return undefined;
  for (let i = at + prefix.length; i < value.length; i++) {
    if (isJwtChar(value.charCodeAt(i))) return value.slice(i);
  }
  return value;
}

/**
 * Headers Envoy's request header map keeps inline in Istio's proxy (`authorization` is registered by the
 * oauth2 and cache filters Istio builds in): their lines are joined with `,` on arrival (HeaderMapImpl
 * `appendToHeader`), by the HTTP/1 and HTTP/2 codecs alike, so the extractor sees one value.
 */
const COALESCED = new Set(['authorization']);

/** The values a location reads: one per header line, or the lines joined when Envoy coalesces them. */
function locationValues(headers: HeaderMap, name: string): string[] {
  const lines = values(headers, name);
  return lines.length > 1 && COALESCED.has(name) ? [lines.join(',')] : lines;
}

/**
 * Every token present in the configured locations: one per header line (Envoy 1.28.2+, 1.29.2+, 1.30+;
 * one for all the lines of `authorization`, see COALESCED), the first of each parameter and cookie.
 */
export function extractTokens(loc: TokenLocations, headers: HeaderMap, query: string): FoundToken[] {
  const found: FoundToken[] = [];
  for (const h of loc.headers) {
    for (const v of locationValues(headers, h.name)) {
      const token = tokenInHeader(v, h.prefix);
      if (token !== undefined) found.push({ token, header: h.name });
    }
  }
  for (const p of loc.params) {
    const token = firstQueryValue(query, p);
    if (token !== undefined) found.push({ token, param: p });
  }
  for (const c of loc.cookies) {
    const token = cookieValue(headers, c);
    if (token !== undefined) found.push({ token });
  }
  return found;
}
