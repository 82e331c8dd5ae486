// Runs the routing conformance table through the pure route library.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRouteConfiguration, headerValue } from '../../src/proxy/http/route/index.ts';
import type { DownstreamRequest, HeaderMap } from '../../src/proxy/http/stream.ts';
import { type RoutingCase, type RoutingExpectation, type RoutingRequest, routingCases } from './cases.ts';
import { assertDecision } from './expect-decision.ts';

function toRequest(r: RoutingRequest): DownstreamRequest {
  return {
    method: r.method ?? 'GET',
    scheme: r.scheme ?? 'http',
    authority: r.authority.toLowerCase(),
    sentAuthority: r.authority,
    path: r.path,
    query: r.query ?? '',
    headers: new Map(Object.entries(r.headers ?? {})),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '10.0.0.1', remotePort: 40000, localAddress: '10.0.0.2', localPort: 9080, tls: false },
  };
}

/** What the route library decides for one case, in the table's vocabulary. */
function decide(c: RoutingCase): RoutingExpectation {
  const table = compileRouteConfiguration(c.config);
  const request = toRequest(c.request);
  const draw = c.random ?? 0;
  const route = table.match(request, draw);
  if (route === null) return { notFound: true };
  const out: RoutingExpectation = { route: route.name };
  if (route.redirect) out.redirect = { status: route.redirect.status, location: route.redirect.location(request) };
  if (route.directResponse) out.directResponse = { status: route.directResponse.status, body: route.directResponse.body.toString() };
  const choice = route.pickCluster(draw, request.headers);
  if (choice) {
    out.cluster = choice.name;
    const path = route.rewritePath(request.path);
    out.upstreamPath = request.query === '' ? path : `${path}?${request.query}`;
    out.upstreamAuthority = route.rewriteAuthority(request, choice);
  }
  const reqHeaders: HeaderMap = new Map(request.headers);
  route.mutateRequestHeaders(reqHeaders, choice);
  out.requestHeaders = flatten(reqHeaders);
  const resHeaders: HeaderMap = new Map(Object.entries(c.responseHeadersIn ?? {}));
  route.mutateResponseHeaders(resHeaders, choice);
  out.responseHeaders = flatten(resHeaders);
  return out;
}

function flatten(h: HeaderMap): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const k of h.keys()) out[k] = headerValue(h, k) ?? null;
  return out;
}

test('the table holds at least 100 cases with unique names', () => {
  assert.ok(routingCases.length >= 100, `only ${routingCases.length} cases`);
  assert.equal(new Set(routingCases.map((c) => c.name)).size, routingCases.length);
});

for (const c of routingCases) {
  test(`routing: ${c.name}`, () => {
    assertDecision(decide(c), c.expect);
  });
}
