// A proxy inside a pod namespace: its command line (Istio's own port numbers, no port map; the pod's
// address in the node id and metadata) and waiting until its health port answers on the pod address.
import http from 'node:http';
import type { ProxyMeta } from '../mesh-runtime.ts';
import { ProxyNotReadyError } from '../proxy-process.ts';
import type { Supervised } from '../supervisor.ts';

export interface NetnsProxyArgsInput {
  role: 'sidecar' | 'router';
  xdsAddress: string;
  tokenFile: string;
  podAddress: string;
  meta: ProxyMeta;
}

export function netnsProxyArgs(i: NetnsProxyArgsInput): string[] {
  const { meta } = i;
  const metadata: Record<string, unknown> = {
    NAMESPACE: meta.namespace,
    LABELS: meta.labels,
    SERVICE_ACCOUNT: meta.serviceAccount,
    WORKLOAD_NAME: meta.workload ?? meta.name,
    INSTANCE_IPS: i.podAddress,
    CLUSTER_ID: 'Kubernetes',
    OUTRIGGER_APP_PORTS: meta.appPorts,
  };
  // The tunnel is bound on loopback and published on the pod address by the pod's firewall.
  if (i.role === 'sidecar') metadata['OUTRIGGER_TUNNEL_ADDRESS'] = `${i.podAddress}:15008`;
  return [
    '--role',
    i.role,
    '--xds-address',
    i.xdsAddress,
    '--token-file',
    i.tokenFile,
    '--node-id',
    `${i.role}~${i.podAddress}~${meta.name}.${meta.namespace}~${meta.namespace}.svc.cluster.local`,
    '--metadata-json',
    JSON.stringify(metadata),
  ];
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

/** Polls `host:15021/healthz/ready` until 200; fails when the process exits or after `timeoutMs`. */
export async function waitReadyAt(host: string, proxy: Supervised, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited: string | undefined;
  const onExit = (r: { code: number | null; signal: string | null; logTail: string }) => {
    exited = `exited with ${r.signal ?? `status ${r.code}`}\n${r.logTail}`;
  };
  proxy.once('exit', onExit);
  try {
    while (Date.now() < until) {
      if (exited) throw new ProxyNotReadyError(`${proxy.spec.label} ${exited}`);
      if (await probe(host, 15021)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new ProxyNotReadyError(`${proxy.spec.label} was not ready on ${host}:15021 within ${timeoutMs / 1000}s`);
  } finally {
    proxy.off('exit', onExit);
  }
}
