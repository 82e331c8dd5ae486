// A RouteConfiguration compiled into a RouteTable: virtual hosts by domain, routes in order, first
// match wins. `match` is the per-request entry point of the proxy core, the explainer and the tests.
import { type CompiledHeaderMutations, compileHeaderMutations } from '../header-mutation.ts';
import { RetryPolicy } from '../retry/retry-policy.ts';
import type { DownstreamRequest } from '../stream.ts';
import type { EnvoyRouteConfiguration, EnvoyVirtualHost } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { MatchedRoute, type VirtualHostContext } from './matched-route.ts';
import { compilePerFilterConfig, type PerFilterCompilers } from './per-filter-config.ts';
import { REQUIRE_TLS_REDIRECT } from './redirect.ts';
import type { RegexOptions } from './regex.ts';
import { headerValue } from './request-headers.ts';
import { VirtualHostSelector } from './virtual-host-selector.ts';

export interface CompileOptions {
  /** Compilers for typed_per_filter_config, keyed by filter name (see perFilterCompilersFrom). */
  perFilterCompilers?: PerFilterCompilers;
  /** Envoy's re2.max_program_size.error_level (32768, as Istio's bootstrap sets it). */
  maxRegexProgramSize?: number;
}

export class CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly MatchedRoute[];
  /** Set when require_tls asks plain-text requests to be redirected to https. */
  readonly tlsRedirect: MatchedRoute | null;

  constructor(vh: EnvoyVirtualHost, rc: { mutations: CompiledHeaderMutations; mostSpecificWins: boolean; perFilter: ReadonlyMap<string, unknown> }, options: CompileOptions, path: string) {
    if (!vh.name) throw new RouteConfigError(`${path}.name`, 'virtual host name is required');
    this.name = vh.name;
    const perFilterConfig = new Map(rc.perFilter);
    const compilers = options.perFilterCompilers ?? new Map();
    compilePerFilterConfig(vh.typed_per_filter_config, compilers, path, perFilterConfig);
    const regex: RegexOptions = options.maxRegexProgramSize !== undefined ? { maxProgramSize: options.maxRegexProgramSize } : {};
    const ctx: VirtualHostContext = {
      name: vh.name,
      mutations: [compileHeaderMutations(vh, path), rc.mutations],
      mostSpecificWins: rc.mostSpecificWins,
      perFilterConfig,
      retryPolicy: vh.retry_policy ? new RetryPolicy(vh.retry_policy, `${path}.retry_policy`) : null,
      includeAttemptCount: vh.include_request_attempt_count === true,
      compilers,
      regex,
    };
    this.routes = (vh.routes ?? []).map((r, i) => new MatchedRoute(r, ctx, `${path}.routes[${i}]`));
    const requireTls = vh.require_tls ?? 'NONE';
    if (!['NONE', 'EXTERNAL_ONLY', 'ALL'].includes(requireTls)) throw new RouteConfigError(`${path}.require_tls`, `unknown ${requireTls}`);
    this.tlsRedirect =
      requireTls === 'NONE' ? null : new MatchedRoute({ name: 'require_tls', match: { prefix: '/' }, redirect: REQUIRE_TLS_REDIRECT }, ctx, `${path}.require_tls`);
  }
}

export class RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  /** Header names removed from requests arriving from outside (internal_only_headers). */
  readonly internalOnlyHeaders: readonly string[];
  readonly #selector: VirtualHostSelector<CompiledVirtualHost>;

  constructor(rc: EnvoyRouteConfiguration, options: CompileOptions = {}) {
    this.name = rc.name ?? '';
    const compilers = options.perFilterCompilers ?? new Map();
    const perFilter = new Map<string, unknown>();
    compilePerFilterConfig(rc.typed_per_filter_config, compilers, '', perFilter);
    const shared = { mutations: compileHeaderMutations(rc, ''), mostSpecificWins: rc.most_specific_header_mutations_wins === true, perFilter };
    this.#selector = new VirtualHostSelector(rc.ignore_port_in_host_matching === true);
    const seen = new Set<string>();
    this.virtualHosts = (rc.virtual_hosts ?? []).map((vh, i) => {
      const path = `virtual_hosts[${i}]`;
      const compiled = new CompiledVirtualHost(vh, shared, options, path);
      if (seen.has(compiled.name)) throw new RouteConfigError(`${path}.name`, `duplicate virtual host ${compiled.name}`);
      seen.add(compiled.name);
      for (const [j, d] of (vh.domains ?? []).entries()) this.#selector.add(d, compiled, `${path}.domains[${j}]`);
      if (!vh.domains?.length) throw new RouteConfigError(`${path}.domains`, 'at least one domain is required');
      return compiled;
    });
    this.internalOnlyHeaders = (rc.internal_only_headers ?? []).map((h) => h.toLowerCase());
  }

  /** The virtual host for an authority (`host[:port]`, lower-case), or undefined. */
  selectVirtualHost(authority: string): CompiledVirtualHost | undefined {
    return this.#selector.select(authority);
  }

  /**
   * The route for a request, or null (Envoy's 404 with flag NR). `draw` in [0, 1) decides
   * runtime_fraction matches; pass one random number per request. `metadata`, the stream's dynamic
   * metadata, is what dynamic_metadata matchers read (a jwt_authn payload once that filter has run).
   */
  match(request: DownstreamRequest, draw: number = Math.random(), metadata?: ReadonlyMap<string, unknown>): MatchedRoute | null {
    const vh = this.#selector.select(request.authority);
    if (vh === undefined) return null;
    // Envoy's require_tls reads x-forwarded-proto (the connection's, or a trusted hop's), not :scheme.
    if (vh.tlsRedirect !== null && (headerValue(request.headers, 'x-forwarded-proto') ?? request.scheme) !== 'https') return vh.tlsRedirect;
    for (const route of vh.routes) if (route.matcher.match(request, draw, metadata)) return route;
    return null;
  }
}

/** Compiles an Envoy RouteConfiguration (canonical JSON); throws RouteConfigError (code ROUTE_CONFIG) to NACK. */
export function compileRouteConfiguration(rc: EnvoyRouteConfiguration, options: CompileOptions = {}): RouteTable {
  return new RouteTable(rc, options);
}
