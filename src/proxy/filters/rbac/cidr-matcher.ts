// A CIDR range (Envoy CidrRange) compiled into node's BlockList; IPv4-mapped IPv6 peers count as IPv4,
// and a range matches only addresses of its own family, as Envoy's CidrRange::isInRange.
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

/** `::ffff:10.0.0.1` → `10.0.0.1`, so a v4 range matches a dual-stack socket's peer. */
export function unmapIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function compileCidr(range: CidrRange | null | undefined, path: string): CidrPredicate {
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
  return {
    prefixLen: len,
    apply(ip: string): boolean {
      // Envoy reports a dual-stack socket's IPv4 peer (`::ffff:a.b.c.d`) as IPv4 (addressFromSockAddr,
      // v6only false), then CidrRange::isInRange refuses an address of the other family. BlockList alone
      // would match `::/0` and `::ffff:10.0.0.0/104` against IPv4 addresses.
      const bare = unmapIp(ip);
      if (isIP(bare) !== kind) return false;
      return list.check(bare, family);
    },
    toString: () => text,
  };
}
