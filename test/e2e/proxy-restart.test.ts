// A gateway or sidecar that exits inside the proxy host (POST /quitquitquit on its admin port) is
// restarted, as a kubelet restarts a pod's istio-proxy container, and `status` says so: its restart
// counted, the proxy connected again. Real `up`s in this process, real proxy hosts.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, meshedWeb, upInProcess } from './up-in-process.ts';

// A meshed app beside the ingress gateway: two proxies.
const manifests = meshedWeb;

async function ready(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/healthz/ready`).then(
    (r) => r.status === 200,
    () => false,
  );
}

for (const mode of ['shared', 'per-proxy'] as const) {
  test(`up --proxy-processes ${mode}: a gateway that quits is restarted and status counts it`, { timeout: 120_000 }, async () => {
    const { dir, config, state } = meshDir('or-proxy-restart-', manifests);
    const up = upInProcess(['-f', config, '--ephemeral-ports', '--proxy-processes', mode, '--dir', state]);
    try {
      await up.until(/^mesh ready in /);
      const before = readState(state)?.components.find((c) => c.kind === 'gateway');
      assert.ok(before, 'a gateway');
      const hostPid = before.proxyPid;
      assert.equal((await fetch(`http://127.0.0.1:${before.ports['proxy:15000']}/quitquitquit`, { method: 'POST' })).status, 200);
      await up.until(/\] istio-system\/istio-ingressgateway-0: proxy exited in the .*, restarting/);
      await up.until(/\] istio-system\/istio-ingressgateway-0: proxy restarted$/);
      const after = readState(state)?.components.find((c) => c.name === before.name);
      assert.equal(after?.restarts, 1);
      assert.equal(after?.status, 'running');
      assert.equal(after?.detail, undefined);
      assert.equal(after?.proxyPid, hostPid, 'restarted inside the same proxy host');
      // Ready again on its own ports once it has its config back (the control plane pushes it at once).
      let ok = false;
      for (let i = 0; i < 200 && !ok; i++) {
        ok = await ready(after?.ports['proxy:15021'] as number);
        if (!ok) await new Promise((r) => setImmediate(r));
      }
      assert.ok(ok, 'the restarted gateway is ready on its health port');
      const from = up.lines.length;
      await main(['node', 'outrigger', 'status', '--dir', state]);
      const printed = up.lines.slice(from).join('\n');
      assert.match(printed, /istio-system\/istio-ingressgateway-0 +gateway +no +running +- +\d+ +1 /, printed);
      assert.match(printed, /proxies: 2 connected/, printed);
    } finally {
      await up.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const job = `${manifests}---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    metadata: {labels: {app: migrate}}
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: node:24
          command: ["${process.execPath}", "-e", "setTimeout(() => {}, 1500)"]
`;

test("up: a finished Job's sidecar leaves the proxy host for good; the host's other proxies run on", { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-proxy-restart-', manifests);
  writeFileSync(path.join(config, 'mesh.yaml'), job);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    await up.until(/\] shop\/migrate-\S+: completed \(exited with status 0\)/);
    const components = readState(state)?.components ?? [];
    const migrate = components.find((c) => c.name.startsWith('shop/migrate'));
    const web = components.find((c) => c.name === 'shop/web-0');
    assert.ok(migrate && web);
    // Its proxy drains and stays down; the sidecar beside it in the same host is untouched.
    let down = false;
    for (let i = 0; i < 200 && !down; i++) {
      down = !(await ready(migrate.ports['proxy:15021'] as number));
      if (!down) await new Promise((r) => setImmediate(r));
    }
    assert.ok(down, "the Job's proxy is gone");
    assert.ok(await ready(web.ports['proxy:15021'] as number), 'web-0 still ready');
    assert.equal(migrate.proxyPid, web.proxyPid, 'one proxy host');
    const from = up.lines.length;
    await main(['node', 'outrigger', 'status', '--dir', state]);
    const printed = up.lines.slice(from).join('\n');
    assert.match(printed, /shop\/migrate-\S+ +workload +yes +completed \(exited with status 0\) /, printed);
    assert.doesNotMatch(printed, /not connected/, printed);
    assert.ok(!up.lines.some((l) => /migrate.*(proxy exited|restarting)/.test(l)), up.lines.join('\n'));
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('up --proxy-processes per-proxy: a proxy host killed reads restarting, is restarted, and status then reads running with the restart counted', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-proxy-restart-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--proxy-processes', 'per-proxy', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    const before = readState(state)?.components.find((c) => c.name === 'shop/web-0');
    assert.ok(before?.proxyPid);
    process.kill(before.proxyPid, 'SIGKILL');
    await up.until(/\] shop\/web-0 proxy exited with SIGKILL, restarting/);
    // Until its sidecar is back the workload is not running, as a pod with a crashed istio-proxy is not ready.
    const down = readState(state)?.components.find((c) => c.name === 'shop/web-0');
    assert.equal(down?.status, 'restarting');
    assert.match(down?.detail ?? '', /proxy exited with SIGKILL; restarting in /);
    // The restarted host writes its pid: the state is read until it does (bounded, no timer).
    let after = readState(state)?.components.find((c) => c.name === 'shop/web-0');
    for (let i = 0; i < 100_000 && after?.proxyPid === before.proxyPid; i++) {
      await new Promise((r) => setImmediate(r));
      after = readState(state)?.components.find((c) => c.name === 'shop/web-0');
    }
    assert.notEqual(after?.proxyPid, before.proxyPid, 'a new proxy host');
    assert.equal(after?.restarts, 1);
    assert.equal(after?.status, 'running');
    assert.equal(after?.detail, undefined, `still says: ${after?.detail}`);
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
