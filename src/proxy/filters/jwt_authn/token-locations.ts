// Where a provider looks for its token: headers (with a value prefix), query parameters, cookies.
// Envoy's default when none is configured: `Authorization: Bearer` and the `access_token` parameter.
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

function queryValues(query: string, name: string): string[] {
  if (query === '') return [];
  const out: string[] = [];
  for (const pair of query.split('&')) {
    if (!keyIs(pair, name)) continue;
    const eq = pair.indexOf('=');
    try {
      out.push(eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1).replaceAll('+', ' ')));
    } catch {
      // A malformed escape is not a token.
    }
  }
  return out;
}

/** The query without any value of `name` (Envoy removes a verified token's parameter unless forwarded). */
export function withoutParam(query: string, name: string): string {
  return query.split('&').filter((pair) => !keyIs(pair, name)).join('&');
}

function cookieValues(headers: HeaderMap, name: string): string[] {
  const out: string[] = [];
  for (const header of values(headers, 'cookie')) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq !== -1 && part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim());
    }
  }
  return out;
}

/** Every token present in the configured locations (a header without the prefix holds no token). */
export function extractTokens(loc: TokenLocations, headers: HeaderMap, query: string): FoundToken[] {
  const found: FoundToken[] = [];
  for (const h of loc.headers) {
    for (const v of values(headers, h.name)) {
      const value = v.trim();
      if (h.prefix === '') found.push({ token: value, header: h.name });
      else if (value.length >= h.prefix.length && value.slice(0, h.prefix.length).toLowerCase() === h.prefix.toLowerCase()) {
        found.push({ token: value.slice(h.prefix.length), header: h.name });
      }
    }
  }
  for (const p of loc.params) for (const token of queryValues(query, p)) found.push({ token, param: p });
  for (const c of loc.cookies) for (const token of cookieValues(headers, c)) found.push({ token });
  return found;
}
