// Who may receive a `credentialName` private key. Istio serves a `kubernetes://NAME` secret only to a
// proxy whose verified service account may read Secrets in its namespace (sds.go
// filterAuthorizedResources, a SubjectAccessReview), and a `kubernetes-gateway://NS/NAME` one of another
// namespace only while a ReferenceGrant in NS lets the proxy's namespace's Gateways use it. Outrigger
// has no RBAC, so the config decides: a secret goes to the service accounts of the workloads the config
// declares as its users, never to a proxy that merely claims a gateway's role or labels
// (docs/security-mtls.md#who-receives-a-credential).
import type { DestinationRule, Gateway } from '../config/resource.ts';
import type { TrafficPolicy } from '../config/types/networking.ts';
import { CA_CREDENTIAL_SUFFIX, credentialResourceName, GATEWAY_CREDENTIAL_PREFIX, KUBERNETES_CREDENTIAL_PREFIX } from '../model/credentials.ts';
import { gatewaySelectsPod } from '../model/gateway-api/gateways.ts';
import { gatewayCredentialVerified } from '../model/gateway-api/references.ts';
import { matchesLabels } from '../model/labels.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { planMesh } from '../runtime/plan.ts';
import { destinationRuleReaches } from '../translate/destination-policy.ts';


/** A workload the config declares: a gateway of the IstioOperator, or a Deployment's or Job's pods. */
interface DeclaredWorkload {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** `namespace/serviceAccount` → the SDS names of the credentials it may receive (`kubernetes://NAME`, `kubernetes-gateway://NS/NAME`: credentialResourceName of what the config wrote). */
export type CredentialReaders = ReadonlyMap<string, ReadonlySet<string>>;

const memo = new WeakMap<MeshSnapshot, CredentialReaders>();

/**
 * The readers of each credential in this snapshot. A Gateway's credentials go to the service account of
 * each declared workload its (non-empty) selector matches; a DestinationRule's, to that of each declared
 * workload the rule can apply to (a namespace destinationRuleReaches, and its `workloadSelector`, if any,
 * matching).
 * A `kubernetes-gateway://` name counts only from a Gateway of the workload's own namespace, and only when
 * the Secret is of that namespace or a ReferenceGrant lets that namespace's Gateways use it: Istio's
 * mergeGateways verifies a reference only when the Gateway's namespace is the proxy's, and its SDS never
 * sends an unverified `kubernetes-gateway://` secret (sds.go: "Unverified cross namespace. Never
 * allowed"), so a Gateway of another namespace that selects the workload cannot borrow its grant.
 */
export function credentialReaders(snapshot: MeshSnapshot): CredentialReaders {
  let readers = memo.get(snapshot);
  if (readers) return readers;
  const plan = planMesh(snapshot.resources);
  const workloads: DeclaredWorkload[] = [...plan.gateways, ...plan.workloads];
  const out = new Map<string, Set<string>>();
  for (const w of workloads) {
    const names = new Set<string>();
    for (const g of snapshot.gateways) if (gatewaySelectsPod(g, w)) for (const n of gatewayCredentials(g)) if (gatewayCredentialVerified(snapshot.resources, g.metadata.namespace, w.namespace, n)) names.add(n);
    for (const dr of snapshot.destinationRules) if (appliesTo(snapshot, dr, w)) for (const n of ruleCredentials(dr)) names.add(n);
    if (names.size === 0) continue;
    const key = `${w.namespace}/${w.serviceAccount}`;
    const set = out.get(key) ?? new Set();
    for (const n of names) set.add(n);
    out.set(key, set);
  }
  readers = out;
  memo.set(snapshot, readers);
  return readers;
}

/**
 * Whether an SDS secret may go to this verified identity: anything but a `kubernetes://` key (the mesh's
 * own `default`/`ROOTCA`), any `-cacert` (a CA certificate is public, as in Istio), and a credential the
 * identity reads.
 */
export function mayReceiveSecret(readers: CredentialReaders, identity: { namespace: string; serviceAccount: string }, secretName: string): boolean {
  if (secretName.endsWith(CA_CREDENTIAL_SUFFIX)) return true;
  if (!secretName.startsWith(KUBERNETES_CREDENTIAL_PREFIX) && !secretName.startsWith(GATEWAY_CREDENTIAL_PREFIX)) return true;
  return readers.get(`${identity.namespace}/${identity.serviceAccount}`)?.has(secretName) ?? false;
}

function appliesTo(snapshot: MeshSnapshot, dr: DestinationRule, w: DeclaredWorkload): boolean {
  if (!destinationRuleReaches(snapshot, dr, w.namespace)) return false;
  const sel = dr.spec.workloadSelector?.matchLabels;
  return !sel || (dr.metadata.namespace === w.namespace && matchesLabels(sel, w.labels));
}

function gatewayCredentials(g: Gateway): string[] {
  return g.spec.servers.flatMap((s) => [...(s.tls?.credentialName ? [s.tls.credentialName] : []), ...(s.tls?.credentialNames ?? [])].map(credentialResourceName));
}

/**
 * The SDS names of a DestinationRule's credentials, as its clusters ask for them (client-tls.ts,
 * credentialResourceName: `kubernetes://NAME` whether or not the rule wrote the scheme). Only those of the
 * workload's own namespace: a `kubernetes-gateway://NS/NAME` is verified only from a Gateway of the
 * workload's namespace (Istio's VerifiedCertificateReferences come from its merged gateways alone), so a
 * DestinationRule naming one grants nothing, as Istio's SDS refuses it to the proxy.
 */
function ruleCredentials(dr: DestinationRule): string[] {
  const out: string[] = [];
  const push = (credentialName: string) => {
    const name = credentialResourceName(credentialName);
    if (name.startsWith(KUBERNETES_CREDENTIAL_PREFIX)) out.push(name);
  };
  const add = (p: TrafficPolicy | undefined) => {
    if (!p) return;
    if (p.tls?.credentialName) push(p.tls.credentialName);
    for (const l of p.portLevelSettings ?? []) if (l.tls?.credentialName) push(l.tls.credentialName);
  };
  add(dr.spec.trafficPolicy);
  for (const s of dr.spec.subsets ?? []) add(s.trafficPolicy);
  return out;
}
