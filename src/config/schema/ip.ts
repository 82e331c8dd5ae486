// IP addresses and CIDR ranges as Istio reads them: a value with a `/` is Go's netip.ParsePrefix, any
// other netip.ParseAddr. Validation (security.ValidateIPs) and translation (AddrStrToCidrRange) both read
// values through parseIpOrCidr. Node's isIP reads addresses as ParseAddr does (dotted quads without
// leading zeros, IPv6 with an optional embedded IPv4 and zone).
import { isIP } from 'node:net';

export type ParsedCidr = { readonly address: string; readonly prefixLen: number; readonly family: number };

/** The value as a prefix, or why netip refuses it. An address is its host prefix; a zone is stripped (netip.PrefixFrom). */
export function parseIpOrCidr(value: string): ParsedCidr | { readonly problem: string } {
  const slash = value.indexOf('/');
  if (slash === -1) {
    const family = isIP(value);
    if (family === 0) return { problem: `bad IP address (${value})` };
    const zone = value.indexOf('%');
    return { address: zone === -1 ? value : value.slice(0, zone), prefixLen: family === 4 ? 32 : 128, family };
  }
  const bad = (why: string) => ({ problem: `bad CIDR range (${value}): ${why}` });
  const address = value.slice(0, value.lastIndexOf('/'));
  const bits = value.slice(value.lastIndexOf('/') + 1);
  const family = isIP(address);
  if (family === 0) return bad(`"${address}" is not an IP address`);
  if (address.includes('%')) return bad('IPv6 zones cannot be present in a prefix');
  // Go 1.22+: decimal digits only, no sign, no leading zero (netip's "bad bits after slash").
  if (!/^(0|[1-9]\d*)$/.test(bits)) return bad(`bad bits after slash: "${bits}"`);
  const max = family === 4 ? 32 : 128;
  if (Number(bits) > max) return bad(`prefix length out of range (an IPv${family} prefix is 0 to ${max} bits)`);
  return { address, prefixLen: Number(bits), family };
}

/** Istio's ValidateIPs for one value: its error text (`bad IP address (...)`, `bad CIDR range (...): ...`), or undefined. */
export function ipOrCidrProblem(value: string): string | undefined {
  const parsed = parseIpOrCidr(value);
  return 'problem' in parsed ? parsed.problem : undefined;
}
