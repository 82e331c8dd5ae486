// DestinationRule traffic policies as Istio's applyConnectionPool / applyOutlierDetection write them:
// h2UpgradePolicy (UPGRADE speaks HTTP/2 upstream, a TCP port carries no HTTP options), zero limits
// left unlimited, zero or deprecated outlier fields left out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PortTrafficPolicy } from '../config/types/networking.ts';
import { translateTrafficPolicy } from './traffic-policy.ts';

const options = (policy: PortTrafficPolicy, http = true, http2 = false) =>
  (translateTrafficPolicy({ policy, http, http2, connectTimeoutMs: 10_000 })['typed_extension_protocol_options'] as Record<string, Record<string, unknown>> | undefined)?.[
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
  ];

test('h2UpgradePolicy UPGRADE: the HTTP/1.1 port is spoken as HTTP/2 upstream, with maxConcurrentStreams', () => {
  const o = options({ connectionPool: { http: { h2UpgradePolicy: 'UPGRADE', maxConcurrentStreams: 50 } } });
  assert.deepEqual(o?.['explicit_http_config'], { http2_protocol_options: { max_concurrent_streams: { value: 50 } } });
});

test('h2UpgradePolicy DO_NOT_UPGRADE or unset: no HTTP/2 upstream', () => {
  assert.equal(options({ connectionPool: { http: { h2UpgradePolicy: 'DO_NOT_UPGRADE' } } }), undefined);
  assert.equal(options({}), undefined);
  // With another HTTP setting the options exist, and they say HTTP/1.1.
  assert.deepEqual(options({ connectionPool: { http: { h2UpgradePolicy: 'DO_NOT_UPGRADE', maxRequestsPerConnection: 2 } } })?.['explicit_http_config'], { http_protocol_options: {} });
});

test('an HTTP/2 port stays HTTP/2 whatever the policy; a TCP port gets no HTTP options', () => {
  assert.deepEqual(options({}, true, true)?.['explicit_http_config'], { http2_protocol_options: {} });
  assert.equal(options({ connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } }, false), undefined);
});

const U32 = 4_294_967_295;
const thresholds = (policy: PortTrafficPolicy) =>
  (translateTrafficPolicy({ policy, http: true, http2: false, connectTimeoutMs: 10_000 })['circuit_breakers'] as { thresholds: Record<string, unknown>[] }).thresholds[0];
const outlier = (o: NonNullable<PortTrafficPolicy['outlierDetection']>) =>
  translateTrafficPolicy({ policy: { outlierDetection: o }, http: true, http2: false, connectTimeoutMs: 10_000 })['outlier_detection'] as Record<string, unknown>;

test("connectionPool limits: 0 is unlimited, as unset (Istio's applyConnectionPool copies only values > 0)", () => {
  const zeros = thresholds({ connectionPool: { tcp: { maxConnections: 0 }, http: { http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 } } });
  assert.deepEqual(zeros, {
    max_connections: { value: U32 },
    max_pending_requests: { value: U32 },
    max_requests: { value: U32 },
    max_retries: { value: U32 },
    track_remaining: true,
  });
  assert.deepEqual(zeros, thresholds({}));
  const set = thresholds({ connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 2, http2MaxRequests: 3, maxRetries: 4 } } });
  assert.deepEqual([set?.['max_connections'], set?.['max_pending_requests'], set?.['max_requests'], set?.['max_retries']], [{ value: 1 }, { value: 2 }, { value: 3 }, { value: 4 }]);
});

test('connectionPool: maxRequestsPerConnection, maxConcurrentStreams and tcpKeepalive.probes only when > 0; keepalive time whenever set', () => {
  assert.equal(options({ connectionPool: { http: { maxRequestsPerConnection: 0 } } }), undefined);
  assert.deepEqual(options({ connectionPool: { http: { maxConcurrentStreams: 0 } } }, true, true)?.['explicit_http_config'], { http2_protocol_options: {} });
  const keepalive = (k: { probes?: number; time?: string }) =>
    translateTrafficPolicy({ policy: { connectionPool: { tcp: { tcpKeepalive: k } } }, http: true, http2: false, connectTimeoutMs: 10_000 })['upstream_connection_options'];
  // Istio's setKeepAliveSettings: an empty tcp_keepalive still turns SO_KEEPALIVE on with the OS defaults.
  assert.deepEqual(keepalive({ probes: 0 }), { tcp_keepalive: {} });
  assert.deepEqual(keepalive({ probes: 3, time: '7s' }), { tcp_keepalive: { keepalive_probes: { value: 3 }, keepalive_time: { value: 7 } } });
});

test('outlierDetection: maxEjectionPercent 0 is left to Envoy (10 %), > 0 is written', () => {
  assert.equal(outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 0 })['max_ejection_percent'], undefined);
  assert.deepEqual(outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 50 })['max_ejection_percent'], { value: 50 });
});

test('outlierDetection: the deprecated consecutiveErrors is ignored, as by Istio (no gateway-failure ejection from it)', () => {
  assert.deepEqual(outlier({ consecutiveErrors: 1 }), { enforcing_success_rate: { value: 0 } });
  const both = outlier({ consecutiveErrors: 1, consecutiveGatewayErrors: 3 });
  assert.deepEqual([both['consecutive_gateway_failure'], both['enforcing_consecutive_gateway_failure']], [{ value: 3 }, { value: 100 }]);
});

test('outlierDetection: split local-origin errors keep local-origin success rate off; a 0 failure count is not written', () => {
  assert.deepEqual(outlier({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 0 }), {
    enforcing_success_rate: { value: 0 },
    split_external_local_origin_errors: true,
    enforcing_local_origin_success_rate: { value: 0 },
  });
  const on = outlier({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 });
  assert.deepEqual([on['consecutive_local_origin_failure'], on['enforcing_consecutive_local_origin_failure']], [{ value: 2 }, { value: 100 }]);
});

const lbFields = (consistentHash: Record<string, unknown>) => {
  const c = translateTrafficPolicy({ policy: { loadBalancer: { consistentHash } } as PortTrafficPolicy, http: true, http2: false, connectTimeoutMs: 10_000 });
  return { lb_policy: c['lb_policy'], ring_hash_lb_config: c['ring_hash_lb_config'] };
};

test("consistentHash ring size as Istio's ApplyRingHashLoadBalancer: 0 is unset, ringHash never reads the deprecated size", () => {
  // ringHash with no size, or 0: no ring config at all (Envoy's 1024), never a ring of 0.
  assert.deepEqual(lbFields({ httpHeaderName: 'x', ringHash: { minimumRingSize: 0 } }), { lb_policy: 'RING_HASH', ring_hash_lb_config: undefined });
  assert.deepEqual(lbFields({ httpHeaderName: 'x', ringHash: {} }), { lb_policy: 'RING_HASH', ring_hash_lb_config: undefined });
  assert.deepEqual(lbFields({ httpHeaderName: 'x', ringHash: { minimumRingSize: 64 } }).ring_hash_lb_config, { minimum_ring_size: { value: 64 } });
  // Neither ringHash nor maglev: the deprecated size, 0 meaning 1024.
  assert.deepEqual(lbFields({ httpHeaderName: 'x', minimumRingSize: 0 }).ring_hash_lb_config, { minimum_ring_size: { value: 1024 } });
  assert.deepEqual(lbFields({ httpHeaderName: 'x', minimumRingSize: 32 }).ring_hash_lb_config, { minimum_ring_size: { value: 32 } });
  assert.deepEqual(lbFields({ httpHeaderName: 'x' }).ring_hash_lb_config, { minimum_ring_size: { value: 1024 } });
});
