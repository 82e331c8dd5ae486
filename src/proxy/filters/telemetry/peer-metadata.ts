// The other side's `x-outrigger-peer` metadata (base64 JSON: workload, namespace, labels, principal), as
// an HTTP response or a tunnel CONNECT's answer carries it back to the source: Istio's metadata exchange.
import { type WorkloadLabels, workloadLabels } from '../../../telemetry/workload-labels.ts';

const MAX_LABELS = 64;
const MAX_TEXT = 256;

/**
 * A peer's labels as this proxy keeps them: string values only, at most 64, each name and value at most
 * 256 characters. The header comes from another process (over the tunnel, or from any upstream): a
 * value of another type reached the metrics' label escaping and threw there.
 */
function peerLabels(raw: unknown): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return Object.freeze(out);
  let n = 0;
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || k.length > MAX_TEXT || v.length > MAX_TEXT) continue;
    out[k] = v;
    if (++n >= MAX_LABELS) break;
  }
  return Object.freeze(out);
}

/** A peer's name field: a string of reasonable length, or undefined. */
function peerText(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= MAX_TEXT ? v : undefined;
}

/** What an `x-outrigger-peer` value says, checked; undefined when it is not base64 JSON naming a workload and namespace. */
export interface PeerMetadata {
  readonly workload: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly principal?: string;
}

export function parsePeerMetadata(v: string): PeerMetadata | undefined {
  try {
    const m = JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as { workload?: unknown; namespace?: unknown; labels?: unknown; principal?: unknown };
    const workload = peerText(m.workload);
    const namespace = peerText(m.namespace);
    if (workload === undefined || namespace === undefined) return undefined;
    const principal = peerText(m.principal);
    return Object.freeze({ workload, namespace, labels: peerLabels(m.labels), ...(principal !== undefined ? { principal } : {}) });
  } catch {
    return undefined;
  }
}

/**
 * Decoded labels, cached by header value (a peer sends the same value every time); undefined if
 * malformed. `principal`: the identity the peer's certificate proved, in place of the one it claims.
 */
export function decodePeerMetadata(v: string, cache: Map<string, WorkloadLabels>, principal?: string): WorkloadLabels | undefined {
  const key = principal === undefined ? v : `${v}\0${principal}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const m = parsePeerMetadata(v);
  if (!m) return undefined;
  const l = workloadLabels(principal === undefined ? m : { ...m, principal });
  // Values come from peers: a flood of distinct ones must not grow memory forever.
  if (cache.size >= 1000) cache.clear();
  cache.set(key, l);
  return l;
}
