// IstioProxyHighResourceUsage in process mode. It reads cAdvisor's istio-proxy container CPU and memory,
// which a proxy reports only with its process to itself: under `up --proxy-processes per-proxy` every
// gateway and sidecar has one and reports them on its 15090; with the proxies sharing the proxy host
// (the default) none does, and `up` says once that the alert cannot fire. Real `up`s in this process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, meshedWeb, upInProcess } from './up-in-process.ts';

// A meshed podinfo beside the ingress gateway (two proxies), and the seed's resource alert.
const manifests = `${meshedWeb}---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: istio-alerts, namespace: istio-system}
spec:
  groups:
    - name: istio.rules
      rules:
        - alert: IstioProxyHighResourceUsage
          expr: |
            sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container="istio-proxy"}[5m])) > 1.6
              or
            sum by (namespace, pod) (container_memory_working_set_bytes{container="istio-proxy"}) > 858993459
          for: 10m
        - alert: IstioControlPlaneUnavailable
          expr: absent(up{job="istiod"} == 1)
`;

const note = /note: IstioProxyHighResourceUsage cannot fire in this mode: the proxies share one process/;

/** The `container="istio-proxy"` series a proxy's merged metrics port (15090) reports. */
async function containerSeries(port: number): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/stats/prometheus`)).text();
  return text.split('\n').filter((l) => /^container_(cpu_usage_seconds_total|memory_working_set_bytes)\{container="istio-proxy"\} /.test(l));
}

test('up --proxy-processes per-proxy: each proxy has its own process and reports the istio-proxy container CPU and memory the alert reads', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-proxy-procs-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--proxy-processes', 'per-proxy', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    assert.ok(up.lines.some((l) => /proxies: starting 2 \(1 gateways, 1 sidecars\), each in a process of its own/.test(l)), up.lines.join('\n'));
    const proxies = readState(state)?.components.filter((c) => c.proxyPid !== undefined) ?? [];
    assert.deepEqual(proxies.map((c) => c.kind).sort(), ['gateway', 'workload']);
    assert.equal(new Set(proxies.map((c) => c.proxyPid)).size, 2, 'one process each');
    for (const c of proxies) {
      const series = await containerSeries(c.ports['proxy:15090'] as number);
      assert.equal(series.length, 2, `${c.name}: ${series.join(', ')}`);
      const memory = Number(series.find((l) => l.startsWith('container_memory_working_set_bytes'))?.split(' ')[1]);
      assert.ok(memory > 10 * 1024 * 1024, `${c.name}: resident memory ${memory}`);
    }
    assert.ok(!up.lines.some((l) => note.test(l)), up.lines.join('\n'));
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('up with the proxies in one proxy host says once that IstioProxyHighResourceUsage cannot fire, and no proxy reports those series', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-proxy-procs-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    assert.equal(up.lines.filter((l) => note.test(l)).length, 1, up.lines.join('\n'));
    assert.ok(up.lines.some((l) => /--proxy-processes per-proxy \(or --mode netns\) gives each proxy its own/.test(l)));
    const proxies = readState(state)?.components.filter((c) => c.proxyPid !== undefined) ?? [];
    assert.equal(new Set(proxies.map((c) => c.proxyPid)).size, 1, 'one proxy host');
    for (const c of proxies) assert.deepEqual(await containerSeries(c.ports['proxy:15090'] as number), [], c.name);
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('up --proxy-processes refuses anything but shared or per-proxy before starting anything', async () => {
  const err: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  const dir = mkdtempSync(path.join(tmpdir(), 'or-proxy-procs-bad-'));
  try {
    assert.equal(await main(['node', 'outrigger', 'up', '-f', 'nowhere', '--proxy-processes', 'each', '--dir', dir]), 64);
  } finally {
    process.stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(err.join(''), /^error: option '--proxy-processes <how>' argument 'each' is invalid\. Allowed choices are shared, per-proxy\.\n/);
});
