// Envoy's HeaderMatcher over every value of a header: repeated headers are evaluated one value at a
// time (CVE-2026-26308: never on a comma-joined string), values trimmed of surrounding whitespace.
import type { RbacInput } from './rbac-types.ts';
import { type HeaderMatcher, RbacConfigError } from './rbac-types.ts';
import { compileRegex, compileStringMatcher, type StringPredicate } from './string-matcher.ts';

export interface InputPredicate {
  apply(input: RbacInput): boolean;
  toString(): string;
}

class RangePredicate implements StringPredicate {
  readonly #start: number;
  readonly #end: number;
  constructor(start: number, end: number) {
    this.#start = start;
    this.#end = end;
  }
  apply(value: string): boolean {
    if (!/^-?\d+$/.test(value)) return false;
    const n = Number(value);
    return n >= this.#start && n < this.#end;
  }
  toString(): string {
    return `range[${this.#start}, ${this.#end})`;
  }
}

export class HeaderPredicate implements InputPredicate {
  readonly #name: string;
  readonly #value: StringPredicate | null;
  readonly #present: boolean;
  readonly #invert: boolean;
  readonly #missingAsEmpty: boolean;
  constructor(m: HeaderMatcher, path: string) {
    if (!m.name) throw new RbacConfigError(`${path}.name: required`);
    this.#name = m.name.toLowerCase();
    this.#invert = m.invert_match === true;
    this.#missingAsEmpty = m.treat_missing_header_as_empty === true;
    this.#present = m.present_match !== undefined ? m.present_match : true;
    this.#value = HeaderPredicate.#compileValue(m, path);
  }
  static #compileValue(m: HeaderMatcher, path: string): StringPredicate | null {
    if (m.string_match) return compileStringMatcher(m.string_match, `${path}.string_match`);
    if (m.exact_match !== undefined) return compileStringMatcher({ exact: m.exact_match }, path);
    if (m.prefix_match !== undefined) return compileStringMatcher({ prefix: m.prefix_match }, path);
    if (m.suffix_match !== undefined) return compileStringMatcher({ suffix: m.suffix_match }, path);
    if (m.contains_match !== undefined) return compileStringMatcher({ contains: m.contains_match }, path);
    if (m.safe_regex_match) return compileRegex(m.safe_regex_match.regex, `${path}.safe_regex_match`);
    if (m.range_match) return new RangePredicate(Number(m.range_match.start ?? 0), Number(m.range_match.end ?? 0));
    return null;
  }
  apply(input: RbacInput): boolean {
    let values = input.header(this.#name);
    if (values === undefined && this.#missingAsEmpty) values = [''];
    let matched: boolean;
    if (values === undefined) matched = false;
    else if (this.#value === null) matched = this.#present;
    else {
      matched = false;
      for (const v of values) {
        if (this.#value.apply(v.trim())) {
          matched = true;
          break;
        }
      }
    }
    return this.#invert ? !matched : matched;
  }
  toString(): string {
    const what = this.#value === null ? `present=${this.#present}` : this.#value.toString();
    return `${this.#invert ? '!' : ''}header(${this.#name}: ${what})`;
  }
}
