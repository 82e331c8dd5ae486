// What a cluster costs a proxy that holds many: CDS + EDS for N ServiceEntry clusters (as the control
// plane translates them for a sidecar without a Sidecar resource) applied to a real OutriggerProxy.
// Per N, in a fresh process each time: V8 heap used after GC per cluster, resident memory added, bytes
// allocated while applying CDS and EDS, and the time each apply took (and an unchanged CDS pushed again).
// Run: node bench/cluster-memory.ts [--clusters 1000,5000] [--rounds 3] [--a REV | --root DIR] [--stats-matcher JSON]
// --stats-matcher: the proxy's ProxyConfig.proxyStatsMatcher (`'{"inclusionRegexps":[".*pending_overflow"]}'`);
// `promKB` is the size of /stats/prometheus once the clusters are applied.
// With --a (a revision, as a git archive beside this checkout's node_modules) or --root (another source
// tree), A and B (this checkout) run alternately, A B B A..., and each row is the median of the rounds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TypedAny } from '../src/xds/any.ts';
import { revisionTree } from './revision-tree.ts';

const argv = process.argv;
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const repo = path.resolve(import.meta.dirname, '..');

interface Result {
  clusters: number;
  heapPerClusterKB: number;
  rssPerClusterKB: number;
  heapTotalMB: number;
  cdsAllocPerClusterKB: number;
  edsAllocPerClusterKB: number;
  cdsApplyMs: number;
  edsApplyMs: number;
  cdsRepushMs: number;
  promKB: number;
}

if (opt('--child')) await child(opt('--child') as string, opt('--xds') as string, opt('--stats-matcher'));
else await parent();

/** One measurement, in its own process (started with --expose-gc --trace-gc-nvp): prints MARK lines between phases, then RESULT. */
async function child(root: string, xdsFile: string, statsMatcherJson: string | undefined): Promise<void> {
  const { OutriggerProxy } = (await import(path.join(root, 'src/proxy/proxy.ts'))) as typeof import('../src/proxy/proxy.ts');
  // Imported only when asked for: an older revision (--a) may not have it.
  const statsMatcher = statsMatcherJson
    ? ((await import(path.join(root, 'src/telemetry/metrics/stats-matcher.ts'))) as typeof import('../src/telemetry/metrics/stats-matcher.ts')).compileStatsMatcher(JSON.parse(statsMatcherJson))
    : undefined;
  const cds = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
  const eds = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
  const gc = (globalThis as { gc?: () => void }).gc as () => void;
  const settle = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  const proxy = new OutriggerProxy({ role: 'sidecar', nodeId: 'sidecar~127.0.0.1~app.ns0~ns0.svc.cluster.local', metadata: {}, ...(statsMatcher ? { statsMatcher } : {}) });
  // Module-level lazies (first compile, first render) are not a cluster's.
  proxy.xds.apply(cds, [], '0');
  proxy.xds.apply(eds, [], '0');
  proxy.metrics.renderPrometheus();
  // Resources as ADS hands them over: freshly decoded objects.
  const text = readFileSync(xdsFile, 'utf8');
  const before = settle();
  const x = JSON.parse(text) as { c: TypedAny[]; e: TypedAny[] };
  const n = x.c.length;
  settle();
  console.log('MARK start');
  let t = performance.now();
  proxy.xds.apply(cds, x.c, '1');
  const cdsApplyMs = performance.now() - t;
  gc();
  console.log('MARK cds');
  t = performance.now();
  proxy.xds.apply(eds, x.e, '1');
  const edsApplyMs = performance.now() - t;
  gc();
  console.log('MARK eds');
  x.c = [];
  x.e = [];
  const after = settle();
  // The same clusters pushed again (ADS resends every cluster on any change): the median of five.
  const repush: number[] = [];
  for (let i = 0; i < 5; i++) {
    const again = (JSON.parse(text) as { c: TypedAny[] }).c;
    gc();
    t = performance.now();
    proxy.xds.apply(cds, again, String(i + 2));
    repush.push(performance.now() - t);
  }
  const cdsRepushMs = median(repush);
  const promKB = Math.round(Buffer.byteLength(proxy.metrics.renderPrometheus()) / 1024);
  const kb = (b: number) => Math.round((b / 1024) * 100) / 100;
  // The JSON text stays referenced throughout, so it is in both `before` and `after`.
  const result = {
    clusters: n,
    heapPerClusterKB: kb((after.heapUsed - before.heapUsed) / n),
    rssPerClusterKB: kb((after.rss - before.rss) / n),
    heapTotalMB: Math.round(after.heapTotal / 2 ** 20),
    cdsApplyMs: Math.round(cdsApplyMs),
    edsApplyMs: Math.round(edsApplyMs),
    cdsRepushMs: Math.round(cdsRepushMs),
    promKB,
  };
  console.log(`RESULT ${JSON.stringify(result)} ${text.length}`);
  await proxy.close();
}

/** CDS and EDS for `n` STATIC ServiceEntries (one port, one address each), translated for one sidecar. */
async function writeXds(n: number, file: string): Promise<void> {
  const { loadText } = await import('../src/config/load.ts');
  const { buildSnapshot } = await import('../src/model/snapshot.ts');
  const { buildProxyResources } = await import('../src/translate/proxy-resources.ts');
  const { TypeUrl } = await import('../src/xds/type-urls.ts');
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    docs.push(
      `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se${i}, namespace: ns${i % 10} }\nspec: { hosts: [se${i}.example.com], location: MESH_EXTERNAL, ports: [{ number: 80, name: http, protocol: HTTP }], resolution: STATIC, endpoints: [{ address: ${address} }] }`,
    );
  }
  docs.push('apiVersion: v1\nkind: Service\nmetadata: { name: app, namespace: ns0 }\nspec: { selector: { app: app }, ports: [{ name: http, port: 8080 }] }');
  const workload = { name: 'app', namespace: 'ns0', labels: { app: 'app' }, serviceAccount: 'sa', address: '127.0.0.1', appPorts: {}, tunnelAddress: '127.0.0.1:15008', healthy: true, source: 'deployment' } as const;
  const snapshot = buildSnapshot(loadText(docs.join('\n---\n')).resources, [workload], '1');
  const view = { id: 'sidecar~127.0.0.1~app.ns0~ns0.svc.cluster.local', role: 'sidecar', namespace: 'ns0', workloadName: 'app', serviceAccount: 'sa', labels: { app: 'app' }, ip: '127.0.0.1', appPorts: {} } as const;
  const out = buildProxyResources(snapshot, view);
  writeFileSync(file, JSON.stringify({ c: [...(out.get(TypeUrl.Cluster)?.values() ?? [])], e: [...(out.get(TypeUrl.ClusterLoadAssignment)?.values() ?? [])] }));
}

function measure(root: string, xdsFile: string): Result {
  const matcher = opt('--stats-matcher');
  const r = spawnSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', import.meta.filename, '--child', root, '--xds', xdsFile, ...(matcher ? ['--stats-matcher', matcher] : [])], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`measurement in ${root} failed: ${r.stderr}`);
  // Bytes allocated in a phase: the `allocated=` of every GC from its start mark to its end mark (the
  // forced GC at the end of a phase reports what was allocated since the GC before it).
  const alloc: Record<string, number> = {};
  let phase = '';
  let sum = 0;
  let result: Omit<Result, 'cdsAllocPerClusterKB' | 'edsAllocPerClusterKB'> | undefined;
  for (const line of r.stdout.split('\n')) {
    const a = /allocated=(\d+)/.exec(line);
    if (a) sum += Number(a[1]);
    const m = /^MARK (\w+)/.exec(line);
    if (m) {
      if (phase) alloc[m[1] as string] = sum;
      phase = m[1] as string;
      sum = 0;
    }
    if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7, line.lastIndexOf(' ')));
  }
  if (!result) throw new Error(`no result from ${root}: ${r.stdout.slice(-2000)}`);
  const per = (b: number | undefined) => Math.round(((b ?? 0) / 1024 / result.clusters) * 10) / 10;
  return { ...result, cdsAllocPerClusterKB: per(alloc['cds']), edsAllocPerClusterKB: per(alloc['eds']) };
}

/** A source tree of one revision beside this checkout's node_modules. */
function treeOf(rev: string, work: string): string {
  return revisionTree(repo, rev, path.join(work, 'a'));
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[s.length >> 1] ?? 0;
}

async function parent(): Promise<void> {
  const sizes = (opt('--clusters') ?? '1000,5000').split(',').map(Number);
  const rounds = Number(opt('--rounds') ?? 3);
  const work = mkdtempSync(path.join(os.tmpdir(), 'outrigger-cluster-memory-'));
  try {
    const rev = opt('--a');
    const rootA = rev ? treeOf(rev, work) : opt('--root') ? path.resolve(opt('--root') as string) : undefined;
    const roots: [string, string][] = rootA ? [[rev ?? rootA, rootA], ['this checkout', repo]] : [['this checkout', repo]];
    const keys = ['heapPerClusterKB', 'rssPerClusterKB', 'heapTotalMB', 'cdsAllocPerClusterKB', 'edsAllocPerClusterKB', 'cdsApplyMs', 'edsApplyMs', 'cdsRepushMs', 'promKB'] as const;
    for (const n of sizes) {
      const file = path.join(work, `xds-${n}.json`);
      await writeXds(n, file);
      const runs = new Map<string, Result[]>(roots.map(([name]) => [name, []]));
      for (let i = 0; i < rounds; i++) {
        // A B, then B A: neither always runs on a machine the other just warmed.
        const order = i % 2 === 0 ? roots : [...roots].reverse();
        for (const [name, root] of order) runs.get(name)?.push(measure(root, file));
      }
      for (const [name, rs] of runs) {
        const row = Object.fromEntries(keys.map((k) => [k, median(rs.map((r) => r[k]))]));
        process.stdout.write(`${String(rs[0]?.clusters).padStart(6)} clusters  ${name.padEnd(16)} ${keys.map((k) => `${k} ${row[k]}`).join('  ')}\n`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
