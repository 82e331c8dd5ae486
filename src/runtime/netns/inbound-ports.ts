// What a meshed pod's app ports get from iptables (pod-firewall.ts), by PeerAuthentication resolved as
// Istio does (workload > namespace > mesh, port level last):
// - STRICT ports refuse every connection from outside the pod: only mTLS, through the sidecar's tunnel;
// - the other ports a Service of the pod targets (PERMISSIVE, DISABLE) are captured to the sidecar's
//   virtualInbound, so its authorization, telemetry and plaintext filter chains see that traffic, as
//   Istio's inbound capture sends it. Ports no Service targets are left alone: the sidecar has no chain
//   for them (its default chain would close them, where Istio passes them through).
import type { AnyResource, PeerAuthentication, Service } from '../../config/resource.ts';
import { effectiveMtls } from '../../translate/peer-authentication.ts';
import type { PlannedWorkload } from '../plan.ts';
import { selectsWorkload, targetPortOf } from './service-routes.ts';

export interface InboundFirewallPorts {
  /** Closed to everyone outside the pod. */
  strict: number[];
  /** Redirected to the sidecar's inbound listener. */
  captured: number[];
}

export function inboundFirewallPorts(resources: readonly AnyResource[], w: PlannedWorkload, rootNamespace: string): InboundFirewallPorts {
  if (!w.sidecar) return { strict: [], captured: [] }; // no sidecar to terminate mTLS: Istio serves such a pod in plaintext
  const policies = resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const ports = w.containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  const served = servedPorts(resources, w);
  const out: InboundFirewallPorts = { strict: [], captured: [] };
  for (const port of new Set(ports)) {
    if (effectiveMtls(policies, { namespace: w.namespace, labels: w.labels, port }, rootNamespace).mode === 'STRICT') out.strict.push(port);
    else if (served.has(port)) out.captured.push(port);
  }
  return out;
}

/** The pod's ports that a Service selecting it targets (TCP). */
function servedPorts(resources: readonly AnyResource[], w: PlannedWorkload): Set<number> {
  const out = new Set<number>();
  for (const r of resources) {
    if (r.kind !== 'Service' || !selectsWorkload(r as Service, w)) continue;
    for (const p of (r as Service).spec.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      const port = targetPortOf(w, p.targetPort, p.port);
      if (port !== undefined) out.add(port);
    }
  }
  return out;
}
