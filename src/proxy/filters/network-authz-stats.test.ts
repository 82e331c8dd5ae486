// Network RBAC's counters under Envoy's names on /stats and the names Istio's bootstrap tags give them
// on /stats/prometheus: `tcp.` prefixes become the `tcp_prefix` label, other prefixes stay in the name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import { NetworkAuthzStats } from './network-authz-stats.ts';
import { compileNetworkRbac } from './rbac/network-filter.ts';

const conn: ConnectionInfo = { remoteAddress: '10.0.0.2', remotePort: 40000, localAddress: '10.0.0.9', localPort: 5432, tls: false };
const denyAll = { action: 'DENY', policies: { 'ns[shop]-policy[deny-all]-rule[0]': { permissions: [{ any: true }], principals: [{ any: true }] } } };
const allowNone = { action: 'ALLOW', policies: {} };

test('tcp.rbac.* counts each connection once per engine; Prometheus names follow the tcp_prefix tag, or flatten the dots', () => {
  const registry = new MetricsRegistry();
  const stats = new NetworkAuthzStats(registry);
  const istio = compileNetworkRbac({ '@type': 'x', stat_prefix: 'tcp.', rules: denyAll, shadow_rules: allowNone, shadow_rules_stat_prefix: 'istio_dry_run_allow_' });
  const other = compileNetworkRbac({ '@type': 'x', stat_prefix: 'db', rules: allowNone });
  assert.equal(istio.check(conn, stats.rbac(istio)).allowed, false);
  assert.equal(istio.check(conn, stats.rbac(istio)).allowed, false);
  assert.equal(other.check(conn, stats.rbac(other)).allowed, false);
  const text = registry.renderStats();
  assert.match(text, /^tcp\.rbac\.denied: 2$/m);
  assert.match(text, /^tcp\.rbac\.allowed: 0$/m);
  assert.match(text, /^tcp\.rbac\.istio_dry_run_allow_shadow_denied: 2$/m);
  assert.match(text, /^db\.rbac\.denied: 1$/m);
  const prom = registry.renderPrometheus();
  assert.match(prom, /^envoy_tcp_denied\{tcp_prefix="rbac"\} 2$/m);
  assert.match(prom, /^envoy_tcp_istio_dry_run_allow_shadow_denied\{tcp_prefix="rbac"\} 2$/m);
  assert.match(prom, /^envoy_db_rbac_denied 1$/m);
});
