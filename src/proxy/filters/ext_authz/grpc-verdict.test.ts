// What a gRPC CheckResponse does to the stream: OK mutations (set, append, append_action, remove,
// protected headers), denials (status names and numbers, headers), and the network filter's gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeaderMap } from '../../http/stream.ts';
import { deniedStatus } from './check-codec.ts';
import { applyGrpcVerdict } from './grpc-http-check.ts';
import { compileNetworkExtAuthz } from './network-filter.ts';

test('OK: set overwrites, append / APPEND_IF_EXISTS_OR_ADD append, removals skip pseudo-headers and host', () => {
  const headers: HeaderMap = new Map<string, string | string[]>([
    ['x-a', 'old'],
    ['x-b', 'one'],
    ['x-c', 'one'],
    ['x-gone', 'bye'],
    ['host', 'api'],
  ]);
  const v = applyGrpcVerdict(
    {
      ok_response: {
        headers: [
          { header: { key: 'X-A', value: 'new' } },
          { header: { key: 'x-b', value: 'two' }, append: { value: true } },
          { header: { key: 'x-c', value: 'two' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-d', value: 'fresh' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: ':path', value: '/evil' } },
        ],
        headers_to_remove: ['x-gone', 'host', ':authority'],
        response_headers_to_add: [{ header: { key: 'X-Note', value: 'ok' }, append: { value: true } }],
      },
    },
    headers,
  );
  assert.deepEqual(v, { action: 'continue', responseHeaders: [['x-note', 'ok', true]] });
  assert.deepEqual(Object.fromEntries(headers), { 'x-a': 'new', 'x-b': ['one', 'two'], 'x-c': ['one', 'two'], 'x-d': 'fresh', host: 'api' });
});

test('denied: status from the DeniedHttpResponse (name or number, 403 when unset), headers joined when appended', () => {
  const v = applyGrpcVerdict(
    {
      status: { code: 7 },
      denied_response: {
        status: { code: 'TooManyRequests' },
        body: 'slow down',
        headers: [{ header: { key: 'X-R', value: 'a' } }, { header: { key: 'x-r', value: 'b' }, append: { value: true } }, { header: { key: ':status', value: '200' } }],
      },
    },
    new Map(),
  );
  assert.deepEqual(v, { action: 'deny', status: 429, body: 'slow down', headers: { 'x-r': 'a,b' } });
  assert.equal(applyGrpcVerdict({ status: { code: 16 } }, new Map()).action, 'deny');
  assert.deepEqual([deniedStatus(undefined), deniedStatus(401), deniedStatus('Unauthorized'), deniedStatus('999'), deniedStatus(0)], [403, 401, 401, 403, 403]);
});

test('network ext_authz: no check when the CUSTOM marker is absent; config errors name the field', () => {
  const f = compileNetworkExtAuthz({
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
    grpc_service: { envoy_grpc: { cluster_name: 'outbound|9000||authz.foo.svc.cluster.local' } },
    filter_enabled_metadata: { filter: 'envoy.filters.network.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } },
  });
  const conn = { remoteAddress: '10.0.0.2', remotePort: 5, localAddress: '10.0.0.1', localPort: 5000, tls: false };
  const dial = () => Promise.reject(new Error('must not dial'));
  assert.equal(f.check(conn, new Map(), dial), undefined);
  assert.equal(f.check(conn, new Map([['envoy.filters.network.rbac', { istio_ext_authz_shadow_effective_policy_id: '' }]]), dial), undefined);
  assert.throws(() => compileNetworkExtAuthz({ '@type': 'x' }), /grpc_service: required/);
  assert.throws(() => compileNetworkExtAuthz({ '@type': 'x', grpc_service: { google_grpc: {} } }), /google_grpc: only envoy_grpc/);
});

test('network ext_authz: an unreachable provider closes the connection, or passes with failure_mode_allow', async () => {
  const conn = { remoteAddress: '10.0.0.2', remotePort: 5, localAddress: '10.0.0.1', localPort: 5000, tls: false };
  const dial = () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
  const grpc_service = { envoy_grpc: { cluster_name: 'outbound|9000||authz' } };
  assert.deepEqual(await compileNetworkExtAuthz({ '@type': 'x', grpc_service }).check(conn, new Map(), dial), { allowed: false, details: 'ext_authz_error' });
  assert.deepEqual(await compileNetworkExtAuthz({ '@type': 'x', grpc_service, failure_mode_allow: true }).check(conn, new Map(), dial), { allowed: true, details: '' });
});
