// What the control plane knows about one connected proxy, parsed from its xDS node (docs/internals.md §4).

export interface ProxyView {
  /** The xDS `node.id`: `sidecar~IP~POD.NS~NS.svc.cluster.local`. */
  id: string;
  role: 'sidecar' | 'router';
  namespace: string;
  workloadName: string;
  serviceAccount: string;
  labels: Record<string, string>;
  ip: string;
  /** Container port → the port the app really listens on (process mode). */
  appPorts: Record<number, number>;
  tunnelAddress?: string;
}
