// DestinationRule connectionPool.http.h2UpgradePolicy: UPGRADE makes an HTTP/1.1 port's cluster speak
// HTTP/2 upstream (explicit http2_protocol_options), DO_NOT_UPGRADE and the default keep HTTP/1.1, and
// a TCP port carries no HTTP protocol options at all.
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
