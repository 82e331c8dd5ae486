// `outrigger up --mode netns`: the mesh with every pod, gateway included, in a network namespace of its
// own on a bridge. The control plane stays in the `up` process on the host and is reached through the
// bridge address; the mesh DNS server answers there too; the ingress gateway's ports, and each Gateway
// API gateway's listener ports, are forwarded from the host. Same lifecycle as process mode: sidecar ready before its app, reverse-order stop.
import path from 'node:path';
import type { AnyResource } from '../../config/resource.ts';
import { buildSnapshot, type MeshSnapshot } from '../../model/snapshot.ts';
import type { WorkloadInstance } from '../../model/workload.ts';
import { DnsServer } from '../../proxy/dns/dns-server.ts';
import { type MeshName, MeshNames } from '../../proxy/dns/mesh-names.ts';
import { buildAppEnv } from '../app-env.ts';
import { ComponentTracker } from '../component-tracker.ts';
import { awaitProxiesSynced } from '../control-plane-handle.ts';
import { resolveCommand } from '../container-command.ts';
import type { ControlPlaneHandle } from '../control-plane-handle.ts';
import { ExitReporter } from '../exit-reporter.ts';
import { gatewayApiState } from '../gateway-api-urls.ts';
import { MeshStoppedError, type ProxyMeta, type RuntimeOptions } from '../mesh-runtime.ts';
import { type MeshPlan, type PlannedGateway, type PlannedWorkload, planMesh } from '../plan.ts';
import { ensurePortFree } from '../ports.ts';
import { gatewayProxyMeta, proxyArgs, proxyEnv, proxyFiles, servedProxyPorts, waitReady } from '../proxy-process.ts';
import { podLoopbackProxyPorts } from '../reachable-address.ts';
import { type ComponentState, type MeshState, makeStateDirs, meshMarker } from '../state.ts';
import { Supervised } from '../supervisor.ts';
import { workloadInstance } from '../workload-instance.ts';
import { AppReadiness } from '../app-readiness.ts';
import { newMeshId, serviceCidr } from './addressing.ts';
import { removeNetnsRecord, writeNetnsRecord } from './netns-record.ts';
import { buildServiceRoutes, type ServiceRoute } from './service-routes.ts';
import { inboundFirewallPorts } from './inbound-ports.ts';
import { applyPodFirewall, proxyGid } from './pod-firewall.ts';
import { waitPodListening } from './pod-readiness.ts';
import { type PodHandle, PodNetwork } from './pod-network.ts';
import { TcpForwarder } from './tcp-forwarder.ts';
import { proxyNodeFlags } from '../node-flags.ts';

/** The sidecar ports published on the pod address: all it serves but those kept on the pod's loopback (tunnel, health, Prometheus). */
const sidecarExposedPorts = servedProxyPorts('sidecar').filter((p) => !podLoopbackProxyPorts.includes(p));
/** The xDS port on the bridge address (Istio's plaintext port); the control plane itself is on loopback. */
const bridgeXdsPort = 15010;

interface Running {
  state: ComponentState;
  pod: PodHandle;
  app?: Supervised;
  proxy?: Supervised;
  instance?: WorkloadInstance;
}

export class NetnsMeshRuntime {
  #opts: RuntimeOptions;
  #running: Running[] = [];
  #cp: ControlPlaneHandle | undefined;
  #net: PodNetwork | undefined;
  #dns: DnsServer | undefined;
  #forwarders: TcpForwarder[] = [];
  #podNamespaces = new Map<string, string>();
  #xdsAddress = '';
  #tracker: ComponentTracker | undefined;
  #reporter: ExitReporter | undefined;
  #stopping = false;
  plan: MeshPlan | undefined;

  constructor(opts: RuntimeOptions) {
    this.#opts = opts;
  }

  get state(): MeshState | undefined {
    return this.#tracker?.state;
  }

  /** The pod network, for tests and `status`. */
  get network(): PodNetwork | undefined {
    return this.#net;
  }

  async start(resources: readonly AnyResource[]): Promise<MeshState> {
    const o = this.#opts;
    const plan = planMesh(resources);
    this.plan = plan;
    makeStateDirs(o.stateDir);
    for (const note of plan.notes) o.progress(`note: ${note}`);
    if (o.ingressHttpPort) await ensurePortFree(o.ingressHttpPort, '127.0.0.1');
    if (o.ingressHttpsPort) await ensurePortFree(o.ingressHttpsPort, '127.0.0.1');

    const id = newMeshId();
    writeNetnsRecord(o.stateDir, id);
    const net = await PodNetwork.create({ id });
    this.#net = net;
    await this.#notStopped();
    o.progress(`network: ${net.describe()}`);

    o.progress('control plane: starting');
    const cp = await o.startControlPlane(resources);
    this.#cp = cp;
    await this.#notStopped();
    const cpPort = Number(cp.xdsAddress.slice(cp.xdsAddress.lastIndexOf(':') + 1));
    const xdsForwarder = new TcpForwarder({ host: '127.0.0.1', port: cpPort });
    this.#forwarders.push(xdsForwarder);
    this.#xdsAddress = `${net.hostAddress}:${await xdsForwarder.listen(net.hostAddress, bridgeXdsPort)}`;
    o.progress(`control plane: ready (xDS ${cp.xdsAddress}, to pods ${this.#xdsAddress}; debug http://${cp.debugAddress})`);

    const names: MeshName[] = plan.services.map((s) => ({
      service: s.metadata.name,
      namespace: s.metadata.namespace,
      address: net.addresses.serviceAddress(s.metadata.name, s.metadata.namespace),
    }));
    const meshNames = new MeshNames(names);
    this.#dns = new DnsServer({ host: net.hostAddress, port: 53, names: meshNames, clientNamespace: (a) => this.#podNamespaces.get(a) });
    await this.#dns.listen();
    o.progress(`dns: ${net.hostAddress}:53, ${names.length} service name(s) in ${serviceCidr(net.addressing)}`);

    const tracker = new ComponentTracker({ stateDir: o.stateDir, mode: 'netns', configDirs: o.configDirs, controlPlane: cp, progress: o.progress });
    this.#tracker = tracker;
    this.#reporter = new ExitReporter({ tracker, progress: o.progress, stopping: () => this.#stopping });

    // Namespaces one after another (cheap), processes in parallel (the slow part).
    const gateways: [PlannedGateway, Running][] = [];
    for (const g of plan.gateways) {
      const r = await this.#addPod(`${g.namespace}/${g.podName}`, 'gateway', g.namespace, false, meshNames);
      Object.assign(r.state, gatewayApiState(g));
      gateways.push([g, r]);
    }
    const workloads: [PlannedWorkload, Running][] = [];
    for (const w of plan.workloads) workloads.push([w, await this.#addPod(`${w.namespace}/${w.name}`, 'workload', w.namespace, w.sidecar, meshNames)]);
    const members = workloads.map(([workload, r]) => ({ workload, address: r.pod.address }));
    const routes = buildServiceRoutes(plan.services, members, (name, ns) => net.addresses.serviceAddress(name, ns));
    await Promise.all(gateways.map(([g, r]) => this.#startGateway(g, r)));
    // The config as translation reads it, for the ports each sidecar serves (no workloads needed).
    const config = buildSnapshot(resources, [], 'netns');
    await Promise.all(workloads.map(([w, r]) => this.#startWorkload(w, r, resources, config, routes)));
    await awaitProxiesSynced(cp, o.progress);
    tracker.save();
    // A mesh that `status` and `down` cannot find is not started: stopped, with the reason.
    if (!tracker.saved) throw new Error(`cannot write the mesh's state in ${o.stateDir}; nothing was left running`);
    return tracker.state;
  }

  async #addPod(name: string, kind: 'gateway' | 'workload', namespace: string, sidecar: boolean, names: MeshNames): Promise<Running> {
    const net = this.#net as PodNetwork;
    const pod = await net.addPod();
    this.#podNamespaces.set(pod.address, namespace);
    net.writeResolvConf(pod, names.searchList(namespace));
    const state = (this.#tracker as ComponentTracker).add({ name, kind, namespace, ports: {}, sidecar, status: 'starting', restarts: 0, netns: pod.netns, address: pod.address });
    const r: Running = { pod, state };
    this.#running.push(r);
    return r;
  }

  /** `ip netns exec POD file args...`: the process is the command itself (exec, no fork), so signals reach it. */
  #inPod(r: Running, file: string, args: readonly string[]): { file: string; args: string[] } {
    return { file: 'ip', args: ['netns', 'exec', r.pod.netns, file, ...args] };
  }

  async #startProxy(r: Running, role: 'sidecar' | 'router', meta: ProxyMeta): Promise<void> {
    const o = this.#opts;
    const cp = this.#cp as ControlPlaneHandle;
    const { tokenFile, logFile } = proxyFiles(cp, o.stateDir, meta);
    // A sidecar's pod sends service addresses to 15001 by iptables REDIRECT (pod-firewall.ts).
    const args = proxyArgs({ role, xdsAddress: this.#xdsAddress, tokenFile, address: r.pod.address, meta, ...(role === 'sidecar' ? { interception: 'REDIRECT' as const } : {}) });
    const cmd = this.#inPod(r, o.nodeBinary, [...proxyNodeFlags, o.outriggerBin, 'proxy', ...args, ...(o.proxyFlags ?? []), '--local-mode']);
    const sup = new Supervised({ label: `${r.state.name} proxy`, ...cmd, env: { ...proxyEnv(), ...meshMarker(o.stateDir) }, logFile, ...(role === 'sidecar' ? { gid: proxyGid } : {}) });
    r.state.proxyLogFile = logFile;
    for (const p of servedProxyPorts(role)) r.state.ports[`proxy:${p}`] = p;
    (this.#reporter as ExitReporter).watch(sup, r.state, 'proxy');
    if (this.#stopping) throw new MeshStoppedError();
    sup.start();
    r.proxy = sup;
    await waitReady(sup, { host: r.pod.address, port: 15021 });
  }

  async #startGateway(g: PlannedGateway, r: Running): Promise<void> {
    const o = this.#opts;
    o.progress(`${r.state.name}: starting in ${r.pod.netns} (${r.pod.address})`);
    // A gateway's listeners come from config: publish every port but the admin one.
    await applyPodFirewall(r.pod.netns, { podAddress: r.pod.address, strictPorts: [], exposedPorts: [], exposeAllBut: [15000] });
    await this.#startProxy(r, 'router', gatewayProxyMeta(g));
    if (g.gatewayApi) {
      // A Gateway API Gateway's listeners, each forwarded from a free port of the host's 127.0.0.1 (as
      // process mode binds them), named `host:PORT`; the ingress's 8080 and 8443 are not its ports.
      for (const { port } of g.gatewayApi.listeners) {
        const forwarder = new TcpForwarder({ host: r.pod.address, port });
        this.#forwarders.push(forwarder);
        r.state.ports[`host:${port}`] = await forwarder.listen('127.0.0.1', 0);
      }
    } else if (g.kind === 'ingress' && !this.#tracker?.state.ingressUrl) {
      const http = new TcpForwarder({ host: r.pod.address, port: 8080 });
      const https = new TcpForwarder({ host: r.pod.address, port: 8443 });
      this.#forwarders.push(http, https);
      const httpPort = await http.listen('127.0.0.1', o.ingressHttpPort);
      const httpsPort = await https.listen('127.0.0.1', o.ingressHttpsPort);
      r.state.ports['host:8080'] = httpPort;
      r.state.ports['host:8443'] = httpsPort;
      if (this.#tracker) this.#tracker.state.ingressUrl = `http://127.0.0.1:${httpPort}`;
    }
    r.state.status = 'running';
    o.progress(`${r.state.name}: ready`);
  }

  async #startWorkload(w: PlannedWorkload, r: Running, resources: readonly AnyResource[], config: MeshSnapshot, routes: readonly ServiceRoute[]): Promise<void> {
    const o = this.#opts;
    const cp = this.#cp as ControlPlaneHandle;
    const container = w.containers[0];
    if (!container) throw new Error(`${r.state.name} has no container`);
    const command = resolveCommand(container, w.annotations, o.nodeBinary, o.demoPrograms);
    // Each pod has its own address: the app listens on its real container port.
    const appPorts: Record<number, number> = {};
    for (const p of container.ports ?? []) {
      appPorts[p.containerPort] = p.containerPort;
      r.state.ports[`app:${p.containerPort}`] = p.containerPort;
    }
    const { strict, captured, open, strictOthers } = inboundFirewallPorts(config, w);
    await applyPodFirewall(r.pod.netns, {
      podAddress: r.pod.address,
      strictPorts: strict,
      ...(strictOthers ? { strictOthers, openPorts: open } : {}),
      ...(w.sidecar ? { capturedPorts: captured, inboundPort: 15006 } : {}),
      exposedPorts: w.sidecar ? sidecarExposedPorts : [],
      serviceCidr: serviceCidr((this.#net as PodNetwork).addressing),
      // With a sidecar, service addresses go to its outbound listener; without, straight to a pod.
      ...(w.sidecar ? { outboundPort: 15001 } : { serviceRoutes: routes }),
    });
    const details = [
      ...(strict.length || strictOthers ? [`mTLS STRICT on ${[...strict, ...(strictOthers ? ['every undeclared TCP port'] : [])].join(', ')}: plaintext from outside the pod refused`] : []),
      ...(captured.length ? [`plaintext on ${captured.join(', ')} goes through the sidecar`] : []),
    ];
    if (details.length) r.state.detail = details.join('; ');
    const instance = workloadInstance(w, { address: r.pod.address, appPorts, ...(w.sidecar ? { tunnelAddress: `${r.pod.address}:15008` } : {}) });
    if (w.sidecar) {
      // Known before its proxy connects, and not ready until its app listens (as in process mode).
      r.instance = { ...instance, healthy: false };
      cp.registerWorkload(r.instance);
      o.progress(`${r.state.name}: starting sidecar in ${r.pod.netns} (${r.pod.address})`);
      await this.#startProxy(r, 'sidecar', { name: w.name, workload: w.owner.name, namespace: w.namespace, serviceAccount: w.serviceAccount, labels: w.labels, appPorts, ...(w.statsMatcher ? { statsMatcher: w.statsMatcher } : {}) });
    }
    const env = { ...command.env, ...buildAppEnv({ workload: w, container, resources, appPorts, ...(w.sidecar ? { proxyUrl: 'http://127.0.0.1:15001' } : {}), base: process.env }) };
    for (const e of container.env ?? []) {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      if (field === 'status.podIP') env[e.name] = r.pod.address;
    }
    r.state.env = env;
    const logFile = path.join(o.stateDir, 'logs', `${w.namespace}.${w.name}.log`);
    r.state.logFile = logFile;
    const app = new Supervised({ label: `${r.state.name} app`, ...this.#inPod(r, command.file, command.args), env: { ...env, ...meshMarker(o.stateDir) }, logFile, runToCompletion: w.runToCompletion, ...(w.backoffLimit !== undefined ? { maxRestarts: w.backoffLimit } : {}) });
    const reporter = this.#reporter as ExitReporter;
    reporter.watch(app, r.state, 'app');
    // A finished Job takes its sidecar with it.
    reporter.watchCompletion(app, r.state, () => void r.proxy?.stop());
    r.app = app;
    if (this.#stopping) throw new MeshStoppedError();
    const listening = Object.values(appPorts);
    const pod = r.pod;
    r.instance = instance;
    const readiness = new AppReadiness(app, instance, { listening: () => waitPodListening(pod.netns, o.nodeBinary, pod.address, listening), stopping: () => this.#stopping, register: (i) => cp.registerWorkload(i) });
    o.progress(`${r.state.name}: starting app in ${r.pod.netns} (${command.origin}: ${path.basename(command.file)})`);
    app.start();
    if (!w.runToCompletion && !(await waitPodListening(r.pod.netns, o.nodeBinary, r.pod.address, listening))) {
      o.progress(`${r.state.name}: warning: the app does not listen on ${listening.join(', ')} yet; it joins its services anyway`);
    }
    readiness.joined(1);
    r.state.status = 'running';
    o.progress(`${r.state.name}: running`);
  }

  /** Apps, then their sidecars (drained), then gateways, the control plane, and the network last. */
  /**
   * A stop() during start(): what start acquired after stop() ran (the network, the control plane) is
   * released too, and start goes no further (MeshStoppedError, as in process mode).
   */
  async #notStopped(): Promise<void> {
    if (!this.#stopping) return;
    await this.#cp?.close().catch(() => {});
    await this.#net?.teardown().catch(() => {});
    throw new MeshStoppedError();
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const workloads = this.#running.filter((r) => r.state.kind === 'workload');
    await Promise.all(
      workloads.map(async (r) => {
        if (r.instance) this.#cp?.registerWorkload({ ...r.instance, healthy: false });
        await r.app?.stop();
        await r.proxy?.stop();
        r.state.status = 'stopped';
      }),
    );
    await Promise.all(this.#running.filter((r) => r.state.kind === 'gateway').map((r) => r.proxy?.stop()));
    await Promise.all(this.#forwarders.map((f) => f.close()));
    await this.#dns?.close();
    await this.#cp?.close();
    await this.#net?.teardown();
    removeNetnsRecord(this.#opts.stateDir);
  }
}
