// Reads a request header the way Envoy's matchers see it: pseudo-headers (`:authority`, `:method`,
// `:scheme`, `:path`) come from the parsed request; repeated headers are joined with ','.
import type { DownstreamRequest, HeaderMap } from '../stream.ts';

/** One header's value from a HeaderMap (repeated values joined with ','), or undefined. */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers.get(name);
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** A request header by lower-case name, pseudo-headers included. */
export function requestHeader(request: DownstreamRequest, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    switch (name) {
      case ':authority':
        // As the client sent it: Envoy's header matchers read the header, not the virtual host's lower-cased copy.
        return request.sentAuthority;
      case ':method':
        return request.method;
      case ':scheme':
        return request.scheme;
      case ':path':
        return request.query === '' ? request.path : `${request.path}?${request.query}`;
      default:
        return undefined;
    }
  }
  return headerValue(request.headers, name);
}
