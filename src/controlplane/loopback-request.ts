// What a server meant for this machine's own browser and CLI checks of a request besides its peer
// address (the control plane's debug API on 15014, the dashboard on 20001). A loopback peer is not
// enough: a page of another site whose name a DNS rebinding points at 127.0.0.1 reaches the port from
// the browser on this machine, as the same origin as itself, and reads what it answers. Such a request
// names the attacker's host in `Host`, and a request a page makes to another site carries that page's
// `Origin` and `Sec-Fetch-Site: cross-site`.
import type { IncomingHttpHeaders } from 'node:http';
import { stripPort } from '../proxy/http/route/virtual-host-selector.ts';

/** The names of this machine's loopback a request addressed to it may carry in `Host` (port aside). */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Whether `host` (a bind address's host, or a Host header's name without its port) names loopback. */
export function isLoopbackName(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.trim().toLowerCase());
}

/** Whether a request's `Host` (`127.0.0.1:15014`, `LOCALHOST`, `[::1]:20001`) names loopback; absent is not. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  return isLoopbackName(stripPort((host ?? '').trim().toLowerCase()));
}

/** Whether an `Origin` is a page served from loopback (`http://localhost:3000`); `null` and anything unparsable are not. */
export function isLoopbackOrigin(origin: string): boolean {
  const u = URL.parse(origin.trim());
  return u !== null && (u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackName(u.hostname);
}

/**
 * Why a request to a loopback-only endpoint is refused, with the status to answer; undefined when it
 * may be served. `Host` must name loopback (421, as for a request meant for another server); a request
 * a browser sends on behalf of a page must come from a loopback page (403): an `Origin` that is not one,
 * or `Sec-Fetch-Site` other than `same-origin`, `same-site` or `none` (a page of another site). The CLI
 * (Node's fetch, http.request) and curl send neither header.
 */
export function loopbackRequestRefusal(headers: IncomingHttpHeaders, what: string): { status: 421 | 403; error: string } | undefined {
  if (!isLoopbackHostHeader(headers.host)) {
    return { status: 421, error: `${what} answers requests addressed to 127.0.0.1, localhost or [::1] only, not Host ${JSON.stringify(headers.host ?? '')}` };
  }
  const origin = headers.origin;
  if (origin !== undefined && !isLoopbackOrigin(origin)) return { status: 403, error: `${what} answers pages served from this machine only, not Origin ${JSON.stringify(origin)}` };
  const site = headers['sec-fetch-site'];
  if (site !== undefined && !['same-origin', 'same-site', 'none'].includes(String(site).trim().toLowerCase())) {
    return { status: 403, error: `${what} answers pages served from this machine only, not a request from another site (Sec-Fetch-Site: ${site})` };
  }
  return undefined;
}
