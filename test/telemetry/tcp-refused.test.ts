// TCP connections an AuthorizationPolicy refuses, through real sidecars translated from YAML: the
// destination's network RBAC (DENY) or ext_authz (CUSTOM, a real gRPC Authorization server) closes the
// connection, and Istio's TCP metrics count it opened and closed, and its access log has a line with
// the refusal's details, as Envoy's istio.stats and tcp_proxy access log report it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from '../proxy/harness.ts';
import { startTcpAuthzPair, type TcpAuthzPair, until } from './tcp-authz-pair.ts';

// `db` serves `vault` (5434, denied by policy) and `ledger` (5435, checked by the `grpc-authz` provider).
const yaml = `apiVersion: v1
kind: Service
metadata: {name: vault, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-vault, port: 5434}]
---
apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-ledger, port: 5435}]
---
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: shop}
spec:
  selector: {app: authz}
  ports: [{name: grpc, port: 9000}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-vault, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: DENY
  rules: [{to: [{operation: {ports: ["5434"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: check-ledger, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: CUSTOM
  provider: {name: grpc-authz}
  rules: [{to: [{operation: {ports: ["5435"]}}]}]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: grpc-authz
      envoyExtAuthzGrpc: {service: authz.shop.svc.cluster.local, port: 9000}
`;

let pair: TcpAuthzPair;

before(async () => {
  pair = await startTcpAuthzPair(yaml, [5434, 5435], (answer) => answer(7));
});

after(() => pair?.close());

const bounded = { timeout: 30_000 };

test('a connection network RBAC refuses is counted opened and closed (no bytes, no flag), logged with the policy that denied it, and in tcp.rbac.denied', bounded, async () => {
  const before = pair.counts.app;
  assert.equal(await pair.refusedConnection('vault.shop:5434'), '', 'nothing comes back');
  const labels = { ...pair.destination('vault'), response_flags: '-' };
  assert.equal(await until(() => pair.series(pair.server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await pair.series(pair.server, 'istio_tcp_sent_bytes_total', labels), 0);
  const line = await until(() => pair.logs.find((l) => l.includes(' inbound|5434|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 - - rbac_access_denied_matched_policy\[ns\[shop\]-policy\[deny-vault\]-rule\[0\]\] "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5434\|\| - 127\.0\.0\.1:5434 \S+ outbound_\.5434_\._\.vault\.shop\.svc\.cluster\.local -$/);
  assert.equal(pair.counts.app, before, 'the app was never dialled');
  // Envoy's network RBAC counters, under the names Istio's proxies give them.
  const stats = (await request(pair.server.admin, '/stats')).body;
  assert.match(stats, /^tcp\.rbac\.denied: 1$/m);
  assert.match(stats, /^tcp\.rbac\.allowed: 0$/m);
  assert.equal(await pair.series(pair.server, 'envoy_tcp_denied', { tcp_prefix: 'rbac' }), 1);
});

test('a connection ext_authz refuses is counted without UAEX (set after the close) and logged with UAEX and ext_authz_denied', bounded, async () => {
  const before = pair.counts.app;
  assert.equal(await pair.refusedConnection('ledger.shop:5435'), '', 'nothing comes back');
  assert.equal(pair.counts.checks, 1, 'the provider was asked once');
  const labels = { ...pair.destination('ledger'), response_flags: '-' };
  assert.equal(await until(() => pair.series(pair.server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_opened_total', { ...labels, response_flags: 'UAEX' }), undefined);
  const line = await until(() => pair.logs.find((l) => l.includes(' inbound|5435|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 UAEX ext_authz_denied - "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5435\|\| - 127\.0\.0\.1:5435 \S+ outbound_\.5435_\._\.ledger\.shop\.svc\.cluster\.local -$/);
  assert.equal(pair.counts.app, before, 'the app was never dialled');
  // The CUSTOM marker's shadow rules chose the connection for the check; no RBAC filter denied it.
  const stats = (await request(pair.server.admin, '/stats')).body;
  assert.match(stats, /^tcp\.rbac\.istio_ext_authz_shadow_allowed: 1$/m);
  assert.match(stats, /^tcp\.rbac\.denied: 1$/m);
  assert.equal(await pair.series(pair.server, 'envoy_tcp_istio_ext_authz_shadow_allowed', { tcp_prefix: 'rbac' }), 1);
});
