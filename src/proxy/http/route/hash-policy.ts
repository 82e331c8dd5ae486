// Envoy's hash_policy for consistent-hash load balancing: header, cookie (generated with a TTL when
// missing), source IP and query parameter, combined in order (rotate-left then xor) with `terminal`
// stopping at the first policy that produced a hash. Hashes are unsigned 32-bit (FNV-1a).
import type { RE2JS } from 're2js';
import type { DownstreamRequest } from '../stream.ts';
import { durationMs } from '../../../xds/duration.ts';
import type { EnvoyHashPolicy } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { queryParam } from './query-matcher.ts';
import { compileRegexMatcher, compileSubstitution, type RegexOptions, replaceAll } from './regex.ts';
import { headerValue } from './request-headers.ts';

/** FNV-1a over UTF-16 code units: the one hash the load balancer and the hash policy share. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface HashResult {
  readonly hash: number;
  /** A `Set-Cookie` value to add to the response when a cookie policy generated the cookie. */
  readonly setCookie: string | null;
}

interface Policy {
  readonly kind: 'header' | 'cookie' | 'source_ip' | 'query';
  readonly name: string;
  readonly terminal: boolean;
  readonly re: RE2JS | null;
  readonly substitution: string;
  /**
   * A cookie policy with a ttl generates its missing cookie: what follows `name="value"` in its
   * Set-Cookie, built once. Null: no ttl, no cookie generated.
   */
  readonly cookieAttributes: string | null;
}

export class HashPolicy {
  readonly #policies: readonly Policy[];

  constructor(list: EnvoyHashPolicy[], path: string, options?: RegexOptions) {
    this.#policies = list.map((p, i) => compilePolicy(p, `${path}[${i}]`, options));
  }

  /** The hash for this request, or null when no policy produced one (the LB then picks at random). */
  compute(request: DownstreamRequest): HashResult | null {
    let hash: number | null = null;
    let setCookie: string | null = null;
    for (const p of this.#policies) {
      let input: string | undefined;
      switch (p.kind) {
        case 'header':
          input = headerValue(request.headers, p.name);
          if (input !== undefined && p.re !== null) input = replaceAll(p.re, input, p.substitution);
          break;
        case 'query':
          input = queryParam(request.query, p.name);
          break;
        case 'source_ip':
          input = request.connection.remoteAddress || undefined;
          break;
        case 'cookie':
          input = cookieValue(headerValue(request.headers, 'cookie'), p.name);
          if (input === undefined && p.cookieAttributes !== null) {
            // Envoy derives the new cookie from the downstream address so one client sticks.
            const c = request.connection;
            input = hashString(`${c.remoteAddress}:${c.remotePort}`).toString(16).padStart(8, '0');
            setCookie = `${p.name}="${input}"${p.cookieAttributes}`;
          }
          break;
      }
      if (input === undefined) continue;
      const h = hashString(input);
      hash = hash === null ? h : (((hash << 1) | (hash >>> 31)) ^ h) >>> 0;
      if (p.terminal) break;
    }
    return hash === null ? null : { hash, setCookie };
  }
}

function compilePolicy(p: EnvoyHashPolicy, path: string, options?: RegexOptions): Policy {
  const base = { terminal: p.terminal === true, re: null, substitution: '', cookieAttributes: null };
  if (p.header) {
    if (!p.header.header_name) throw new RouteConfigError(`${path}.header.header_name`, 'is required');
    const rr = p.header.regex_rewrite;
    return {
      ...base,
      kind: 'header',
      name: p.header.header_name.toLowerCase(),
      re: rr ? compileRegexMatcher(rr.pattern, `${path}.header.regex_rewrite.pattern`, options) : null,
      substitution: rr ? compileSubstitution(rr.substitution ?? '') : '',
    };
  }
  if (p.cookie) {
    if (!p.cookie.name) throw new RouteConfigError(`${path}.cookie.name`, 'is required');
    const extra = cookieExtraAttributes(p.cookie.attributes ?? [], `${path}.cookie.attributes`);
    return { ...base, kind: 'cookie', name: p.cookie.name, cookieAttributes: p.cookie.ttl ? setCookieAttributes(Math.floor(durationMs(p.cookie.ttl) / 1000), p.cookie.path ?? '', extra) : null };
  }
  if (p.connection_properties) {
    if (p.connection_properties.source_ip !== true) throw new RouteConfigError(`${path}.connection_properties.source_ip`, 'must be true');
    return { ...base, kind: 'source_ip', name: '' };
  }
  if (p.query_parameter) {
    if (!p.query_parameter.name) throw new RouteConfigError(`${path}.query_parameter.name`, 'is required');
    return { ...base, kind: 'query', name: p.query_parameter.name };
  }
  throw new RouteConfigError(path, 'unsupported hash policy (header, cookie, connection_properties, query_parameter)');
}

/**
 * Envoy's Http::Utility::makeSetCookieValue after the value: `Max-Age` only when the ttl is not 0 (a
 * ttl of 0 makes a session cookie, not one the browser deletes at once), then `Path`, then the
 * policy's `attributes`, then HttpOnly.
 */
function setCookieAttributes(maxAgeSeconds: number, path: string, extra: string): string {
  return `${maxAgeSeconds !== 0 ? `; Max-Age=${maxAgeSeconds}` : ''}${path ? `; Path=${path}` : ''}${extra}; HttpOnly`;
}

// Envoy's CookieAttribute rules (HTTP_HEADER_NAME / HTTP_HEADER_VALUE, not strict): no NUL, CR or LF.
const HEADER_BREAK = /[\0\r\n]/;

/** `; name=value` per attribute, `; name` when the value is empty (makeSetCookieValue). */
function cookieExtraAttributes(list: readonly { name?: string; value?: string }[], path: string): string {
  let out = '';
  for (const [i, a] of list.entries()) {
    if (!a.name || HEADER_BREAK.test(a.name)) throw new RouteConfigError(`${path}[${i}].name`, 'must be a non-empty header-safe string');
    if (a.value && HEADER_BREAK.test(a.value)) throw new RouteConfigError(`${path}[${i}].value`, 'must not contain NUL, CR or LF');
    out += a.value ? `; ${a.name}=${a.value}` : `; ${a.name}`;
  }
  return out;
}

/** The value of cookie `name` in a Cookie header (`a=1; b="2"`), quotes removed. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let start = 0;
  while (start < header.length) {
    while (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 59 || header.charCodeAt(start) === 44) start++;
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      let v = header.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
    start = end + 1;
  }
  return undefined;
}
