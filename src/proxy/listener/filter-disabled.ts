// Envoy's ListenerFilterChainMatchPredicate (a listener filter's `filter_disabled`): Istio turns the
// inspectors off on virtualInbound's declared ports with destination port ranges, so a server-first
// protocol on a declared port is never held waiting for bytes to sniff.

export interface PredicateJson {
  or_match?: { rules?: PredicateJson[] };
  and_match?: { rules?: PredicateJson[] };
  not_match?: PredicateJson;
  any_match?: boolean;
  /** Int32Range: start inclusive, end exclusive. */
  destination_port_range?: { start?: number; end?: number };
}

/** True when the predicate matches a connection to `port` (the filter is then skipped). */
export type PortPredicate = (port: number) => boolean;

export class PredicateError extends Error {
  readonly code = 'LISTENER_FILTER_PREDICATE';
}

/** Compiles the parts Outrigger can evaluate (ports, and/or/not, any); anything else is refused. */
export function compilePredicate(p: PredicateJson): PortPredicate {
  if (p.any_match === true) return () => true;
  if (p.destination_port_range) {
    const { start = 0, end = 0 } = p.destination_port_range;
    return (port) => port >= start && port < end;
  }
  if (p.or_match) {
    const rules = (p.or_match.rules ?? []).map(compilePredicate);
    return (port) => rules.some((r) => r(port));
  }
  if (p.and_match) {
    const rules = (p.and_match.rules ?? []).map(compilePredicate);
    return (port) => rules.every((r) => r(port));
  }
  if (p.not_match) {
    const inner = compilePredicate(p.not_match);
    return (port) => !inner(port);
  }
  throw new PredicateError(`unsupported filter_disabled predicate ${JSON.stringify(p)}`);
}
