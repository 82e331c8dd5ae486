// 421 Misdirected Request on a TLS filter chain chosen by SNI: a request whose Host (port stripped)
// is not one of that chain's server names belongs to another server block (another certificate), so
// a connection opened for a.example.com is not reused for b.example.com (RFC 9110 §15.5.20).
import type { HttpChain } from '../listener/compile-listener.ts';
import type { ChainedFilter } from '../http/filter-registry.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type LocalReply, type RequestContext } from '../http/filter.ts';

export const MISDIRECTED_FILTER = 'outrigger.misdirected_request';

const misdirected: LocalReply = Object.freeze({ status: 421, flag: '', details: 'misdirected_request', body: 'Misdirected Request' });
const respond: FilterVerdict = Object.freeze({ action: 'respond', reply: misdirected });

/** `host[:port]` or `[v6]:port` → host, lower-cased. */
export function authorityHost(authority: string): string {
  const a = authority.toLowerCase();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end > 0 ? a.slice(0, end + 1) : a;
  }
  const colon = a.lastIndexOf(':');
  return colon >= 0 ? a.slice(0, colon) : a;
}

/** A host matcher compiled from server_names (exact, or `*.suffix` as the chain match reads them). */
export function compileServerNames(names: readonly string[]): (host: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const n of names) {
    const lower = n.toLowerCase();
    if (lower.startsWith('*.')) suffixes.push(lower.slice(1));
    else exact.add(lower);
  }
  return (host) => exact.has(host) || suffixes.some((s) => host.length > s.length && host.endsWith(s));
}

export function misdirectedRequestFilter(serverNames: readonly string[]): HttpFilter {
  const matches = compileServerNames(serverNames);
  return {
    onRequest(ctx: RequestContext): FilterVerdict {
      return matches(authorityHost(ctx.request.authority)) ? CONTINUE : respond;
    },
  };
}

/**
 * The chain's HTTP handler with the check first, when the chain terminates TLS for named servers (a
 * gateway's HTTPS server); any other chain is returned as it is.
 */
export function withMisdirectedCheck<T extends HttpChain>(handler: T, serverNames: readonly string[] | undefined, terminatesTls: boolean): T {
  if (!terminatesTls || !serverNames?.length || serverNames.includes('*')) return handler;
  const check: ChainedFilter = { name: MISDIRECTED_FILTER, filter: misdirectedRequestFilter(serverNames) };
  return { ...handler, filters: [check, ...handler.filters] };
}
