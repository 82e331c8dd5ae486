// The local runtime behind `outrigger up` in process mode: plans everything first (so a manifest that
// cannot run never half-starts a mesh), starts the control plane in-process, then every gateway and
// sidecar in one proxy host process, then each app once its sidecar is ready; supervises them; stops
// apps first, then drains the proxies, then the control plane.
import path from 'node:path';
import type { AnyResource } from '../config/resource.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import { gatewayPodPorts } from '../translate/gateway-servers.ts';
import { buildAppEnv } from './app-env.ts';
import { waitListening } from './app-ready.ts';
import { ComponentTracker } from './component-tracker.ts';
import { awaitProxiesSynced } from './control-plane-handle.ts';
import { type DemoPrograms, type LocalCommand, resolveCommand } from './container-command.ts';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import { ExitReporter, exitCause, markRestarted, restartDelay } from './exit-reporter.ts';
import { gatewayApiState } from './gateway-api-urls.ts';
import { GatewayPortWatcher } from './gateway-ports.ts';
import { loopbackBypassNote } from './loopback-bypass.ts';
import { indent } from './indent.ts';
import { type MeshPlan, type PlannedWorkload, planMesh } from './plan.ts';
import { allocatePort, ensurePortFree } from './ports.ts';
import { proxyNodeFlags } from './node-flags.ts';
import { gatewayProxyMeta, proxyArgs, proxyEnv, proxyFiles, proxyPortNumbers, proxyPorts, servedProxyPorts, waitReady } from './proxy-process.ts';
import { type ComponentState, type MeshState, makeStateDirs, meshMarker } from './state.ts';
import type { HostEvent } from './hosted-proxies.ts';
import { HostRoster } from './host-roster.ts';
import { type ExitReport, Supervised, tailFile } from './supervisor.ts';
import { workloadInstance } from './workload-instance.ts';
import { AppReadiness } from './app-readiness.ts';
import type { ProxyStatsMatcher } from '../telemetry/metrics/stats-matcher.ts';

export interface RuntimeOptions {
  configDirs: string[];
  stateDir: string;
  /** Absolute path of the `outrigger` entry point, to start proxies with. */
  outriggerBin: string;
  /** Where the built-in programs (podinfo, sleep) are; their sources by default. */
  demoPrograms?: DemoPrograms;
  nodeBinary: string;
  /** Host ports of the ingress gateway's HTTP and HTTPS listeners (Istio's 8080 / 8443). 0 = allocate. */
  ingressHttpPort: number;
  ingressHttpsPort: number;
  /**
   * `--ephemeral-ports`: every other port a gateway's servers listen on (a Gateway server on 9000, say)
   * is bound on a free host port too, named in the gateway's `proxy:PORT` ports; else on the port itself.
   */
  ephemeralGatewayPorts?: boolean;
  /**
   * `--proxy-processes per-proxy`: each gateway and sidecar in a proxy host of its own, so each reports
   * its process's CPU and memory as the istio-proxy container's; else all share one proxy host.
   */
  proxyPerProcess?: boolean;
  /** Progress lines for the person waiting. */
  progress: (line: string) => void;
  /** Flags every proxy gets: `--trust-domain`, `--cert-ttl`, `--grace-ratio` (see certificateProxyArgs). */
  proxyFlags?: readonly string[];
  startControlPlane: (resources: readonly AnyResource[]) => Promise<ControlPlaneHandle>;
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
  /** Its ProxyConfig.proxyStatsMatcher, sent as the node metadata's PROXY_CONFIG; absent: every stat. */
  statsMatcher?: ProxyStatsMatcher;
}

interface PlannedProxy {
  role: 'sidecar' | 'router';
  meta: ProxyMeta;
  ports: Record<number, number>;
  /** A gateway under `--ephemeral-ports`: its Gateway server ports at the start; any added later gets a free port. */
  serverPorts?: number[];
  /** A gateway: the ports its Gateway servers listen on at the start (8443 only with a server on 443). */
  listening?: number[];
}

interface Running {
  state: ComponentState;
  proxy?: PlannedProxy;
  workload?: PlannedWorkload;
  command?: LocalCommand;
  /** Container port → the port the app listens on. */
  appPorts?: Record<number, number>;
  app?: Supervised;
  instance?: WorkloadInstance;
  /** Stops its proxy for good (a finished Job takes its sidecar with it): the proxy host does not restart it. */
  retireProxy?: () => void;
}

export class MeshRuntime {
  #opts: RuntimeOptions;
  #taken = new Set<number>();
  #running: Running[] = [];
  #cp: ControlPlaneHandle | undefined;
  #hosts: Supervised[] = [];
  #tracker: ComponentTracker | undefined;
  #reporter: ExitReporter | undefined;
  #gatewayPorts: GatewayPortWatcher | undefined;
  #stopping = false;
  plan: MeshPlan | undefined;

  constructor(opts: RuntimeOptions) {
    this.#opts = opts;
  }

  get state(): MeshState | undefined {
    return this.#tracker?.state;
  }

  async start(resources: readonly AnyResource[]): Promise<MeshState> {
    const o = this.#opts;
    const plan = planMesh(resources);
    this.plan = plan;
    makeStateDirs(o.stateDir);
    for (const note of plan.notes) o.progress(`note: ${note}`);
    const bypass = loopbackBypassNote(plan, resources);
    if (bypass) o.progress(`note: ${bypass}`);

    // Everything that can fail without running anything fails here, before the first process starts.
    const commands = new Map(plan.workloads.map((w) => [w, resolveCommand(firstContainer(w), w.annotations, o.nodeBinary, o.demoPrograms)]));
    const httpPort = o.ingressHttpPort || (await allocatePort(this.#taken));
    const httpsPort = o.ingressHttpsPort || (await allocatePort(this.#taken));
    if (o.ingressHttpPort) await ensurePortFree(o.ingressHttpPort, '0.0.0.0');
    if (o.ingressHttpsPort) await ensurePortFree(o.ingressHttpsPort, '0.0.0.0');
    this.#taken.add(httpPort).add(httpsPort);

    o.progress('control plane: starting');
    const cp = await o.startControlPlane(resources);
    this.#cp = cp;
    // A stop() that came while the control plane started could not close it: close it here.
    if (this.#stopping) {
      await cp.close();
      throw new MeshStoppedError();
    }
    o.progress(`control plane: ready (xDS ${cp.xdsAddress}, debug http://${cp.debugAddress})`);
    const tracker = new ComponentTracker({ stateDir: o.stateDir, mode: 'process', configDirs: o.configDirs, controlPlane: cp, progress: o.progress });
    this.#tracker = tracker;
    this.#reporter = new ExitReporter({ tracker, progress: o.progress, stopping: () => this.#stopping });

    const snapshot = buildSnapshot(resources, [], 'ports');
    for (const g of plan.gateways) {
      const fixed: Record<number, number> = g.kind === 'ingress' && !g.gatewayApi ? { 8080: httpPort, 8443: httpsPort } : {};
      // The ports the gateway's servers listen on at the start: status lists only those of its server ports.
      const listening = gatewayPodPorts(snapshot, g);
      // A Gateway API Gateway's listeners (80, 443, ...) are each bound on a free host port, said when it is ready.
      const serverPorts = o.ephemeralGatewayPorts || g.gatewayApi ? listening : undefined;
      for (const port of serverPorts ?? []) fixed[port] ??= await allocatePort(this.#taken);
      const meta = gatewayProxyMeta(g);
      this.#running.push({
        state: tracker.add({ name: `${g.namespace}/${g.podName}`, kind: 'gateway', namespace: g.namespace, ports: {}, sidecar: false, status: 'starting', restarts: 0, ...gatewayApiState(g) }),
        proxy: { role: 'router', meta, ports: await proxyPorts(this.#taken, fixed), listening, ...(serverPorts ? { serverPorts } : {}) },
      });
    }
    if (plan.gateways.some((g) => g.kind === 'ingress' && !g.gatewayApi)) tracker.state.ingressUrl = `http://127.0.0.1:${httpPort}`;
    for (const w of plan.workloads) {
      const appPorts: Record<number, number> = {};
      for (const p of firstContainer(w).ports ?? []) appPorts[p.containerPort] = await allocatePort(this.#taken);
      const r: Running = {
        state: tracker.add({ name: `${w.namespace}/${w.name}`, kind: 'workload', namespace: w.namespace, ports: {}, sidecar: w.sidecar, status: 'starting', restarts: 0 }),
        workload: w,
        command: commands.get(w) as LocalCommand,
        appPorts,
      };
      for (const [port, local] of Object.entries(appPorts)) r.state.ports[`app:${port}`] = local;
      if (w.sidecar) {
        const meta: ProxyMeta = { name: w.name, workload: w.owner.name, namespace: w.namespace, serviceAccount: w.serviceAccount, labels: w.labels, appPorts, ...(w.statsMatcher ? { statsMatcher: w.statsMatcher } : {}) };
        r.proxy = { role: 'sidecar', meta, ports: await proxyPorts(this.#taken, {}) };
      }
      this.#running.push(r);
    }

    // A pod with a sidecar is known before its proxy connects, and not ready: it joins its services'
    // endpoints once its app listens (#startApp), as a readiness probe would pass, not when its sidecar connects.
    for (const r of this.#running) {
      if (!r.workload || !r.proxy) continue;
      r.instance = { ...workloadInstance(r.workload, { address: '127.0.0.1', appPorts: r.appPorts ?? {}, tunnelAddress: `127.0.0.1:${r.proxy.ports[15008]}` }), healthy: false };
      cp.registerWorkload(r.instance);
    }
    await this.#startProxyHosts();
    this.#notStopped();
    await Promise.all(this.#running.filter((r) => r.workload).map((r) => this.#startApp(r, resources)));
    this.#notStopped();
    await awaitProxiesSynced(cp, o.progress);
    this.#notStopped();
    tracker.save();
    // A mesh that `status` and `down` cannot find is not started: stopped, with the reason.
    if (!tracker.saved) throw new Error(`cannot write the mesh's state in ${o.stateDir}; nothing was left running`);
    if (o.ephemeralGatewayPorts) this.#watchGatewayPorts(cp, tracker);
    return tracker.state;
  }

  /** `--ephemeral-ports`: server ports a later edit adds to a gateway get a free port, named and announced (gateway-ports.ts). */
  #watchGatewayPorts(cp: ControlPlaneHandle, tracker: ComponentTracker): void {
    const gateways = this.#running.flatMap((r) =>
      r.state.kind === 'gateway' && r.proxy
        ? [{ state: r.state, adminPort: r.proxy.ports[15000] as number, healthPort: r.proxy.ports[15021] as number, mapped: new Set(Object.keys(r.proxy.ports).map(Number)) }]
        : [],
    );
    if (gateways.length === 0) return;
    const watcher = new GatewayPortWatcher({
      gateways,
      configVersion: () => cp.configVersion(),
      whenSynced: (ms) => cp.whenSynced(ms),
      progress: this.#opts.progress,
      save: () => tracker.save(),
    });
    // A restarted proxy host binds the added ports anew, on other free ports.
    for (const host of this.#hosts) host.on('started', () => watcher.markDirty());
    this.#gatewayPorts = watcher;
    watcher.start();
  }

  /**
   * One process for every gateway and sidecar (`outrigger proxy-host`), each proxy with its own log; or,
   * under `proxyPerProcess`, a proxy host per proxy.
   */
  async #startProxyHosts(): Promise<void> {
    const withProxy = this.#running.filter((r): r is Running & { proxy: PlannedProxy } => r.proxy !== undefined);
    if (withProxy.length === 0) return;
    const gateways = withProxy.filter((r) => r.state.kind === 'gateway').length;
    const counts = `${gateways} gateways, ${withProxy.length - gateways} sidecars`;
    if (!this.#opts.proxyPerProcess) {
      this.#opts.progress(`proxies: starting ${withProxy.length} (${counts}) in one proxy host`);
      return this.#startProxyHost(withProxy, 'proxy host', '');
    }
    this.#opts.progress(`proxies: starting ${withProxy.length} (${counts}), each in a process of its own`);
    await Promise.all(withProxy.map((r) => this.#startProxyHost([r], `${r.state.name} proxy`, `${r.proxy.meta.namespace}.${r.proxy.meta.name}.`)));
  }

  /** A proxy host for `withProxy`; `label` names it in what is said of it, `prefix` its spec and log files. */
  async #startProxyHost(withProxy: (Running & { proxy: PlannedProxy })[], label: string, prefix: string): Promise<void> {
    const o = this.#opts;
    const cp = this.#cp as ControlPlaneHandle;
    const tracker = this.#tracker as ComponentTracker;
    const proxies = withProxy.map((r) => {
      const { meta, role, ports } = r.proxy;
      const { tokenFile, logFile } = proxyFiles(cp, o.stateDir, meta);
      r.state.proxyLogFile = logFile;
      for (const [k, v] of Object.entries(ports)) if (listedPort(Number(k), role, r.proxy.listening)) r.state.ports[`proxy:${k}`] = v;
      const free = r.proxy.serverPorts ? { freeOtherPorts: true } : {};
      const args = [...proxyArgs({ role, xdsAddress: cp.xdsAddress, tokenFile, ports, meta, ...free }), ...(o.proxyFlags ?? []), ...localProxyFlags(cp)];
      return { name: r.state.name, args, logFile };
    });
    const specFile = path.join(o.stateDir, `${prefix}proxies.json`);
    const host = new Supervised({
      label,
      file: o.nodeBinary,
      args: [...proxyNodeFlags, o.outriggerBin, 'proxy-host', '--spec', specFile],
      env: { ...proxyEnv(), ...meshMarker(o.stateDir) },
      logFile: path.join(o.stateDir, 'logs', `${prefix}proxy-host.log`),
      ipc: true,
    });
    host.on('warning', (message) => o.progress(`${label}: warning: ${message}`));
    // The host restarts a proxy that exits inside it (POST /quitquitquit) and says so: status shows it.
    host.on('message', (m) => this.#onHostEvent(withProxy, label, m as HostEvent));
    // A retired proxy leaves the spec the host restarts from (and is retired again on each start).
    const roster = new HostRoster(proxies, specFile, host);
    roster.writeSpec();
    for (const r of withProxy) r.retireProxy = () => roster.retire(r.state.name);
    host.on('started', (pid) => {
      for (const r of withProxy) {
        if (roster.isRetired(r.state.name)) continue;
        r.state.proxyPid = pid;
        // Restarted: the host's exit is history (counted in `restarts`), not the component's state now.
        if (r.state.detail?.startsWith(`${label} `)) markRestarted(r.state);
      }
      tracker.save();
    });
    host.on('exit', (report: ExitReport) => {
      if (this.#stopping) return;
      for (const r of withProxy) {
        if (roster.isRetired(r.state.name)) continue;
        r.state.restarts++;
        // Down until the host is back, as a pod whose istio-proxy container crashed is not ready: a
        // gateway is nothing but its proxy, and a sidecar's app is unreachable without it.
        if (r.state.status === 'running' || r.state.status === 'starting') r.state.status = 'restarting';
        r.state.detail = `${label} ${exitCause(report)}; restarting in ${restartDelay(report.restartInMs ?? 0)}`;
      }
      o.progress(`${label} ${exitCause(report)}, restarting\n${indent(report.logTail)}`);
      tracker.save();
    });
    this.#notStopped();
    this.#hosts.push(host);
    host.start();
    await Promise.all(
      withProxy.map(async (r) => {
        await waitReady(host, { port: r.proxy.ports[15021] as number, label: `${r.state.name} in the ${label}`, ...(r.state.proxyLogFile ? { logFile: r.state.proxyLogFile } : {}) });
        if (r.state.kind === 'gateway') {
          r.state.status = 'running';
          // The ingress's 8080 and 8443 are the ingress URL; any other server port is said here.
          const extra = (r.proxy.serverPorts ?? []).filter((p) => p !== 8080 && p !== 8443).map((p) => `server port ${p} on 127.0.0.1:${r.proxy.ports[p]}`);
          o.progress(`${r.state.name}: ready${extra.length ? ` (${extra.join(', ')})` : ''}`);
        }
      }),
    );
  }

  /** One proxy of a host exited and is restarted, or is back: its component says so (status, restarts). */
  #onHostEvent(withProxy: readonly Running[], label: string, event: HostEvent): void {
    const r = withProxy.find((x) => x.state.name === event?.name);
    if (!r || this.#stopping) return;
    const c = r.state;
    if (event.type === 'proxy-exit') {
      c.restarts++;
      if (c.status === 'running' || c.status === 'starting') c.status = 'restarting';
      c.detail = `proxy exited${event.reason ? ` (${event.reason})` : ''}; restarting in ${restartDelay(event.restartInMs)}`;
      const tail = c.proxyLogFile ? tailFile(c.proxyLogFile, 5) : '';
      this.#opts.progress(`${c.name}: proxy exited in the ${label}${event.reason ? ` (${event.reason})` : ''}, restarting${tail ? `\n${indent(tail)}` : ''}`);
    } else if (event.type === 'proxy-started') {
      markRestarted(c);
      this.#opts.progress(`${c.name}: proxy restarted`);
      // A gateway's added server ports are bound anew, on other free ports.
      this.#gatewayPorts?.markDirty();
    } else return;
    this.#tracker?.save();
  }

  async #startApp(r: Running, resources: readonly AnyResource[]): Promise<void> {
    const o = this.#opts;
    const w = r.workload as PlannedWorkload;
    const command = r.command as LocalCommand;
    const appPorts = r.appPorts ?? {};
    const ports = r.proxy?.ports;
    const proxyUrl = ports ? `http://127.0.0.1:${ports[15001]}` : await this.#serviceProxyUrl(r.state.name, w.namespace);
    const env = { ...command.env, ...buildAppEnv({ workload: w, container: firstContainer(w), resources, appPorts, ...(proxyUrl ? { proxyUrl } : {}), base: process.env }) };
    r.state.env = env;
    const logFile = path.join(o.stateDir, 'logs', `${w.namespace}.${w.name}.log`);
    r.state.logFile = logFile;
    const app = new Supervised({ label: `${r.state.name} app`, file: command.file, args: command.args, env: { ...env, ...meshMarker(o.stateDir) }, logFile, runToCompletion: w.runToCompletion, ...(w.backoffLimit !== undefined ? { maxRestarts: w.backoffLimit } : {}) });
    const reporter = this.#reporter as ExitReporter;
    reporter.watch(app, r.state, 'app');
    // A finished Job takes its sidecar with it.
    reporter.watchCompletion(app, r.state, () => r.retireProxy?.());
    this.#notStopped();
    r.app = app;
    const listening = Object.values(appPorts);
    const instance = workloadInstance(w, { address: '127.0.0.1', appPorts, ...(ports ? { tunnelAddress: `127.0.0.1:${ports[15008]}` } : {}) });
    r.instance = instance;
    const readiness = new AppReadiness(app, instance, { listening: () => waitListening('127.0.0.1', listening, app), stopping: () => this.#stopping, register: (i) => this.#cp?.registerWorkload(i) });
    o.progress(`${r.state.name}: starting app (${command.origin}: ${describe(command)})`);
    app.start();
    if (listening.length > 0 && !(await waitListening('127.0.0.1', listening, app))) {
      o.progress(`${r.state.name}: warning: the app does not listen on ${listening.join(', ')} yet; it joins its services anyway`);
    }
    // Unless the app exited while it was waited for: then its restart decides.
    readiness.joined(1);
    r.state.status = 'running';
    o.progress(`${r.state.name}: running`);
  }

  /** A workload without a sidecar reaches Services by name through the service proxy, as through kube-proxy. */
  async #serviceProxyUrl(name: string, namespace: string): Promise<string | undefined> {
    try {
      return await this.#cp?.serviceProxyUrl?.(namespace);
    } catch (err) {
      this.#opts.progress(`${name}: warning: no service proxy (${(err as Error).message}); without a sidecar it cannot reach Services by name`);
      return undefined;
    }
  }

  /**
   * A stop() during start() (Ctrl-C, SIGTERM, a closed output pipe) stops what has started; start()
   * then starts nothing more and fails with MeshStoppedError. Checked before each process starts, so a
   * process is either started before stop() ran (and stopped by it) or never.
   */
  #notStopped(): void {
    if (this.#stopping) throw new MeshStoppedError();
  }

  /** Stops apps first, then drains every proxy, then the control plane. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#gatewayPorts?.stop();
    await Promise.all(
      this.#running.map(async (r) => {
        // Out of its services' endpoints as it stops (unregistered, a pod whose sidecar is still
        // connected would read ready, as one joining from another host does).
        if (r.instance) this.#cp?.registerWorkload({ ...r.instance, healthy: false });
        await r.app?.stop();
        r.state.status = 'stopped';
      }),
    );
    await Promise.all(this.#hosts.map((h) => h.stop(10_000)));
    await this.#cp?.close();
  }
}

/** start() gave up because stop() was asked for first: nothing is left running. */
export class MeshStoppedError extends Error {
  constructor() {
    super('stopped before the mesh was ready');
  }
}

function firstContainer(w: PlannedWorkload) {
  const c = w.containers[0];
  if (!c) throw new Error(`${w.namespace}/${w.name} has no container`);
  return c;
}

/** The command as a person reads it: the program and the start of its arguments, on one line. */
function describe(c: LocalCommand): string {
  const text = [path.basename(c.file), ...c.args.map((a) => (a.includes('/') && !a.includes(' ') ? path.basename(a) : a))].join(' ');
  const line = text.replace(/\s+/g, ' ');
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

/**
 * Whether status lists a proxy's port: each of Istio's proxy ports it serves (not the pilot-agent's
 * 15020, which Outrigger does not serve; a gateway has no 15001, 15006 or 15008), and of a gateway's server ports only those a Gateway server listens
 * on (the ingress's 8443 is reserved for a server on 443, and listed once one is there).
 */
function listedPort(port: number, role: PlannedProxy['role'], listening: readonly number[] | undefined): boolean {
  if ((proxyPortNumbers as readonly number[]).includes(port)) return servedProxyPorts(role).includes(port);
  return listening === undefined || listening.includes(port);
}

/** Local mode: denial receipts on, spans to the built-in collector. */
function localProxyFlags(cp: ControlPlaneHandle): string[] {
  return ['--local-mode', ...(cp.traceEndpoint ? ['--trace-endpoint', cp.traceEndpoint] : [])];
}
