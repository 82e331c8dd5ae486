// The secure-naming names of a service: the SPIFFE IDs of the workloads behind it, in the mesh's trust
// domain and each of its aliases (as Istio's push context expands them), and a ServiceEntry's
// `subjectAltNames`. Clusters carry them in their mesh TLS context, or in their metadata when they have none.
import type { MeshService } from '../model/service.ts';
import { type MeshSnapshot, serviceKey } from '../model/snapshot.ts';
import { formatSpiffeId, isWorkloadIdentity } from '../ca/spiffe-id.ts';

// The secure-naming SANs of a service are a fact of the snapshot: every cluster (port × subset) of the
// service, and every proxy translated from the snapshot, uses the same sorted list.
// Keyed by the declaring resource and host, not the object: a proxy's scope narrows services to copies.
const sansBySnapshot = new WeakMap<MeshSnapshot, Map<string, string[]>>();
// A SPIFFE workload ID (Istio's ParseIdentity): its `/ns/NS/sa/SA` path, to restate in another trust domain.
const SPIFFE_PATH = /^spiffe:\/\/[^/]+(\/ns\/[^/]+\/sa\/[^/]+)$/;

/** SPIFFE IDs of the workloads behind `service`, sorted; one shared list per service and snapshot. */
export function serviceAccounts(snapshot: MeshSnapshot, service: MeshService): string[] {
  let bySvc = sansBySnapshot.get(snapshot);
  if (!bySvc) {
    bySvc = new Map();
    sansBySnapshot.set(snapshot, bySvc);
  }
  const cacheKey = `${service.source}\0${service.name}\0${serviceKey(service)}`;
  let sans = bySvc.get(cacheKey);
  if (!sans) {
    const ids = new Set<string>();
    for (const w of snapshot.endpointsByService.get(serviceKey(service)) ?? []) {
      // An account that is no DNS name has no SPIFFE ID (the CA refuses to issue one): it names nobody.
      if (!w.serviceAccount || !isWorkloadIdentity(w.namespace, w.serviceAccount)) continue;
      // Istio's spiffe.ExpandWithTrustDomains: the account in the trust domain and in each alias.
      for (const td of [snapshot.mesh.trustDomain, ...snapshot.mesh.trustDomainAliases]) ids.add(formatSpiffeId(td, { namespace: w.namespace, serviceAccount: w.serviceAccount }));
    }
    // A ServiceEntry endpoint's `serviceAccount` (in the ServiceEntry's namespace), as Istio's endpoint shards.
    for (const { spec: e } of snapshot.staticEndpointsByService.get(serviceKey(service)) ?? []) {
      if (!e.serviceAccount || !isWorkloadIdentity(service.namespace, e.serviceAccount)) continue;
      for (const td of [snapshot.mesh.trustDomain, ...snapshot.mesh.trustDomainAliases]) ids.add(formatSpiffeId(td, { namespace: service.namespace, serviceAccount: e.serviceAccount }));
    }
    // A ServiceEntry's `subjectAltNames` join them (Istio's initServiceAccounts adds Service.ServiceAccounts),
    // so both mesh mTLS and TLS origination check them; a SPIFFE ID is expanded to each alias (ExpandWithTrustDomains).
    for (const san of service.subjectAltNames ?? []) {
      ids.add(san);
      const spiffe = SPIFFE_PATH.exec(san);
      if (spiffe) for (const td of snapshot.mesh.trustDomainAliases) ids.add(`spiffe://${td}${spiffe[1]}`);
    }
    sans = [...ids].sort();
    bySvc.set(cacheKey, sans);
  }
  return sans;
}
