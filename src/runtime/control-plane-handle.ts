// What the local runtime needs from the control plane it starts in-process.
import type { WorkloadInstance } from '../model/workload.ts';

export interface ControlPlaneHandle {
  /** `127.0.0.1:15010`. */
  xdsAddress: string;
  /** `127.0.0.1:15014`. */
  debugAddress: string;
  dashboardUrl?: string;
  /** OTLP/HTTP URL of the built-in trace collector, on loopback. */
  traceEndpoint?: string;
  /** Named ports for `outrigger status`. */
  ports: Record<string, number>;
  registerWorkload(instance: WorkloadInstance): void;
  unregisterWorkload(namespace: string, name: string): void;
  issueBootstrapToken(identity: { namespace: string; serviceAccount: string; workload: string }): string;
  close(): Promise<void>;
}
