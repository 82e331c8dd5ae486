// The scraper over real sockets: rounds on the injected clock, the size cap, targets from the state file.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ManualClock } from '../controlplane/clock.ts';
import { IstioMetrics } from '../telemetry/istio-metrics.ts';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { workloadLabels } from '../telemetry/workload-labels.ts';
import { scrapeTargetsFromState } from './scrape-targets.ts';
import { Scraper } from './scraper.ts';
import { TrafficHistory } from './traffic-history.ts';

async function serve(body: () => string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((_req, res) => res.end(body()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stats/prometheus`;
  return { url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('rounds follow the injected clock; a scrape larger than the cap is refused, the others kept', async () => {
  const registry = new MetricsRegistry();
  const m = new IstioMetrics(registry);
  const a = workloadLabels({ workload: 'a', namespace: 'ns', labels: {} });
  const b = workloadLabels({ workload: 'b', namespace: 'ns', labels: {} });
  m.edge('destination', a, b, { host: 'b.ns.svc.cluster.local', name: 'b', namespace: 'ns' }, 'mutual_tls').record('http', 200, -1, '-', 2, 0, 0);
  const good = await serve(() => registry.renderPrometheus());
  const huge = await serve(() => `# ${'x'.repeat(500_000)}\n`);
  const clock = new ManualClock(0);
  const history = new TrafficHistory(4);
  const scraper = new Scraper({
    targets: () => [
      { name: 'good', url: good.url },
      { name: 'huge', url: huge.url },
    ],
    history,
    clock,
    intervalMs: 5000,
    timeoutMs: 5000,
    maxBytes: 200_000,
    concurrency: 2,
  });
  try {
    scraper.start();
    await scraper.scrapeNow();
    // let the scraper's own continuation schedule the next round
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(history.rounds, 1);
    clock.advance(4999);
    assert.equal(clock.pending, 1, 'the next round waits for its interval');
    clock.advance(1);
    const round = await scraper.scrapeNow();
    assert.equal(history.rounds, 2);
    assert.equal(round.at, 5000);
    assert.equal(round.targets.get('good')?.size, 1, JSON.stringify(scraper.health()));
    assert.equal(round.targets.has('huge'), false);
    const health = scraper.health();
    assert.deepEqual(
      health.map((h) => [h.name, h.up, h.edges]),
      [
        ['good', true, 1],
        ['huge', false, 0],
      ],
    );
    assert.match(health[1]?.error ?? '', /larger than 200000 bytes/);
  } finally {
    scraper.close();
    await good.close();
    await huge.close();
  }
});

test('targets from the runtime state: proxies with a stats port, stopped ones left out', () => {
  const targets = scrapeTargetsFromState({
    version: 1,
    pid: 1,
    startedAt: '',
    mode: 'process',
    configDirs: [],
    controlPlane: { xdsAddress: '', debugAddress: '' },
    components: [
      { name: 'control-plane', kind: 'control-plane', ports: {}, sidecar: false, status: 'running', restarts: 0 },
      { name: 'podinfo/podinfo-stable-0', kind: 'workload', ports: { 'app:9898': 41000, 'proxy:15090': 41005 }, sidecar: true, status: 'running', restarts: 0 },
      { name: 'istio-system/istio-ingressgateway', kind: 'gateway', ports: { 'proxy:15090': 41010 }, sidecar: false, status: 'running', restarts: 0 },
      { name: 'podinfo/old-0', kind: 'workload', ports: { 'proxy:15090': 41020 }, sidecar: true, status: 'stopped', restarts: 0 },
    ],
  });
  assert.deepEqual(targets, [
    { name: 'podinfo/podinfo-stable-0', url: 'http://127.0.0.1:41005/stats/prometheus' },
    { name: 'istio-system/istio-ingressgateway', url: 'http://127.0.0.1:41010/stats/prometheus' },
  ]);
  assert.deepEqual(scrapeTargetsFromState(undefined), []);
});

test('targets in netns mode: each proxy on its pod address, where the pod publishes 15090', () => {
  const targets = scrapeTargetsFromState({
    version: 1,
    pid: 1,
    startedAt: '',
    mode: 'netns',
    configDirs: [],
    controlPlane: { xdsAddress: '', debugAddress: '' },
    components: [
      { name: 'podinfo/podinfo-stable-0', kind: 'workload', ports: { 'app:9898': 9898, 'proxy:15090': 15090 }, sidecar: true, status: 'running', restarts: 0, netns: 'or-ab12-3', address: '10.250.7.3' },
      { name: 'istio-system/istio-ingressgateway-0', kind: 'gateway', ports: { 'proxy:15090': 15090, 'host:8080': 42869 }, sidecar: false, status: 'running', restarts: 0, netns: 'or-ab12-2', address: '10.250.7.2' },
    ],
  });
  assert.deepEqual(targets, [
    { name: 'podinfo/podinfo-stable-0', url: 'http://10.250.7.3:15090/stats/prometheus' },
    { name: 'istio-system/istio-ingressgateway-0', url: 'http://10.250.7.2:15090/stats/prometheus' },
  ]);
});
