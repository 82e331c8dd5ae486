// The small predicate objects an RBAC tree compiles into: combinators and the leaves that read
// connection facts. Each has `apply()` and a readable `toString()` for config dumps and explain.
import type { IpPredicate } from './cidr-matcher.ts';
import type { InputPredicate } from './header-matcher.ts';
import type { RbacInput } from './rbac-types.ts';
import type { StringPredicate } from './string-matcher.ts';

export type { InputPredicate };

export const ANY: InputPredicate = Object.freeze({ apply: () => true, toString: () => 'any' });

export class AndPredicate implements InputPredicate {
  readonly #parts: readonly InputPredicate[];
  constructor(parts: readonly InputPredicate[]) {
    this.#parts = parts;
  }
  apply(input: RbacInput): boolean {
    for (const p of this.#parts) if (!p.apply(input)) return false;
    return true;
  }
  toString(): string {
    return `and(${this.#parts.join(', ')})`;
  }
}

export class OrPredicate implements InputPredicate {
  readonly #parts: readonly InputPredicate[];
  constructor(parts: readonly InputPredicate[]) {
    this.#parts = parts;
  }
  apply(input: RbacInput): boolean {
    for (const p of this.#parts) if (p.apply(input)) return true;
    return false;
  }
  toString(): string {
    return `or(${this.#parts.join(', ')})`;
  }
}

export class NotPredicate implements InputPredicate {
  readonly #inner: InputPredicate;
  constructor(inner: InputPredicate) {
    this.#inner = inner;
  }
  apply(input: RbacInput): boolean {
    return !this.#inner.apply(input);
  }
  toString(): string {
    return `not(${this.#inner})`;
  }
}

export type IpSource = 'destination_ip' | 'direct_remote_ip' | 'remote_ip' | 'source_ip';

export class IpPredicateLeaf implements InputPredicate {
  readonly #source: IpSource;
  readonly #range: IpPredicate;
  constructor(source: IpSource, range: IpPredicate) {
    this.#source = source;
    this.#range = range;
  }
  apply(input: RbacInput): boolean {
    switch (this.#source) {
      case 'destination_ip':
        return this.#range.apply(input.destinationIp);
      case 'remote_ip':
        return this.#range.apply(input.remoteIp);
      default:
        // source_ip is Envoy's deprecated name for the socket peer (direct_remote_ip).
        return this.#range.apply(input.directRemoteIp);
    }
  }
  toString(): string {
    return `${this.#source}(${this.#range})`;
  }
}

export class PortPredicate implements InputPredicate {
  readonly #start: number;
  readonly #end: number;
  constructor(start: number, end: number) {
    this.#start = start;
    this.#end = end;
  }
  apply(input: RbacInput): boolean {
    return input.destinationPort >= this.#start && input.destinationPort < this.#end;
  }
  toString(): string {
    return this.#end === this.#start + 1 ? `destination_port(${this.#start})` : `destination_port[${this.#start}, ${this.#end})`;
  }
}

export type StringSource = 'sni' | 'principal' | 'url_path';

/** A string fact matched by a StringMatcher; an absent fact never matches (a plaintext caller has no principal). */
export class StringFactPredicate implements InputPredicate {
  readonly #source: StringSource;
  readonly #matcher: StringPredicate | null;
  constructor(source: StringSource, matcher: StringPredicate | null) {
    this.#source = source;
    this.#matcher = matcher;
  }
  apply(input: RbacInput): boolean {
    const value = this.#source === 'sni' ? input.sni : this.#source === 'principal' ? input.principal : input.urlPath;
    if (value === undefined || value === null) return false;
    // `authenticated` without principal_name: any verified peer.
    return this.#matcher === null ? true : this.#matcher.apply(value);
  }
  toString(): string {
    const name = this.#source === 'sni' ? 'requested_server_name' : this.#source === 'principal' ? 'authenticated' : 'url_path';
    return `${name}(${this.#matcher ?? 'any'})`;
  }
}

export class FilterStatePredicate implements InputPredicate {
  readonly #key: string;
  readonly #matcher: StringPredicate;
  constructor(key: string, matcher: StringPredicate) {
    this.#key = key;
    this.#matcher = matcher;
  }
  apply(input: RbacInput): boolean {
    const value = input.filterState.get(this.#key);
    return value !== undefined && this.#matcher.apply(value);
  }
  toString(): string {
    return `filter_state(${this.#key}: ${this.#matcher})`;
  }
}
