// One check of a routing decision against the table's expectation, shared by the pure run and the run
// through a real proxy, so both hold the library and the proxy to exactly the same expectations.
import assert from 'node:assert/strict';
import type { RoutingExpectation } from './cases.ts';

export function assertDecision(got: RoutingExpectation, want: RoutingExpectation): void {
  if (want.notFound) {
    assert.deepEqual(got, { notFound: true });
    return;
  }
  assert.equal(got.notFound, undefined, 'expected a route, got 404 NR');
  if (want.route !== undefined) assert.equal(got.route, want.route, 'route');
  if (want.cluster !== undefined) assert.equal(got.cluster, want.cluster, 'cluster');
  if (want.redirect !== undefined) assert.deepEqual(got.redirect, want.redirect, 'redirect');
  if (want.directResponse !== undefined) assert.deepEqual(got.directResponse, want.directResponse, 'direct response');
  if (want.upstreamPath !== undefined) assert.equal(got.upstreamPath, want.upstreamPath, 'upstream path');
  if (want.upstreamAuthority !== undefined) assert.equal(got.upstreamAuthority, want.upstreamAuthority, 'upstream authority');
  for (const [k, v] of Object.entries(want.requestHeaders ?? {})) {
    assert.ok(got.requestHeaders, 'no upstream saw the request');
    assert.equal(got.requestHeaders[k] ?? null, v, `request header ${k}`);
  }
  for (const [k, v] of Object.entries(want.responseHeaders ?? {})) assert.equal(got.responseHeaders?.[k] ?? null, v, `response header ${k}`);
}
