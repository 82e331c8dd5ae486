// The server side's PeerAuthentication as a client needs it for auto mTLS: whether an endpoint (one
// workload, one target port) or a whole service port accepts mesh mTLS. Istio's `mtlsChecker` (per
// endpoint) and `buildAutoMtlsSettings` (per cluster): a destination in DISABLE gets plaintext. Pure.
import type { PeerAuthentication } from '../config/resource.ts';
import type { MeshService } from '../model/service.ts';
import { type MeshSnapshot, serviceKey } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { type EffectiveMtlsMode, effectiveMtls } from './peer-authentication.ts';

interface Policies {
  all: readonly PeerAuthentication[];
  /** Whether any policy says DISABLE anywhere: without one, no endpoint can be DISABLE (the fast path). */
  anyDisable: boolean;
}

// Snapshots are immutable: the PeerAuthentication list is filtered once per snapshot, not per endpoint.
const bySnapshot = new WeakMap<MeshSnapshot, Policies>();

function policiesOf(snapshot: MeshSnapshot): Policies {
  let p = bySnapshot.get(snapshot);
  if (!p) {
    const all = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
    const anyDisable = all.some(
      (pa) => pa.spec.mtls?.mode === 'DISABLE' || Object.values(pa.spec.portLevelMtls ?? {}).some((m) => m.mode === 'DISABLE'),
    );
    p = { all, anyDisable };
    bySnapshot.set(snapshot, p);
  }
  return p;
}

/** The effective mode of one workload's target port (workload > namespace > mesh, port level last). */
export function workloadMtlsMode(snapshot: MeshSnapshot, w: WorkloadInstance, targetPort: number): EffectiveMtlsMode {
  return effectiveMtls(policiesOf(snapshot).all, { namespace: w.namespace, labels: w.labels, port: targetPort }, snapshot.mesh.rootNamespace).mode;
}

/** A DestinationRule's `trafficPolicy.tls.mode` for the cluster, when one applies. */
export type RuleTlsMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL' | undefined;

/**
 * Whether a client reaches this sidecar'd endpoint without the mesh's mTLS (its tlsMode label dropped).
 * An explicit mode in the client's DestinationRule decides, as Istio's mtlsChecker.checkMtlsEnabled:
 * ISTIO_MUTUAL keeps mTLS; DISABLE, SIMPLE and MUTUAL send the cluster's own transport (plaintext, or
 * the rule's TLS), which overrides auto mTLS. Without one, auto mTLS: plaintext where the port is DISABLE.
 */
export function endpointMtlsDisabled(snapshot: MeshSnapshot, w: WorkloadInstance, targetPort: number, ruleTls?: RuleTlsMode): boolean {
  if (!w.tunnelAddress) return false;
  if (ruleTls !== undefined) return ruleTls !== 'ISTIO_MUTUAL';
  if (!policiesOf(snapshot).anyDisable) return false;
  return workloadMtlsMode(snapshot, w, targetPort) === 'DISABLE';
}

/** The label that says an endpoint has a sidecar (`istio`) or not (Istio's GetTLSModeFromEndpointLabels). */
const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/**
 * Istio's BestEffortInferServiceMTLSMode for a service of resolution NONE that a gateway reaches over EDS
 * (convertResolution; a sidecar's passthrough cluster has no mesh mTLS at all, see clusters.ts): auto mTLS
 * only when it has endpoints and every one has a sidecar (a tunnel, or Istio's `tlsMode: istio` label);
 * otherwise none for the whole cluster.
 */
export function passthroughMtlsDisabled(snapshot: MeshSnapshot, service: MeshService): boolean {
  if (service.resolution !== 'NONE') return false;
  const workloads = snapshot.endpointsByService.get(serviceKey(service)) ?? [];
  const statics = snapshot.staticEndpointsByService.get(serviceKey(service)) ?? [];
  if (workloads.length === 0 && statics.length === 0) return true;
  return !workloads.every((w) => w.tunnelAddress !== undefined || w.labels[TLS_MODE_LABEL] === 'istio') || !statics.every((e) => e.spec.labels?.[TLS_MODE_LABEL] === 'istio');
}

/**
 * Whether auto mTLS must leave the whole cluster in plaintext: every sidecar'd workload behind the
 * service port is DISABLE, or, with none, the namespace (else mesh) policy says DISABLE.
 */
export function serviceMtlsDisabled(snapshot: MeshSnapshot, service: MeshService, port: number): boolean {
  const policies = policiesOf(snapshot);
  if (!policies.anyDisable) return false;
  const servicePort = service.ports.find((p) => p.port === port);
  // Each workload's own target port (a named targetPort may differ between them).
  const targetOf = (w: WorkloadInstance) => (servicePort ? snapshot.targetPortFor(servicePort, w) : port);
  const meshed = (snapshot.endpointsByService.get(serviceKey(service)) ?? []).filter((w) => w.tunnelAddress);
  if (meshed.length > 0) return meshed.every((w) => workloadMtlsMode(snapshot, w, targetOf(w)) === 'DISABLE');
  return effectiveMtls(policies.all, { namespace: service.namespace, labels: {} }, snapshot.mesh.rootNamespace).mode === 'DISABLE';
}
