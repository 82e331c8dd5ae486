import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalReply } from './http/filter.ts';
import type { HeaderMap } from './http/stream.ts';
import { prepareLocalReply } from './local-reply.ts';

const prepared = (reply: LocalReply, grpc: boolean, headers: Record<string, string> = {}) => {
  const map: HeaderMap = new Map(Object.entries(headers));
  const status = prepareLocalReply(map, reply, grpc);
  return { status, headers: Object.fromEntries(map) };
};

// Envoy's Utility::prepareLocalReply: the head the filters then see (encodeHeaders).
test('prepareLocalReply: a gRPC request gets a 200 with its gRPC status, the reply text as grpc-message', () => {
  assert.deepEqual(prepared({ status: 503, body: 'no healthy upstream' }, true), { status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'no healthy upstream' } });
  // The reply's own gRPC status (sendLocalReply's grpc_status) wins over the HTTP status mapped.
  assert.deepEqual(prepared({ status: 200, body: 'fault filter abort', grpcStatus: 8 }, true).headers['grpc-status'], '8');
  // A header that already names one (set by the caller) is kept.
  assert.equal(prepared({ status: 504, body: 'x' }, true, { 'grpc-status': '4' }).headers['grpc-status'], '4');
});

test('prepareLocalReply: any other request, its status, the body typed and sized, never a gRPC status', () => {
  assert.deepEqual(prepared({ status: 200, body: 'fault filter abort', grpcStatus: 14 }, false), { status: 200, headers: { 'content-length': '18', 'content-type': 'text/plain' } });
  assert.deepEqual(prepared({ status: 404, body: '' }, false), { status: 404, headers: { 'content-length': '0' } });
  // A content-type the route set is the body's (Envoy sets text/plain only where none is).
  assert.equal(prepared({ status: 200, body: '{}' }, false, { 'content-type': 'application/json' }).headers['content-type'], 'application/json');
});
