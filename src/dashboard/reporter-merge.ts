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
 * source's edges stand (the service the client called, and its outcome), with the security the
 * destination reported for that pair (the source reports `unknown`, as in Istio) spread over them by
 * their requests, so the pair's mTLS share is the destination's, as Kiali's; the destination's are
 * dropped. The destination's edges count alone where no source sidecar reported the pair (a caller
 * outside the mesh); the source's alone where no destination did (no sidecar there, no answer), with no
 * security policy.
 */
export function mergeReporters(edges: readonly EdgeCounters[]): EdgeCounters[] {
  const fromSource = new Map<string, { requests: number; tcpBytes: number }>();
  const security = new Map<string, { mtls: number; secured: number; tcpMtls: number; tcpSecured: number }>();
  for (const e of edges) {
    const pair = workloadPair(e.identity);
    if (pair === undefined) continue;
    if (e.identity.reporter === 'source') {
      const f = fromSource.get(pair);
      if (f) {
        f.requests += e.requests;
        f.tcpBytes += e.tcpBytes;
      } else fromSource.set(pair, { requests: e.requests, tcpBytes: e.tcpBytes });
      continue;
    }
    const s = security.get(pair);
    if (s) {
      s.mtls += e.mtls;
      s.secured += e.secured;
      s.tcpMtls += e.tcpMtls;
      s.tcpSecured += e.tcpSecured;
    } else security.set(pair, { mtls: e.mtls, secured: e.secured, tcpMtls: e.tcpMtls, tcpSecured: e.tcpSecured });
  }
  const out: EdgeCounters[] = [];
  for (const e of edges) {
    const pair = workloadPair(e.identity);
    if (e.identity.reporter !== 'source') {
      if (pair === undefined || !fromSource.has(pair)) out.push(e);
      continue;
    }
    const s = pair === undefined ? undefined : security.get(pair);
    const f = pair === undefined ? undefined : fromSource.get(pair);
    // Requests weigh HTTP security, bytes TCP's (Kiali reads istio_tcp_sent_bytes_total for TCP).
    const share = s && f && f.requests > 0 ? e.requests / f.requests : 0;
    const tcpShare = s && f && f.tcpBytes > 0 ? e.tcpBytes / f.tcpBytes : 0;
    out.push({ ...e, mtls: s ? s.mtls * share : 0, secured: s ? s.secured * share : 0, tcpMtls: s ? s.tcpMtls * tcpShare : 0, tcpSecured: s ? s.tcpSecured * tcpShare : 0 });
  }
  return out;
}
