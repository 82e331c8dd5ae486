// Envoy's StringMatcher compiled once into a predicate over one string; regexes run on RE2 (linear time).
import { RE2JS } from 're2js';
import { RbacConfigError, type StringMatcher } from './rbac-types.ts';

export interface StringPredicate {
  apply(value: string): boolean;
  toString(): string;
}

class Exact implements StringPredicate {
  readonly #want: string;
  readonly #ignoreCase: boolean;
  constructor(want: string, ignoreCase: boolean) {
    this.#ignoreCase = ignoreCase;
    this.#want = ignoreCase ? want.toLowerCase() : want;
  }
  apply(value: string): boolean {
    return (this.#ignoreCase ? value.toLowerCase() : value) === this.#want;
  }
  toString(): string {
    return `exact(${this.#want}${this.#ignoreCase ? ', ignore_case' : ''})`;
  }
}

class Affix implements StringPredicate {
  readonly #kind: 'prefix' | 'suffix' | 'contains';
  readonly #want: string;
  readonly #ignoreCase: boolean;
  constructor(kind: 'prefix' | 'suffix' | 'contains', want: string, ignoreCase: boolean) {
    this.#kind = kind;
    this.#ignoreCase = ignoreCase;
    this.#want = ignoreCase ? want.toLowerCase() : want;
  }
  apply(value: string): boolean {
    const v = this.#ignoreCase ? value.toLowerCase() : value;
    if (this.#kind === 'prefix') return v.startsWith(this.#want);
    if (this.#kind === 'suffix') return v.endsWith(this.#want);
    return v.includes(this.#want);
  }
  toString(): string {
    return `${this.#kind}(${this.#want}${this.#ignoreCase ? ', ignore_case' : ''})`;
  }
}

class Regex implements StringPredicate {
  readonly #source: string;
  readonly #re: RE2JS;
  constructor(source: string, path: string) {
    this.#source = source;
    try {
      this.#re = RE2JS.compile(source);
    } catch (err) {
      throw new RbacConfigError(`${path}: invalid regex ${JSON.stringify(source)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  apply(value: string): boolean {
    // Envoy's safe_regex is a full match.
    return this.#re.matches(value);
  }
  toString(): string {
    return `regex(${this.#source})`;
  }
}

/** Compiles a StringMatcher; throws RbacConfigError for an empty or unsupported one. */
export function compileStringMatcher(m: StringMatcher | null | undefined, path = 'string_match'): StringPredicate {
  if (!m) throw new RbacConfigError(`${path}: missing string matcher`);
  const ic = m.ignore_case === true;
  if (m.exact !== undefined) return new Exact(m.exact, ic);
  if (m.prefix !== undefined) return new Affix('prefix', m.prefix, ic);
  if (m.suffix !== undefined) return new Affix('suffix', m.suffix, ic);
  if (m.contains !== undefined) return new Affix('contains', m.contains, ic);
  if (m.safe_regex) return compileRegex(m.safe_regex.regex, `${path}.safe_regex`);
  throw new RbacConfigError(`${path}: no supported match pattern (exact, prefix, suffix, contains, safe_regex)`);
}

export function compileRegex(source: string | undefined, path: string): StringPredicate {
  if (source === undefined) throw new RbacConfigError(`${path}: missing regex`);
  return new Regex(source, path);
}
