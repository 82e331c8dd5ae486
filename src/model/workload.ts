// A running workload instance as the registry knows it: from a Deployment replica, a WorkloadEntry,
// or a proxy that connected and registered its addresses.

export interface WorkloadInstance {
  /** Unique within the namespace: `podinfo-stable-0`. */
  name: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /**
   * The workload it belongs to (its Deployment or Job; Istio's WORKLOAD_NAME). Only a proxy whose token is
   * for this namespace, service account and workload may announce the instance. A WorkloadEntry has
   * none: as istiod's ensureProxyCanControlEntry, its namespace and service account decide.
   */
  workload?: string;
  /** The workload's address: an IP in netns mode, `127.0.0.1` in process mode. */
  address: string;
  /** Container port → the port the app really listens on (identical outside process mode). */
  appPorts: Record<number, number>;
  /** A WorkloadEntry's `ports`: service port name → the port it listens on, ahead of the targetPort. */
  portsByName?: Record<string, number>;
  /** `host:port` of the workload sidecar's `connect_terminate` listener; absent without a sidecar. */
  tunnelAddress?: string;
  /** Ready to receive traffic (its proxy is connected and ready, or it has no sidecar and is up). */
  healthy: boolean;
  /** `region/zone/subzone`, when known. */
  locality?: string;
  /** Where the instance came from. */
  source: 'deployment' | 'workload-entry' | 'service-entry' | 'proxy';
}
