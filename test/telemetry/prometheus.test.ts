// A real Prometheus scrapes Istio metrics recorded through the istio.stats filter and answers the
// seed's three PromQL queries; promtool checks the exposition and the seed's alerts as rules.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { createTelemetryFilterFactory } from '../../src/proxy/filters/telemetry/index.ts';
import type { HttpFilter } from '../../src/proxy/http/filter.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { buildPrometheusRules } from '../../src/telemetry/prometheus-rules.ts';
import { drive, telemetryConfig } from './drive-filter.ts';
import { PrometheusProcess, prometheusInstalled, promtool } from './prometheus-harness.ts';

const skip = prometheusInstalled ? false : 'Debian prometheus (/usr/bin/prometheus, /usr/bin/promtool) is not installed';

const registry = new MetricsRegistry();
let server: Server;
let prom: PrometheusProcess | undefined;
let podinfo: HttpFilter;
let frontend: HttpFilter;

const mtls = { tls: true, peerPrincipal: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account', peer: { workload: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' } } };

/** One round of traffic: podinfo gets 10 fast 200s and 1 slow 500 per round; frontend 4 × 200. */
async function traffic(): Promise<void> {
  for (let i = 0; i < 10; i++) await drive(podinfo, { authority: 'podinfo.podinfo:9898', status: 200, durationMs: 3, responseBytes: 120, connection: mtls });
  await drive(podinfo, { authority: 'podinfo.podinfo:9898', status: 500, durationMs: 700, connection: mtls });
  for (let i = 0; i < 4; i++) await drive(frontend, { authority: 'frontend.shop:8080', status: 200, durationMs: 40, connection: mtls });
}

before(async () => {
  const factory = createTelemetryFilterFactory({ registry });
  const workload = (name: string, ns: string, version: string) => ({ workload: name, namespace: ns, labels: { app: name.split('-')[0] ?? name, version }, principal: `spiffe://cluster.local/ns/${ns}/sa/${name}` });
  podinfo = factory.create(
    telemetryConfig({ reporter: 'destination', workload: workload('podinfo-stable', 'podinfo', 'stable'), services: [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo', ports: [9898] }], metrics: true }),
  );
  frontend = factory.create(
    telemetryConfig({ reporter: 'destination', workload: workload('frontend-v1', 'shop', 'v1'), services: [{ host: 'frontend.shop.svc.cluster.local', name: 'frontend', namespace: 'shop', ports: [8080] }], metrics: true }),
  );
  server = createServer((req, res) => {
    if (req.url !== '/stats/prometheus') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(registry.renderPrometheus());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  await prom?.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a real Prometheus answers the seed queries over metrics from the filter', { skip, timeout: 90_000 }, async () => {
  await traffic();
  const port = (server.address() as AddressInfo).port;
  const seed = loadText(await readFile(new URL('../../examples/seed/04-observability.yaml', import.meta.url), 'utf8'), '04-observability.yaml');
  const rules = buildPrometheusRules(seed.resources.filter((r) => r.kind === 'PrometheusRule'));
  prom = await PrometheusProcess.start([`127.0.0.1:${port}`], { 'istio-rules.yml': rules });
  const p = prom;
  await p.until('the target to be up', async () => ((await p.query('up{job="outrigger-proxy"} == 1')).length === 1 ? true : undefined));
  await p.until('a first sample', async () => ((await p.query('istio_requests_total')).length > 0 ? true : undefined));
  // rate() needs two samples that differ: more traffic, then wait for the next scrapes to see it.
  await traffic();
  await traffic();

  const byService = await p.until('request rates for both services', async () => {
    const r = await p.query('sum(rate(istio_requests_total[5m])) by (destination_service_name)');
    return r.length === 2 && r.every((s) => Number(s.value[1]) > 0) ? r : undefined;
  });
  assert.deepEqual(byService.map((s) => s.metric['destination_service_name']).sort(), ['frontend', 'podinfo']);

  const p95 = await p.query('histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket[5m])) by (le, destination_service_name))');
  const latency = Object.fromEntries(p95.map((s) => [s.metric['destination_service_name'], Number(s.value[1])]));
  // podinfo: 1 in 11 requests took 700 ms, so the 95th percentile falls in the (500, 1000] bucket;
  // frontend: all 40 ms, inside (25, 50].
  assert.ok((latency['podinfo'] ?? 0) > 500 && (latency['podinfo'] ?? 0) <= 1000, `podinfo p95 ${latency['podinfo']}`);
  assert.ok((latency['frontend'] ?? 0) > 25 && (latency['frontend'] ?? 0) <= 50, `frontend p95 ${latency['frontend']}`);

  const errorRate = await p.query('sum(rate(istio_requests_total{response_code=~"5.."}[5m])) / sum(rate(istio_requests_total[5m]))');
  assert.equal(errorRate.length, 1);
  // 1 error in 15 requests per round (the ratio of rates equals the ratio of increases).
  assert.ok(Math.abs(Number(errorRate[0]?.value[1]) - 1 / 15) < 0.02, `error rate ${errorRate[0]?.value[1]}`);

  const labels = (await p.query('istio_requests_total{destination_service_name="podinfo", response_code="500"}'))[0]?.metric ?? {};
  assert.equal(labels['reporter'], 'destination');
  assert.equal(labels['source_workload'], 'istio-ingressgateway');
  assert.equal(labels['destination_workload'], 'podinfo-stable');
  assert.equal(labels['destination_version'], 'stable');
  assert.equal(labels['destination_service'], 'podinfo.podinfo.svc.cluster.local');
  assert.equal(labels['connection_security_policy'], 'mutual_tls');
  assert.equal(labels['response_flags'], '-');

  // The seed's alert rules loaded into this Prometheus.
  const ruleGroups = (await (await fetch(`${p.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
  const alerts = ruleGroups.data.groups.flatMap((g) => g.rules.map((r) => r.name));
  assert.equal(alerts.length, 8);
  assert.ok(alerts.includes('IstioHigh5xxErrorRate'));
});

test('promtool accepts the exposition (only _milliseconds unit warnings)', { skip }, async () => {
  await traffic();
  const { output } = await promtool(['check', 'metrics'], registry.renderPrometheus());
  const problems = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/non-base unit|_milliseconds/.test(l));
  assert.deepEqual(problems, []);
});

test('promtool accepts the seed PrometheusRule converted to a rule file', { skip }, async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const seed = loadText(await readFile(new URL('../../examples/seed/04-observability.yaml', import.meta.url), 'utf8'), '04-observability.yaml');
  const dir = await mkdtemp(join(tmpdir(), 'outrigger-rules-'));
  try {
    const file = join(dir, 'rules.yml');
    await writeFile(file, buildPrometheusRules(seed.resources.filter((r) => r.kind === 'PrometheusRule')));
    const { code, output } = await promtool(['check', 'rules', file]);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS: 8 rules found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
