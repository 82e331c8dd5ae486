// Which app ports of a meshed pod take only mTLS: PeerAuthentication resolved as Istio does (workload >
// namespace > mesh, port level last), for each container port. These are closed to plaintext by iptables.
import type { AnyResource, PeerAuthentication } from '../../config/resource.ts';
import { effectiveMtls } from '../../translate/peer-authentication.ts';
import type { PlannedWorkload } from '../plan.ts';

export function strictAppPorts(resources: readonly AnyResource[], w: PlannedWorkload, rootNamespace: string): number[] {
  if (!w.sidecar) return []; // no sidecar to terminate mTLS: Istio serves such a pod in plaintext
  const policies = resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const ports = w.containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  return ports.filter((port) => effectiveMtls(policies, { namespace: w.namespace, labels: w.labels, port }, rootNamespace).mode === 'STRICT');
}
