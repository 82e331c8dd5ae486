// Control-plane bench: translation time and xDS bytes per proxy at 100 and 1,000 services, and with
// 50, 200 and 1,000 simulated proxies (real ADS clients in a child process, ads-swarm.ts) the
// config-change-to-ACK latency (through the control plane's debounce) and its RSS per connected proxy.
// Run alone: node bench/control-plane.ts [--quick], or one change-to-ACK run: --ack 200 [--change every-route] [--changes 6]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CertificateAuthority } from '../src/ca/certificate-authority.ts';
import { loadText } from '../src/config/load.ts';
import { ControlPlane } from '../src/controlplane/control-plane.ts';
import type { ProxyView } from '../src/model/proxy-view.ts';
import { buildSnapshot } from '../src/model/snapshot.ts';
import { buildProxyResources } from '../src/translate/proxy-resources.ts';
import { packAny } from '../src/xds/any.ts';
import type { SwarmMessage, SwarmProxy } from './ads-swarm.ts';
import { core } from './processes.ts';
import { median, quantile } from './stats.ts';
import type { ControlPlaneSummary } from './summary.ts';

const namespaces = 10;

// A full GC before each memory reading, so per-proxy figures measure what is held, not garbage that a
// collection happens to land on one side of.
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

/** Memory the process holds after a full GC: JS heap plus buffers outside it (encoded xDS, sockets). */
function retained(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * A mesh of `services` Services, each with a Deployment, DestinationRule (2 subsets) and a weighted
 * VirtualService, and a mesh-wide Telemetry (tracing sampling) in the root namespace. Changing
 * `canaryWeight` edits every VirtualService (every proxy gets new routes); changing `samplingPercent`
 * edits one document that every proxy's listeners carry.
 */
export function scaleMeshYaml(services: number, o: { canaryWeight?: number; samplingPercent?: number; scoped?: boolean } = {}): string {
  const canaryWeight = o.canaryWeight ?? 10;
  const docs: string[] = [
    // A tracing provider for the Telemetry to sample for: as in Istio, Telemetry tracing with no provider
    // to resolve turns tracing off, and a change of its sampling would then change nothing.
    `apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: { name: mesh, namespace: istio-system }\nspec: { meshConfig: { extensionProviders: [{ name: zipkin, zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 } }], defaultProviders: { tracing: [zipkin] } } }`,
    `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: { name: mesh-default, namespace: istio-system }\nspec: { tracing: [{ randomSamplingPercentage: ${o.samplingPercent ?? 1} }] }`,
  ];
  for (let n = 0; n < namespaces; n++) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: { name: ns${n}, labels: { istio-injection: enabled } }`);
    // Namespace isolation, as Istio recommends at scale: each proxy sees its own namespace only.
    if (o.scoped) docs.push(`apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: ns${n} }\nspec: { egress: [{ hosts: ["./*"] }] }`);
  }
  for (let i = 0; i < services; i++) {
    const ns = `ns${i % namespaces}`;
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { selector: { app: svc${i} }, ports: [{ name: http, port: 8080 }, { name: grpc, port: 9090 }] }`);
    docs.push(`apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { replicas: 1, selector: { matchLabels: { app: svc${i} } }, template: { metadata: { labels: { app: svc${i}, version: v1 } }, spec: { serviceAccountName: sa${i}, containers: [{ name: app, image: bench/app, command: ["true"], ports: [{ containerPort: 8080 }, { containerPort: 9090 }] }] } } }`);
    docs.push(`apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { host: svc${i}, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }`);
    const w = canaryWeight;
    docs.push(`apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { hosts: [svc${i}], http: [{ route: [{ destination: { host: svc${i}, subset: v1 }, weight: ${100 - w} }, { destination: { host: svc${i}, subset: v2 }, weight: ${w} }] }] }`);
  }
  return `${docs.join('\n---\n')}\n`;
}

function view(i: number): ProxyView {
  const ns = `ns${i % namespaces}`;
  return { id: `sidecar~127.0.0.1~svc${i}-0.${ns}~${ns}.svc.cluster.local`, role: 'sidecar', namespace: ns, workloadName: `svc${i}`, serviceAccount: `sa${i}`, labels: { app: `svc${i}`, version: 'v1' }, ip: '127.0.0.1', appPorts: {} };
}

/** Translation time (median ms) and wire bytes of one sidecar's full xDS in a mesh of `services`. */
export function translationCost(services: number, scoped = false): { ms: number; bytes: number } {
  const snapshot = buildSnapshot(loadText(scaleMeshYaml(services, { scoped }), 'scale.yaml').resources, [], '1');
  const v = view(0);
  const runs = services >= 1000 ? 5 : 20;
  const times: number[] = [];
  let out = buildProxyResources(snapshot, v);
  for (let i = 0; i < runs + 2; i++) {
    const t = performance.now();
    out = buildProxyResources(snapshot, v);
    if (i >= 2) times.push(performance.now() - t);
  }
  let bytes = 0;
  for (const [typeUrl, named] of out) for (const r of named.values()) bytes += packAny(typeUrl, r).value.length;
  return { ms: median(times), bytes };
}

interface Swarm {
  next(): Promise<SwarmMessage>;
  send(m: object): void;
  stop(): Promise<void>;
}

function startSwarm(address: string, proxies: SwarmProxy[]): Swarm {
  const file = path.join(import.meta.dirname, 'ads-swarm.ts');
  // On the load core, so the simulated proxies do not share a core with the control plane.
  const child = spawn('taskset', ['-c', core('load'), process.execPath, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send({ kind: 'start', address, proxies });
  const queue: SwarmMessage[] = [];
  const waiters: ((m: SwarmMessage) => void)[] = [];
  child.on('message', (m: SwarmMessage) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('ADS swarm did not answer within 120 s')), 120_000);
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      });
    },
    send: (m) => child.send(m),
    stop: async () => {
      child.send({ kind: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * What one measured change edits: `mesh-wide`, the root Telemetry (one document, every proxy's
 * listeners); `every-route`, all VirtualServices at once (100 documents, every proxy's routes).
 */
export type ConfigChange = 'mesh-wide' | 'every-route';

/**
 * N proxies against one control plane: RSS per proxy and change-to-ACK latencies over `changes` edits,
 * each from the file written to every proxy's ACK, through the control plane's own 100 ms debounce.
 */
export async function ackLatency(proxyCount: number, services: number, changes: number, change: ConfigChange = 'mesh-wide'): Promise<{ acksMs: number[]; rssPerProxyMb: number; retainedPerProxyMb: number; cpuPerChangeMs: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-cp-bench-'));
  const file = path.join(dir, 'mesh.yaml');
  writeFileSync(file, scaleMeshYaml(services, { scoped: true }));
  const ca = await CertificateAuthority.ephemeral();
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', ca, rescanMs: 0, log: () => {} });
  let swarm: Swarm | undefined;
  try {
    const proxies: SwarmProxy[] = Array.from({ length: proxyCount }, (_, i) => {
      // Proxy i is pod `svc<k>-<r>`, replica r of Deployment svc<k>: its WORKLOAD_NAME is the Deployment's,
      // as Istio's injector sets it, so replicas of one workload share their translation.
      const v = view(i % services);
      const workload = `svc${i % services}`;
      const pod = `${workload}-${Math.floor(i / services)}`;
      return {
        id: `sidecar~127.0.0.1~${pod}.${v.namespace}~${v.namespace}.svc.cluster.local`,
        token: cp.issueBootstrapToken({ namespace: v.namespace, serviceAccount: v.serviceAccount, workload }),
        metadata: { NAMESPACE: v.namespace, SERVICE_ACCOUNT: v.serviceAccount, WORKLOAD_NAME: workload, LABELS: v.labels, INSTANCE_IPS: '127.0.0.1', CLUSTER_ID: 'Kubernetes' },
      };
    });
    const held0 = retained();
    const rss0 = process.memoryUsage().rss;
    swarm = startSwarm(cp.xdsAddress, proxies);
    await swarm.next();
    // Connections change the registry (proxies announce themselves): let that push settle first.
    cp.flush();
    swarm.send({ kind: 'mark', at: 0 });
    // Not every proxy gets something new from that push, so this waits for quiet only.
    swarm.send({ kind: 'collect', quietMs: 300, everyProxy: false });
    await swarm.next();
    const retainedPerProxyMb = (retained() - held0) / proxyCount / 2 ** 20;
    const rssPerProxyMb = (process.memoryUsage().rss - rss0) / proxyCount / 2 ** 20;
    const acksMs: number[] = [];
    // CPU the control plane spends per change (parse, snapshot, translation, encoding, ACK handling):
    // unlike latency, it does not depend on what else the shared machine runs.
    let cpu0 = process.cpuUsage();
    // Change 0 warms up (bench/README.md) and is not measured.
    for (let c = 0; c <= changes; c++) {
      if (c === 1) cpu0 = process.cpuUsage();
      const at = performance.timeOrigin + performance.now();
      swarm.send({ kind: 'mark', at });
      writeFileSync(file, scaleMeshYaml(services, { scoped: true, ...(change === 'every-route' ? { canaryWeight: 20 + c } : { samplingPercent: 2 + c }) }));
      // The watcher's event, done at once instead of on its poll; the debounce then runs as in service.
      await cp.rescan();
      swarm.send({ kind: 'collect', quietMs: 300, everyProxy: true });
      const m = await swarm.next();
      if (m.kind === 'acks' && c > 0) for (const t of m.lastAckAt) acksMs.push(t > 0 ? t - at : Number.POSITIVE_INFINITY);
    }
    const cpu = process.cpuUsage(cpu0);
    return { acksMs, rssPerProxyMb, retainedPerProxyMb, cpuPerChangeMs: (cpu.user + cpu.system) / 1000 / changes };
  } finally {
    await swarm?.stop();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runControlPlaneBench(o: { quick: boolean; log: (m: string) => void }): Promise<ControlPlaneSummary> {
  const out: ControlPlaneSummary = { ackP50Ms: {}, ackP99Ms: {}, bytesPerProxy: {}, translateMs: {}, rssPerProxyMb: {} };
  for (const services of [100, 1000]) {
    for (const scoped of [false, true]) {
      const c = translationCost(services, scoped);
      const key = scoped ? `${services}-scoped` : String(services);
      out.bytesPerProxy[key] = c.bytes;
      out.translateMs[key] = c.ms;
      o.log(`translation, ${key} services: ${c.ms.toFixed(2)} ms and ${(c.bytes / 1024).toFixed(1)} KB per proxy`);
    }
  }
  // Keyed by proxy count for the mesh-wide edit; `200-every-route` is the heavier edit of every VirtualService.
  const runs: [number, ConfigChange, string][] = [
    [50, 'mesh-wide', '50'],
    [200, 'mesh-wide', '200'],
    [200, 'every-route', '200-every-route'],
    [1000, 'mesh-wide', '1000'],
  ];
  for (const [n, change, key] of runs) {
    const r = await ackLatency(n, 100, o.quick || n >= 1000 ? 2 : 5, change);
    const sorted = [...r.acksMs].sort((a, b) => a - b);
    out.ackP50Ms[key] = quantile(sorted, 0.5);
    out.ackP99Ms[key] = quantile(sorted, 0.99);
    if (change === 'mesh-wide') out.rssPerProxyMb[n] = r.rssPerProxyMb;
    o.log(`${n} proxies, ${change} edit: change to ACK (debounce included) p50 ${out.ackP50Ms[key]?.toFixed(0)} ms, p99 ${out.ackP99Ms[key]?.toFixed(0)} ms; control-plane CPU ${r.cpuPerChangeMs.toFixed(0)} ms per change; per proxy ${r.retainedPerProxyMb.toFixed(3)} MB held after GC, ${r.rssPerProxyMb.toFixed(3)} MB RSS`);
  }
  return out;
}

/** `--ack N [--change mesh-wide|every-route] [--changes K]`: one change-to-ACK run alone, for A/B comparisons. */
async function ackOnly(argv: readonly string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const n = Number(arg('--ack'));
  const change = (arg('--change') ?? 'mesh-wide') as ConfigChange;
  const changes = Number(arg('--changes') ?? 6);
  if (!Number.isInteger(n) || n < 1 || (change !== 'mesh-wide' && change !== 'every-route') || !Number.isInteger(changes) || changes < 1) {
    throw new Error('usage: node bench/control-plane.ts --ack PROXIES [--change mesh-wide|every-route] [--changes K]');
  }
  const r = await ackLatency(n, 100, changes, change);
  const sorted = [...r.acksMs].sort((a, b) => a - b);
  process.stdout.write(`${n} proxies, ${change} edit, ${changes} changes: change to ACK (debounce included) p50 ${quantile(sorted, 0.5).toFixed(0)} ms, p99 ${quantile(sorted, 0.99).toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms; control-plane CPU ${r.cpuPerChangeMs.toFixed(0)} ms per change\n`);
}

if (import.meta.main) {
  if (process.argv.includes('--ack')) await ackOnly(process.argv);
  else {
    const quick = process.argv.includes('--quick');
    const r = await runControlPlaneBench({ quick, log: (m) => process.stderr.write(`${m}\n`) });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  }
}
