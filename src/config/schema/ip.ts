// IP addresses and CIDR ranges as Istio's security.ValidateIPs takes them (pkg/config/security): a value
// with a `/` is Go's netip.ParsePrefix, any other netip.ParseAddr. Node's isIP reads addresses as
// ParseAddr does (dotted quads without leading zeros, IPv6 with an optional embedded IPv4 and zone).
import { isIP } from 'node:net';

/** Why `prefix` is not what netip.ParsePrefix accepts, or undefined. */
function prefixProblem(prefix: string): string | undefined {
  const slash = prefix.lastIndexOf('/');
  const address = prefix.slice(0, slash);
  const bits = prefix.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return `"${address}" is not an IP address`;
  if (address.includes('%')) return 'IPv6 zones cannot be present in a prefix';
  // Go 1.22+: decimal digits only, no sign, no leading zero (netip's "bad bits after slash").
  if (!/^(0|[1-9]\d*)$/.test(bits)) return `bad bits after slash: "${bits}"`;
  const max = family === 4 ? 32 : 128;
  if (Number(bits) > max) return `prefix length out of range (an IPv${family} prefix is 0 to ${max} bits)`;
  return undefined;
}

/** Istio's ValidateIPs for one value: its error text (`bad IP address (...)`, `bad CIDR range (...): ...`), or undefined. */
export function ipOrCidrProblem(value: string): string | undefined {
  if (value.includes('/')) {
    const problem = prefixProblem(value);
    return problem ? `bad CIDR range (${value}): ${problem}` : undefined;
  }
  return isIP(value) === 0 ? `bad IP address (${value})` : undefined;
}
