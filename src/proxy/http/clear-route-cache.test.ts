// A filter's clearRouteCache (jwt_authn on a gateway): the connection manager reads the verdict's field,
// matches the route again and picks its cluster again with the stream's own random values, as Envoy's
// route matching reuses the stream id for runtime_fraction and weighted clusters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChainedFilter } from './filter-registry.ts';
import { type FilterStream, type HcmRuntime, matchRoute, requestFilters, routeCluster } from './connection-manager.ts';
import type { FilterVerdict, RequestContext } from './filter.ts';
import { compileRouteConfiguration } from './route/index.ts';
import type { DownstreamRequest } from './stream.ts';

const request = {
  method: 'GET',
  scheme: 'http',
  authority: 'shop',
  sentAuthority: 'shop',
  path: '/coin',
  query: '',
  headers: new Map(),
  protocol: 'HTTP/1.1',
  connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 8080, tls: false },
} as DownstreamRequest;

// Half the requests take `heads` (runtime_fraction), and a forwarding route splits 50/50.
const table = compileRouteConfiguration({
  name: 'r',
  virtual_hosts: [
    {
      name: 'shop',
      domains: ['*'],
      routes: [
        { name: 'heads', match: { prefix: '/coin', runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }, direct_response: { status: 200 } },
        { name: 'tails', match: { prefix: '/coin' }, direct_response: { status: 200 } },
        { name: 'split', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 50 } }, { name: 'b', weight: { value: 50 } }] } } },
      ],
    },
  ],
});

/** A runtime whose random source gives `draws` in turn. */
function runtime(draws: number[]): HcmRuntime {
  return { random: () => draws.shift() ?? 0.99, clusters: new Map() } as unknown as HcmRuntime;
}

/** Routes a request as the connection manager does, then runs a filter that clears the route cache. */
function routeThenClear(path: string, draws: number[], verdict: FilterVerdict): { first: string | undefined; after: string | undefined; stream: FilterStream } {
  const rt = runtime(draws);
  const req = { ...request, path };
  const ctx: RequestContext = { request: req, info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() }, route: null };
  const stream: FilterStream = { deciding: undefined, route: null, choice: null, matchDraw: Number.NaN, pickDraw: Number.NaN };
  stream.route = matchRoute(rt, stream, table, req, ctx.info);
  stream.choice = routeCluster(rt, stream, stream.route, req.headers, ctx.info);
  const first = stream.choice?.name ?? stream.route?.name;
  const filters: ChainedFilter[] = [{ name: 'f', filter: { onRequest: () => verdict } } as ChainedFilter];
  requestFilters(stream, filters, ctx, 0, rt, table);
  assert.equal(ctx.route, stream.route);
  return { first, after: stream.choice?.name ?? stream.route?.name, stream };
}

const clear: FilterVerdict = { action: 'continue', clearRouteCache: true };

test("any verdict with clearRouteCache has the route matched again, not only the shared constant's", () => {
  // A verdict of its own (not CONTINUE_CLEAR_ROUTE) on a stream with no route yet: matched now.
  const rt = runtime([0.9]);
  const ctx: RequestContext = { request, info: { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() }, route: null };
  const stream: FilterStream = { deciding: undefined, route: null, choice: null, matchDraw: 0.9, pickDraw: Number.NaN };
  requestFilters(stream, [{ name: 'f', filter: { onRequest: () => clear } } as ChainedFilter], ctx, 0, rt, table);
  assert.equal(stream.route?.name, 'tails');
  assert.equal(ctx.info.routeName, 'tails');
});

test('the route is matched again with the stream\'s draw: a runtime_fraction decides as the first time', () => {
  // First draw 0.1: heads; a fresh draw (0.9) would give tails.
  const r = routeThenClear('/coin', [0.1, 0.9, 0.9], clear);
  assert.deepEqual([r.first, r.after], ['heads', 'heads']);
});

test("the cluster is picked again with the stream's draw: a weighted cluster stays the same", () => {
  // Match draw 0.5, pick draw 0.1: cluster a; fresh draws (0.9) would pick b.
  const r = routeThenClear('/x', [0.5, 0.1, 0.9, 0.9], clear);
  assert.deepEqual([r.first, r.after], ['a', 'a']);
});
