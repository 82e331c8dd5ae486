// A proxy that shuts down sends the spans and writes the access-log lines its last requests left
// buffered: a real collector over OTLP/HTTP and a real log file, nothing waiting for the export timer.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { TraceCollector } from '../../src/telemetry/tracing/collector.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'or-flush-'));
const collector = new TraceCollector({ maxTraces: 10 });
after(async () => {
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

test('closing the proxy exports its pending spans and writes its access log', async () => {
  const collectorPort = await collector.listen(0);
  const backend = await echoBackend();
  const logFile = path.join(dir, 'access.log');
  const env = await startProxy({ traceEndpoint: `http://127.0.0.1:${collectorPort}/v1/traces`, metadata: { NAMESPACE: 'podinfo', WORKLOAD_NAME: 'podinfo', LABELS: { app: 'podinfo' } } });
  try {
    const stats = {
      name: 'istio.stats',
      typed_config: telemetryConfig({
        reporter: 'destination',
        workload: { workload: 'podinfo', namespace: 'podinfo', labels: {} },
        metrics: false,
        tracing: { sampling: 100, provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: 4318 } },
        access_log: { path: logFile, encoding: 'JSON' },
      }),
    };
    push(env.proxy, [
      cluster('app'),
      cla('app', [{ port: backend.port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080', { http_filters: [stats, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }] }) }]),
      routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
    ]);
    const res = await request(await env.port('0.0.0.0_8080'), '/last', { host: 'podinfo' });
    assert.equal(res.status, 200);
    assert.equal(collector.accepted, 0, 'spans wait for the export timer');
  } finally {
    await env.close();
    backend.server.close();
  }
  assert.equal(collector.accepted, 1, 'the pending span was sent at close');
  const lines = readFileSync(logFile, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0] ?? '{}') as { path?: string }).path, '/last');
});
