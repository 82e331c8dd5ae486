// `up -d` says no less than a foreground `up`: what the manifests ask that is not run locally, and where
// the Prometheus configuration for the mesh's alerts is, beside the ingress, dashboard, status and stop.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { netnsUnavailable } from '../netns/pod-processes.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');

function outrigger(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

test('up -d prints what is not run locally and the alerts configuration, then down stops it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-detach-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  try {
    mkdirSync(config);
    writeFileSync(path.join(config, 'monitoring.yaml'), 'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: istiod, namespace: monitoring}\nspec: {selector: {matchLabels: {app: istiod}}}\n');
    const up = await outrigger(['up', '-f', config, '--ephemeral-ports', '--dir', state, '-d']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /^not run locally \(Outrigger provides the equivalent\): ServiceMonitor monitoring\/istiod$/m);
    assert.match(up.stdout, /^ {2}alerts: {4}prometheus --config\.file=\S+prometheus\.yml /m);
    assert.match(up.stdout, /^mesh running in the background \(pid \d+\)/m);
    // The background up's own summary, in up.log, says how a detached mesh stops: no Ctrl-C reaches it.
    const log = path.join(state, 'logs', 'up.log');
    let summary = '';
    for (const end = Date.now() + 30_000; Date.now() < end && !summary; ) {
      const text = readFileSync(log, 'utf8');
      if (/^ {2}stop: /m.test(text)) summary = text;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(summary, new RegExp(`^ {2}stop: {6}outrigger down --dir ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.doesNotMatch(summary, /Ctrl-C/);
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await outrigger(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status names a resource whose edit does not validate, held at its last good version, with file:line:col', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-held-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  const vs = path.join(config, 'vs.yaml');
  const text = (hosts: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: default}\nspec:\n  hosts: ${hosts}\n  http:\n  - route:\n    - destination: {host: web.default.svc.cluster.local}\n`;
  try {
    mkdirSync(config);
    writeFileSync(vs, text('[web.default.svc.cluster.local]'));
    const up = await outrigger(['up', '-f', config, '--ephemeral-ports', '--dir', state, '-d']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const before = await outrigger(['status', '--dir', state]);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, /^config: version \S+, \d+ resources?, all as written$/m);
    writeFileSync(vs, text('web.default.svc.cluster.local'));
    // The control plane reloads the file by itself; status follows within its reload.
    let held = '';
    for (const end = Date.now() + 30_000; Date.now() < end && !held; ) {
      const s = await outrigger(['status', '--dir', state]);
      if (/held at the last version/.test(s.stdout)) held = s.stdout;
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(held, /^config: version \S+, \d+ resources?; 1 held at the last version that validated/m);
    assert.match(held, /^ {2}VirtualService default\/web \(from \S*vs\.yaml\)$/m);
    assert.match(held, /^ {4}\S*vs\.yaml:5:\d+: error OR\d+ VirtualService default\/web: spec\.hosts: /m);
    const json = JSON.parse((await outrigger(['status', '--dir', state, '-o', 'json'])).stdout) as { config: { held: { key: string }[] } };
    assert.deepEqual(
      json.config.held.map((h) => h.key),
      ['VirtualService default/web'],
    );
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await outrigger(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `up | head`: the reader goes after the line matching `closeAfter`, and up's next line finds the pipe
 * closed. Up must stop what it started, and start nothing more, before it exits.
 */
async function upWhosePipeCloses(closeAfter: RegExp, mode: 'process' | 'netns' = 'process'): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-pipe-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  try {
    mkdirSync(config);
    writeFileSync(path.join(config, 'vs.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: default}\nspec: {hosts: [web.default.svc.cluster.local]}\n');
    const namespacesBefore = meshNamespaces();
    const child = spawn(process.execPath, [bin, 'up', '-f', config, '--ephemeral-ports', '--dir', state, '--mode', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    let out = '';
    for await (const chunk of child.stdout) {
      out += String(chunk);
      if (closeAfter.test(out)) break;
    }
    child.stdout.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error:|\n\s+at /);
    assert.equal(existsSync(path.join(state, 'state.json')), false);
    assert.deepEqual(processesNaming(state), []);
    if (mode === 'netns') {
      // Only this mesh's own (`or-<id>-*`, the id its network line names): other tests' meshes and pods
      // come and go meanwhile.
      const id = /network: bridge or-br-(\w+) /.exec(out)?.[1];
      assert.ok(id, out);
      const ours = (names: string[]) => names.filter((n) => n.startsWith(`or-${id}-`));
      assert.deepEqual(ours(meshNamespaces()), ours(namespacesBefore), 'no pod network namespace is left');
    }
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await outrigger(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a foreground up whose output pipe closes (`up | head`) while its proxies start stops them before it exits', { timeout: 90_000 }, () =>
  upWhosePipeCloses(/proxies: starting/),
);

test('a foreground up whose output pipe closes before its proxies start never starts them', { timeout: 90_000 }, () => upWhosePipeCloses(/control plane: starting/));

/** The network namespaces meshes make (`or-<id>-*`); none outside netns mode. */
function meshNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith('or-'))
      .sort();
  } catch {
    return [];
  }
}

/** Pids of processes whose command line names `text` (the mesh's own children name its state directory). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('in netns mode too, an up whose output pipe closes while its pods start stops them and leaves no namespace', { timeout: 120_000, skip: netnsUnavailable() }, () =>
  upWhosePipeCloses(/network: bridge or-br-\w+ /, 'netns'),
);

test('up --ephemeral-ports binds every port of the ingress gateway on a free host port, not only 8080 and 8443', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-up-gwports-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  try {
    mkdirSync(config);
    writeFileSync(
      path.join(config, 'gateway.yaml'),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: admin, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 9000, name: http-admin, protocol: HTTP}
      hosts: [admin.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: admin, namespace: istio-system}
spec:
  hosts: [admin.example.com]
  gateways: [admin]
  http: [{directResponse: {status: 200, body: {string: admin}}}]
`,
    );
    const up = await outrigger(['up', '-f', config, '--ephemeral-ports', '--dir', state, '-d']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const status = JSON.parse((await outrigger(['status', '--dir', state, '-o', 'json'])).stdout) as { components: { kind: string; ports: Record<string, number> }[] };
    const gateway = status.components.find((c) => c.kind === 'gateway');
    const bound = gateway?.ports['proxy:9000'];
    assert.ok(bound !== undefined && bound !== 9000, JSON.stringify(gateway?.ports));
    // curl, as a person would: fetch() will not send a Host of its own choosing.
    const curl = await new Promise<string>((resolve) => execFile('curl', ['-s', '-H', 'Host: admin.example.com', `http://127.0.0.1:${bound}/`], { timeout: 10_000 }, (_e, out) => resolve(out)));
    assert.equal(curl, 'admin');
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await outrigger(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
});
