// What a meshed pod's app ports get from iptables (pod-firewall.ts), by PeerAuthentication resolved as
// Istio does (workload > namespace > mesh, port level last):
// - STRICT ports refuse every connection from outside the pod: only mTLS, through the sidecar's tunnel;
// - the other ports the sidecar's virtualInbound has a chain for (PERMISSIVE, DISABLE) are captured to
//   it, so its authorization, telemetry and plaintext filter chains see that traffic, as Istio's inbound
//   capture sends it. Those ports are the translator's own (`inboundPorts`: the Sidecar's ingress, else
//   the target ports of the Services selecting the pod), declared as container ports or not. Other
//   ports are left alone: the sidecar has no chain for them (its default chain would close them, where
//   Istio passes them through);
// - when the workload itself is STRICT (port level aside), every other TCP port is refused from outside
//   the pod too, as Istio's passthrough chains refuse plaintext on any port; only the ports a port-level
//   PERMISSIVE or DISABLE opens (`open`) stay reachable.
import type { PeerAuthentication } from '../../config/resource.ts';
import { buildProxyScope } from '../../model/proxy-scope.ts';
import type { MeshSnapshot } from '../../model/snapshot.ts';
import { inboundPorts } from '../../translate/listener-inbound.ts';
import { effectiveMtls } from '../../translate/peer-authentication.ts';
import type { PlannedWorkload } from '../plan.ts';

export interface InboundFirewallPorts {
  /** Closed to everyone outside the pod. */
  strict: number[];
  /** Redirected to the sidecar's inbound listener. */
  captured: number[];
  /** Declared ports neither STRICT nor captured: reached directly (what `strictOthers` spares). */
  open: number[];
  /** The workload's own mode is STRICT: every TCP port not listed here is closed like `strict`. */
  strictOthers: boolean;
}

/** `snapshot`: the mesh's config (no workloads needed), as translation reads it. */
export function inboundFirewallPorts(snapshot: MeshSnapshot, w: PlannedWorkload): InboundFirewallPorts {
  if (!w.sidecar) return { strict: [], captured: [], open: [], strictOthers: false }; // no sidecar to terminate mTLS: Istio serves such a pod in plaintext
  const policies = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const proxy = { id: '', role: 'sidecar' as const, namespace: w.namespace, workloadName: w.name, serviceAccount: w.serviceAccount, labels: w.labels, ip: '', appPorts: {} };
  const served = new Set(inboundPorts(snapshot, buildProxyScope(snapshot, proxy)).map((p) => p.port));
  const declared = w.containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  const target = { namespace: w.namespace, labels: w.labels };
  const strictOthers = effectiveMtls(policies, target, snapshot.mesh.rootNamespace).mode === 'STRICT';
  const out: InboundFirewallPorts = { strict: [], captured: [], open: [], strictOthers };
  for (const port of [...new Set([...declared, ...served])].sort((a, b) => a - b)) {
    if (effectiveMtls(policies, { ...target, port }, snapshot.mesh.rootNamespace).mode === 'STRICT') out.strict.push(port);
    else if (served.has(port)) out.captured.push(port);
    else out.open.push(port);
  }
  return out;
}
