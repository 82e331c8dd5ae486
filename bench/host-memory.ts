// What each sidecar costs in memory where a local mesh runs them by default: many sidecars in one proxy
// host process (`outrigger up`, process mode). For each count of sidecars, a fresh mesh with 100
// Services of config; each sidecar then carries a few hundred requests to a podinfo Service, and the
// proxy host's resident and private memory is read from /proc. The slope between counts is what one
// more sidecar adds. The figures move with how much garbage V8 holds at the moment of reading.
// Run: node bench/host-memory.ts [--sidecars 1,10,20] [--services 100] [--requests 300] [--rounds 3]
// Each count is measured once a round, the counts alternating; each row is the median of the rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { readState } from '../src/runtime/state.ts';
import { privateMb, rssMb } from './proc-stat.ts';

const argv = process.argv;
const opt = (name: string, fallback: string) => (argv.includes(name) ? (argv[argv.indexOf(name) + 1] ?? fallback) : fallback);
const counts = opt('--sidecars', '1,10,20').split(',').map(Number);
const services = Number(opt('--services', '100'));
const requests = Number(opt('--requests', '300'));
const rounds = Number(opt('--rounds', '3'));
const bin = path.resolve(import.meta.dirname, '../bin/outrigger.ts');

function manifests(sidecars: number): string {
  const docs = [
    'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: local, namespace: istio-system}\nspec:\n  components:\n    ingressGateways: [{name: istio-ingressgateway, enabled: false}]',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {istio-injection: enabled}}',
    'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: bench}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 9898}]',
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: bench}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: ghcr.io/stefanprodan/podinfo:6.5.3, ports: [{containerPort: 9898}]}]',
  ];
  // The config every sidecar holds: Services with no pods of their own, as clusters and routes.
  for (let i = 0; i < services; i++) docs.push(`apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: bench}\nspec:\n  selector: {app: svc-${i}}\n  ports: [{name: http, port: 80, targetPort: 8080}]`);
  // One sidecar is web's; the others are clients' (an idle `sleep` beside each).
  if (sidecars > 1) {
    docs.push(
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: client, namespace: bench}\nspec:\n  replicas: ${sidecars - 1}\n  selector: {matchLabels: {app: client}}\n  template:\n    metadata: {labels: {app: client}}\n    spec:\n      containers: [{name: sleep, image: curlimages/curl:8.5.0}]`,
    );
  }
  return `${docs.join('\n---\n')}\n`;
}

/** `requests` GETs of web through one sidecar's outbound port, on one keep-alive connection. */
async function load(proxyPort: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < requests; i++) {
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxyPort, path: 'http://web.bench/', headers: { host: 'web.bench' }, agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        })
        .on('error', reject);
    });
  }
  agent.destroy();
}

interface Row {
  sidecars: number;
  rssMb: number;
  privateMb: number;
}

async function measure(sidecars: number): Promise<Row> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'or-host-memory-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  mkdirSync(config);
  writeFileSync(path.join(config, 'mesh.yaml'), manifests(sidecars));
  try {
    execFileSync(process.execPath, [bin, 'up', '-f', config, '--ephemeral-ports', '--dir', state, '-d'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    const mesh = readState(state);
    const withProxy = (mesh?.components ?? []).filter((c) => c.sidecar && c.ports['proxy:15001']);
    const hosts = new Set(withProxy.map((c) => c.proxyPid));
    if (withProxy.length !== sidecars || hosts.size !== 1) throw new Error(`expected ${sidecars} sidecars in one proxy host, found ${withProxy.length} in ${hosts.size}`);
    for (const c of withProxy) await load(c.ports['proxy:15001'] as number);
    const pid = [...hosts][0] as number;
    return { sidecars, rssMb: rssMb(pid), privateMb: privateMb(pid) };
  } finally {
    spawnSync(process.execPath, [bin, 'down', '--dir', state], { stdio: 'ignore', timeout: 120_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

const measured = new Map<number, Row[]>(counts.map((n) => [n, []]));
for (let round = 1; round <= rounds; round++) {
  for (const n of counts) {
    console.error(`host-memory: round ${round}/${rounds}, ${n} sidecars, ${services} services, ${requests} requests each`);
    measured.get(n)?.push(await measure(n));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rows: Row[] = counts.map((n) => {
  const rs = measured.get(n) ?? [];
  return { sidecars: n, rssMb: median(rs.map((r) => r.rssMb)), privateMb: median(rs.map((r) => r.privateMb)) };
});
console.log('sidecars  host RSS MB  private MB  RSS per sidecar MB');
for (const r of rows) console.log(`${String(r.sidecars).padStart(8)}  ${r.rssMb.toFixed(1).padStart(11)}  ${r.privateMb.toFixed(1).padStart(10)}  ${(r.rssMb / r.sidecars).toFixed(1).padStart(18)}`);
const first = rows[0];
const last = rows.at(-1);
if (first && last && last.sidecars > first.sidecars) {
  const slope = (last.rssMb - first.rssMb) / (last.sidecars - first.sidecars);
  const slopePrivate = (last.privateMb - first.privateMb) / (last.sidecars - first.sidecars);
  console.log(`each sidecar more: ${slope.toFixed(1)} MB resident, ${slopePrivate.toFixed(1)} MB private (from ${first.sidecars} to ${last.sidecars})`);
}
