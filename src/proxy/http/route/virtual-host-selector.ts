// Picks the virtual host for an authority by Envoy's domain rules: exact, then the longest suffix
// wildcard (`*.foo.com`), then the longest prefix wildcard (`foo.*`), then `*`. A wildcard matches at
// least one character. Ports are part of the domain unless ignore_port_in_host_matching is set.
// As Envoy, only a leading or trailing `*` is a wildcard: any other `*` is a literal character, so
// `*.foo.com:*` is accepted and is the suffix `.foo.com:*` (it matches no real port; `foo.com:*` does).
import { RouteConfigError } from './errors.ts';

/** Envoy validates each domain as an HTTP header value (`HTTP_HEADER_VALUE`, not strict): no NUL, CR or LF. */
const NOT_A_HEADER_VALUE = /[\0\r\n]/;

export class VirtualHostSelector<V> {
  readonly #exact = new Map<string, V>();
  /** Wildcard tails/heads, grouped by length, longest first. */
  readonly #suffixes: { len: number; map: Map<string, V> }[] = [];
  readonly #prefixes: { len: number; map: Map<string, V> }[] = [];
  #any: V | undefined;
  readonly #ignorePort: boolean;

  constructor(ignorePort: boolean) {
    this.#ignorePort = ignorePort;
  }

  add(domain: string, vhost: V, path: string): void {
    const d = domain.toLowerCase();
    if (NOT_A_HEADER_VALUE.test(d)) throw new RouteConfigError(path, `invalid domain ${JSON.stringify(domain)}: NUL, CR and LF are not allowed`);
    if (d === '*') {
      if (this.#any !== undefined) throw new RouteConfigError(path, 'the domain "*" may appear only once in a route configuration');
      this.#any = vhost;
      return;
    }
    let target: Map<string, V>;
    let key: string;
    // Envoy's order of tests: a leading `*` makes a suffix wildcard even when the domain also ends in one.
    if (d.startsWith('*')) {
      key = d.slice(1);
      target = group(this.#suffixes, key.length);
    } else if (d.endsWith('*')) {
      key = d.slice(0, -1);
      target = group(this.#prefixes, key.length);
    } else {
      key = d;
      target = this.#exact;
    }
    if (target.has(key)) throw new RouteConfigError(path, `domain ${JSON.stringify(domain)} is listed more than once; domains must be unique across virtual hosts`);
    target.set(key, vhost);
  }

  select(authority: string): V | undefined {
    let host = authority;
    if (this.#ignorePort) host = stripPort(host);
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    for (const { len, map } of this.#suffixes) {
      if (len < host.length) {
        const v = map.get(host.slice(host.length - len));
        if (v !== undefined) return v;
      }
    }
    for (const { len, map } of this.#prefixes) {
      if (len < host.length) {
        const v = map.get(host.slice(0, len));
        if (v !== undefined) return v;
      }
    }
    return this.#any;
  }
}

function group<V>(groups: { len: number; map: Map<string, V> }[], len: number): Map<string, V> {
  let g = groups.find((x) => x.len === len);
  if (!g) {
    g = { len, map: new Map() };
    groups.push(g);
    groups.sort((a, b) => b.len - a.len);
  }
  return g.map;
}

/** `host:port` → `host`; keeps IPv6 literals (`[::1]:80` → `[::1]`). */
export function stripPort(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon === -1) return authority;
  const bracket = authority.lastIndexOf(']');
  if (bracket > colon) return authority;
  return authority.slice(0, colon);
}

/** The port of `host:port`, or '' when none. */
export function portOf(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.lastIndexOf(']') > colon) return '';
  return authority.slice(colon + 1);
}
