// The route library: an Envoy RouteConfiguration compiled once into a RouteTable whose `match`
// returns a MatchedRoute carrying the action. Pure: no I/O, no clock; randomness is passed in.
export { type ClusterChoice, ClusterSelector } from './cluster-choice.ts';
export type * from './envoy-types.ts';
export { RouteConfigError } from './errors.ts';
export { ALWAYS, compileFraction, Fraction } from './fractional-percent.ts';
export { compileHeaderMatchers, HeaderPredicate } from './header-matcher.ts';
export { cookieValue, HashPolicy, type HashResult, hashString } from './hash-policy.ts';
export { DEFAULT_ROUTE_TIMEOUT_MS, type DirectResponse, MatchedRoute, type RouteKind } from './matched-route.ts';
export { MirrorPolicy, shadowAuthority } from './mirror-policy.ts';
export {
  FILTER_DISABLED,
  type PerFilterCompiler,
  type PerFilterCompilers,
  perFilterCompilersFrom,
} from './per-filter-config.ts';
export { queryParam } from './query-matcher.ts';
export { Redirect } from './redirect.ts';
export { DEFAULT_MAX_PROGRAM_SIZE } from './regex.ts';
export { headerValue, requestHeader } from './request-headers.ts';
export { RouteMatcher } from './route-match.ts';
export { type CompileOptions, CompiledVirtualHost, compileRouteConfiguration, RouteTable } from './route-table.ts';
export { compileStringMatcher, type StringPredicate } from './string-matcher.ts';
export { portOf, stripPort } from './virtual-host-selector.ts';
