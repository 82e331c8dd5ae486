// A route's Envoy `decorator`: the operation its requests' spans are named by, compiled once with the
// route so a span costs no string work per request.
import type { EnvoyDecorator } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';

export interface RouteDecorator {
  /** The span name (Envoy's `operation`, required non-empty). */
  readonly operation: string;
  /** Whether it travels in `x-envoy-decorator-operation` (upstream from a client span, back from a server span). */
  readonly propagate: boolean;
}

export function compileDecorator(d: EnvoyDecorator | undefined, path: string): RouteDecorator | null {
  if (d === undefined) return null;
  if (typeof d.operation !== 'string' || d.operation === '') throw new RouteConfigError(`${path}.operation`, 'must be a non-empty string');
  return { operation: d.operation, propagate: d.propagate?.value ?? true };
}
