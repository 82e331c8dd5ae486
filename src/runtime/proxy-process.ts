// Starting a proxy for a sidecar or gateway, in process mode (allocated ports on loopback) or in a pod's
// namespace (Istio's own ports on the pod address): its ports, its command line, and waiting until it
// says it is ready on its health port.
import http from 'node:http';
import path from 'node:path';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import type { ProxyMeta } from './mesh-runtime.ts';
import type { PlannedGateway } from './plan.ts';
import { allocatePort } from './ports.ts';
import type { Supervised } from './supervisor.ts';
import { writeFileAtomic } from './write-atomic.ts';

/** Istio's fixed proxy ports; in process mode each is mapped to an allocated one. */
export const proxyPortNumbers = [15000, 15001, 15006, 15008, 15020, 15021, 15090] as const;

/** What a sidecar listens on of Istio's proxy ports: admin, outbound, inbound, the HBONE tunnel, health, Prometheus. */
const sidecarServes: readonly number[] = [15000, 15001, 15006, 15008, 15021, 15090];
/** A gateway has no outbound, inbound or tunnel listener of its own: admin, health, Prometheus. */
const gatewayServes: readonly number[] = [15000, 15021, 15090];

/**
 * Of Istio's proxy ports, those a proxy of `role` serves: what `status` lists in both modes. Never the
 * pilot-agent's 15020, which Outrigger does not serve.
 */
export function servedProxyPorts(role: 'sidecar' | 'router'): readonly number[] {
  return role === 'sidecar' ? sidecarServes : gatewayServes;
}

export async function proxyPorts(taken: Set<number>, fixed: Record<number, number>): Promise<Record<number, number>> {
  const ports: Record<number, number> = { ...fixed };
  for (const p of proxyPortNumbers) ports[p] = await allocatePort(taken);
  return ports;
}

/** Issues the proxy's bootstrap token into its own 0600 file and names its log, both after the pod. */
export function proxyFiles(cp: Pick<ControlPlaneHandle, 'issueBootstrapToken'>, stateDir: string, meta: ProxyMeta): { tokenFile: string; logFile: string } {
  const token = cp.issueBootstrapToken({ namespace: meta.namespace, serviceAccount: meta.serviceAccount, workload: meta.workload ?? meta.name });
  const tokenFile = path.join(stateDir, 'tokens', `${meta.namespace}.${meta.name}.token`);
  // A new 0600 file renamed into place: never written through a symlink or into a file already there
  // (which would keep its mode), as writeFileSync would.
  writeFileAtomic(tokenFile, token, { mode: 0o600 });
  return { tokenFile, logFile: path.join(stateDir, 'logs', `${meta.namespace}.${meta.name}.proxy.log`) };
}

/** A gateway's proxy: its pod (`istio-ingressgateway-0`) in the node id, its Deployment as WORKLOAD_NAME. */
export function gatewayProxyMeta(g: PlannedGateway): ProxyMeta {
  return { name: g.podName, workload: g.name, namespace: g.namespace, serviceAccount: g.serviceAccount, labels: g.labels, appPorts: {}, ...(g.statsMatcher ? { statsMatcher: g.statsMatcher } : {}) };
}

/** A proxy process sees only PATH and HOME: nothing of the `up` process's own environment leaks in. */
export function proxyEnv(): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
}

export interface ProxyArgsInput {
  role: 'sidecar' | 'router';
  xdsAddress: string;
  tokenFile: string;
  /** Process mode: each of Istio's ports → the one allocated for it. Absent in a pod: Istio's own ports. */
  ports?: Record<number, number>;
  /** The proxy's address in its node id and INSTANCE_IPS: the pod's address in netns mode. */
  address?: string;
  /** Istio's INTERCEPTION_MODE: REDIRECT where iptables captures the pod's outbound traffic (netns mode). */
  interception?: 'REDIRECT';
  /** Listener ports `ports` does not name bind a free port (`*=0`): a gateway under `--ephemeral-ports`. */
  freeOtherPorts?: boolean;
  meta: ProxyMeta;
}

export function proxyArgs(i: ProxyArgsInput): string[] {
  const { meta } = i;
  const address = i.address ?? '127.0.0.1';
  const metadata: Record<string, unknown> = {
    NAME: meta.name,
    NAMESPACE: meta.namespace,
    LABELS: meta.labels,
    SERVICE_ACCOUNT: meta.serviceAccount,
    WORKLOAD_NAME: meta.workload ?? meta.name,
    INSTANCE_IPS: address,
    CLUSTER_ID: 'Kubernetes',
    OUTRIGGER_APP_PORTS: meta.appPorts,
    ...(i.interception ? { INTERCEPTION_MODE: i.interception } : {}),
    // Istio's agent sends the proxy's ProxyConfig as PROXY_CONFIG; the stats matcher is the part read here.
    ...(meta.statsMatcher ? { PROXY_CONFIG: { proxyStatsMatcher: meta.statsMatcher } } : {}),
  };
  // In a pod the tunnel is bound on loopback and published on the pod address by the pod's firewall.
  const tunnelPort = i.ports ? i.ports[15008] : 15008;
  if (i.role === 'sidecar' && tunnelPort) metadata['OUTRIGGER_TUNNEL_ADDRESS'] = `${address}:${tunnelPort}`;
  const portMap = i.ports
    ? [
        '--port-map',
        [...Object.entries(i.ports).map(([k, v]) => `${k}=${v}`), ...(i.freeOtherPorts ? ['*=0'] : [])].join(','),
      ]
    : [];
  return [
    '--role',
    i.role,
    '--xds-address',
    i.xdsAddress,
    '--token-file',
    i.tokenFile,
    '--node-id',
    `${i.role}~${address}~${meta.name}.${meta.namespace}~${meta.namespace}.svc.cluster.local`,
    ...portMap,
    '--metadata-json',
    JSON.stringify(metadata),
  ];
}

export class ProxyNotReadyError extends Error {
  readonly code = 'PROXY_NOT_READY';
}

function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/healthz/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export interface HealthCheck {
  /** The proxy's health port: 15021 in a pod, the one allocated for it in process mode. */
  port: number;
  /** Loopback in process mode, the pod's address in netns mode. */
  host?: string;
  /** The proxy's own log, quoted when it never gets ready (a proxy host writes one per proxy). */
  logFile?: string;
  /** Who is waited for, when the process runs several proxies (`podinfo/podinfo-stable-0 in the proxy host`). */
  label?: string;
  /** The clock and the pause between probes (tests pass their own). */
  now?: () => number;
  pause?: (ms: number) => Promise<void>;
  timeoutMs?: number;
}

/** Polls the proxy's `/healthz/ready` until it answers 200; fails when its process exits, is stopped, or after the timeout. */
export async function waitReady(proxy: Supervised, check: HealthCheck): Promise<void> {
  const { port: healthPort, host = '127.0.0.1', logFile = proxy.spec.logFile, timeoutMs = 30_000, label = proxy.spec.label } = check;
  const now = check.now ?? Date.now;
  const pause = check.pause ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const until = now() + timeoutMs;
  let exited: string | undefined;
  const onExit = (r: { code: number | null; signal: string | null; logTail: string }) => {
    exited = `exited with ${r.signal ?? `status ${r.code}`}\n${r.logTail}`;
  };
  // Stopped for good (`up` asked to stop while it started): nothing will answer, so nothing to wait for.
  let stopped = false;
  const onDone = () => {
    stopped = true;
  };
  proxy.once('exit', onExit);
  proxy.once('done', onDone);
  try {
    while (now() < until) {
      if (exited) throw new ProxyNotReadyError(`${label} ${exited}`);
      if (stopped) throw new ProxyNotReadyError(`${label}: ${proxy.spec.label} was stopped before it was ready`);
      if (await probe(host, healthPort)) return;
      await pause(50);
    }
    const { tailFile } = await import('./supervisor.ts');
    const own = tailFile(logFile, 8);
    // A proxy of a host that never got to it has written nothing: the host's own log says how far it got.
    const why =
      own.trim() !== ''
        ? `its log ends:\n${own}`
        : logFile === proxy.spec.logFile
          ? `its log (${logFile}) is empty`
          : `its log is empty (never started); ${proxy.spec.label}'s log ends:\n${tailFile(proxy.spec.logFile, 8)}`;
    throw new ProxyNotReadyError(`${label} was not ready on ${host}:${healthPort} within ${timeoutMs / 1000}s; ${why}`);
  } finally {
    proxy.off('exit', onExit);
    proxy.off('done', onDone);
  }
}
