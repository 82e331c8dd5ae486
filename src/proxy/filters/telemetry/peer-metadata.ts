// The other side's `x-outrigger-peer` metadata (base64 JSON: workload, namespace, labels, principal), as
// an HTTP response or a tunnel CONNECT's answer carries it back to the source: Istio's metadata exchange.
import { type WorkloadLabels, workloadLabels } from '../../../telemetry/workload-labels.ts';

/** Decoded labels, cached by header value (a peer sends the same value every time); undefined if malformed. */
export function decodePeerMetadata(v: string, cache: Map<string, WorkloadLabels>): WorkloadLabels | undefined {
  const hit = cache.get(v);
  if (hit) return hit;
  try {
    const m = JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as { workload?: unknown; namespace?: unknown; labels?: unknown; principal?: unknown };
    if (typeof m.workload !== 'string' || typeof m.namespace !== 'string') return undefined;
    const labels = typeof m.labels === 'object' && m.labels !== null ? (m.labels as Record<string, string>) : {};
    const l = workloadLabels({ workload: m.workload, namespace: m.namespace, labels, ...(typeof m.principal === 'string' ? { principal: m.principal } : {}) });
    if (cache.size >= 1000) cache.clear();
    cache.set(v, l);
    return l;
  } catch {
    return undefined;
  }
}
