// Envoy's RouteMatch compiled into one predicate: the path specifier (prefix, path, safe_regex,
// path_separated_prefix; case_sensitive), then headers, query parameters, gRPC, runtime_fraction and
// dynamic_metadata.
import type { RE2JS } from 're2js';
import { isGrpcRequest } from '../grpc-status.ts';
import type { DownstreamRequest } from '../stream.ts';
import type { EnvoyRouteMatch } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { compileFraction, type Fraction } from './fractional-percent.ts';
import { compileHeaderMatchers, type HeaderPredicate } from './header-matcher.ts';
import { MetadataPredicate } from './metadata-matcher.ts';
import { QueryPredicate } from './query-matcher.ts';
import { compileRegexMatcher, type RegexOptions } from './regex.ts';

export type PathKind = 'prefix' | 'path' | 'regex' | 'path_separated_prefix';

const knownFields = new Set([
  'prefix',
  'path',
  'safe_regex',
  'path_separated_prefix',
  'case_sensitive',
  'runtime_fraction',
  'headers',
  'query_parameters',
  'grpc',
  'dynamic_metadata',
]);

export class RouteMatcher {
  readonly kind: PathKind;
  /** The prefix or path as configured (lower-cased when case-insensitive); the pattern for regex. */
  readonly value: string;
  readonly caseSensitive: boolean;
  readonly #re: RE2JS | null;
  readonly #headers: HeaderPredicate[];
  readonly #query: QueryPredicate[];
  /** null for the routes without one (nearly all): their match does no more work than before. */
  readonly #metadata: MetadataPredicate[] | null;
  readonly #grpc: boolean;
  readonly #fraction: Fraction | null;

  constructor(m: EnvoyRouteMatch | undefined, path: string, options?: RegexOptions) {
    if (!m) throw new RouteConfigError(path, 'match is required');
    for (const key of Object.keys(m)) {
      if (!knownFields.has(key)) throw new RouteConfigError(`${path}.${key}`, 'unsupported route match field');
    }
    const specifiers = (['prefix', 'path', 'safe_regex', 'path_separated_prefix'] as const).filter((k) => m[k] !== undefined);
    if (specifiers.length !== 1) {
      throw new RouteConfigError(path, `exactly one of prefix, path, safe_regex, path_separated_prefix is required, got ${specifiers.length}`);
    }
    this.caseSensitive = m.case_sensitive?.value ?? true;
    this.#re = null;
    if (m.safe_regex !== undefined) {
      this.kind = 'regex';
      this.#re = compileRegexMatcher(m.safe_regex, `${path}.safe_regex`, options);
      this.value = m.safe_regex.regex ?? '';
    } else {
      const kind: PathKind = m.prefix !== undefined ? 'prefix' : m.path !== undefined ? 'path' : 'path_separated_prefix';
      const raw = (m.prefix ?? m.path ?? m.path_separated_prefix) as string;
      if (kind === 'path_separated_prefix' && (raw === '' || raw.endsWith('/') || !raw.startsWith('/'))) {
        throw new RouteConfigError(`${path}.path_separated_prefix`, 'must start with / and must not end with /');
      }
      this.kind = kind;
      this.value = this.caseSensitive ? raw : raw.toLowerCase();
    }
    this.#headers = compileHeaderMatchers(m.headers, `${path}.headers`, options);
    this.#query = (m.query_parameters ?? []).map((q, i) => new QueryPredicate(q, `${path}.query_parameters[${i}]`, options));
    this.#metadata = m.dynamic_metadata?.length ? m.dynamic_metadata.map((d, i) => new MetadataPredicate(d, `${path}.dynamic_metadata[${i}]`, options)) : null;
    this.#grpc = m.grpc !== undefined;
    this.#fraction = m.runtime_fraction ? compileFraction(m.runtime_fraction.default_value, `${path}.runtime_fraction.default_value`) : null;
  }

  /**
   * Matches the request; `draw` in [0, 1) decides runtime_fraction; `metadata` is the stream's dynamic
   * metadata, read by dynamic_metadata matchers only.
   */
  match(request: DownstreamRequest, draw: number, metadata?: ReadonlyMap<string, unknown>): boolean {
    if (!this.#matchPath(request.path)) return false;
    for (const h of this.#headers) if (!h.match(request)) return false;
    for (const q of this.#query) if (!q.match(request.query)) return false;
    // Envoy's matchRoute: match_grpc_ needs isGrpcRequestHeaders (application/grpc-web is not gRPC).
    if (this.#grpc && !isGrpcRequest(request.headers.get('content-type'))) return false;
    if (this.#fraction !== null && !this.#fraction.sample(draw)) return false;
    if (this.#metadata !== null) for (const d of this.#metadata) if (!d.match(metadata)) return false;
    return true;
  }

  /** How many leading characters of the path the specifier matched: what prefix_rewrite replaces. */
  matchedLength(path: string): number {
    return this.kind === 'prefix' || this.kind === 'path_separated_prefix' ? this.value.length : path.length;
  }

  #matchPath(path: string): boolean {
    switch (this.kind) {
      case 'regex':
        return (this.#re as RE2JS).matches(path);
      case 'path':
        return this.caseSensitive ? path === this.value : path.length === this.value.length && path.toLowerCase() === this.value;
      case 'prefix':
        return this.#startsWith(path);
      case 'path_separated_prefix':
        return this.#startsWith(path) && (path.length === this.value.length || path.charCodeAt(this.value.length) === 47);
    }
  }

  #startsWith(path: string): boolean {
    if (this.caseSensitive) return path.startsWith(this.value);
    return path.length >= this.value.length && path.slice(0, this.value.length).toLowerCase() === this.value;
  }

  toString(): string {
    const extra = [...this.#headers.map(String), ...this.#query.map(String), ...(this.#metadata ?? []).map(String)];
    return `${this.kind}(${this.value})${this.caseSensitive ? '' : ' ignore_case'}${extra.length ? ` && ${extra.join(' && ')}` : ''}`;
  }
}
