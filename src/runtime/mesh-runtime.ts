// The local runtime behind `outrigger up` in process mode: validates the manifests, starts the control
// plane in-process, then the gateways, then each workload's sidecar and, once the sidecar is ready, its
// app; supervises them; stops them in reverse order, each sidecar draining after its app has exited.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AnyResource } from '../config/resource.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { buildAppEnv } from './app-env.ts';
import { resolveCommand } from './container-command.ts';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import { type MeshPlan, type PlannedGateway, type PlannedWorkload, planMesh } from './plan.ts';
import { allocatePort, ensurePortFree } from './ports.ts';
import { proxyArgs, proxyPorts, waitReady } from './proxy-process.ts';
import type { ComponentState, MeshState } from './state.ts';
import { writeState } from './state.ts';
import { type ExitReport, Supervised } from './supervisor.ts';

export interface RuntimeOptions {
  configDirs: string[];
  stateDir: string;
  /** Absolute path of the `outrigger` entry point, to start proxies with. */
  outriggerBin: string;
  nodeBinary: string;
  /** Host ports of the ingress gateway's HTTP and HTTPS listeners (Istio's 8080 / 8443). 0 = allocate. */
  ingressHttpPort: number;
  ingressHttpsPort: number;
  /** Progress lines for the person waiting. */
  progress: (line: string) => void;
  /** Flags every proxy gets: `--trust-domain`, `--cert-ttl`, `--grace-ratio` (see certificateProxyArgs). */
  proxyFlags?: readonly string[];
  startControlPlane: (resources: readonly AnyResource[]) => Promise<ControlPlaneHandle>;
}

interface Running {
  state: ComponentState;
  app?: Supervised;
  proxy?: Supervised;
  instance?: WorkloadInstance;
}

export class MeshRuntime {
  #opts: RuntimeOptions;
  #taken = new Set<number>();
  #running: Running[] = [];
  #cp: ControlPlaneHandle | undefined;
  #state: MeshState | undefined;
  #stopping = false;
  plan: MeshPlan | undefined;

  constructor(opts: RuntimeOptions) {
    this.#opts = opts;
  }

  get state(): MeshState | undefined {
    return this.#state;
  }

  async start(resources: readonly AnyResource[]): Promise<MeshState> {
    const o = this.#opts;
    const plan = planMesh(resources);
    this.plan = plan;
    mkdirSync(path.join(o.stateDir, 'logs'), { recursive: true, mode: 0o700 });
    mkdirSync(path.join(o.stateDir, 'tokens'), { recursive: true, mode: 0o700 });
    for (const note of plan.notes) o.progress(`note: ${note}`);

    const httpPort = o.ingressHttpPort || (await allocatePort(this.#taken));
    const httpsPort = o.ingressHttpsPort || (await allocatePort(this.#taken));
    if (o.ingressHttpPort) await ensurePortFree(o.ingressHttpPort, '0.0.0.0');
    if (o.ingressHttpsPort) await ensurePortFree(o.ingressHttpsPort, '0.0.0.0');
    this.#taken.add(httpPort).add(httpsPort);

    o.progress('control plane: starting');
    const cp = await o.startControlPlane(resources);
    this.#cp = cp;
    o.progress(`control plane: ready (xDS ${cp.xdsAddress}, debug http://${cp.debugAddress})`);
    this.#state = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      mode: 'process',
      configDirs: o.configDirs,
      controlPlane: { xdsAddress: cp.xdsAddress, debugAddress: cp.debugAddress, ...(cp.dashboardUrl ? { dashboardUrl: cp.dashboardUrl } : {}) },
      components: [{ name: 'control-plane', kind: 'control-plane', pid: process.pid, ports: cp.ports, sidecar: false, status: 'running', restarts: 0 }],
    };

    await Promise.all(plan.gateways.map((g) => this.#startGateway(g, g.kind === 'ingress' ? { 8080: httpPort, 8443: httpsPort } : {})));
    if (plan.gateways.some((g) => g.kind === 'ingress')) this.#state.ingressUrl = `http://127.0.0.1:${httpPort}`;
    await Promise.all(plan.workloads.map((w) => this.#startWorkload(w, resources)));
    this.#save();
    return this.#state;
  }

  #save(): void {
    if (!this.#state) return;
    this.#state.components = [this.#state.components[0] as ComponentState, ...this.#running.map((r) => r.state)];
    writeState(this.#opts.stateDir, this.#state);
  }

  #track(sup: Supervised, r: Running, which: 'app' | 'proxy'): void {
    sup.on('started', (pid) => {
      if (which === 'app') r.state.pid = pid;
      else r.state.proxyPid = pid;
      if (r.state.status === 'restarting') r.state.status = 'running';
      this.#save();
    });
    sup.on('exit', (report: ExitReport) => {
      if (this.#stopping) return;
      r.state.status = 'restarting';
      r.state.restarts++;
      r.state.detail = `${which} exited with ${report.signal ?? `status ${report.code}`}; restarting in ${Math.round((report.restartInMs ?? 0) / 1000)}s`;
      this.#opts.progress(`${r.state.name}: ${which} exited with ${report.signal ?? `status ${report.code}`}, restarting\n${indent(report.logTail)}`);
      this.#save();
    });
  }

  async #startProxy(r: Running, role: 'sidecar' | 'router', meta: ProxyMeta, fixedPorts: Record<number, number>): Promise<Supervised> {
    const o = this.#opts;
    const cp = this.#cp as ControlPlaneHandle;
    const ports = await proxyPorts(this.#taken, fixedPorts);
    const token = cp.issueBootstrapToken({ namespace: meta.namespace, serviceAccount: meta.serviceAccount, workload: meta.workload ?? meta.name });
    const tokenFile = path.join(o.stateDir, 'tokens', `${meta.namespace}.${meta.name}.token`);
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const logFile = path.join(o.stateDir, 'logs', `${meta.namespace}.${meta.name}.proxy.log`);
    const sup = new Supervised({
      label: `${r.state.name} proxy`,
      file: o.nodeBinary,
      args: [o.outriggerBin, 'proxy', ...proxyArgs({ role, xdsAddress: cp.xdsAddress, tokenFile, ports, meta }), ...(o.proxyFlags ?? []), ...localProxyFlags(cp)],
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' },
      logFile,
    });
    r.state.proxyLogFile = logFile;
    for (const [k, v] of Object.entries(ports)) r.state.ports[`proxy:${k}`] = v;
    this.#track(sup, r, 'proxy');
    sup.start();
    r.proxy = sup;
    await waitReady(ports[15021] as number, sup);
    return sup;
  }

  async #startGateway(g: PlannedGateway, fixed: Record<number, number>): Promise<void> {
    const r: Running = { state: { name: `${g.namespace}/${g.name}`, kind: 'gateway', namespace: g.namespace, ports: {}, sidecar: false, status: 'starting', restarts: 0 } };
    this.#running.push(r);
    this.#opts.progress(`${r.state.name}: starting`);
    await this.#startProxy(r, 'router', { name: g.name, namespace: g.namespace, serviceAccount: `${g.name}-service-account`, labels: g.labels, appPorts: {} }, fixed);
    r.state.status = 'running';
    this.#opts.progress(`${r.state.name}: ready`);
  }

  async #startWorkload(w: PlannedWorkload, resources: readonly AnyResource[]): Promise<void> {
    const o = this.#opts;
    const cp = this.#cp as ControlPlaneHandle;
    const r: Running = { state: { name: `${w.namespace}/${w.name}`, kind: 'workload', namespace: w.namespace, ports: {}, sidecar: w.sidecar, status: 'starting', restarts: 0 } };
    this.#running.push(r);
    const container = w.containers[0];
    if (!container) throw new Error(`${r.state.name} has no container`);
    const command = resolveCommand(container, w.annotations, o.nodeBinary);
    const appPorts: Record<number, number> = {};
    for (const p of container.ports ?? []) {
      appPorts[p.containerPort] = await allocatePort(this.#taken);
      r.state.ports[`app:${p.containerPort}`] = appPorts[p.containerPort] as number;
    }
    let proxyUrl: string | undefined;
    let tunnelAddress: string | undefined;
    if (w.sidecar) {
      o.progress(`${r.state.name}: starting sidecar`);
      const proxy = await this.#startProxy(r, 'sidecar', { name: w.name, workload: w.owner.name, namespace: w.namespace, serviceAccount: w.serviceAccount, labels: w.labels, appPorts }, {});
      void proxy;
      proxyUrl = `http://127.0.0.1:${r.state.ports['proxy:15001']}`;
      tunnelAddress = `127.0.0.1:${r.state.ports['proxy:15008']}`;
    }
    const env = buildAppEnv({ workload: w, container, resources, appPorts, ...(proxyUrl ? { proxyUrl } : {}), base: process.env });
    r.state.env = env;
    const logFile = path.join(o.stateDir, 'logs', `${w.namespace}.${w.name}.log`);
    r.state.logFile = logFile;
    const app = new Supervised({ label: `${r.state.name} app`, file: command.file, args: command.args, env, logFile, runToCompletion: w.runToCompletion });
    this.#track(app, r, 'app');
    app.on('done', (report) => {
      if (this.#stopping) return;
      r.state.status = report.code === 0 ? 'completed' : 'failed';
      r.state.detail = `exited with status ${report.code}`;
      o.progress(`${r.state.name}: ${r.state.status} (${r.state.detail})\n${indent(report.logTail)}`);
      void r.proxy?.stop();
      this.#save();
    });
    r.app = app;
    o.progress(`${r.state.name}: starting app (${command.origin}: ${path.basename(command.file)} ${command.args.map((a) => path.basename(a)).join(' ')})`);
    app.start();
    const instance: WorkloadInstance = {
      name: w.name,
      namespace: w.namespace,
      labels: w.labels,
      serviceAccount: w.serviceAccount,
      address: '127.0.0.1',
      appPorts,
      ...(tunnelAddress ? { tunnelAddress } : {}),
      healthy: true,
      source: 'deployment',
    };
    r.instance = instance;
    cp.registerWorkload(instance);
    r.state.status = 'running';
    o.progress(`${r.state.name}: running`);
  }

  /** Stops apps first, then their sidecars (drained), then gateways, then the control plane. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const workloads = this.#running.filter((r) => r.state.kind === 'workload');
    await Promise.all(workloads.map(async (r) => {
      if (r.instance) this.#cp?.unregisterWorkload(r.instance.namespace, r.instance.name);
      await r.app?.stop();
      await r.proxy?.stop();
      r.state.status = 'stopped';
    }));
    await Promise.all(this.#running.filter((r) => r.state.kind === 'gateway').map((r) => r.proxy?.stop()));
    await this.#cp?.close();
  }
}

/** Local mode: denial receipts on, spans to the built-in collector. */
function localProxyFlags(cp: ControlPlaneHandle): string[] {
  return ['--local-mode', ...(cp.traceEndpoint ? ['--trace-endpoint', cp.traceEndpoint] : [])];
}

export interface ProxyMeta {
  /** The pod: `podinfo-stable-0` (in the node id). */
  name: string;
  /** The workload (Deployment) the pod belongs to: `podinfo-stable`, Istio's WORKLOAD_NAME; defaults to `name`. */
  workload?: string;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
  appPorts: Record<number, number>;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
