// Path rewrites shared by forwarding and redirects: prefix_rewrite replaces the part of the path the
// route matched; regex_rewrite substitutes every match of an RE2 pattern. The query is not touched.
import type { RE2JS } from 're2js';
import type { EnvoyRouteAction } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { compileRegexMatcher, compileSubstitution, type RegexOptions, replaceAll } from './regex.ts';
import type { RouteMatcher } from './route-match.ts';

export class PathRewrite {
  readonly #prefix: string | null;
  readonly #re: RE2JS | null;
  readonly #substitution: string;
  readonly #matcher: RouteMatcher;

  constructor(
    fields: Pick<EnvoyRouteAction, 'prefix_rewrite' | 'regex_rewrite'>,
    matcher: RouteMatcher,
    path: string,
    options?: RegexOptions,
  ) {
    if (fields.prefix_rewrite !== undefined && fields.regex_rewrite !== undefined) {
      throw new RouteConfigError(path, 'prefix_rewrite and regex_rewrite are exclusive');
    }
    this.#matcher = matcher;
    // Envoy's rewritePathByPrefixOrRegex: an empty prefix_rewrite is no rewrite.
    this.#prefix = fields.prefix_rewrite || null;
    this.#re = null;
    this.#substitution = '';
    if (fields.regex_rewrite !== undefined) {
      this.#re = compileRegexMatcher(fields.regex_rewrite.pattern, `${path}.regex_rewrite.pattern`, options);
      this.#substitution = compileSubstitution(fields.regex_rewrite.substitution ?? '');
    }
  }

  get active(): boolean {
    return this.#prefix !== null || this.#re !== null;
  }

  /** The rewritten path (without query); the path itself when no rewrite is configured. */
  apply(path: string): string {
    if (this.#prefix !== null) return this.#prefix + path.slice(this.#matcher.matchedLength(path));
    // A regex rewrite to nothing is a failed one, and Envoy keeps the path.
    if (this.#re !== null) return replaceAll(this.#re, path, this.#substitution) || path;
    return path;
  }
}
