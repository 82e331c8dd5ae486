// The authorization network filters in front of tcp_proxy, in config order: RBAC (enforced, shadow and
// Istio's CUSTOM marker) and ext_authz. Synchronous unless an ext_authz check actually runs.
import type { ClusterDialer } from './ext_authz/grpc-check.ts';
import type { NetworkAuthzStats } from './network-authz-stats.ts';
import type { NetworkExtAuthz } from './ext_authz/network-filter.ts';
import type { Timers } from '../http/router.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import type { NetworkRbac } from './rbac/network-filter.ts';
import { COMMON_METADATA, markAccessLogHint } from './rbac/access-log-hint.ts';

export type NetworkAuthzFilter = { readonly kind: 'rbac'; readonly rbac: NetworkRbac } | { readonly kind: 'ext_authz'; readonly extAuthz: NetworkExtAuthz };

export interface NetworkAuthzOutcome {
  readonly allowed: boolean;
  /** Why the connection is closed: `rbac_access_denied_matched_policy[...]`, `ext_authz_denied`, `ext_authz_error`. */
  readonly details: string;
  /** The filter that refused it; Envoy records their details in different places (see tcp-proxy.ts). */
  readonly deniedBy?: 'rbac' | 'ext_authz';
  /**
   * An RBAC `LOG` (AUDIT) policy matched the connection: Envoy's network RBAC sets `access_log_hint` in
   * the connection's `envoy.common` metadata, as the HTTP filter does for a request.
   */
  readonly accessLogHint?: true;
}

const ALLOWED: NetworkAuthzOutcome = Object.freeze({ allowed: true, details: '' });
/** The connection closed while its check was out: nothing decided, nothing dialled. */
const CANCELLED: NetworkAuthzOutcome = Object.freeze({ allowed: false, details: '' });
const RBAC_METADATA = 'envoy.filters.network.rbac';

/** The outcome, with the audit mark when an AUDIT policy matched (in the connection's metadata). */
function marked(v: NetworkAuthzOutcome, metadata: Map<string, Record<string, unknown>>): NetworkAuthzOutcome {
  return metadata.get(COMMON_METADATA)?.['access_log_hint'] === true ? { ...v, accessLogHint: true } : v;
}

function runFrom(filters: readonly NetworkAuthzFilter[], start: number, connection: ConnectionInfo, metadata: Map<string, Record<string, unknown>>, dial: ClusterDialer, stats: NetworkAuthzStats | undefined, signal: AbortSignal | undefined, timers: Timers | undefined): NetworkAuthzOutcome | Promise<NetworkAuthzOutcome> {
  for (let i = start; i < filters.length; i++) {
    const f = filters[i]!;
    if (f.kind === 'rbac') {
      const v = f.rbac.check(connection, stats?.rbac(f.rbac));
      // Shadow results are what Istio's CUSTOM marker and dry-run policies publish for later filters.
      if (v.shadow) metadata.set(RBAC_METADATA, { ...metadata.get(RBAC_METADATA), ...v.shadow });
      // A LOG (AUDIT) engine: Envoy's handleAction sets envoy.common access_log_hint to `matched`, true or
      // false, on every connection it sees (not for shadow rules).
      if (v.logged !== undefined) markAccessLogHint(metadata, v.logged);
      if (!v.allowed) return marked({ allowed: false, details: v.details, deniedBy: 'rbac' }, metadata);
      continue;
    }
    const pending = f.extAuthz.check(connection, metadata, dial, signal, timers);
    if (!pending) continue;
    // A cancelled check ends the chain, as Envoy's onComplete never comes after client_->cancel(): no later
    // filter runs (or counts) for a connection that has gone, even where the check fails open.
    return pending.then((v) =>
      signal?.aborted ? CANCELLED : v.allowed ? runFrom(filters, i + 1, connection, metadata, dial, stats, signal, timers) : marked({ allowed: false, details: v.details, deniedBy: 'ext_authz' }, metadata),
    );
  }
  return marked(ALLOWED, metadata);
}

/**
 * Runs the chain for one connection; a Promise only when a check had to go out. `stats`: RBAC's counters.
 * `signal` cancels the checks still out (the connection closed first, Envoy's onEvent close); their
 * timeouts run on `timers` (the proxy's). `metadata`: the connection's dynamic metadata, which the filters
 * write (the caller's map, so the access log reads it even when the client leaves during a check).
 */
export function runNetworkAuthz(
  filters: readonly NetworkAuthzFilter[],
  connection: ConnectionInfo,
  dial: ClusterDialer,
  stats?: NetworkAuthzStats,
  signal?: AbortSignal,
  timers?: Timers,
  metadata?: Map<string, Record<string, unknown>>,
): NetworkAuthzOutcome | Promise<NetworkAuthzOutcome> {
  if (filters.length === 0) return ALLOWED;
  return runFrom(filters, 0, connection, metadata ?? new Map(), dial, stats, signal, timers);
}

/** Whether a chain may send a check out (and so needs a way to cancel it). */
export function hasExtAuthz(filters: readonly NetworkAuthzFilter[]): boolean {
  for (const f of filters) if (f.kind === 'ext_authz') return true;
  return false;
}
