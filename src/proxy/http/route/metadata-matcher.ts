// A route's dynamic_metadata matcher (Envoy's Matchers::MetadataMatcher): a value found by filter and
// key path in the stream's dynamic metadata, against a ValueMatcher; what Istio's JWT claim routing
// writes (a string claim, or one element of a list claim).
import type { EnvoyMetadataMatcher, EnvoyValueMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import type { RegexOptions } from './regex.ts';
import { compileStringMatcher } from './string-matcher.ts';

type ValueTest = (value: unknown) => boolean;

/**
 * The value at `path` in a Struct-like JSON object (Envoy's Metadata::metadataValue, jwt_authn's
 * StructUtils::GetValue): only an object's own fields are walked, never a list or an inherited
 * property (`constructor`); undefined when a step is missing. Used by routes' metadata matchers and
 * jwt_authn's claim_to_headers.
 */
export function structValueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string;
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function compileValue(m: EnvoyValueMatcher | undefined, path: string, options?: RegexOptions): ValueTest {
  if (m?.string_match !== undefined) {
    const s = compileStringMatcher(m.string_match, `${path}.string_match`, options);
    return (v) => typeof v === 'string' && s.match(v);
  }
  if (m?.present_match !== undefined) {
    // Envoy's PresentMatcher: `matcher_ && kind_case() != KIND_NOT_SET`. present_match false matches
    // nothing, and a JSON null (null_value) is a value.
    if (!m.present_match) return () => false;
    return (v) => v !== undefined;
  }
  if (m?.list_match !== undefined) {
    const one = compileValue(m.list_match.one_of, `${path}.list_match.one_of`, options);
    return (v) => Array.isArray(v) && v.some(one);
  }
  if (m?.or_match !== undefined) {
    const any = (m.or_match.value_matchers ?? []).map((x, i) => compileValue(x, `${path}.or_match.value_matchers[${i}]`, options));
    return (v) => any.some((t) => t(v));
  }
  throw new RouteConfigError(path, 'one of string_match, present_match, list_match, or_match is required');
}

export class MetadataPredicate {
  readonly #filter: string;
  readonly #path: readonly string[];
  readonly #value: ValueTest;
  readonly #invert: boolean;

  constructor(m: EnvoyMetadataMatcher, path: string, options?: RegexOptions) {
    if (!m.filter) throw new RouteConfigError(`${path}.filter`, 'is required');
    this.#filter = m.filter;
    this.#path = (m.path ?? []).map((s, i) => {
      if (!s.key) throw new RouteConfigError(`${path}.path[${i}].key`, 'is required');
      return s.key;
    });
    if (this.#path.length === 0) throw new RouteConfigError(`${path}.path`, 'at least one segment is required');
    this.#value = compileValue(m.value, `${path}.value`, options);
    this.#invert = m.invert === true;
  }

  /** A missing value matches nothing (so an inverted matcher matches), as Envoy's empty Value. */
  match(metadata: ReadonlyMap<string, unknown> | undefined): boolean {
    return this.#value(structValueAt(metadata?.get(this.#filter), this.#path)) !== this.#invert;
  }

  toString(): string {
    return `${this.#invert ? '!' : ''}metadata(${this.#filter}.${this.#path.join('.')})`;
  }
}
