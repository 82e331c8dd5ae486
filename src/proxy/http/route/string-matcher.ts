// Envoy's StringMatcher (exact / prefix / suffix / contains / safe_regex, with ignore_case) compiled
// into a predicate object; regexes match the whole value, as Envoy's safe_regex does.
import type { EnvoyStringMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { compileRegexMatcher, type RegexOptions } from './regex.ts';

export interface StringPredicate {
  match(value: string): boolean;
  toString(): string;
}

class ExactMatcher implements StringPredicate {
  readonly #v: string;
  readonly #ic: boolean;
  constructor(v: string, ic: boolean) {
    this.#ic = ic;
    this.#v = ic ? v.toLowerCase() : v;
  }
  match(value: string): boolean {
    return (this.#ic ? value.toLowerCase() : value) === this.#v;
  }
  toString(): string {
    return `exact(${this.#v}${this.#ic ? ', ignore_case' : ''})`;
  }
}

class PrefixMatcher implements StringPredicate {
  readonly #v: string;
  readonly #ic: boolean;
  constructor(v: string, ic: boolean) {
    this.#ic = ic;
    this.#v = ic ? v.toLowerCase() : v;
  }
  match(value: string): boolean {
    if (value.length < this.#v.length) return false;
    if (!this.#ic) return value.startsWith(this.#v);
    return value.slice(0, this.#v.length).toLowerCase() === this.#v;
  }
  toString(): string {
    return `prefix(${this.#v})`;
  }
}

class SuffixMatcher implements StringPredicate {
  readonly #v: string;
  readonly #ic: boolean;
  constructor(v: string, ic: boolean) {
    this.#ic = ic;
    this.#v = ic ? v.toLowerCase() : v;
  }
  match(value: string): boolean {
    if (value.length < this.#v.length) return false;
    if (!this.#ic) return value.endsWith(this.#v);
    return value.slice(value.length - this.#v.length).toLowerCase() === this.#v;
  }
  toString(): string {
    return `suffix(${this.#v})`;
  }
}

class ContainsMatcher implements StringPredicate {
  readonly #v: string;
  readonly #ic: boolean;
  constructor(v: string, ic: boolean) {
    this.#ic = ic;
    this.#v = ic ? v.toLowerCase() : v;
  }
  match(value: string): boolean {
    return (this.#ic ? value.toLowerCase() : value).includes(this.#v);
  }
  toString(): string {
    return `contains(${this.#v})`;
  }
}

class RegexStringMatcher implements StringPredicate {
  readonly #re: ReturnType<typeof compileRegexMatcher>;
  constructor(re: ReturnType<typeof compileRegexMatcher>) {
    this.#re = re;
  }
  match(value: string): boolean {
    return this.#re.matches(value);
  }
  toString(): string {
    return `regex(${this.#re.pattern()})`;
  }
}

/** Compiles one StringMatcher; exactly one of its match fields must be set. */
export function compileStringMatcher(m: EnvoyStringMatcher | undefined, path: string, options?: RegexOptions): StringPredicate {
  if (!m) throw new RouteConfigError(path, 'string matcher is required');
  const ic = m.ignore_case === true;
  const set = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex'].filter((k) => m[k as keyof EnvoyStringMatcher] !== undefined);
  if (set.length !== 1) throw new RouteConfigError(path, `exactly one of exact, prefix, suffix, contains, safe_regex is required, got ${set.length}`);
  if (m.exact !== undefined) return new ExactMatcher(m.exact, ic);
  if (m.prefix !== undefined) {
    if (m.prefix === '') throw new RouteConfigError(`${path}.prefix`, 'must not be empty');
    return new PrefixMatcher(m.prefix, ic);
  }
  if (m.suffix !== undefined) {
    if (m.suffix === '') throw new RouteConfigError(`${path}.suffix`, 'must not be empty');
    return new SuffixMatcher(m.suffix, ic);
  }
  if (m.contains !== undefined) {
    if (m.contains === '') throw new RouteConfigError(`${path}.contains`, 'must not be empty');
    return new ContainsMatcher(m.contains, ic);
  }
  return new RegexStringMatcher(compileRegexMatcher(m.safe_regex, `${path}.safe_regex`, options));
}
