// An AuthorizationPolicy AUDIT match in the access log, as Envoy makes it visible to Istio's access logs:
// the RBAC filters (HTTP and network) set `access_log_hint` in the `envoy.common` dynamic metadata of the
// request or connection, which the access log reads with %DYNAMIC_METADATA(envoy.common:access_log_hint)%
// (Envoy's MetadataFormatter) and a Telemetry `accessLogging[].filter` with CEL's `metadata` attribute
// (`metadata.filter_metadata['envoy.common'].access_log_hint`). As Envoy's RoleBasedAccessControlEngineImpl::
// handleAction (case LOG, enforced engine) writes `matched` on every request or connection the AUDIT engine
// sees, one no AUDIT policy matched logs `false` on a workload that has an AUDIT policy; a workload without
// one has no hint, `-` (null in JSON).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { createRbacFilterFactory } from '../../src/proxy/filters/rbac/http-filter.ts';
import { createTelemetryFilterFactory } from '../../src/proxy/filters/telemetry/index.ts';
import type { HttpFilter, RequestContext } from '../../src/proxy/http/filter.ts';
import { MemorySink } from '../../src/telemetry/access-log/sink.ts';
import type { AccessLogConfig } from '../../src/telemetry/filter-config.ts';
import { MetricsRegistry } from '../../src/telemetry/metrics/registry.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { policy, roundTrip, TARGET } from '../authz/simulate.ts';
import { drive, telemetryConfig } from './drive-filter.ts';
import { startTcpAuthzPair, type TcpAuthzPair, until } from './tcp-authz-pair.ts';

const HINT = '%DYNAMIC_METADATA(envoy.common:access_log_hint)%';
const AUDITED = "metadata.filter_metadata['envoy.common'].access_log_hint == true";

/** The translated RBAC filters of an AUDIT policy on `/audited*`, then istio.stats with `accessLog`. */
function chain(accessLog: Omit<AccessLogConfig, 'path'>): { filter: HttpFilter; sink: MemorySink } {
  const audit = policy('audit-x', 'foo', { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/audited*'] } }] }] });
  const rbac = translateAuthorization([audit], TARGET)
    .http.filter((f) => f.name === 'envoy.filters.http.rbac')
    .map((f) => createRbacFilterFactory().create(roundTrip(f.typed_config)));
  const sink = new MemorySink();
  const telemetry = createTelemetryFilterFactory({ registry: new MetricsRegistry(), openAccessLog: () => sink }).create(
    telemetryConfig({ reporter: 'destination', workload: { workload: 'httpbin', namespace: 'foo', labels: { app: 'httpbin' } }, metrics: false, access_log: { path: '/dev/stdout', ...accessLog } }),
  );
  const filter: HttpFilter = {
    onRequest(ctx: RequestContext) {
      for (const f of rbac) f.onRequest?.(ctx);
      return telemetry.onRequest?.(ctx) ?? { action: 'continue' };
    },
    onResponse: (ctx, response) => telemetry.onResponse?.(ctx, response),
    onDone: (ctx, outcome) => telemetry.onDone?.(ctx, outcome),
  };
  return { filter, sink };
}

test('HTTP: %DYNAMIC_METADATA(envoy.common:access_log_hint)% is true on an audited request, false on another', async () => {
  const { filter, sink } = chain({ encoding: 'TEXT', format: `${HINT} %REQ(:PATH)%` });
  await drive(filter, { authority: 'httpbin.foo', path: '/audited/1', status: 200 });
  await drive(filter, { authority: 'httpbin.foo', path: '/other', status: 200 });
  assert.deepEqual(sink.lines, ['true /audited/1\n', 'false /other\n']);
});

test('HTTP: in a JSON line the hint is a boolean, false when the AUDIT engine did not match', async () => {
  const { filter, sink } = chain({ encoding: 'JSON', json_format: { path: '%REQ(:PATH)%', audit: HINT } });
  await drive(filter, { authority: 'httpbin.foo', path: '/audited', status: 403 });
  await drive(filter, { authority: 'httpbin.foo', path: '/other', status: 200 });
  assert.deepEqual(
    sink.lines.map((l) => JSON.parse(l)),
    [
      { path: '/audited', audit: true },
      { path: '/other', audit: false },
    ],
  );
});

test('HTTP: a workload without an AUDIT policy has no hint: -', async () => {
  const allow = policy('allow-x', 'foo', { action: 'ALLOW', rules: [{ to: [{ operation: { paths: ['/*'] } }] }] });
  const rbac = translateAuthorization([allow], TARGET)
    .http.filter((f) => f.name === 'envoy.filters.http.rbac')
    .map((f) => createRbacFilterFactory().create(roundTrip(f.typed_config)));
  assert.ok(rbac.length > 0);
  const sink = new MemorySink();
  const telemetry = createTelemetryFilterFactory({ registry: new MetricsRegistry(), openAccessLog: () => sink }).create(
    telemetryConfig({ reporter: 'destination', workload: { workload: 'httpbin', namespace: 'foo', labels: { app: 'httpbin' } }, metrics: false, access_log: { path: '/dev/stdout', encoding: 'TEXT', format: `${HINT} %REQ(:PATH)%` } }),
  );
  const filter: HttpFilter = {
    onRequest(ctx: RequestContext) {
      for (const f of rbac) f.onRequest?.(ctx);
      return telemetry.onRequest?.(ctx) ?? { action: 'continue' };
    },
    onResponse: (ctx, response) => telemetry.onResponse?.(ctx, response),
    onDone: (ctx, outcome) => telemetry.onDone?.(ctx, outcome),
  };
  await drive(filter, { authority: 'httpbin.foo', path: '/other', status: 200 });
  assert.deepEqual(sink.lines, ['- /other\n']);
});

test("HTTP: a Telemetry access-log filter on CEL's metadata logs only the audited requests", async () => {
  const { filter, sink } = chain({ encoding: 'TEXT', format: '%REQ(:PATH)%', filter: AUDITED });
  for (const path of ['/audited/a', '/other', '/audited/b']) await drive(filter, { authority: 'httpbin.foo', path, status: 200 });
  assert.deepEqual(sink.lines, ['/audited/a\n', '/audited/b\n']);
});

// TCP through real sidecars translated from YAML: network RBAC's LOG match sets the hint in the
// connection's metadata, which tcp_proxy's access log line (written at the close) reads.
const yaml = `apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-ledger, port: 5436}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-cache, port: 5437}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-ledger, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: AUDIT
  rules: [{to: [{operation: {ports: ["5436"]}}]}]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    accessLogFormat: "audit=${HINT} %UPSTREAM_CLUSTER%"
`;

let pair: TcpAuthzPair;
before(async () => {
  pair = await startTcpAuthzPair(yaml, [5436, 5437], (answer) => answer(0));
});
after(() => pair?.close());

/** A TCP connection through the client sidecar (CONNECT) that the app echoes once, then closed. */
async function echoed(authority: string): Promise<string> {
  const s = net.connect(await pair.client.port('virtualOutbound'), '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  let sent = false;
  s.on('data', (c: Buffer) => {
    got += c.toString('latin1');
    const body = got.indexOf('\r\n\r\n');
    if (body < 0) return;
    if (!sent) {
      sent = true;
      s.write('ping');
    }
    if (got.slice(body + 4) === 'ping') s.end();
  });
  s.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  await new Promise((r) => s.once('close', r));
  return got.slice(got.indexOf('\r\n\r\n') + 4);
}

test('TCP: the access log line of a connection an AUDIT policy matched has the hint true, another false', { timeout: 30_000 }, async () => {
  assert.equal(await echoed('ledger.shop:5436'), 'ping', 'AUDIT never refuses');
  assert.equal(await echoed('cache.shop:5437'), 'ping');
  assert.equal(await until(() => pair.logs.find((l) => l.endsWith(' inbound|5436||'))), 'audit=true inbound|5436||');
  assert.equal(await until(() => pair.logs.find((l) => l.endsWith(' inbound|5437||'))), 'audit=false inbound|5437||');
});
