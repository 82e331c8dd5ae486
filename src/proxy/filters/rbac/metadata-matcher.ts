// Envoy's MetadataMatcher over dynamic metadata (jwt_authn payloads, istio_authn request.auth.*).
// A list_match also accepts a scalar value, so a string claim and a one-element list claim match alike.
import type { InputPredicate } from './header-matcher.ts';
import { type MetadataMatcher, RbacConfigError, type RbacInput, type ValueMatcher } from './rbac-types.ts';
import { compileStringMatcher } from './string-matcher.ts';

type ValuePredicate = (value: unknown) => boolean;

function compileValue(m: ValueMatcher | null | undefined, path: string): { test: ValuePredicate; text: string } {
  if (!m) throw new RbacConfigError(`${path}: missing value matcher`);
  if (m.string_match) {
    const s = compileStringMatcher(m.string_match, `${path}.string_match`);
    return { test: (v) => typeof v === 'string' && s.apply(v), text: s.toString() };
  }
  if (m.present_match !== undefined) {
    const want = m.present_match;
    return { test: (v) => (v !== undefined && v !== null) === want, text: `present=${want}` };
  }
  if (m.bool_match !== undefined) {
    const want = m.bool_match;
    return { test: (v) => v === want, text: `bool(${want})` };
  }
  if (m.null_match) return { test: (v) => v === null, text: 'null' };
  if (m.double_match) {
    const d = m.double_match;
    if (d.exact !== undefined) {
      const want = Number(d.exact);
      return { test: (v) => v === want, text: `double(${want})` };
    }
    const start = Number(d.range?.start ?? 0);
    const end = Number(d.range?.end ?? 0);
    return { test: (v) => typeof v === 'number' && v >= start && v < end, text: `double[${start}, ${end})` };
  }
  if (m.list_match) {
    const inner = compileValue(m.list_match.one_of, `${path}.list_match.one_of`);
    const test: ValuePredicate = (v) => (Array.isArray(v) ? v.some((x) => inner.test(x)) : inner.test(v));
    return { test, text: `one_of(${inner.text})` };
  }
  if (m.or_match) {
    const parts = (m.or_match.value_matchers ?? []).map((x, i) => compileValue(x, `${path}.or_match[${i}]`));
    return { test: (v) => parts.some((p) => p.test(v)), text: `or(${parts.map((p) => p.text).join(', ')})` };
  }
  throw new RbacConfigError(`${path}: no supported value matcher`);
}

export class MetadataPredicate implements InputPredicate {
  readonly #filter: string;
  readonly #path: readonly string[];
  readonly #value: { test: ValuePredicate; text: string };
  readonly #invert: boolean;
  constructor(m: MetadataMatcher, path: string) {
    if (!m.filter) throw new RbacConfigError(`${path}.filter: required`);
    this.#filter = m.filter;
    this.#path = (m.path ?? []).map((s, i) => {
      if (s.key === undefined) throw new RbacConfigError(`${path}.path[${i}].key: required`);
      return s.key;
    });
    if (this.#path.length === 0) throw new RbacConfigError(`${path}.path: at least one segment`);
    this.#value = compileValue(m.value, `${path}.value`);
    this.#invert = m.invert === true;
  }
  apply(input: RbacInput): boolean {
    let node: unknown = input.metadata.get(this.#filter);
    for (const key of this.#path) {
      node = typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
    }
    const matched = this.#value.test(node);
    return this.#invert ? !matched : matched;
  }
  toString(): string {
    return `${this.#invert ? '!' : ''}metadata(${this.#filter}.${this.#path.join('.')}: ${this.#value.text})`;
  }
}
