// Cost of recording one request's Istio metrics: the edge lookup plus counter and three histogram
// updates, and the same through the istio.stats filter's onDone. Prints ns/op. Run:
//   node bench/telemetry-record.bench.ts
import { createTelemetryFilterFactory } from '../src/proxy/filters/telemetry/index.ts';
import type { RequestContext, StreamOutcome } from '../src/proxy/http/filter.ts';
import { IstioMetrics } from '../src/telemetry/istio-metrics.ts';
import { MetricsRegistry } from '../src/telemetry/metrics/registry.ts';
import { workloadLabels } from '../src/telemetry/workload-labels.ts';
import { typedStruct } from '../src/xds/any.ts';
import { OutriggerExtension } from '../src/xds/type-urls.ts';

const N = 1_000_000;

function bench(name: string, fn: (i: number) => void): void {
  for (let i = 0; i < 50_000; i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${name.padEnd(40)} ${ns.toFixed(1)} ns/op`);
}

const metrics = new IstioMetrics(new MetricsRegistry());
const src = workloadLabels({ workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } });
const dst = workloadLabels({ workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' } });
const edge = metrics.edge('destination', src, dst, { host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo' }, 'mutual_tls');
bench('MetricEdge.record', (i) => edge.record('http', i % 50 === 0 ? 503 : 200, -1, '-', (i % 100) + 0.5, 0, 512));

const factory = createTelemetryFilterFactory({ registry: new MetricsRegistry() });
const filter = factory.create(
  typedStruct(OutriggerExtension.Telemetry, {
    reporter: 'destination',
    workload: { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo', version: 'stable' } },
    services: [{ host: 'podinfo.podinfo.svc.cluster.local', name: 'podinfo', namespace: 'podinfo', ports: [9898] }],
    metrics: true,
  }),
);
const ctx: RequestContext = {
  request: {
    method: 'GET',
    scheme: 'http',
    authority: 'podinfo.podinfo:9898',
    sentAuthority: 'podinfo.podinfo:9898',
    path: '/',
    query: '',
    headers: new Map(),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 9898, tls: true, peerPrincipal: 'spiffe://cluster.local/ns/podinfo/sa/sleep', peer: { workload: 'sleep', namespace: 'podinfo', labels: { app: 'sleep' } } },
  },
  info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() },
  route: null,
};
const outcome: StreamOutcome = { status: 200, requestBytes: 0, responseBytes: 512, requestHeadBytes: 80, responseHeadBytes: 120, durationMs: 3, downstreamReset: false };
bench('istio.stats onDone (metrics only)', () => filter.onDone?.(ctx, outcome));
