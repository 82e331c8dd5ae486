import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grpcStatusOf, httpToGrpcStatus, isGrpcRequest } from './grpc-status.ts';

// Envoy's Grpc::Common::hasGrpcContentType.
test('isGrpcRequest: application/grpc or application/grpc+…, as sent; not gRPC-Web, not two content-types', () => {
  const cases: [string | string[] | undefined, boolean][] = [
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc+json', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/grpc-web-text', false],
    ['application/grpcx', false],
    ['Application/grpc', false],
    ['application/json', false],
    ['', false],
    [undefined, false],
    [['application/grpc'], true],
    [['application/grpc', 'application/grpc'], false],
  ];
  for (const [ct, want] of cases) assert.equal(isGrpcRequest(ct), want, String(ct));
});

// Envoy's Grpc::Utility::httpToGrpcStatus.
test('httpToGrpcStatus: Envoy table, UNKNOWN otherwise', () => {
  const table: Record<number, number> = { 200: 2, 400: 13, 401: 16, 403: 7, 404: 12, 408: 2, 429: 14, 500: 2, 502: 14, 503: 14, 504: 14 };
  for (const [http, grpc] of Object.entries(table)) assert.equal(httpToGrpcStatus(Number(http)), grpc, http);
  assert.equal(grpcStatusOf(String(httpToGrpcStatus(503))), 14);
});
