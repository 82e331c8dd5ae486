// The Outrigger sidecar pair under test: the control plane (in this process, with an ephemeral CA)
// configured from the Istio YAML in mesh-yaml.ts, and two `outrigger proxy --role sidecar` processes
// started with the local runtime's own port allocation and command line (src/runtime/proxy-process.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CertificateAuthority } from '../src/ca/certificate-authority.ts';
import { ControlPlane } from '../src/controlplane/control-plane.ts';
import type { ProxyMeta } from '../src/runtime/mesh-runtime.ts';
import { buildJsTree, jsTreeDir, packageRoot } from '../src/runtime/js-build.ts';
import { proxyNodeFlags } from '../src/runtime/node-flags.ts';
import { proxyArgs, proxyPorts } from '../src/runtime/proxy-process.ts';
import { benchMeshYaml, benchNamespace, originHost, originPorts } from './mesh-yaml.ts';
import { BenchProcessError, core, type Started, startPinned } from './processes.ts';

export interface OutriggerPair {
  /** The client sidecar's outbound listener (15001): an HTTP forward proxy, h2c and CONNECT. */
  outboundPort: number;
  pids: number[];
  clientPid: number;
  serverPid: number;
  /** Admin (15000) ports, client then server: `/memory`, `/stats`. */
  adminPorts: number[];
  stop(): Promise<void>;
}

export interface OutriggerPairInput {
  dir: string;
  fillerServices: number;
  /** Real ports of the apps behind the server sidecar. */
  origin: { http: number; grpc: number };
  /** Extra node flags for both sidecars (e.g. --cpu-prof). */
  nodeFlags?: readonly string[];
  taken: Set<number>;
}


function get(port: number, reqPath: string, host?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: reqPath, timeout: 1000, ...(host ? { headers: { host } } : {}), agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BenchProcessError(`${what} not within ${timeoutMs} ms`);
}

export async function startOutriggerPair(i: OutriggerPairInput): Promise<OutriggerPair> {
  const configDir = path.join(i.dir, 'mesh');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(path.join(configDir, 'bench.yaml'), benchMeshYaml(i.fillerServices));
  const ca = await CertificateAuthority.ephemeral();
  const cp = await ControlPlane.start({ configPaths: [configDir], xdsAddress: '127.0.0.1:0', ca, rescanMs: 0, log: () => {} });
  const started: Started[] = [];
  // What `outrigger up` runs: the type-stripped copy, with the mesh processes' memory flags.
  const outriggerBin = buildJsTree(packageRoot(), jsTreeDir()).bin;

  const startSidecar = async (meta: ProxyMeta) => {
    const ports = await proxyPorts(i.taken, {});
    const tokenFile = path.join(i.dir, `${meta.name}.token`);
    // The token names the Deployment, as `up` issues it: a proxy speaks only for its own workload's pods.
    writeFileSync(tokenFile, cp.issueBootstrapToken({ namespace: meta.namespace, serviceAccount: meta.serviceAccount, workload: meta.workload ?? meta.name }), { mode: 0o600 });
    const args = [...proxyNodeFlags, ...(i.nodeFlags ?? []), outriggerBin, 'proxy', ...proxyArgs({ role: 'sidecar', xdsAddress: cp.xdsAddress, tokenFile, ports, meta })];
    const p = startPinned(core('server'), process.execPath, args, path.join(i.dir, `${meta.name}.proxy.log`));
    started.push(p);
    await until(`${meta.name} sidecar ready`, async () => (await get(ports[15021] as number, '/healthz/ready')) === 200, 30_000);
    cp.registerWorkload({
      name: meta.name,
      namespace: meta.namespace,
      labels: meta.labels,
      serviceAccount: meta.serviceAccount,
      ...(meta.workload ? { workload: meta.workload } : {}),
      address: '127.0.0.1',
      appPorts: meta.appPorts,
      tunnelAddress: `127.0.0.1:${ports[15008]}`,
      healthy: true,
      source: 'deployment',
    });
    return { pid: p.pid, ports };
  };

  const appPorts = { [originPorts.http]: i.origin.http, [originPorts.tcp]: i.origin.http, [originPorts.grpc]: i.origin.grpc };
  const server = await startSidecar({ name: 'server-0', workload: 'server', namespace: benchNamespace, serviceAccount: 'server', labels: { app: 'server', version: 'v1' }, appPorts });
  const client = await startSidecar({ name: 'client-0', workload: 'client', namespace: benchNamespace, serviceAccount: 'client', labels: { app: 'client', version: 'v1' }, appPorts: {} });
  const outboundPort = client.ports[15001] as number;
  cp.flush();
  await until('a route through the pair', async () => (await get(outboundPort, '/', `${originHost}:${originPorts.http}`)) === 200, 30_000);
  return {
    outboundPort,
    pids: [client.pid, server.pid],
    clientPid: client.pid,
    serverPid: server.pid,
    adminPorts: [client.ports[15000] as number, server.ports[15000] as number],
    stop: async () => {
      for (const p of started.reverse()) await p.stop();
      await cp.close();
    },
  };
}
