// Envoy's filter chain match, in its order of precedence: destination port, destination address (the
// longest prefix), server name (exact, then the longest wildcard), transport protocol, application
// protocols. The most specific chain wins; the default chain takes what nothing matches. A query
// without a destination address (the forward proxy, which knows names, not addresses) ignores ranges.
import type { CompiledListener, FilterChain } from './compile-listener.ts';

export interface ChainQuery {
  destinationPort: number;
  destinationIp?: string;
  serverName?: string;
  transportProtocol: 'raw_buffer' | 'tls';
  alpn?: readonly string[];
}

function sniScore(names: readonly string[] | undefined, sni: string | undefined): number {
  if (!names) return 0;
  if (!sni) return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return 10_000;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1))) best = Math.max(best, n.length);
  }
  return best;
}

/** 1 + the longest matching prefix, 0 for a chain without ranges, -1 when no range holds the address. */
function rangeScore(c: FilterChain, ip: string | undefined): number {
  if (!c.destinationRanges || ip === undefined) return 0;
  for (const r of c.destinationRanges) if (r.apply(ip)) return 1 + r.prefixLen;
  return -1;
}

export function selectChain(l: CompiledListener, q: ChainQuery): FilterChain | undefined {
  let best: FilterChain | undefined;
  let bestScore: number[] = [];
  for (const c of l.chains) {
    if (c.destinationPort !== undefined && c.destinationPort !== q.destinationPort) continue;
    const ip = rangeScore(c, q.destinationIp);
    if (ip < 0) continue;
    const sni = sniScore(c.serverNames, q.serverName);
    if (sni < 0) continue;
    if (c.transportProtocol !== undefined && c.transportProtocol !== q.transportProtocol) continue;
    if (c.alpn && !c.alpn.some((p) => q.alpn?.includes(p))) continue;
    const score = [c.destinationPort !== undefined ? 1 : 0, ip, sni, c.transportProtocol ? 1 : 0, c.alpn ? 1 : 0];
    if (!best || compare(score, bestScore) > 0) {
      best = c;
      bestScore = score;
    }
  }
  return best ?? l.defaultChain;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) - (b[i] as number);
  return 0;
}
