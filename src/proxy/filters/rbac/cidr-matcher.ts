// A CIDR range (Envoy CidrRange) compiled into node's BlockList; a range matches only addresses of its
// own family, as Envoy's CidrRange::isInRange. A socket's IPv4-mapped peer (`::ffff:a.b.c.d`) counts as
// IPv4; an address someone wrote (an X-Forwarded-For entry) stays in the family it was written in.
import { BlockList, isIP } from 'node:net';
import { type CidrRange, RbacConfigError } from './rbac-types.ts';

export interface IpPredicate {
  apply(ip: string): boolean;
  toString(): string;
}

/** A compiled range that also says how long its prefix is (longest-prefix choice between ranges). */
export interface CidrPredicate extends IpPredicate {
  readonly prefixLen: number;
}

/**
 * `::ffff:10.0.0.1` → `10.0.0.1`, so a v4 range matches a dual-stack socket's peer (Envoy's
 * addressFromSockAddr with v6only false). For socket addresses only: Envoy parses an X-Forwarded-For
 * entry with v6only true, so a written `::ffff:10.0.0.1` stays IPv6.
 */
export function unmapIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export interface CidrOptions {
  /**
   * The addresses matched are a socket's (direct_remote_ip, source_ip, destination_ip, a filter chain's
   * destination): a dual-stack socket's `::ffff:10.0.0.9` is then IPv4. Otherwise an address is matched
   * as written (an X-Forwarded-For entry, remote_ip): `::ffff:10.0.0.9` is IPv6, inside `::/0` and
   * `::ffff:10.0.0.0/104`, outside `10.0.0.0/8`.
   */
  socket?: boolean;
}

export function compileCidr(range: CidrRange | null | undefined, path: string, options: CidrOptions = {}): CidrPredicate {
  const address = range?.address_prefix;
  if (!address || isIP(address) === 0) throw new RbacConfigError(`${path}.address_prefix: not an IP address`);
  // The family of the range as written: `::ffff:10.0.0.0/104` and `::/0` are IPv6 ranges (Envoy parses
  // them into an Ipv6Instance), whatever node's BlockList would make of them.
  const kind = isIP(address);
  const family = kind === 4 ? 'ipv4' : 'ipv6';
  const raw = range?.prefix_len;
  const len = typeof raw === 'object' && raw !== null ? Number(raw.value ?? 0) : Number(raw ?? 0);
  const max = family === 'ipv4' ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > max) throw new RbacConfigError(`${path}.prefix_len: ${len} out of range`);
  const list = new BlockList();
  list.addSubnet(address, len, family);
  const text = `${address}/${len}`;
  const socket = options.socket === true;
  return {
    prefixLen: len,
    apply(ip: string): boolean {
      // Envoy reports a dual-stack socket's IPv4 peer (`::ffff:a.b.c.d`) as IPv4 (addressFromSockAddr,
      // v6only false), then CidrRange::isInRange refuses an address of the other family. BlockList alone
      // would match `::/0` and `::ffff:10.0.0.0/104` against IPv4 addresses. A written address is
      // matched in its own family (Envoy's parseInternetAddressNoThrow, v6only true).
      const bare = socket ? unmapIp(ip) : ip;
      if (isIP(bare) !== kind) return false;
      return list.check(bare, family);
    },
    toString: () => text,
  };
}
