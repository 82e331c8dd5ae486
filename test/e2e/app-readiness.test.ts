// A pod is in its services' endpoints only while its app listens, as a readiness probe keeps it in a
// cluster: not from the moment its sidecar connects (a pod whose app is still starting took requests and
// answered them 503 UF), and not while its app is down between a crash and the restart. The local
// runtime, real processes and a real control plane; what the runtime tells the control plane is recorded.
import assert from 'node:assert/strict';
import { once, EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadText } from '../../src/config/load-text.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import type { ControlPlaneHandle } from '../../src/runtime/control-plane-handle.ts';
import { MeshRuntime } from '../../src/runtime/mesh-runtime.ts';
import { startLocalControlPlane } from '../../src/runtime/start-control-plane.ts';
import { withoutIngress } from './up-in-process.ts';

test('a pod joins its services when its app listens, leaves them when the app exits, and joins again once it listens', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-readiness-'));
  const config = path.join(dir, 'config');
  mkdirSync(config);
  const gate = path.join(dir, 'gate');
  // The app listens once the gate file is there: the test decides when it is ready, without a timer of its own.
  const app = `const fs = require('node:fs'); const t = setInterval(() => { if (fs.existsSync(process.env.GATE)) { clearInterval(t); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1'); } }, 10);`;
  const manifests = `${withoutIngress}apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example/web
          command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(app)}]
          env: [{name: GATE, value: ${JSON.stringify(gate)}}]
          ports: [{containerPort: 8080}]
`;
  writeFileSync(path.join(config, 'mesh.yaml'), manifests);
  const { resources, diagnostics } = loadText(manifests, path.join(config, 'mesh.yaml'));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);

  // Every line the runtime prints and every registration it makes, in order.
  const log: string[] = [];
  const said = new EventEmitter();
  const note = (line: string) => {
    log.push(line);
    said.emit('line');
  };
  const until = async (what: string) => {
    const signal = AbortSignal.timeout(60_000);
    while (!log.some((l) => l.startsWith(what))) await once(said, 'line', { signal }).catch(() => assert.fail(`never: ${what}\n${log.join('\n')}`));
  };
  const runtime = new MeshRuntime({
    configDirs: [config],
    stateDir: path.join(dir, 'state'),
    outriggerBin: path.join(import.meta.dirname, '..', '..', 'bin', 'outrigger.ts'),
    nodeBinary: process.execPath,
    ingressHttpPort: 0,
    ingressHttpsPort: 0,
    progress: (line) => {
      note(line);
      if (line.startsWith('shop/web-0: starting app')) writeFileSync(gate, '');
    },
    startControlPlane: async (rs): Promise<ControlPlaneHandle> => {
      const cp = await startLocalControlPlane({ configDirs: [config], resources: rs, stateDir: path.join(dir, 'state'), xdsPort: 0, xdsTlsPort: 0, debugPort: 0, dashboardPort: 0 });
      return {
        ...cp,
        registerWorkload: (i: WorkloadInstance) => {
          note(`register ${i.name} ${i.healthy ? 'ready' : 'not ready'}`);
          cp.registerWorkload(i);
        },
      };
    },
  });
  try {
    const state = await runtime.start(resources);
    const at = (line: string) => log.findIndex((l) => l === line || l.startsWith(line));
    // Known, not ready, before its sidecar starts; ready only after its app was started (and listened).
    assert.ok(at('register web-0 not ready') >= 0 && at('register web-0 not ready') < at('proxies: starting'), log.join('\n'));
    assert.ok(at('register web-0 ready') > at('shop/web-0: starting app'), log.join('\n'));
    assert.equal(log.filter((l) => l === 'register web-0 ready').length, 1);

    // Its app dies: out of the endpoints at once; back in when the restarted app listens (the gate is open).
    const pid = state.components.find((c) => c.name === 'shop/web-0')?.pid as number;
    const from = log.length;
    process.kill(pid, 'SIGKILL');
    await until('shop/web-0: app exited with SIGKILL, restarting');
    const after = () => log.slice(from);
    while (!after().includes('register web-0 ready')) await once(said, 'line', { signal: AbortSignal.timeout(60_000) }).catch(() => assert.fail(`not ready again:\n${after().join('\n')}`));
    const regs = after().filter((l) => l.startsWith('register web-0'));
    assert.deepEqual(regs, ['register web-0 not ready', 'register web-0 ready']);
  } finally {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
