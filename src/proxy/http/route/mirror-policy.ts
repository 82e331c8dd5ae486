// request_mirror_policies: which clusters get a fire-and-forget copy of the request, decided per
// request with an injected draw, and the `-shadow` authority Envoy gives the copy.
import type { EnvoyMirrorPolicy } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { ALWAYS, compileFraction, type Fraction } from './fractional-percent.ts';

export class MirrorPolicy {
  readonly cluster: string;
  readonly fraction: Fraction;
  constructor(m: EnvoyMirrorPolicy, path: string) {
    if (!m.cluster) throw new RouteConfigError(`${path}.cluster`, 'is required');
    this.cluster = m.cluster;
    this.fraction = m.runtime_fraction ? compileFraction(m.runtime_fraction.default_value, `${path}.runtime_fraction.default_value`) : ALWAYS;
  }
  /** Whether this request is mirrored; `draw` in [0, 1). */
  shouldMirror(draw: number): boolean {
    return this.fraction.sample(draw);
  }
}

/**
 * `foo:9080` → `foo-shadow:9080`, `[::1]:8080` → `[::1]-shadow:8080`, `foo` → `foo-shadow` (Envoy's
 * shadowAppendedHost: the port starts at the last `:` unless a `]` follows it).
 */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.lastIndexOf(']') > colon) return `${authority}-shadow`;
  return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
}
