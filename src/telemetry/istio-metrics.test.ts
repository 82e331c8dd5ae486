import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileJsonFormat, compileTextFormat } from './access-log/format.ts';
import type { AccessLogRecord } from './access-log/record.ts';
import { IstioMetrics } from './istio-metrics.ts';
import { MetricsRegistry } from './metrics/registry.ts';
import { unknownWorkload, workloadLabels } from './workload-labels.ts';

test('edges are cached per label tuple; TCP series carry request_protocol tcp and no response code', () => {
  const registry = new MetricsRegistry();
  const m = new IstioMetrics(registry);
  const src = workloadLabels({ workload: 'sleep', namespace: 'a', labels: { 'app.kubernetes.io/name': 'sleeper' } });
  const svc = { host: 'db.a.svc.cluster.local', name: 'db', namespace: 'a' };
  const e = m.edge('source', src, unknownWorkload, svc, 'unknown');
  assert.equal(m.edge('source', { ...src }, unknownWorkload, { ...svc }, 'unknown'), e, 'equal label values share one edge');
  assert.equal(e.series('http', 200, -1, '-'), e.series('http', 200, -1, '-'));
  assert.notEqual(e.series('http', 200, -1, '-'), e.series('grpc', 200, 0, '-'));
  assert.notEqual(e.series('http', 503, -1, '-'), e.series('http', 503, -1, 'UO'));
  const tcp = e.tcp('-');
  assert.equal(e.tcp('-'), tcp);
  assert.notEqual(e.tcp('UF'), tcp, 'a connect failure has its own series');
  tcp.opened.inc();
  tcp.sent.inc(100);
  tcp.received.inc(40);
  tcp.closed.inc();
  const text = registry.renderPrometheus();
  assert.match(text, /istio_tcp_sent_bytes_total\{reporter="source",source_workload="sleep",[^}]*source_app="sleeper",[^}]*source_canonical_service="sleeper",source_canonical_revision="latest",[^}]*request_protocol="tcp",response_flags="-",connection_security_policy="unknown"\} 100/);
  assert.doesNotMatch(text, /istio_tcp_[a-z_]+\{[^}]*response_code=/, "Istio's TCP metrics have no response_code or grpc_response_status");
  assert.match(text, /istio_tcp_connections_closed_total\{[^}]*\} 1/);
});

const record: AccessLogRecord = {
  startTime: Date.UTC(2024, 0, 2, 3, 4, 5, 6),
  method: 'POST',
  path: '/api/echo?x=1',
  protocol: 'HTTP/2',
  responseCode: 503,
  responseFlags: 'UO',
  responseCodeDetails: 'upstream_reset_before_response_started{overflow}',
  bytesReceived: 10,
  bytesSent: 91,
  durationMs: 12.6,
  attemptCount: 0,
  requestHeader: (n) => ({ 'user-agent': 'curl/8', ':authority': 'podinfo:9898', 'x-request-id': 'rid' })[n],
  responseHeader: () => undefined,
  upstreamHost: '',
  upstreamCluster: 'outbound|9898||podinfo.podinfo.svc.cluster.local',
  upstreamLocalAddress: '',
  downstreamLocalAddress: '10.0.0.1:9898',
  downstreamRemoteAddress: '10.0.0.2:5000',
  requestedServerName: '',
  routeName: 'default',
  upstreamTransportFailureReason: '',
  connectionTerminationDetails: '',
};

test('access log: Istio default TEXT and JSON, truncation and header fallbacks', () => {
  assert.equal(compileTextFormat('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(USER-AGENT):4% %DURATION% %RESPONSE_FLAGS%')(record), '/api/echo?x=1 curl 12 UO');
  const json = JSON.parse(compileJsonFormat({ start_time: '%START_TIME%', code: '%RESPONSE_CODE%', host: '%UPSTREAM_HOST%', tag: 'fixed' })(record));
  assert.deepEqual(json, { start_time: '2024-01-02T03:04:05.006Z', code: 503, host: null, tag: 'fixed' });
  assert.throws(() => compileTextFormat('%REQ%'), { code: 'ACCESS_LOG_FORMAT' });
});
