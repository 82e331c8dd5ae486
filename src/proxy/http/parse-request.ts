// Strict parsing of a downstream request head (HTTP/1.1 and HTTP/2 alike) into the one
// DownstreamRequest that is authorised, routed and forwarded. Rejects what Node lets through:
// duplicate Host, absolute-form target ≠ Host, host ≠ :authority, mixed-case :scheme, too many headers or
// header bytes; joins HTTP/2 cookie crumbs.
import type { IncomingHttpHeaders } from 'node:http';
import type { LocalReply } from './filter.ts';
import type { PathNormalizer } from './normalize-path.ts';
import type { ConnectionInfo, DownstreamRequest, HeaderMap } from './stream.ts';
import { badRequest } from '../local-reply.ts';
import { TOKEN } from './field-syntax.ts';
import { h1ServerDefaults } from './h1-server.ts';

export const MAX_HEADERS_COUNT = 100;
/** An absolute-form target (made once: a pattern literal in a function is a new RegExp each call). */
const ABSOLUTE_FORM = /^https?:\/\//i;
const authorityRe = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::\d{1,5})?$/;

export interface RawHead {
  method: string;
  /** The request target (HTTP/1) or `:path` (HTTP/2). */
  target: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  /** Raw header list as [name, value, name, value, ...] (Node's rawHeaders). */
  rawHeaders: readonly string[];
  /**
   * The names are lower-case already (Outrigger's HTTP/1.1 codec hands over the canonical strings of
   * fieldName): used as they are, not lower-cased again into fresh strings the map would hash anew.
   */
  lowerCaseNames?: boolean;
  /** HTTP/2 pseudo-headers from the parsed header object. */
  h2?: IncomingHttpHeaders | undefined;
}

/** Host and an absolute-form target's authority name the same origin: any case, `:80` (`:443`) or none. */
function sameAuthority(host: string, authority: string, defaultPort: string): boolean {
  const a = host.toLowerCase();
  const b = authority.toLowerCase();
  return a === b || withoutPort(a, defaultPort) === withoutPort(b, defaultPort);
}

function withoutPort(authority: string, port: string): string {
  return authority.endsWith(port) ? authority.slice(0, -port.length) : authority;
}

/**
 * A decoded head's field bytes (name and value of each, as parseRequest counts them) past the limit: for
 * heads that are not parsed as requests (the tunnel's CONNECT streams).
 */
export function headBytesOver(rawHeaders: readonly string[]): boolean {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i++) n += (rawHeaders[i] as string).length;
  return n > h1ServerDefaults.maxHeadBytes;
}

export type ParseResult = { ok: true; request: DownstreamRequest } | { ok: false; reply: LocalReply };

export function parseRequest(raw: RawHead, connection: ConnectionInfo, normalize: PathNormalizer): ParseResult {
  if (!TOKEN.test(raw.method)) return { ok: false, reply: badRequest('http.invalid_method') };
  const headers: HeaderMap = new Map();
  let hosts = 0;
  let count = 0;
  let bytes = 0;
  let cookieBytes = 0;
  const lower = raw.lowerCaseNames === true;
  const h2 = raw.protocol === 'HTTP/2';
  // Envoy's max_request_headers_kb, the limit of the HTTP/1.1 codec's head (h1-server.ts).
  const maxBytes = h1ServerDefaults.maxHeadBytes;
  for (let i = 0; i < raw.rawHeaders.length; i += 2) {
    const name = lower ? (raw.rawHeaders[i] as string) : (raw.rawHeaders[i] as string).toLowerCase();
    const value = raw.rawHeaders[i + 1] as string;
    // An HTTP/1.1 head is bounded whole by its codec before this; an HTTP/2 one is decoded HPACK, which
    // lets a small block name one large table entry many times, so its size is counted here.
    if (h2) {
      if (name === 'cookie') {
        // Envoy's codec sets crumbs aside (StreamImpl::saveHeader into cookies_) and checks the head
        // without them (onHeader: headers().byteSize()); the joined cookie joins the map unchecked once
        // the block has ended. Bounded here on their own, joined, at the same 60 KiB: HPACK must not
        // carry an unbounded cookie to the app. The Cookie header of an HTTP/1.1 head is inside its 60 KiB.
        cookieBytes += cookieBytes === 0 ? value.length : value.length + 2;
        if (cookieBytes > maxBytes) return { ok: false, reply: badRequest('http2.too_many_headers', 431) };
      } else {
        // The decoded head as Envoy's HTTP/2 codec counts it (HeaderMap byteSize: name and value of
        // every field, pseudo-headers included).
        bytes += name.length + value.length;
        if (bytes > maxBytes) return { ok: false, reply: badRequest('http2.too_many_headers', 431) };
      }
    }
    if (name.startsWith(':')) continue;
    if (h2 && name === 'cookie') {
      // RFC 9113 §8.2.3: an HTTP/2 client may split `cookie` into crumbs; they are one field again,
      // joined with "; " (Envoy's reconstituteCrumbledCookies), for routes, RBAC, hashing and HTTP/1.1.
      const crumbs = headers.get(name);
      if (crumbs !== undefined) {
        headers.set(name, `${crumbs as string}; ${value}`);
        continue;
      }
    }
    if (++count > MAX_HEADERS_COUNT) return { ok: false, reply: badRequest('http.too_many_headers', 431) };
    if (name === 'host') hosts++;
    const prev = headers.get(name);
    if (prev === undefined) headers.set(name, value);
    // Envoy keeps `authorization` inline (Istio's proxy registers it): a repeat is appended to the first
    // with ',' (HeaderMapImpl appendToHeader), so RBAC, the filters and the upstream see one value.
    else if (name === 'authorization') headers.set(name, `${prev as string},${value}`);
    else if (Array.isArray(prev)) prev.push(value);
    else headers.set(name, [prev, value]);
  }
  if (hosts > 1) return { ok: false, reply: badRequest('http.duplicate_host') };
  const host = headers.get('host') as string | undefined;
  let scheme: 'http' | 'https' = connection.tls ? 'https' : 'http';
  // No :scheme in the request (HTTP/1.1 origin-form, CONNECT): the connection manager sets it (Envoy's codec leaves it unset).
  let schemeFromConnection = true;
  let authority: string | undefined;
  let target = raw.target;
  if (raw.protocol === 'HTTP/2') {
    const s = raw.h2?.[':scheme'];
    if (s !== undefined) {
      if (s !== 'http' && s !== 'https') return { ok: false, reply: badRequest('http2.invalid_scheme') };
      scheme = s;
      schemeFromConnection = false;
    }
    authority = raw.h2?.[':authority'] as string | undefined;
    if (authority !== undefined && host !== undefined && host.toLowerCase() !== authority.toLowerCase()) {
      return { ok: false, reply: badRequest('http.host_authority_mismatch') };
    }
    authority ??= host;
  } else if (raw.method !== 'CONNECT' && ABSOLUTE_FORM.test(target)) {
    // Absolute form (forward-proxy requests): the target decides, as Envoy's HTTP/1 codec (its authority as
    // written, case and port kept, replaces Host; the rest is the path). Envoy ignores a Host that differs;
    // Outrigger refuses it, but a difference of case or of the scheme's default port is no difference.
    if (!URL.canParse(target)) return { ok: false, reply: badRequest('http.invalid_url') };
    const start = target.indexOf('//') + 2;
    let end = start;
    while (end < target.length && target[end] !== '/' && target[end] !== '?' && target[end] !== '#') end++;
    authority = target.slice(start, end);
    if (host !== undefined && !sameAuthority(host, authority, target[4] === ':' ? ':80' : ':443')) return { ok: false, reply: badRequest('http.absolute_form_host_mismatch') };
    // Its scheme is the request's :scheme, lower-cased (Envoy's handlePath); x-forwarded-proto stays the connection's.
    scheme = target[4] === ':' ? 'http' : 'https';
    schemeFromConnection = false;
    if (host !== authority) headers.set('host', authority);
    // Nothing after the authority is the path `/`; a query or fragment straight after it is no path (400).
    target = end === target.length ? '/' : target.slice(end);
  } else authority = host;
  if (raw.method === 'CONNECT') authority = raw.target;
  if (!authority || !authorityRe.test(authority)) return { ok: false, reply: badRequest('http.invalid_authority') };
  const sentAuthority = authority;
  authority = authority.toLowerCase();
  let path = '';
  let query = '';
  if (raw.method !== 'CONNECT') {
    const hash = target.indexOf('#');
    if (hash >= 0) target = target.slice(0, hash);
    if (!target.startsWith('/') && !(target === '*' && raw.method === 'OPTIONS')) return { ok: false, reply: badRequest('http.invalid_path') };
    const n = normalize(target);
    if (!n.ok) return { ok: false, reply: badRequest(n.details, n.status) };
    path = n.path;
    query = n.query;
  }
  return { ok: true, request: { method: raw.method, scheme, schemeFromConnection, authority, sentAuthority, path, query, headers, protocol: raw.protocol, connection } };
}
