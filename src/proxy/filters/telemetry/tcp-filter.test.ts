// istio.stats as a network filter: the Telemetry API's metric overrides and access-log filter apply to TCP
// connections as to HTTP streams, a config with nothing to report compiles to nothing, and the JSON log of
// a connection has nulls where HTTP fields would be.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import { MemorySink } from '../../../telemetry/access-log/sink.ts';
import type { TelemetryFilterConfig } from '../../../telemetry/filter-config.ts';
import { MetricsRegistry } from '../../../telemetry/metrics/registry.ts';
import type { ConnectionInfo } from '../../http/stream.ts';
import type { NetworkStatsFilter, TcpUpstreamOutcome } from '../network-stats.ts';
import { createTelemetryFilterFactory } from './index.ts';

const sleep = { workload: 'sleep', namespace: 'shop', labels: { app: 'sleep' } };
const conn: ConnectionInfo = { remoteAddress: '10.0.0.2', remotePort: 40000, localAddress: '10.0.0.9', localPort: 5432, tls: false };
const connected: TcpUpstreamOutcome = { clusterName: 'outbound|5432||db.shop.svc.cluster.local', upstreamHost: '10.0.1.7:5432', upstreamWorkload: undefined, upstreamPeer: undefined, flags: '-', upstreamTransportFailureReason: undefined };
const refused: TcpUpstreamOutcome = { ...connected, flags: 'UF', upstreamTransportFailureReason: 'connect ECONNREFUSED 10.0.1.7:5432' };

function setup(extra: Partial<TelemetryFilterConfig>) {
  const registry = new MetricsRegistry();
  const sink = new MemorySink();
  const f = createTelemetryFilterFactory({ registry, openAccessLog: () => sink }).createNetwork(telemetryConfig({ reporter: 'source', workload: sleep, metrics: true, ...extra }));
  const lines = (family: string) =>
    registry
      .renderPrometheus()
      .split('\n')
      .filter((l) => l.startsWith(`${family}{`));
  return { f, sink, lines };
}

/** One connection through the filter: `upstream`, then bytes each way, then the close. */
function connection(f: NetworkStatsFilter | undefined, upstream: TcpUpstreamOutcome, received = 0, sent = 0): void {
  assert.ok(f, 'the network filter compiled');
  const c = f.begin(conn);
  c.upstream(upstream);
  if (received) c.received(received);
  if (sent) c.sent(sent);
  c.close();
}

test('metric overrides apply to the TCP metrics: disabled ones are not reported, tags removed or set from CEL once per connection', () => {
  const { f, lines } = setup({
    metric_overrides: [
      { name: 'tcp_sent_bytes_total', drop: true },
      { name: 'tcp_received_bytes_total', tags_to_remove: ['source_principal'], dimensions: { destination_port: 'string(destination.port)', request_host: 'request.host' } },
    ],
  });
  connection(f, connected, 300, 700);
  assert.deepEqual(lines('istio_tcp_sent_bytes_total'), []);
  const [received, ...more] = lines('istio_tcp_received_bytes_total');
  assert.equal(more.length, 0);
  assert.doesNotMatch(String(received), /source_principal=/);
  assert.match(String(received), /request_protocol="tcp",.*destination_port="5432",request_host="unknown"\} 300$/, 'a TCP connection has no request.host: unknown');
  assert.match(String(lines('istio_tcp_connections_opened_total')[0]), /source_principal="unknown",.*response_flags="-",connection_security_policy="unknown"\} 1$/);
  assert.match(String(lines('istio_tcp_connections_closed_total')[0]), /\} 1$/);
});

test('a connect failure gets its own series (response_flags UF); nothing to report compiles to no filter', () => {
  const { f, lines } = setup({});
  connection(f, connected, 10, 20);
  connection(f, refused);
  assert.deepEqual(
    lines('istio_tcp_connections_closed_total').map((l) => /response_flags="([^"]+)"/.exec(l)?.[1]),
    ['-', 'UF'],
  );
  assert.equal(setup({ metrics: false }).f, undefined, 'metrics off and no access log: tcp_proxy meters nothing');
});

test('the access-log filter holds over TCP connections; the JSON line has nulls for HTTP fields', () => {
  const { f, sink } = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'JSON', filter: 'response.flags != 0' } });
  connection(f, connected, 5, 6);
  connection(f, refused);
  assert.equal(sink.lines.length, 1, 'only the failed connection is logged');
  const line = JSON.parse(String(sink.lines[0])) as Record<string, unknown>;
  assert.equal(line['method'], null);
  assert.equal(line['path'], null);
  assert.equal(line['protocol'], null);
  assert.equal(line['response_code'], 0);
  assert.equal(line['response_flags'], 'UF');
  assert.equal(line['upstream_transport_failure_reason'], 'connect ECONNREFUSED 10.0.1.7:5432');
  assert.equal(line['upstream_cluster'], 'outbound|5432||db.shop.svc.cluster.local');
  assert.equal(line['downstream_remote_address'], '10.0.0.2:40000');
});

test("the destination principal is the one the peer's certificate proved on the tunnel, not the one its CONNECT answer claims", () => {
  const { f, lines } = setup({});
  const claim = Buffer.from(JSON.stringify({ workload: 'db', namespace: 'shop', labels: { app: 'db' }, principal: 'spiffe://cluster.local/ns/prod/sa/payments' })).toString('base64');
  connection(f, { ...connected, upstreamPeer: claim, upstreamPrincipal: 'spiffe://cluster.local/ns/shop/sa/db', upstreamTls: true }, 1, 1);
  const opened = String(lines('istio_tcp_connections_opened_total')[0]);
  assert.match(opened, /destination_workload="db",/);
  assert.match(opened, /destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/db"/);
});

// As HTTP: Istio's populatePeerInfo reads both principals from the upstream SSL connection, which a
// tls DISABLE hop (carried by the tunnel, marked plaintext) does not have.
test('a plaintext mesh hop (tls DISABLE) names no principal on either side; the mesh mTLS names both', () => {
  const peer = Buffer.from(JSON.stringify({ workload: 'db', namespace: 'shop', labels: { app: 'db' }, principal: 'spiffe://cluster.local/ns/shop/sa/db' })).toString('base64');
  const principals = (upstreamTls: boolean) => {
    const { f, lines } = setup({ workload: { ...sleep, principal: 'spiffe://cluster.local/ns/shop/sa/sleep' } });
    connection(f, { ...connected, upstreamPeer: peer, upstreamPrincipal: 'spiffe://cluster.local/ns/shop/sa/db', upstreamTls }, 1, 1);
    const opened = String(lines('istio_tcp_connections_opened_total')[0]);
    return [/destination_workload="([^"]*)"/.exec(opened)?.[1], /source_principal="([^"]*)"/.exec(opened)?.[1], /destination_principal="([^"]*)"/.exec(opened)?.[1]];
  };
  assert.deepEqual(principals(false), ['db', 'unknown', 'unknown']);
  assert.deepEqual(principals(true), ['db', 'spiffe://cluster.local/ns/shop/sa/sleep', 'spiffe://cluster.local/ns/shop/sa/db']);
});

test("a refused connection's line carries its filter's details; the log filter sees the flags set after the close, the metrics do not", () => {
  const { f, sink, lines } = setup({ access_log: { path: '/dev/stdout', encoding: 'JSON', filter: 'response.flags != 0 || connection.termination_details != ""' } });
  const refusal = { ...connected, upstreamHost: undefined, flags: '-' };
  connection(f, { ...refusal, flagsAfterClose: 'UAEX', responseCodeDetails: 'ext_authz_denied' });
  connection(f, { ...refusal, connectionTerminationDetails: 'rbac_access_denied_matched_policy[none]' });
  const [byExtAuthz, byRbac, ...more] = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(more.length, 0);
  assert.equal(byExtAuthz?.['response_flags'], 'UAEX');
  assert.equal(byExtAuthz?.['response_code_details'], 'ext_authz_denied');
  assert.equal(byExtAuthz?.['upstream_host'], null);
  assert.equal(byRbac?.['response_flags'], '-');
  assert.equal(byRbac?.['connection_termination_details'], 'rbac_access_denied_matched_policy[none]');
  assert.deepEqual(
    lines('istio_tcp_connections_opened_total').map((l) => /response_flags="([^"]+)"/.exec(l)?.[1]),
    ['-'],
    'both on the series without flags',
  );
});

test("a connection's dynamic metadata (network RBAC's AUDIT hint) reaches %DYNAMIC_METADATA% and CEL's metadata", () => {
  const audited: TcpUpstreamOutcome = { ...connected, dynamicMetadata: new Map([['envoy.common', { access_log_hint: true }]]) };
  const text = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'TEXT', format: '%DYNAMIC_METADATA(envoy.common:access_log_hint)% %BYTES_RECEIVED%' } });
  connection(text.f, audited, 3);
  connection(text.f, connected, 4);
  assert.deepEqual(text.sink.lines, ['true 3\n', '- 4\n']);
  // Only the audited connection passes a Telemetry filter on the hint.
  const filtered = setup({ metrics: false, access_log: { path: '/dev/stdout', encoding: 'JSON', json_format: { audit: '%DYNAMIC_METADATA(envoy.common:access_log_hint)%' }, filter: "metadata.filter_metadata['envoy.common'].access_log_hint == true" } });
  connection(filtered.f, connected);
  connection(filtered.f, audited);
  assert.deepEqual(filtered.sink.lines.map((l) => JSON.parse(l)), [{ audit: true }]);
});
