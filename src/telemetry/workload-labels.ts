// The per-workload half of Istio's metric labels (workload, namespace, principal, app, version,
// canonical service and revision, cluster), derived once per workload as Istio's stats plugin does.

export interface WorkloadMetadata {
  workload: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** SPIFFE ID of the workload, when known. */
  principal?: string;
  /** Istio's CLUSTER_ID (`Kubernetes` unless configured). */
  cluster?: string;
}

/** Label values for one side (source or destination) of a metric, `unknown` where Istio says so. */
export interface WorkloadLabels {
  readonly workload: string;
  readonly namespace: string;
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

export const UNKNOWN = 'unknown';

export const unknownWorkload: WorkloadLabels = Object.freeze({
  workload: UNKNOWN,
  namespace: UNKNOWN,
  principal: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
  canonicalService: UNKNOWN,
  // Istio's stats filter reports `latest`, not `unknown`, for the revision of a peer it knows nothing of.
  canonicalRevision: 'latest',
  cluster: UNKNOWN,
});

/** Istio's canonical service: the canonical-name label, else app.kubernetes.io/name, else app, else the workload. */
export function canonicalService(labels: Readonly<Record<string, string>>, workload: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? (workload || UNKNOWN);
}

/** Istio's canonical revision: the canonical-revision label, else app.kubernetes.io/version, else version, else `latest`. */
export function canonicalRevision(labels: Readonly<Record<string, string>>): string {
  return labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels['version'] ?? 'latest';
}

export function workloadLabels(meta: WorkloadMetadata): WorkloadLabels {
  const l = meta.labels;
  return Object.freeze({
    workload: meta.workload || UNKNOWN,
    namespace: meta.namespace || UNKNOWN,
    principal: meta.principal || UNKNOWN,
    app: l['app'] ?? l['app.kubernetes.io/name'] ?? UNKNOWN,
    version: l['version'] ?? l['app.kubernetes.io/version'] ?? UNKNOWN,
    canonicalService: canonicalService(l, meta.workload),
    canonicalRevision: canonicalRevision(l),
    cluster: meta.cluster || 'Kubernetes',
  });
}
