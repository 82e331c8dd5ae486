// X-Forwarded-For as Envoy treats it at the edge (`use_remote_address` with `xff_num_trusted_hops`,
// Istio's `gatewayTopology.numTrustedProxies`): the client is the address that many hops from the
// right of XFF-plus-the-peer; any address further left was written by the client and is not trusted.
//
// The peer is a socket's: a dual-stack listener's IPv4 peer (`::ffff:10.0.0.9`) is IPv4, as Envoy reports
// it, and is written so (`10.0.0.9`). An entry is kept as it was written: Envoy parses XFF with v6only
// true, so a written `::ffff:10.0.0.9` is an IPv6 address (remoteIpBlocks `::/0` holds it, `10.0.0.0/8`
// does not).
import { unmapIp } from '../filters/rbac/cidr-matcher.ts';

/** The addresses of X-Forwarded-For values, in order (several header lines count as one list). */
export function forwardedAddresses(values: string | readonly string[] | undefined): string[] {
  if (values === undefined) return [];
  const lines = typeof values === 'string' ? [values] : values;
  const out: string[] = [];
  for (const line of lines) for (const part of line.split(',')) if (part.trim()) out.push(part.trim());
  return out;
}

/**
 * The trusted client address: with 0 trusted hops the peer itself; with N, the N-th address from the
 * right of XFF (the peer being the 0-th). Fewer addresses than hops: the peer, as Envoy's
 * getLastAddressFromXFF finds none and the connection's address stands (the leftmost entry would be one
 * the client wrote).
 */
export function trustedClientAddress(xff: readonly string[], peer: string, trustedHops: number): string {
  if (trustedHops <= 0) return unmapIp(peer);
  const i = xff.length - trustedHops;
  return i >= 0 ? (xff[i] as string) : unmapIp(peer);
}

/** The XFF an edge proxy sends upstream: what it received, as it was written, then the peer it saw (an IPv4 one as IPv4). */
export function appendForwardedFor(values: string | readonly string[] | undefined, peer: string): string {
  return [...forwardedAddresses(values), unmapIp(peer)].join(', ');
}
