// Envoy's QueryParameterMatcher: the first value of a query parameter, as sent, against a
// StringMatcher, or its presence. The raw query is scanned in place; nothing is parsed into a map.
import type { EnvoyQueryParameterMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import type { RegexOptions } from './regex.ts';
import { compileStringMatcher, type StringPredicate } from './string-matcher.ts';

/**
 * The first value of `name` in a raw query string (undefined when absent; '' for `?name`), not
 * percent-decoded: Envoy's route matching and query_parameter hash policy both read it through
 * QueryParamsMulti::parseQueryString, which does not decode.
 */
export function queryParam(query: string, name: string): string | undefined {
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    const eq = query.indexOf('=', start);
    const keyEnd = eq !== -1 && eq < end ? eq : end;
    if (keyEnd - start === name.length && query.startsWith(name, start)) {
      return keyEnd === end ? '' : query.slice(keyEnd + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}

export class QueryPredicate {
  readonly #name: string;
  readonly #value: StringPredicate | null;
  readonly #present: boolean;
  constructor(m: EnvoyQueryParameterMatcher, path: string, options?: RegexOptions) {
    if (!m.name) throw new RouteConfigError(`${path}.name`, 'query parameter name is required');
    this.#name = m.name;
    this.#value = m.string_match ? compileStringMatcher(m.string_match, `${path}.string_match`, options) : null;
    this.#present = m.present_match ?? true;
    if (this.#value === null && m.present_match === undefined) {
      throw new RouteConfigError(path, 'one of string_match or present_match is required');
    }
  }
  match(query: string): boolean {
    const v = queryParam(query, this.#name);
    if (this.#value !== null) return v !== undefined && this.#value.match(v);
    return (v !== undefined) === this.#present;
  }
  toString(): string {
    return `query(${this.#name} ${this.#value ?? (this.#present ? 'present' : 'absent')})`;
  }
}
