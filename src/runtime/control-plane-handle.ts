// What the local runtime needs from the control plane it starts in-process.
import type { WorkloadInstance } from '../model/workload.ts';

export interface ControlPlaneHandle {
  /** `127.0.0.1:15010`. */
  xdsAddress: string;
  /** `0.0.0.0:15012`: the same services over TLS, for proxies on other hosts. */
  xdsTlsAddress?: string;
  /** The mesh root those proxies trust (`.outrigger/ca/root-cert.pem`). */
  rootCertFile?: string;
  /** `127.0.0.1:15014`. */
  debugAddress: string;
  dashboardUrl?: string;
  /** OTLP/HTTP URL of the built-in trace collector, on loopback. */
  traceEndpoint?: string;
  /** Named ports for `outrigger status`. */
  ports: Record<string, number>;
  registerWorkload(instance: WorkloadInstance): void;
  unregisterWorkload(namespace: string, name: string): void;
  /** The version of the config the control plane serves now; it changes with every rebuild (an edit, a workload). */
  configVersion(): string;
  /** Resolves true once every connected proxy has ACKed its latest config, false at the deadline. */
  whenSynced(timeoutMs: number): Promise<boolean>;
  /**
   * The proxy URL for apps of `namespace` that have no sidecar: the mesh's Services by name, in plaintext,
   * as cluster DNS and kube-proxy would carry them (process mode; see service-proxy/service-proxy.ts).
   */
  serviceProxyUrl?(namespace: string): Promise<string>;
  issueBootstrapToken(identity: { namespace: string; serviceAccount: string; workload: string }): string;
  close(): Promise<void>;
}

/** The last step of `up`: every proxy holds the config that routes to the apps just registered. */
export async function awaitProxiesSynced(cp: ControlPlaneHandle, progress: (line: string) => void, timeoutMs = 15_000): Promise<void> {
  progress('config: waiting for every proxy to acknowledge the latest config');
  if (await cp.whenSynced(timeoutMs)) progress('config: every proxy in sync');
  else progress(`config: warning: not every proxy acknowledged within ${timeoutMs / 1000} s; see \`outrigger proxy-status\``);
}
