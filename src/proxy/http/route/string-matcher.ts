// Envoy's StringMatcher (exact / prefix / suffix / contains / safe_regex, with ignore_case) compiled
// into a predicate object; regexes match the whole value, as Envoy's safe_regex does.
import type { EnvoyStringMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { compileRegexMatcher, type RegexOptions } from './regex.ts';

export interface StringPredicate {
  match(value: string): boolean;
  toString(): string;
}

type LiteralKind = 'exact' | 'prefix' | 'suffix' | 'contains';

/** `v` is already lower-cased when `ic`; prefix and suffix lower only the part they compare. */
const literalTests: Record<LiteralKind, (value: string, v: string, ic: boolean) => boolean> = {
  exact: (value, v, ic) => (ic ? value.toLowerCase() : value) === v,
  prefix: (value, v, ic) => value.length >= v.length && (ic ? value.slice(0, v.length).toLowerCase() === v : value.startsWith(v)),
  suffix: (value, v, ic) => value.length >= v.length && (ic ? value.slice(value.length - v.length).toLowerCase() === v : value.endsWith(v)),
  contains: (value, v, ic) => (ic ? value.toLowerCase() : value).includes(v),
};

/** exact / prefix / suffix / contains: the literal is lower-cased once, here, for ignore_case. */
class LiteralMatcher implements StringPredicate {
  readonly #kind: LiteralKind;
  readonly #v: string;
  readonly #ic: boolean;
  readonly #test: (value: string, v: string, ic: boolean) => boolean;
  constructor(kind: LiteralKind, v: string, ic: boolean) {
    this.#kind = kind;
    this.#ic = ic;
    this.#v = ic ? v.toLowerCase() : v;
    this.#test = literalTests[kind];
  }
  match(value: string): boolean {
    return this.#test(value, this.#v, this.#ic);
  }
  toString(): string {
    return `${this.#kind}(${this.#v}${this.#kind === 'exact' && this.#ic ? ', ignore_case' : ''})`;
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
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    const v = m[kind];
    if (v === undefined) continue;
    // An empty exact matches only the empty value; an empty prefix, suffix or contains would match anything.
    if (v === '' && kind !== 'exact') throw new RouteConfigError(`${path}.${kind}`, 'must not be empty');
    return new LiteralMatcher(kind, v, ic);
  }
  return new RegexStringMatcher(compileRegexMatcher(m.safe_regex, `${path}.safe_regex`, options));
}
