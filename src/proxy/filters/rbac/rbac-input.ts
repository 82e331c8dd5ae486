// Builds the matchers' view of one HTTP request or one TCP connection. Built once per request; header
// lists are read lazily so a policy that never looks at headers costs nothing.
import type { ConnectionInfo, DownstreamRequest, StreamInfo } from '../../http/stream.ts';
import { unmapIp } from './cidr-matcher.ts';
import type { RbacInput } from './rbac-types.ts';

const EMPTY_METADATA: ReadonlyMap<string, Record<string, unknown>> = new Map();
const EMPTY_STATE: ReadonlyMap<string, string> = new Map();

/**
 * `Example.COM.:80` → `Example.COM:80`: the authority as the client sent it (Envoy's `:authority` header,
 * which `request.headers[:authority]` matches case-sensitively), without the host's trailing dot, so
 * `hosts` (translated, as Istio's HostMatcher, to ignore_case matchers) cannot be passed with one.
 */
export function canonicalAuthority(authority: string): string {
  if (authority.startsWith('[')) return authority;
  const colon = authority.lastIndexOf(':');
  const host = colon === -1 ? authority : authority.slice(0, colon);
  if (!host.endsWith('.')) return authority;
  return host.slice(0, -1) + (colon === -1 ? '' : authority.slice(colon));
}

/**
 * Where the proxy records the client address it derived from trusted X-Forwarded-For hops: an entry as
 * written (`::ffff:10.0.0.9` stays IPv6, as Envoy parses XFF), or the socket's peer already unmapped.
 */
export const REMOTE_IP_METADATA = 'outrigger.remote_ip';

class HttpInput implements RbacInput {
  readonly #request: DownstreamRequest;
  readonly urlPath: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sni: string | undefined;
  readonly principal: string | undefined;
  readonly directRemoteIp: string;
  readonly remoteIp: string;
  readonly metadata: ReadonlyMap<string, Record<string, unknown>>;
  readonly filterState: ReadonlyMap<string, string> = EMPTY_STATE;

  constructor(request: DownstreamRequest, info: StreamInfo) {
    const c = request.connection;
    this.#request = request;
    this.urlPath = request.path;
    this.destinationIp = c.localAddress;
    this.destinationPort = c.localPort;
    this.sni = c.sni;
    this.principal = c.peerPrincipal;
    this.directRemoteIp = c.remoteAddress;
    const derived = info.dynamicMetadata.get(REMOTE_IP_METADATA)?.['address'];
    // remote_ip ranges match as written (an X-Forwarded-For entry keeps its family); the socket's peer, when
    // it stands in, is unmapped here as Envoy reports it (`::ffff:10.0.0.9` → `10.0.0.9`).
    this.remoteIp = typeof derived === 'string' ? derived : unmapIp(c.remoteAddress);
    this.metadata = info.dynamicMetadata;
  }

  header(name: string): readonly string[] | undefined {
    const r = this.#request;
    switch (name) {
      case ':method':
        return [r.method];
      case ':path':
        return [r.query === '' ? r.path : `${r.path}?${r.query}`];
      case ':authority':
      case 'host':
        return [canonicalAuthority(r.sentAuthority)];
      case ':scheme':
        return [r.scheme];
    }
    const v = r.headers.get(name);
    if (v === undefined) return undefined;
    return typeof v === 'string' ? [v] : v;
  }
}

export function httpRbacInput(request: DownstreamRequest, info: StreamInfo): RbacInput {
  return new HttpInput(request, info);
}

/** A TCP connection: no headers, no path; HTTP-only matchers never match it. */
export function connectionRbacInput(
  c: ConnectionInfo,
  metadata: ReadonlyMap<string, Record<string, unknown>> = EMPTY_METADATA,
): RbacInput {
  return {
    header: () => undefined,
    urlPath: null,
    destinationIp: c.localAddress,
    destinationPort: c.localPort,
    sni: c.sni,
    principal: c.peerPrincipal,
    directRemoteIp: c.remoteAddress,
    remoteIp: unmapIp(c.remoteAddress),
    metadata,
    filterState: EMPTY_STATE,
  };
}
