// Counts a meshed request once although both sidecars report it: the source's report names the service
// the client routed to, the destination's says whether the request arrived over mutual TLS.
import type { EdgeCounters, EdgeIdentity } from './edge-counters.ts';

const UNKNOWN = 'unknown';

/**
 * `source workload > destination workload`, the one thing both reports of a request name alike. Not the
 * service: the destination names the first service of its inbound cluster (Istio's stats filter), so a
 * workload behind several services on one port names another than the one the client called.
 */
function workloadPair(id: EdgeIdentity): string | undefined {
  if (id.sourceWorkload === UNKNOWN || id.sourceNamespace === UNKNOWN) return undefined;
  if (id.destinationWorkload === UNKNOWN || id.destinationNamespace === UNKNOWN) return undefined;
  return `${id.sourceNamespace}/${id.sourceWorkload}>${id.destinationNamespace}/${id.destinationWorkload}`;
}

/**
 * One interval's edges, each request counted once. Where both sidecars reported a pair of workloads, the
 * source's edges stand (the service the client called, and its outcome), with the mutual TLS share the
 * destination reported for that pair (the source reports `unknown`, as in Istio); the destination's are
 * dropped. The destination's edges count alone where no source sidecar reported the pair (a caller
 * outside the mesh); the source's alone where no destination did (no sidecar there, no answer).
 */
export function mergeReporters(edges: readonly EdgeCounters[]): EdgeCounters[] {
  const fromSource = new Set<string>();
  const security = new Map<string, { requests: number; mtls: number }>();
  for (const e of edges) {
    const pair = workloadPair(e.identity);
    if (pair === undefined) continue;
    if (e.identity.reporter === 'source') {
      fromSource.add(pair);
      continue;
    }
    const s = security.get(pair);
    if (s) {
      s.requests += e.requests;
      s.mtls += e.mtls;
    } else security.set(pair, { requests: e.requests, mtls: e.mtls });
  }
  const out: EdgeCounters[] = [];
  for (const e of edges) {
    const pair = workloadPair(e.identity);
    if (e.identity.reporter !== 'source') {
      if (pair === undefined || !fromSource.has(pair)) out.push(e);
      continue;
    }
    const s = pair === undefined ? undefined : security.get(pair);
    out.push(s && s.requests > 0 ? { ...e, mtls: (e.requests * s.mtls) / s.requests } : e);
  }
  return out;
}
