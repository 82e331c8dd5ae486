// Envoy's HeaderMatcher compiled once: presence, exact/prefix/suffix/contains/regex/range and
// string_match, invert_match and treat_missing_header_as_empty, with Envoy's rule for a missing
// header (it matches only `present_match: false`, or `present_match: true` when inverted).
import type { DownstreamRequest, HeaderMap } from '../stream.ts';
import type { EnvoyHeaderMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import type { RegexOptions } from './regex.ts';
import { headerValue, requestHeader } from './request-headers.ts';
import { compileStringMatcher, type StringPredicate } from './string-matcher.ts';

export class HeaderPredicate {
  readonly name: string;
  readonly #value: StringPredicate | null;
  readonly #range: { start: number; end: number } | null;
  /** For presence matchers: what presence must be. */
  readonly #present: boolean;
  readonly #invert: boolean;
  readonly #missingAsEmpty: boolean;

  constructor(m: EnvoyHeaderMatcher, path: string, options?: RegexOptions) {
    const name = m.name?.toLowerCase();
    if (!name) throw new RouteConfigError(`${path}.name`, 'header name is required');
    this.name = name;
    this.#invert = m.invert_match === true;
    this.#missingAsEmpty = m.treat_missing_header_as_empty === true;
    this.#range = null;
    this.#value = null;
    this.#present = true;
    if (m.string_match !== undefined) {
      this.#value = compileStringMatcher(m.string_match, `${path}.string_match`, options);
    } else if (m.exact_match !== undefined) {
      this.#value = compileStringMatcher({ exact: m.exact_match }, `${path}.exact_match`, options);
    } else if (m.prefix_match !== undefined) {
      this.#value = compileStringMatcher({ prefix: m.prefix_match }, `${path}.prefix_match`, options);
    } else if (m.suffix_match !== undefined) {
      this.#value = compileStringMatcher({ suffix: m.suffix_match }, `${path}.suffix_match`, options);
    } else if (m.contains_match !== undefined) {
      this.#value = compileStringMatcher({ contains: m.contains_match }, `${path}.contains_match`, options);
    } else if (m.safe_regex_match !== undefined) {
      this.#value = compileStringMatcher({ safe_regex: m.safe_regex_match }, `${path}.safe_regex_match`, options);
    } else if (m.range_match !== undefined) {
      const start = Number(m.range_match.start ?? 0);
      const end = Number(m.range_match.end ?? 0);
      if (!(start < end)) throw new RouteConfigError(`${path}.range_match`, 'start must be below end');
      this.#range = { start, end };
    } else if (m.present_match !== undefined) {
      this.#present = m.present_match;
    }
  }

  /** Matches one value, or undefined for a missing header. */
  matchValue(value: string | undefined): boolean {
    if (value === undefined) {
      if (!this.#missingAsEmpty) {
        const isPresence = this.#value === null && this.#range === null;
        return isPresence && (this.#invert ? this.#present : !this.#present);
      }
      value = '';
    }
    let ok: boolean;
    if (this.#value !== null) ok = this.#value.match(value);
    else if (this.#range !== null) {
      const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
      ok = n >= this.#range.start && n < this.#range.end;
    } else ok = this.#present;
    return ok !== this.#invert;
  }

  match(request: DownstreamRequest): boolean {
    return this.matchValue(requestHeader(request, this.name));
  }

  /** Matches against a plain header map (response headers, for retriable_headers). */
  matchHeaders(headers: HeaderMap): boolean {
    return this.matchValue(headerValue(headers, this.name));
  }

  toString(): string {
    return `header(${this.name} ${this.#value ?? (this.#range ? 'range' : this.#present ? 'present' : 'absent')}${this.#invert ? ' inverted' : ''})`;
  }
}

/** Compiles a list of HeaderMatchers (all must match). */
export function compileHeaderMatchers(list: EnvoyHeaderMatcher[] | undefined, path: string, options?: RegexOptions): HeaderPredicate[] {
  return (list ?? []).map((m, i) => new HeaderPredicate(m, `${path}[${i}]`, options));
}
