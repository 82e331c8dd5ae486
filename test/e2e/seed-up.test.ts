// The acceptance test of `outrigger up`: the seed deployment, unmodified, runs locally in process mode.
// Through the ingress gateway the 90/10 split holds, `X-Canary: true` always reaches the canary, hops
// between sidecars are mutual TLS, a weight edit applies without a restart, and `down` leaves nothing.
// Startup time is printed, never asserted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { isAlive, leftoverProcesses, MESH_DIR_ENV, type MeshState, readState } from '../../src/runtime/state.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin/outrigger.mjs');
const work = mkdtempSync(path.join(os.tmpdir(), 'outrigger-e2e-'));
const seed = path.join(work, 'seed');
const stateDir = path.join(work, '.outrigger');
let state: MeshState;
let upOutput = '';
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function outrigger(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function get(port: number, headers: Record<string, string>, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

const ingressPort = () => Number(new URL(state.ingressUrl ?? '').port);
const host = { host: 'podinfo.example.com' };

async function split(n: number): Promise<{ stable: number; canary: number; other: number }> {
  const out = { stable: 0, canary: 0, other: 0 };
  for (let i = 0; i < n; i++) {
    const r = await get(ingressPort(), host);
    const message = r.status === 200 ? ((JSON.parse(r.body) as { message?: string }).message ?? '') : '';
    if (message.endsWith('stable')) out.stable++;
    else if (message.endsWith('canary')) out.canary++;
    else out.other++;
  }
  return out;
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

before(async () => {
  cpSync(path.join(repo, 'examples/seed'), seed, { recursive: true });
  const started = Date.now();
  const up = outrigger(['up', '-f', seed, '--ephemeral-ports', '--detach', '--dir', stateDir]);
  assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
  const s = readState(stateDir);
  assert.ok(s, 'up wrote its state');
  state = s;
  upOutput = up.stdout;
  // Serving means an answer through the ingress, not just processes started.
  for (;;) {
    const r = await get(ingressPort(), host).catch(() => ({ status: 0, body: '' }));
    if (r.status === 200) break;
    if (Date.now() - started > 60_000) assert.fail('the mesh never served through the ingress');
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`# seed mesh serving through the ingress ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
});

after(() => {
  agent.destroy();
  if (state && isAlive(state.pid)) outrigger(['down', '--dir', stateDir]);
  rmSync(work, { recursive: true, force: true });
});

test('the seed runs: gateways, the podinfo workloads and the test runner, each with a sidecar', () => {
  const names = state.components.map((c) => c.name).sort();
  for (const name of ['istio-system/istio-ingressgateway-0', 'podinfo/podinfo-stable-0', 'podinfo/podinfo-canary-0', 'istio-system/mesh-test-runner-0']) {
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  }
  for (const c of state.components.filter((x) => x.kind === 'workload')) assert.equal(c.sidecar, true, `${c.name} has a sidecar`);
});

test("every process of the mesh carries the mesh's marker, so down can find it if up is killed", () => {
  const marker = `${MESH_DIR_ENV}=${path.resolve(stateDir)}`;
  // The control plane runs in up itself, which stops its own processes.
  // A finished Job's app is gone: only what still runs.
  const pids = new Set(state.components.filter((c) => c.kind !== 'control-plane').flatMap((c) => [c.pid, c.proxyPid]).filter((p): p is number => typeof p === 'number' && isAlive(p)));
  assert.ok(pids.size >= 3, `apps and the proxy host: ${[...pids].join(', ')}`);
  for (const pid of pids) assert.ok(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker), `pid ${pid}`);
  assert.deepEqual(leftoverProcesses(stateDir, state)?.sort(), [...pids].sort());
});

test('up prints commands that work as printed: with the --dir it was given, and the dashboard', () => {
  assert.match(upOutput, new RegExp(`status: +outrigger status --dir ${stateDir.replaceAll('.', '\\.')}\n`));
  assert.match(upOutput, new RegExp(`stop: +outrigger down --dir ${stateDir.replaceAll('.', '\\.')}\n`));
  assert.match(upOutput, /dashboard: +http:\/\/127\.0\.0\.1:\d+/);
});

test('a second up in the same directory says the mesh is already running, and starts nothing', () => {
  const again = outrigger(['up', '-f', seed, '--ephemeral-ports', '--dir', stateDir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already running here \(pid \d+/);
  assert.match(again.stderr, new RegExp(`outrigger down --dir ${stateDir.replaceAll('.', '\\.')}`));
  assert.equal(readState(stateDir)?.pid, state.pid, 'the running mesh is untouched');
});

test('1,000 requests through the ingress split 90/10 within ±3 %', async () => {
  const s = await split(1000);
  assert.equal(s.other, 0, JSON.stringify(s));
  assert.ok(Math.abs(s.canary / 1000 - 0.1) <= 0.03, `canary share ${s.canary / 10} % (${JSON.stringify(s)})`);
});

test('X-Canary: true always reaches the canary', async () => {
  for (let i = 0; i < 50; i++) {
    const r = await get(ingressPort(), { ...host, 'x-canary': 'true' });
    assert.equal(r.status, 200);
    assert.match((JSON.parse(r.body) as { message: string }).message, /canary$/);
  }
});

test('the hop from the gateway to the workload is mutual TLS: the app sees the verified caller', async () => {
  const r = await get(ingressPort(), host, '/headers');
  assert.equal(r.status, 200);
  const headers = JSON.parse(r.body) as Record<string, string | string[]>;
  const xfcc = String(headers['x-forwarded-client-cert'] ?? headers['X-Forwarded-Client-Cert'] ?? '');
  assert.match(xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istio-ingressgateway-service-account/);
});

test("the seed's zero-trust policies deny what no layer allows, with a denial receipt", async () => {
  const r = await new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ingressPort(), method: 'DELETE', path: '/', headers: host, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers['x-envoy-response-flags'], 'RBAC');
  assert.ok(r.headers['x-outrigger-denied-by'], 'local mode names the decision');
});

test("the seed's own test runner passes inside the mesh", async () => {
  const log = state.components.find((c) => c.name === 'istio-system/mesh-test-runner-0')?.logFile ?? '';
  for (let i = 0; i < 300 && !/RESULT:/.test(readFileSync(log, 'utf8')); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(readFileSync(log, 'utf8'), /RESULT: PASS/);
});

test('the whole mesh stays within 500 MB of memory', () => {
  const pids = [state.pid, ...state.components.flatMap((c) => [c.pid, c.proxyPid])].filter((p): p is number => p !== undefined);
  const each = [...new Set(pids)].map((pid) => rssMb(pid));
  const total = each.reduce((sum, mb) => sum + mb, 0);
  console.log(`# resident memory of the mesh: ${total.toFixed(0)} MB over ${each.length} processes (${each.map((mb) => mb.toFixed(0)).join(' + ')})`);
  assert.ok(total > 0 && total <= 500, `${total.toFixed(0)} MB`);
});

test('editing the canary weights to 75/25 applies without a restart', async () => {
  const file = path.join(seed, '02-traffic-management.yaml');
  const text = readFileSync(file, 'utf8');
  assert.match(text, /weight: 90/);
  const pidsBefore = state.components.map((c) => c.proxyPid);
  const edited = Date.now();
  writeFileSync(file, text.replace('weight: 90', 'weight: 75').replace('weight: 10', 'weight: 25'));
  // Wait until the gateway has the new routes: a run of canary answers far above 10 % says so.
  let s = { stable: 0, canary: 0, other: 0 };
  for (let round = 0; round < 100; round++) {
    s = await split(200);
    if (s.canary >= 35) break;
  }
  console.log(`# weight edit observed through the ingress ${((Date.now() - edited) / 1000).toFixed(1)} s after the file changed`);
  s = await split(1000);
  assert.ok(Math.abs(s.canary / 1000 - 0.25) <= 0.04, `canary share after the edit ${s.canary / 10} % (stable ${s.stable}, canary ${s.canary}, not a podinfo answer ${s.other})`);
  assert.deepEqual(readState(stateDir)?.components.map((c) => c.proxyPid), pidsBefore, 'no proxy restarted');
});

test('down stops every process of the mesh', () => {
  const pids = [state.pid, ...state.components.flatMap((c) => [c.pid, c.proxyPid])].filter((p): p is number => p !== undefined);
  const down = outrigger(['down', '--dir', stateDir]);
  assert.equal(down.status, 0, down.stderr);
  assert.deepEqual(pids.filter(isAlive), []);
  const leftovers = spawnSync('pgrep', ['-f', seed], { encoding: 'utf8' }).stdout.trim();
  assert.equal(leftovers, '', 'no process still runs from the mesh directory');
});
