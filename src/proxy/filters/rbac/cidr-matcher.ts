// A CIDR range (Envoy CidrRange) compiled into node's BlockList; IPv4-mapped IPv6 peers count as IPv4.
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
  const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
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
      const bare = unmapIp(ip);
      const kind = isIP(bare);
      if (kind === 0) return false;
      return list.check(bare, kind === 4 ? 'ipv4' : 'ipv6');
    },
    toString: () => text,
  };
}
