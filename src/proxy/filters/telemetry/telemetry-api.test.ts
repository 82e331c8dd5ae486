// Telemetry API features the proxy applies: per-metric overrides (drop, tagOverrides REMOVE / UPSERT with
// CEL values) and the access-log filter expression, as Istio's stats filter and Envoy's CEL filter do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drive, telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import { MemorySink } from '../../../telemetry/access-log/sink.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import { FilterConfigError } from '../../http/filter.ts';
import { createTelemetryFilterFactory } from './index.ts';

const sleep = { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } };
const cluster = 'outbound|9898||podinfo.podinfo.svc.cluster.local';

function setup(extra: Partial<TelemetryFilterConfig>) {
  const registry = new MetricsRegistry();
  const sink = new MemorySink();
  const f = createTelemetryFilterFactory({ registry, openAccessLog: () => sink }).create(telemetryConfig({ reporter: 'source', workload: sleep, metrics: true, ...extra }));
  const lines = (family: string) =>
    registry
      .renderPrometheus()
      .split('\n')
      .filter((l) => l.startsWith(`${family}{`));
  return { f, sink, lines };
}

test('metric overrides: a disabled metric is not reported, the others are', async () => {
  const { f, lines } = setup({ metric_overrides: [{ name: 'request_bytes', drop: true }, { name: 'response_bytes', drop: true }] });
  await drive(f, { authority: 'podinfo:9898', status: 200, clusterName: cluster });
  assert.equal(lines('istio_requests_total').length, 1);
  assert.equal(lines('istio_request_duration_milliseconds_count').length, 1);
  assert.deepEqual(lines('istio_request_bytes_count'), []);
  assert.deepEqual(lines('istio_response_bytes_count'), []);
});

test('metric overrides: tagOverrides REMOVE leaves a label out; UPSERT replaces or adds one from CEL, unknown when it fails', async () => {
  const { f, lines } = setup({
    metric_overrides: [
      {
        name: 'requests_total',
        tags_to_remove: ['source_principal', 'destination_principal'],
        dimensions: { request_host: 'request.host', destination_port: 'string(destination.port)', user: "request.headers['x-user']", response_code: "response.code >= 500 ? '5xx' : string(response.code)" },
      },
    ],
  });
  await drive(f, { authority: 'podinfo:9898', status: 503, clusterName: cluster, headers: { 'x-user': 'ana' } });
  await drive(f, { authority: 'podinfo:9898', status: 200, clusterName: cluster });
  const [first, second, ...rest] = lines('istio_requests_total');
  assert.equal(rest.length, 0);
  assert.doesNotMatch(String(first), /source_principal=|destination_principal=/);
  assert.match(String(first), /response_code="5xx",.*destination_port="9898",request_host="podinfo:9898",user="ana"\} 1$/);
  assert.match(String(second), /response_code="200",.*user="unknown"\} 1$/, 'a missing header is an error: unknown');
  // Other metrics keep the standard labels.
  assert.match(String(lines('istio_request_bytes_count')[0]), /source_principal="unknown"/);
});

test('metric overrides: an expression that does not parse NACKs the listener', () => {
  assert.throws(() => setup({ metric_overrides: [{ name: 'requests_total', dimensions: { x: 'request.host ==' } }] }), (e: unknown) => e instanceof FilterConfigError && /invalid CEL expression/.test(e.message));
});

test('access log filter: only streams the CEL expression holds true for are logged (response.code >= 400)', async () => {
  const { f, sink } = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'TEXT', filter: 'response.code >= 400' } });
  await drive(f, { authority: 'podinfo:9898', path: '/ok', status: 200, clusterName: cluster });
  await drive(f, { authority: 'podinfo:9898', path: '/missing', status: 404, clusterName: cluster });
  await drive(f, { authority: 'podinfo:9898', path: '/down', status: 503, clusterName: cluster, flags: ['UF'] });
  assert.deepEqual(
    sink.lines.map((l) => l.split('"')[1]),
    ['GET /missing HTTP/1.1', 'GET /down HTTP/1.1'],
  );
});

test("access log filter: headers, flags and errors (an expression that fails, or isn't a bool, logs nothing)", async () => {
  const { f, sink } = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'TEXT', filter: "request.headers['x-debug'] == '1' || response.flags != 0" } });
  await drive(f, { authority: 'a', path: '/1', status: 200, headers: { 'x-debug': '1' } });
  await drive(f, { authority: 'a', path: '/2', status: 200 });
  await drive(f, { authority: 'a', path: '/3', status: 503, flags: ['UO'] });
  assert.deepEqual(
    sink.lines.map((l) => l.split('"')[1]),
    ['GET /1 HTTP/1.1', 'GET /3 HTTP/1.1'],
  );
  const notBool = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'TEXT', filter: 'response.code' } });
  await drive(notBool.f, { authority: 'a', status: 500 });
  assert.deepEqual(notBool.sink.lines, []);
  assert.throws(() => setup({ access_log: { path: '/dev/stdout', encoding: 'TEXT', filter: 'response.code >=' } }), /invalid CEL expression/);
});
