// The routing conformance table: an Envoy RouteConfiguration (as Outrigger's translator emits it for
// Istio's VirtualService semantics) plus one request → the expected decision. Each case is
// self-contained data so the same table runs through the pure route library and through a real proxy.
import type { EnvoyRoute, EnvoyRouteConfiguration, EnvoyRouteMatch, EnvoyVirtualHost } from '../../src/proxy/http/route/index.ts';

export interface RoutingRequest {
  method?: string;
  scheme?: 'http' | 'https';
  /** `host[:port]` as sent. */
  authority: string;
  path: string;
  /** Raw query without `?`. */
  query?: string;
  headers?: Record<string, string>;
}

export interface RoutingExpectation {
  /** No virtual host or route matched: 404 with flag NR. */
  notFound?: true;
  route?: string;
  cluster?: string;
  redirect?: { status: number; location: string };
  directResponse?: { status: number; body: string };
  /** Upstream `:path` (path and query) after rewrites. */
  upstreamPath?: string;
  upstreamAuthority?: string;
  /** Request headers after route mutations (null = absent). */
  requestHeaders?: Record<string, string | null>;
  /** Response headers after route mutations, starting from `responseHeadersIn` (null = absent). */
  responseHeaders?: Record<string, string | null>;
}

export interface RoutingCase {
  name: string;
  config: EnvoyRouteConfiguration;
  request: RoutingRequest;
  /** The one random draw in [0, 1) for runtime fractions and weighted clusters (0 when absent). */
  random?: number;
  responseHeadersIn?: Record<string, string>;
  expect: RoutingExpectation;
}

const host = 'reviews.default.svc.cluster.local';

/** One virtual host for `reviews:9080` with Istio's domain list. */
function rc(routes: EnvoyRoute[], vh: Partial<EnvoyVirtualHost> = {}, top: Partial<EnvoyRouteConfiguration> = {}): EnvoyRouteConfiguration {
  return {
    name: '9080',
    virtual_hosts: [{ name: `${host}:9080`, domains: [host, `${host}:9080`, 'reviews', 'reviews:9080'], routes, ...vh }],
    ...top,
  };
}

function to(name: string, match: EnvoyRouteMatch, cluster = `outbound|9080|${name}|${host}`, extra: Partial<EnvoyRoute> = {}): EnvoyRoute {
  return { name, match, route: { cluster, timeout: { seconds: '0' } }, ...extra };
}

const v1 = `outbound|9080|v1|${host}`;
const v2 = `outbound|9080|v2|${host}`;
const v3 = `outbound|9080|v3|${host}`;
const catchAll = (): EnvoyRoute => to('default', { prefix: '/' }, v1);
const get = (path: string, extra: Partial<RoutingRequest> = {}): RoutingRequest => ({ authority: 'reviews:9080', path, ...extra });
const hdr = (name: string, string_match: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ name, string_match, ...more });

const pathCases: RoutingCase[] = [
  { name: 'prefix / matches everything', config: rc([catchAll()]), request: get('/anything/at/all'), expect: { route: 'default', cluster: v1 } },
  { name: 'prefix matches a longer path', config: rc([to('v2', { prefix: '/api' }), catchAll()]), request: get('/api/users'), expect: { route: 'v2', cluster: v2 } },
  { name: 'prefix is not segment-aware', config: rc([to('v2', { prefix: '/api' }), catchAll()]), request: get('/apiary'), expect: { route: 'v2' } },
  { name: 'path_separated_prefix needs a segment boundary', config: rc([to('v2', { path_separated_prefix: '/api' }), catchAll()]), request: get('/apiary'), expect: { route: 'default' } },
  { name: 'path_separated_prefix matches the prefix itself', config: rc([to('v2', { path_separated_prefix: '/api' }), catchAll()]), request: get('/api'), expect: { route: 'v2' } },
  { name: 'path_separated_prefix matches below it', config: rc([to('v2', { path_separated_prefix: '/api' }), catchAll()]), request: get('/api/x'), expect: { route: 'v2' } },
  { name: 'prefix is case sensitive by default', config: rc([to('v2', { prefix: '/API' }), catchAll()]), request: get('/api'), expect: { route: 'default' } },
  { name: 'ignoreUriCase prefix', config: rc([to('v2', { prefix: '/API', case_sensitive: { value: false } }), catchAll()]), request: get('/api/x'), expect: { route: 'v2' } },
  { name: 'exact path matches', config: rc([to('v2', { path: '/login' }), catchAll()]), request: get('/login'), expect: { route: 'v2' } },
  { name: 'exact path refuses a longer path', config: rc([to('v2', { path: '/login' }), catchAll()]), request: get('/login/x'), expect: { route: 'default' } },
  { name: 'exact path ignores the query', config: rc([to('v2', { path: '/login' }), catchAll()]), request: get('/login', { query: 'next=/home' }), expect: { route: 'v2' } },
  { name: 'exact path refuses a trailing slash', config: rc([to('v2', { path: '/login' }), catchAll()]), request: get('/login/'), expect: { route: 'default' } },
  { name: 'ignoreUriCase exact', config: rc([to('v2', { path: '/Login', case_sensitive: { value: false } }), catchAll()]), request: get('/LOGIN'), expect: { route: 'v2' } },
  { name: 'exact is case sensitive by default', config: rc([to('v2', { path: '/Login' }), catchAll()]), request: get('/login'), expect: { route: 'default' } },
  { name: 'regex must match the whole path', config: rc([to('v2', { safe_regex: { regex: '/api/v[0-9]+' } }), catchAll()]), request: get('/api/v2/users'), expect: { route: 'default' } },
  { name: 'regex full match', config: rc([to('v2', { safe_regex: { regex: '/api/v[0-9]+/.*' } }), catchAll()]), request: get('/api/v2/users'), expect: { route: 'v2' } },
  { name: 'regex ignores the query', config: rc([to('v2', { safe_regex: { regex: '/items/[0-9]+' } }), catchAll()]), request: get('/items/42', { query: 'a=b' }), expect: { route: 'v2' } },
  { name: 'regex alternation', config: rc([to('v2', { safe_regex: { regex: '/(foo|bar)/.*' } }), catchAll()]), request: get('/bar/x'), expect: { route: 'v2' } },
  { name: 'regex with (?i) flag', config: rc([to('v2', { safe_regex: { regex: '(?i)/hello' } }), catchAll()]), request: get('/HeLLo'), expect: { route: 'v2' } },
  { name: 'regex ignores case_sensitive', config: rc([to('v2', { safe_regex: { regex: '/hello' }, case_sensitive: { value: false } }), catchAll()]), request: get('/HELLO'), expect: { route: 'default' } },
  { name: 'first match wins over a more specific later route', config: rc([to('v1', { prefix: '/' }, v1), to('v2', { path: '/exact' }, v2)]), request: get('/exact'), expect: { route: 'v1', cluster: v1 } },
  { name: 'first match wins among prefixes', config: rc([to('v3', { prefix: '/a' }, v3), to('v2', { prefix: '/a/b' }, v2), catchAll()]), request: get('/a/b/c'), expect: { route: 'v3', cluster: v3 } },
  { name: 'order decides: exact listed first', config: rc([to('v2', { path: '/a/b' }, v2), to('v3', { prefix: '/a' }, v3), catchAll()]), request: get('/a/b'), expect: { route: 'v2' } },
  { name: 'no route matches: 404', config: rc([to('v2', { prefix: '/api' })]), request: get('/web'), expect: { notFound: true } },
  { name: 'empty route list: 404', config: rc([]), request: get('/'), expect: { notFound: true } },
];

const headerCases: RoutingCase[] = [
  { name: 'header exact matches', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'jason' } }), expect: { route: 'v2', cluster: v2 } },
  { name: 'header exact is case sensitive on the value', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'Jason' } }), expect: { route: 'default' } },
  { name: 'header exact with ignore_case', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason', ignore_case: true })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'JASON' } }), expect: { route: 'v2' } },
  { name: 'header name is case insensitive', config: rc([to('v2', { prefix: '/', headers: [hdr('End-User', { exact: 'jason' })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'jason' } }), expect: { route: 'v2' } },
  { name: 'header missing does not match exact', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' })] }, v2), catchAll()]), request: get('/'), expect: { route: 'default' } },
  { name: 'header prefix', config: rc([to('v2', { prefix: '/', headers: [hdr('user-agent', { prefix: 'Mozilla' })] }, v2), catchAll()]), request: get('/', { headers: { 'user-agent': 'Mozilla/5.0' } }), expect: { route: 'v2' } },
  { name: 'header prefix miss', config: rc([to('v2', { prefix: '/', headers: [hdr('user-agent', { prefix: 'Mozilla' })] }, v2), catchAll()]), request: get('/', { headers: { 'user-agent': 'curl/8' } }), expect: { route: 'default' } },
  { name: 'header suffix', config: rc([to('v2', { prefix: '/', headers: [hdr('x-env', { suffix: '-canary' })] }, v2), catchAll()]), request: get('/', { headers: { 'x-env': 'eu-canary' } }), expect: { route: 'v2' } },
  { name: 'header contains', config: rc([to('v2', { prefix: '/', headers: [hdr('cookie', { contains: 'beta=1' })] }, v2), catchAll()]), request: get('/', { headers: { cookie: 'a=2; beta=1; c=3' } }), expect: { route: 'v2' } },
  { name: 'header regex full match', config: rc([to('v2', { prefix: '/', headers: [hdr('x-version', { safe_regex: { regex: 'v[0-9]+' } })] }, v2), catchAll()]), request: get('/', { headers: { 'x-version': 'v12' } }), expect: { route: 'v2' } },
  { name: 'header regex is anchored', config: rc([to('v2', { prefix: '/', headers: [hdr('x-version', { safe_regex: { regex: 'v[0-9]+' } })] }, v2), catchAll()]), request: get('/', { headers: { 'x-version': 'v12-beta' } }), expect: { route: 'default' } },
  { name: 'header presence (Istio prefix "")', config: rc([to('v2', { prefix: '/', headers: [{ name: 'x-debug', present_match: true }] }, v2), catchAll()]), request: get('/', { headers: { 'x-debug': '' } }), expect: { route: 'v2' } },
  { name: 'header presence miss', config: rc([to('v2', { prefix: '/', headers: [{ name: 'x-debug', present_match: true }] }, v2), catchAll()]), request: get('/'), expect: { route: 'default' } },
  { name: 'header absence (present_match false)', config: rc([to('v2', { prefix: '/', headers: [{ name: 'x-debug', present_match: false }] }, v2), catchAll()]), request: get('/'), expect: { route: 'v2' } },
  { name: 'withoutHeaders: inverted exact excludes the value', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' }, { invert_match: true })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'jason' } }), expect: { route: 'default' } },
  { name: 'withoutHeaders: inverted exact admits another value', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' }, { invert_match: true })] }, v2), catchAll()]), request: get('/', { headers: { 'end-user': 'ann' } }), expect: { route: 'v2' } },
  { name: 'withoutHeaders: a missing header does not match an inverted exact', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' }, { invert_match: true })] }, v2), catchAll()]), request: get('/'), expect: { route: 'default' } },
  { name: 'withoutHeaders with treat_missing_header_as_empty admits a missing header', config: rc([to('v2', { prefix: '/', headers: [hdr('end-user', { exact: 'jason' }, { invert_match: true, treat_missing_header_as_empty: true })] }, v2), catchAll()]), request: get('/'), expect: { route: 'v2' } },
  { name: 'withoutHeaders presence: inverted presence admits a missing header', config: rc([to('v2', { prefix: '/', headers: [{ name: 'x-debug', present_match: true, invert_match: true }] }, v2), catchAll()]), request: get('/'), expect: { route: 'v2' } },
  { name: 'all header matchers must match (AND)', config: rc([to('v2', { prefix: '/', headers: [hdr('a', { exact: '1' }), hdr('b', { exact: '2' })] }, v2), catchAll()]), request: get('/', { headers: { a: '1', b: '3' } }), expect: { route: 'default' } },
  { name: 'header and path both needed', config: rc([to('v2', { prefix: '/api', headers: [hdr('a', { exact: '1' })] }, v2), catchAll()]), request: get('/web', { headers: { a: '1' } }), expect: { route: 'default' } },
  { name: 'several Istio matches become several routes (OR)', config: rc([to('v2', { prefix: '/api' }, v2), to('v2', { prefix: '/', headers: [hdr('a', { exact: '1' })] }, v2), catchAll()]), request: get('/web', { headers: { a: '1' } }), expect: { route: 'v2', cluster: v2 } },
  { name: 'header range match', config: rc([to('v2', { prefix: '/', headers: [{ name: 'x-shard', range_match: { start: '0', end: '10' } }] }, v2), catchAll()]), request: get('/', { headers: { 'x-shard': '7' } }), expect: { route: 'v2' } },
  { name: 'legacy exact_match field', config: rc([to('v2', { prefix: '/', headers: [{ name: 'a', exact_match: 'x' }] }, v2), catchAll()]), request: get('/', { headers: { a: 'x' } }), expect: { route: 'v2' } },
];

const queryCases: RoutingCase[] = [
  { name: 'query exact', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'ver', string_match: { exact: '2' } }] }, v2), catchAll()]), request: get('/', { query: 'ver=2' }), expect: { route: 'v2' } },
  { name: 'query exact miss', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'ver', string_match: { exact: '2' } }] }, v2), catchAll()]), request: get('/', { query: 'ver=20' }), expect: { route: 'default' } },
  { name: 'query among several parameters', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'ver', string_match: { exact: '2' } }] }, v2), catchAll()]), request: get('/', { query: 'a=1&ver=2&b=3' }), expect: { route: 'v2' } },
  { name: 'query name must match exactly', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'ver', string_match: { exact: '2' } }] }, v2), catchAll()]), request: get('/', { query: 'version=2' }), expect: { route: 'default' } },
  { name: 'query prefix', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'u', string_match: { prefix: 'adm' } }] }, v2), catchAll()]), request: get('/', { query: 'u=admin' }), expect: { route: 'v2' } },
  { name: 'query regex', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'id', string_match: { safe_regex: { regex: '[0-9]+' } } }] }, v2), catchAll()]), request: get('/', { query: 'id=123' }), expect: { route: 'v2' } },
  // Envoy compares the value as sent (QueryParamsMulti::parseQueryString does not percent-decode).
  { name: 'query value is not percent-decoded', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'q', string_match: { exact: 'a b' } }] }, v2), catchAll()]), request: get('/', { query: 'q=a%20b' }), expect: { route: 'default' } },
  { name: 'query value matches as sent', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'q', string_match: { exact: 'a%20b' } }] }, v2), catchAll()]), request: get('/', { query: 'q=a%20b' }), expect: { route: 'v2' } },
  { name: 'query exact "" takes only an empty value', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'debug', string_match: { exact: '' } }] }, v2), catchAll()]), request: get('/', { query: 'debug=1' }), expect: { route: 'default' } },
  { name: 'query presence', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'debug', present_match: true }] }, v2), catchAll()]), request: get('/', { query: 'debug' }), expect: { route: 'v2' } },
  { name: 'query missing', config: rc([to('v2', { prefix: '/', query_parameters: [{ name: 'debug', present_match: true }] }, v2), catchAll()]), request: get('/'), expect: { route: 'default' } },
];

const pseudoCases: RoutingCase[] = [
  { name: 'method exact', config: rc([to('v2', { prefix: '/', headers: [hdr(':method', { exact: 'POST' })] }, v2), catchAll()]), request: get('/', { method: 'POST' }), expect: { route: 'v2' } },
  { name: 'method miss', config: rc([to('v2', { prefix: '/', headers: [hdr(':method', { exact: 'POST' })] }, v2), catchAll()]), request: get('/', { method: 'GET' }), expect: { route: 'default' } },
  { name: 'method regex', config: rc([to('v2', { prefix: '/', headers: [hdr(':method', { safe_regex: { regex: 'PUT|PATCH' } })] }, v2), catchAll()]), request: get('/', { method: 'PATCH' }), expect: { route: 'v2' } },
  { name: 'scheme exact', config: rc([to('v2', { prefix: '/', headers: [hdr(':scheme', { exact: 'https' })] }, v2), catchAll()]), request: get('/', { scheme: 'https' }), expect: { route: 'v2' } },
  { name: 'authority exact (with port as sent)', config: rc([to('v2', { prefix: '/', headers: [hdr(':authority', { exact: 'reviews:9080' })] }, v2), catchAll()]), request: get('/'), expect: { route: 'v2' } },
  { name: 'authority prefix', config: rc([to('v2', { prefix: '/', headers: [hdr(':authority', { prefix: 'reviews' })] }, v2), catchAll()]), request: get('/', { authority: `${host}:9080` }), expect: { route: 'v2' } },
  { name: 'authority regex', config: rc([to('v2', { prefix: '/', headers: [hdr(':authority', { safe_regex: { regex: 'reviews(:[0-9]+)?' } })] }, v2), catchAll()]), request: get('/'), expect: { route: 'v2' } },
  { name: 'gRPC match needs a gRPC content type', config: rc([to('v2', { prefix: '/', grpc: {} }, v2), catchAll()]), request: get('/pkg.Svc/Call', { method: 'POST', headers: { 'content-type': 'application/grpc+proto' } }), expect: { route: 'v2' } },
  { name: 'gRPC match refuses plain HTTP', config: rc([to('v2', { prefix: '/', grpc: {} }, v2), catchAll()]), request: get('/pkg.Svc/Call', { method: 'POST', headers: { 'content-type': 'application/json' } }), expect: { route: 'default' } },
  // Envoy's isGrpcRequestHeaders: gRPC-Web is not gRPC.
  { name: 'gRPC match refuses gRPC-Web', config: rc([to('v2', { prefix: '/', grpc: {} }, v2), catchAll()]), request: get('/pkg.Svc/Call', { method: 'POST', headers: { 'content-type': 'application/grpc-web+proto' } }), expect: { route: 'default' } },
];

/** Several virtual hosts, as a sidecar's outbound route configuration for port 80 has. */
function domains(list: Record<string, string[]>, top: Partial<EnvoyRouteConfiguration> = {}): EnvoyRouteConfiguration {
  return {
    name: '80',
    virtual_hosts: Object.entries(list).map(([name, d]) => ({ name, domains: d, routes: [to(name, { prefix: '/' }, `outbound|80||${name}`)] })),
    ...top,
  };
}
const dreq = (authority: string): RoutingRequest => ({ authority, path: '/' });

const domainCases: RoutingCase[] = [
  { name: 'exact domain', config: domains({ a: ['a.example.com'], any: ['*'] }), request: dreq('a.example.com'), expect: { route: 'a' } },
  { name: 'exact domain with port', config: domains({ a: ['a.example.com:80'], any: ['*'] }), request: dreq('a.example.com:80'), expect: { route: 'a' } },
  { name: 'a port in the request does not match a domain without port', config: domains({ a: ['a.example.com'], any: ['*'] }), request: dreq('a.example.com:80'), expect: { route: 'any' } },
  { name: 'ignore_port_in_host_matching strips the port', config: domains({ a: ['a.example.com'], any: ['*'] }, { ignore_port_in_host_matching: true }), request: dreq('a.example.com:80'), expect: { route: 'a' } },
  { name: 'domains are case insensitive', config: domains({ a: ['A.Example.com'] }), request: dreq('a.example.com'), expect: { route: 'a' } },
  { name: 'suffix wildcard', config: domains({ w: ['*.example.com'], any: ['*'] }), request: dreq('api.example.com'), expect: { route: 'w' } },
  { name: 'suffix wildcard needs at least one character', config: domains({ w: ['*.example.com'], any: ['*'] }), request: dreq('.example.com'), expect: { route: 'any' } },
  { name: 'suffix wildcard does not match the bare domain', config: domains({ w: ['*.example.com'], any: ['*'] }), request: dreq('example.com'), expect: { route: 'any' } },
  { name: 'suffix wildcard matches several labels', config: domains({ w: ['*.example.com'] }), request: dreq('a.b.example.com'), expect: { route: 'w' } },
  { name: 'exact beats suffix wildcard', config: domains({ w: ['*.example.com'], a: ['api.example.com'] }), request: dreq('api.example.com'), expect: { route: 'a' } },
  { name: 'longest suffix wildcard wins', config: domains({ short: ['*.com'], long: ['*.example.com'] }), request: dreq('api.example.com'), expect: { route: 'long' } },
  { name: 'suffix wildcard beats prefix wildcard', config: domains({ p: ['api.*'], s: ['*.com'] }), request: dreq('api.com'), expect: { route: 's' } },
  { name: 'prefix wildcard', config: domains({ p: ['reviews.*'], any: ['*'] }), request: dreq('reviews.default'), expect: { route: 'p' } },
  { name: 'prefix wildcard beats *', config: domains({ p: ['reviews.*'], any: ['*'] }), request: dreq('reviews.default.svc'), expect: { route: 'p' } },
  { name: '* catches the rest', config: domains({ a: ['a.example.com'], any: ['*'] }), request: dreq('b.example.com'), expect: { route: 'any' } },
  { name: 'no virtual host: 404', config: domains({ a: ['a.example.com'] }), request: dreq('b.example.com'), expect: { notFound: true } },
  { name: 'Istio short name with port', config: rc([catchAll()]), request: get('/', { authority: 'reviews:9080' }), expect: { route: 'default' } },
  { name: 'Istio FQDN without port', config: rc([catchAll()]), request: get('/', { authority: host }), expect: { route: 'default' } },
  { name: 'IPv6 authority with ignore_port', config: domains({ a: ['[::1]'] }, { ignore_port_in_host_matching: true }), request: dreq('[::1]:80'), expect: { route: 'a' } },
];

const weighted = (ws: [string, number][], extra: Record<string, unknown> = {}): EnvoyRoute => ({
  name: 'split',
  match: { prefix: '/' },
  route: { weighted_clusters: { clusters: ws.map(([name, w]) => ({ name, weight: { value: w } })) }, ...extra },
});

const weightCases: RoutingCase[] = [
  { name: '90/10 split: low draw → first', config: rc([weighted([[v1, 90], [v2, 10]])]), random: 0.0, request: get('/'), expect: { route: 'split', cluster: v1 } },
  { name: '90/10 split: 0.899 → first', config: rc([weighted([[v1, 90], [v2, 10]])]), random: 0.899, request: get('/'), expect: { cluster: v1 } },
  { name: '90/10 split: 0.9 → second', config: rc([weighted([[v1, 90], [v2, 10]])]), random: 0.9, request: get('/'), expect: { cluster: v2 } },
  { name: '90/10 split: 0.999 → second', config: rc([weighted([[v1, 90], [v2, 10]])]), random: 0.999, request: get('/'), expect: { cluster: v2 } },
  { name: 'zero weight is never picked', config: rc([weighted([[v1, 0], [v2, 100]])]), random: 0.0, request: get('/'), expect: { cluster: v2 } },
  { name: 'three-way split middle', config: rc([weighted([[v1, 20], [v2, 30], [v3, 50]])]), random: 0.3, request: get('/'), expect: { cluster: v2 } },
  { name: 'three-way split last', config: rc([weighted([[v1, 20], [v2, 30], [v3, 50]])]), random: 0.5, request: get('/'), expect: { cluster: v3 } },
  { name: 'relative weights (1:3)', config: rc([weighted([[v1, 1], [v2, 3]])]), random: 0.25, request: get('/'), expect: { cluster: v2 } },
  { name: 'runtime_fraction 50% matches a low draw', config: rc([to('v2', { prefix: '/', runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }, v2), catchAll()]), random: 0.49, request: get('/'), expect: { route: 'v2' } },
  { name: 'runtime_fraction 50% skips a high draw', config: rc([to('v2', { prefix: '/', runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }, v2), catchAll()]), random: 0.5, request: get('/'), expect: { route: 'default' } },
];

const redirectRoute = (redirect: Record<string, unknown>, match: EnvoyRouteMatch = { prefix: '/' }): EnvoyRoute => ({ name: 'redirect', match, redirect });

const redirectCases: RoutingCase[] = [
  { name: 'redirect default code 301 keeps host and path', config: rc([redirectRoute({ path_redirect: '/new' })]), request: get('/old'), expect: { redirect: { status: 301, location: 'http://reviews:9080/new' } } },
  { name: 'redirect keeps the query', config: rc([redirectRoute({ path_redirect: '/new' })]), request: get('/old', { query: 'a=1' }), expect: { redirect: { status: 301, location: 'http://reviews:9080/new?a=1' } } },
  { name: 'redirect strip_query', config: rc([redirectRoute({ path_redirect: '/new', strip_query: true })]), request: get('/old', { query: 'a=1' }), expect: { redirect: { status: 301, location: 'http://reviews:9080/new' } } },
  { name: 'redirect path with its own query replaces the query', config: rc([redirectRoute({ path_redirect: '/new?x=y' })]), request: get('/old', { query: 'a=1' }), expect: { redirect: { status: 301, location: 'http://reviews:9080/new?x=y' } } },
  { name: 'redirect authority (host_redirect) keeps the path', config: rc([redirectRoute({ host_redirect: 'ratings.default.svc.cluster.local' })]), request: get('/v1/x'), expect: { redirect: { status: 301, location: 'http://ratings.default.svc.cluster.local/v1/x' } } },
  { name: 'redirectCode 302', config: rc([redirectRoute({ path_redirect: '/n', response_code: 'FOUND' })]), request: get('/'), expect: { redirect: { status: 302, location: 'http://reviews:9080/n' } } },
  { name: 'redirectCode 303', config: rc([redirectRoute({ path_redirect: '/n', response_code: 'SEE_OTHER' })]), request: get('/'), expect: { redirect: { status: 303, location: 'http://reviews:9080/n' } } },
  { name: 'redirectCode 307', config: rc([redirectRoute({ path_redirect: '/n', response_code: 'TEMPORARY_REDIRECT' })]), request: get('/'), expect: { redirect: { status: 307, location: 'http://reviews:9080/n' } } },
  { name: 'redirectCode 308', config: rc([redirectRoute({ path_redirect: '/n', response_code: 'PERMANENT_REDIRECT' })]), request: get('/'), expect: { redirect: { status: 308, location: 'http://reviews:9080/n' } } },
  { name: 'https_redirect strips the default http port', config: { name: '80', virtual_hosts: [{ name: 'w', domains: ['*'], routes: [redirectRoute({ https_redirect: true })] }] }, request: { authority: 'shop.example.com:80', path: '/cart' }, expect: { redirect: { status: 301, location: 'https://shop.example.com/cart' } } },
  { name: 'scheme_redirect https keeps a non-default port', config: { name: '80', virtual_hosts: [{ name: 'w', domains: ['*'], routes: [redirectRoute({ scheme_redirect: 'https' })] }] }, request: { authority: 'shop.example.com:8080', path: '/cart' }, expect: { redirect: { status: 301, location: 'https://shop.example.com:8080/cart' } } },
  { name: 'derivePort FROM_REQUEST_PORT: port_redirect replaces the port', config: rc([redirectRoute({ host_redirect: 'ratings', port_redirect: 9080 })]), request: get('/x'), expect: { redirect: { status: 301, location: 'http://ratings:9080/x' } } },
  { name: 'explicit port redirect on the request host', config: rc([redirectRoute({ port_redirect: 8443, scheme_redirect: 'https' })]), request: get('/x'), expect: { redirect: { status: 301, location: 'https://reviews:8443/x' } } },
  { name: 'redirect with prefix_rewrite', config: rc([redirectRoute({ prefix_rewrite: '/v2' }, { prefix: '/v1' })]), request: get('/v1/items', { query: 'q=1' }), expect: { redirect: { status: 301, location: 'http://reviews:9080/v2/items?q=1' } } },
  { name: 'redirect with regex_rewrite', config: rc([redirectRoute({ regex_rewrite: { pattern: { regex: '^/old/(.*)$' }, substitution: '/new/\\1' } })]), request: get('/old/a/b'), expect: { redirect: { status: 301, location: 'http://reviews:9080/new/a/b' } } },
  { name: 'require_tls ALL redirects plain text', config: rc([catchAll()], { require_tls: 'ALL' }), request: get('/x'), expect: { redirect: { status: 301, location: 'https://reviews:9080/x' } } },
  { name: 'require_tls ALL routes TLS requests', config: rc([catchAll()], { require_tls: 'ALL' }), request: get('/x', { scheme: 'https' }), expect: { route: 'default', cluster: v1 } },
];

const rewriteCases: RoutingCase[] = [
  { name: 'prefix rewrite replaces the matched prefix', config: rc([to('v2', { prefix: '/api/' }, v2, { route: { cluster: v2, prefix_rewrite: '/' } })]), request: get('/api/users'), expect: { upstreamPath: '/users' } },
  { name: 'prefix rewrite keeps the query', config: rc([to('v2', { prefix: '/api' }, v2, { route: { cluster: v2, prefix_rewrite: '/v2' } })]), request: get('/api/users', { query: 'page=2' }), expect: { upstreamPath: '/v2/users?page=2' } },
  { name: 'uri rewrite on an exact match replaces the whole path', config: rc([to('v2', { path: '/old' }, v2, { route: { cluster: v2, prefix_rewrite: '/new' } })]), request: get('/old'), expect: { upstreamPath: '/new' } },
  { name: 'prefix rewrite with ignoreUriCase replaces the matched length', config: rc([to('v2', { prefix: '/API', case_sensitive: { value: false } }, v2, { route: { cluster: v2, prefix_rewrite: '/v1' } })]), request: get('/api/x'), expect: { upstreamPath: '/v1/x' } },
  { name: 'uriRegexRewrite with a capture group', config: rc([to('v2', { prefix: '/' }, v2, { route: { cluster: v2, regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } } })]), request: get('/service/foo/v1/api'), expect: { upstreamPath: '/v1/api/instance/foo' } },
  { name: 'uriRegexRewrite replaces every match', config: rc([to('v2', { prefix: '/' }, v2, { route: { cluster: v2, regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } } })]), request: get('/one/one/three'), expect: { upstreamPath: '/two/two/three' } },
  { name: 'uriRegexRewrite without a match leaves the path', config: rc([to('v2', { prefix: '/' }, v2, { route: { cluster: v2, regex_rewrite: { pattern: { regex: '^/x/(.*)$' }, substitution: '/\\1' } } })]), request: get('/y/z'), expect: { upstreamPath: '/y/z' } },
  { name: 'authority rewrite (host_rewrite_literal)', config: rc([to('v2', { prefix: '/' }, v2, { route: { cluster: v2, host_rewrite_literal: 'ratings.default.svc.cluster.local' } })]), request: get('/'), expect: { upstreamAuthority: 'ratings.default.svc.cluster.local', upstreamPath: '/' } },
  { name: 'no rewrite keeps path and authority', config: rc([catchAll()]), request: get('/a/b', { query: 'c=d' }), expect: { upstreamPath: '/a/b?c=d', upstreamAuthority: 'reviews:9080' } },
  { name: 'weighted cluster host rewrite', config: rc([{ name: 'split', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: v1, weight: { value: 1 }, host_rewrite_literal: 'v1.internal' }] } } }]), request: get('/'), expect: { cluster: v1, upstreamAuthority: 'v1.internal' } },
];

const direct = (status: number, body?: string): EnvoyRoute => ({
  name: 'direct',
  match: { prefix: '/' },
  direct_response: body === undefined ? { status } : { status, body: { inline_string: body } },
});

const directCases: RoutingCase[] = [
  { name: 'direct response 503 with body', config: rc([direct(503, 'unavailable')]), request: get('/'), expect: { route: 'direct', directResponse: { status: 503, body: 'unavailable' } } },
  { name: 'direct response 200 with JSON body', config: rc([direct(200, '{"ok":true}')]), request: get('/health'), expect: { directResponse: { status: 200, body: '{"ok":true}' } } },
  { name: 'direct response without body', config: rc([direct(204)]), request: get('/'), expect: { directResponse: { status: 204, body: '' } } },
  { name: 'direct response only where it matches', config: rc([{ ...direct(418, 'teapot'), match: { path: '/tea' } }, catchAll()]), request: get('/coffee'), expect: { route: 'default', cluster: v1 } },
  { name: 'direct response base64 body', config: rc([{ name: 'direct', match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: Buffer.from('bytes!').toString('base64') } } }]), request: get('/'), expect: { directResponse: { status: 200, body: 'bytes!' } } },
];

const set = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
const add = (key: string, value: string) => ({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });

const headerOpCases: RoutingCase[] = [
  { name: 'request header set', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [set('x-canary', 'true')] })]), request: get('/', { headers: { 'x-canary': 'false' } }), expect: { requestHeaders: { 'x-canary': 'true' } } },
  { name: 'request header add appends', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [add('x-tag', 'b')] })]), request: get('/', { headers: { 'x-tag': 'a' } }), expect: { requestHeaders: { 'x-tag': 'a,b' } } },
  { name: 'request header remove', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_remove: ['x-secret'] })]), request: get('/', { headers: { 'x-secret': 's' } }), expect: { requestHeaders: { 'x-secret': null } } },
  { name: 'response header set', config: rc([to('v2', { prefix: '/' }, v2, { response_headers_to_add: [set('x-served-by', 'v2')] })]), request: get('/'), responseHeadersIn: { 'x-served-by': 'app' }, expect: { responseHeaders: { 'x-served-by': 'v2' } } },
  { name: 'response header remove', config: rc([to('v2', { prefix: '/' }, v2, { response_headers_to_remove: ['x-powered-by'] })]), request: get('/'), responseHeadersIn: { 'x-powered-by': 'podinfo' }, expect: { responseHeaders: { 'x-powered-by': null } } },
  { name: 'virtual host and route headers both apply', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [set('x-route', 'r')] })], { request_headers_to_add: [set('x-vhost', 'v')] }), request: get('/'), expect: { requestHeaders: { 'x-route': 'r', 'x-vhost': 'v' } } },
  { name: 'the less specific set wins by default (Envoy)', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [set('x-level', 'route')] })], { request_headers_to_add: [set('x-level', 'vhost')] }), request: get('/'), expect: { requestHeaders: { 'x-level': 'vhost' } } },
  { name: 'most_specific_header_mutations_wins lets the route win', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [set('x-level', 'route')] })], { request_headers_to_add: [set('x-level', 'vhost')] }, { most_specific_header_mutations_wins: true }), request: get('/'), expect: { requestHeaders: { 'x-level': 'route' } } },
  { name: 'route configuration level headers apply', config: rc([catchAll()], {}, { response_headers_to_add: [set('x-mesh', 'outrigger')] }), request: get('/'), expect: { responseHeaders: { 'x-mesh': 'outrigger' } } },
  { name: 'per-destination headers (weighted cluster level)', config: rc([{ name: 'split', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: v1, weight: { value: 50 }, request_headers_to_add: [set('x-dest', 'v1')] }, { name: v2, weight: { value: 50 }, request_headers_to_add: [set('x-dest', 'v2')] }] } } }]), random: 0.75, request: get('/'), expect: { cluster: v2, requestHeaders: { 'x-dest': 'v2' } } },
  { name: 'ADD_IF_ABSENT keeps an existing value', config: rc([to('v2', { prefix: '/' }, v2, { request_headers_to_add: [{ header: { key: 'x-a', value: 'new' }, append_action: 'ADD_IF_ABSENT' }] })]), request: get('/', { headers: { 'x-a': 'old' } }), expect: { requestHeaders: { 'x-a': 'old' } } },
];

export const routingCases: readonly RoutingCase[] = [
  ...pathCases,
  ...headerCases,
  ...queryCases,
  ...pseudoCases,
  ...domainCases,
  ...weightCases,
  ...redirectCases,
  ...rewriteCases,
  ...directCases,
  ...headerOpCases,
];
