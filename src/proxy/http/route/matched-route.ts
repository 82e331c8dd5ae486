// One compiled route: its matcher, its action (forward, redirect, direct response) and everything the
// proxy core needs to carry it out. Built once per RouteConfiguration; `match` returns these objects
// themselves, so routing allocates nothing per request.
import { durationMs } from '../../../xds/duration.ts';
import type { RouteView } from '../filter.ts';
import { type CompiledHeaderMutations, compileHeaderMutations } from '../header-mutation.ts';
import { DEFAULT_RETRY_BUFFER_LIMIT } from '../retry/retry-buffer.ts';
import { RetryPolicy } from '../retry/retry-policy.ts';
import type { DownstreamRequest, HeaderMap } from '../stream.ts';
import { type ClusterChoice, ClusterSelector } from './cluster-choice.ts';
import { compileDecorator, type RouteDecorator } from './decorator.ts';
import type { EnvoyRoute, EnvoyRouteAction } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { HashPolicy } from './hash-policy.ts';
import { MirrorPolicy } from './mirror-policy.ts';
import { PathRewrite } from './path-rewrite.ts';
import { compilePerFilterConfig, type PerFilterCompilers } from './per-filter-config.ts';
import { Redirect } from './redirect.ts';
import type { RegexOptions } from './regex.ts';
import { RouteMatcher } from './route-match.ts';

/** Envoy's default route timeout when `timeout` is absent. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export type RouteKind = 'forward' | 'redirect' | 'direct_response' | 'non_forwarding';

/** What a virtual host hands down to its routes. */
export interface VirtualHostContext {
  readonly name: string;
  /** Header mutations of virtual host then route configuration (least specific last). */
  readonly mutations: readonly CompiledHeaderMutations[];
  readonly mostSpecificWins: boolean;
  readonly perFilterConfig: ReadonlyMap<string, unknown>;
  readonly retryPolicy: RetryPolicy | null;
  /** `include_request_attempt_count`: each try tells the upstream its number (`x-envoy-attempt-count`). */
  readonly includeAttemptCount?: boolean;
  readonly compilers: PerFilterCompilers;
  readonly regex: RegexOptions;
}

export interface DirectResponse {
  readonly status: number;
  /** inline_string as text, inline_bytes as bytes. */
  readonly body: string | Buffer;
}

const cnfCodes: Record<string, number> = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 };
const knownActions = ['route', 'redirect', 'direct_response', 'non_forwarding_action'] as const;

export class MatchedRoute implements RouteView {
  readonly name: string;
  readonly virtualHostName: string;
  readonly kind: RouteKind;
  readonly matcher: RouteMatcher;
  readonly redirect: Redirect | null = null;
  readonly directResponse: DirectResponse | null = null;
  /** Upstream request timeout in ms (0 = none); Envoy's 15 s when the route sets none. */
  readonly timeoutMs: number = DEFAULT_ROUTE_TIMEOUT_MS;
  /** Stream idle timeout override in ms (undefined = the connection manager's). */
  readonly idleTimeoutMs: number | undefined;
  /**
   * The route has a max_stream_duration message, whatever it holds (Envoy's usingNewTimeouts,
   * `route.route().has_max_stream_duration()`): no router timeout; the stream's max duration, which a
   * `grpc-timeout` header may set, bounds the request instead.
   */
  readonly usingNewTimeouts: boolean = false;
  /** max_stream_duration.max_stream_duration: replaces the HCM's max_stream_duration (0 = none). */
  readonly maxStreamDurationMs: number | undefined;
  /**
   * max_stream_duration.grpc_timeout_header_max: a `grpc-timeout` header sets the stream's max duration,
   * capped by it (0 = no cap, undefined = the header is not read). Envoy's grpcTimeoutHeaderMax.
   */
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  /** max_stream_duration.grpc_timeout_header_offset (0 = none). */
  readonly grpcTimeoutHeaderOffsetMs: number = 0;
  /**
   * The deprecated max_grpc_timeout (Istio's outbound routes): on a route without max_stream_duration, a
   * gRPC request's `grpc-timeout` is its router timeout, capped by it (0 = no cap, undefined = the route
   * timeout applies). Envoy's maxGrpcTimeout, read only by the old timeouts.
   */
  readonly maxGrpcTimeoutMs: number | undefined;
  /** The deprecated grpc_timeout_offset (0 = none), with max_grpc_timeout. */
  readonly grpcTimeoutOffsetMs: number = 0;
  readonly retryPolicy: RetryPolicy | null = null;
  /** The virtual host's include_request_attempt_count. */
  readonly includeAttemptCount: boolean;
  /** Bound on the request body kept for retries. */
  readonly retryBufferLimit: number;
  readonly mirrors: readonly MirrorPolicy[] = [];
  readonly hashPolicy: HashPolicy | null = null;
  readonly hostRewriteLiteral: string | null = null;
  /** Rewrite the authority to the chosen upstream host (the proxy core knows it). */
  readonly autoHostRewrite: boolean = false;
  /** Take the new authority from this request header. */
  readonly hostRewriteHeader: string | null = null;
  readonly clusterNotFoundStatus: number = 503;
  /** Upgrade types (`websocket`, `CONNECT`) this route explicitly enables or disables. */
  readonly upgrades: ReadonlyMap<string, boolean> = new Map();
  /** The span name of its requests (Envoy's route decorator); null: Envoy's default name. */
  readonly decorator: RouteDecorator | null;
  readonly #clusters: ClusterSelector | null = null;
  readonly #rewrite: PathRewrite | null = null;
  /** Request mutations in application order (most specific first unless most_specific_header_mutations_wins). */
  readonly #mutations: readonly CompiledHeaderMutations[];
  readonly #mostSpecificWins: boolean;
  /** Some level of this route changes request headers (most routes: none, and the copy skips the map). */
  readonly #mutatesRequest: boolean;
  readonly #perFilter: ReadonlyMap<string, unknown>;

  constructor(r: EnvoyRoute, vh: VirtualHostContext, path: string) {
    this.virtualHostName = vh.name;
    this.name = r.name ?? '';
    this.matcher = new RouteMatcher(r.match, `${path}.match`, vh.regex);
    const actions = knownActions.filter((k) => r[k] !== undefined);
    if (actions.length !== 1) throw new RouteConfigError(path, 'exactly one of route, redirect, direct_response, non_forwarding_action is required');
    const perFilter = new Map(vh.perFilterConfig);
    compilePerFilterConfig(r.typed_per_filter_config, vh.compilers, path, perFilter);
    this.#perFilter = perFilter;
    this.#mutations = [compileHeaderMutations(r, path), ...vh.mutations];
    this.#mostSpecificWins = vh.mostSpecificWins;
    this.#mutatesRequest = this.#mutations.some((m) => !m.request.empty);
    this.retryBufferLimit = r.per_request_buffer_limit_bytes?.value ?? DEFAULT_RETRY_BUFFER_LIMIT;
    this.includeAttemptCount = vh.includeAttemptCount === true;
    this.decorator = compileDecorator(r.decorator, `${path}.decorator`);
    if (r.redirect) {
      this.kind = 'redirect';
      this.redirect = new Redirect(r.redirect, this.matcher, `${path}.redirect`, vh.regex);
    } else if (r.direct_response) {
      this.kind = 'direct_response';
      const d = r.direct_response;
      const status = d.status ?? 0;
      if (status < 200 || status > 599) throw new RouteConfigError(`${path}.direct_response.status`, 'must be 200..599');
      if (d.body?.filename !== undefined) throw new RouteConfigError(`${path}.direct_response.body.filename`, 'file bodies are not supported');
      // inline_bytes (Istio's body.bytes) are sent as they are, never decoded as text.
      const body = d.body?.inline_string ?? (d.body?.inline_bytes !== undefined ? Buffer.from(d.body.inline_bytes, 'base64') : '');
      this.directResponse = { status, body };
    } else if (r.non_forwarding_action) {
      this.kind = 'non_forwarding';
    } else {
      this.kind = 'forward';
      const a = r.route as EnvoyRouteAction;
      const where = `${path}.route`;
      this.#clusters = new ClusterSelector(a, vh.compilers, where);
      const rewrite = new PathRewrite(a, this.matcher, where, vh.regex);
      this.#rewrite = rewrite.active ? rewrite : null;
      const hostRewrites = [a.host_rewrite_literal, a.auto_host_rewrite, a.host_rewrite_header].filter((x) => x !== undefined);
      if (hostRewrites.length > 1) throw new RouteConfigError(where, 'host_rewrite_literal, auto_host_rewrite and host_rewrite_header are exclusive');
      this.hostRewriteLiteral = a.host_rewrite_literal ?? null;
      this.autoHostRewrite = a.auto_host_rewrite?.value === true;
      this.hostRewriteHeader = a.host_rewrite_header?.toLowerCase() ?? null;
      if (a.timeout !== undefined) this.timeoutMs = durationMs(a.timeout);
      if (a.idle_timeout !== undefined) this.idleTimeoutMs = durationMs(a.idle_timeout);
      // Envoy keeps the two sets apart: max_stream_duration's fields serve the new timeouts (the connection
      // manager's refreshDurationTimeout), max_grpc_timeout and grpc_timeout_offset the old ones (the
      // router's finalTimeout). Which set applies is the presence of the message alone.
      const msd = a.max_stream_duration;
      if (msd !== undefined) {
        this.usingNewTimeouts = true;
        if (msd.max_stream_duration !== undefined) this.maxStreamDurationMs = durationMs(msd.max_stream_duration);
        if (msd.grpc_timeout_header_max !== undefined) this.grpcTimeoutHeaderMaxMs = durationMs(msd.grpc_timeout_header_max);
        if (msd.grpc_timeout_header_offset !== undefined) this.grpcTimeoutHeaderOffsetMs = durationMs(msd.grpc_timeout_header_offset);
      }
      if (a.max_grpc_timeout !== undefined) this.maxGrpcTimeoutMs = durationMs(a.max_grpc_timeout);
      if (a.grpc_timeout_offset !== undefined) this.grpcTimeoutOffsetMs = durationMs(a.grpc_timeout_offset);
      this.retryPolicy = a.retry_policy ? new RetryPolicy(a.retry_policy, `${where}.retry_policy`) : vh.retryPolicy;
      this.mirrors = (a.request_mirror_policies ?? []).map((m, i) => new MirrorPolicy(m, `${where}.request_mirror_policies[${i}]`));
      if (a.hash_policy?.length) this.hashPolicy = new HashPolicy(a.hash_policy, `${where}.hash_policy`, vh.regex);
      if (a.cluster_not_found_response_code !== undefined) {
        const code = cnfCodes[a.cluster_not_found_response_code];
        if (code === undefined) throw new RouteConfigError(`${where}.cluster_not_found_response_code`, `unknown ${a.cluster_not_found_response_code}`);
        this.clusterNotFoundStatus = code;
      }
      this.upgrades = new Map((a.upgrade_configs ?? []).map((u) => [(u.upgrade_type ?? '').toLowerCase(), u.enabled?.value ?? true]));
    }
  }

  /** The compiled typed_per_filter_config for a filter: route, then virtual host, then route configuration. */
  perFilterConfig(filterName: string): unknown {
    return this.#perFilter.get(filterName);
  }

  /** The weighted or single clusters this route may pick (empty for cluster_header and non-forwarding routes). */
  get clusters(): readonly ClusterChoice[] {
    return this.#clusters?.choices ?? [];
  }

  /** The upstream cluster for one request, `draw` in [0, 1); null for non-forwarding routes or an empty cluster_header. */
  pickCluster(draw: number, headers: HeaderMap = emptyHeaders): ClusterChoice | null {
    return this.#clusters?.pick(draw, headers) ?? null;
  }

  /** Whether a prefix_rewrite or regex_rewrite applies (Envoy then sends `x-envoy-original-path`). */
  get rewritesPath(): boolean {
    return this.#rewrite !== null;
  }

  /** The upstream path (without query) after prefix_rewrite / regex_rewrite. */
  rewritePath(path: string): string {
    return this.#rewrite === null ? path : this.#rewrite.apply(path);
  }

  /**
   * The authority to send upstream; auto_host_rewrite is left to the caller (it needs the upstream host).
   * Without a rewrite, as the client sent it: Envoy matches virtual hosts on a lower-cased copy and
   * forwards the header untouched.
   */
  rewriteAuthority(request: DownstreamRequest, choice: ClusterChoice | null): string {
    if (choice?.hostRewriteLiteral) return choice.hostRewriteLiteral;
    if (this.hostRewriteLiteral !== null) return this.hostRewriteLiteral;
    if (this.hostRewriteHeader !== null) {
      const v = request.headers.get(this.hostRewriteHeader);
      const first = typeof v === 'string' ? v : v?.[0];
      if (first) return first;
    }
    return request.sentAuthority;
  }

  /** Whether `mutateRequestHeaders` would change anything for this cluster choice. */
  mutatesRequestHeaders(choice: ClusterChoice | null = null): boolean {
    return this.#mutatesRequest || (choice?.mutations !== null && choice?.mutations !== undefined && !choice.mutations.request.empty);
  }

  /** Applies request header mutations of weighted cluster, route, virtual host and route configuration. */
  mutateRequestHeaders(headers: HeaderMap, choice: ClusterChoice | null = null): void {
    this.#applyMutations(headers, choice, true);
  }

  /** Applies response header mutations of weighted cluster, route, virtual host and route configuration. */
  mutateResponseHeaders(headers: HeaderMap, choice: ClusterChoice | null = null): void {
    this.#applyMutations(headers, choice, false);
  }

  #applyMutations(headers: HeaderMap, choice: ClusterChoice | null, request: boolean): void {
    const list = this.#mutations;
    // Envoy applies the most specific level first so less specific `set`s win, unless asked otherwise.
    if (this.#mostSpecificWins) {
      for (let i = list.length - 1; i >= 0; i--) apply(list[i] as CompiledHeaderMutations, headers, request);
      if (choice?.mutations) apply(choice.mutations, headers, request);
    } else {
      if (choice?.mutations) apply(choice.mutations, headers, request);
      for (let i = 0; i < list.length; i++) apply(list[i] as CompiledHeaderMutations, headers, request);
    }
  }

  toString(): string {
    return `route ${this.name || '(unnamed)'} in ${this.virtualHostName}: ${this.matcher} → ${this.kind}`;
  }
}

function apply(m: CompiledHeaderMutations, headers: HeaderMap, request: boolean): void {
  (request ? m.request : m.response).apply(headers);
}

const emptyHeaders: HeaderMap = new Map();

