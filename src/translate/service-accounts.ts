// The secure-naming names of a service: the SPIFFE IDs of the workloads behind it, in the mesh's trust
// domain and each of its aliases (as Istio's push context expands them). Clusters carry them in their
// mesh TLS context, or in their metadata when they have none.
import type { MeshService } from '../model/service.ts';
import { type MeshSnapshot, serviceKey } from '../model/snapshot.ts';
import { formatSpiffeId, isWorkloadIdentity } from '../ca/spiffe-id.ts';

// The secure-naming SANs of a service are a fact of the snapshot: every cluster (port × subset) of the
// service, and every proxy translated from the snapshot, uses the same sorted list.
const sansBySnapshot = new WeakMap<MeshSnapshot, Map<MeshService, string[]>>();

/** SPIFFE IDs of the workloads behind `service`, sorted; one shared list per service and snapshot. */
export function serviceAccounts(snapshot: MeshSnapshot, service: MeshService): string[] {
  let bySvc = sansBySnapshot.get(snapshot);
  if (!bySvc) {
    bySvc = new Map();
    sansBySnapshot.set(snapshot, bySvc);
  }
  let sans = bySvc.get(service);
  if (!sans) {
    const ids = new Set<string>();
    for (const w of snapshot.endpointsByService.get(serviceKey(service)) ?? []) {
      // An account that is no DNS name has no SPIFFE ID (the CA refuses to issue one): it names nobody.
      if (!w.serviceAccount || !isWorkloadIdentity(w.namespace, w.serviceAccount)) continue;
      // Istio's spiffe.ExpandWithTrustDomains: the account in the trust domain and in each alias.
      for (const td of [snapshot.mesh.trustDomain, ...snapshot.mesh.trustDomainAliases]) ids.add(formatSpiffeId(td, { namespace: w.namespace, serviceAccount: w.serviceAccount }));
    }
    sans = [...ids].sort();
    bySvc.set(service, sans);
  }
  return sans;
}
