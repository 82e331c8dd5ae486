// The mark an AUDIT (RBAC action LOG) engine leaves for the access log: Envoy's
// RoleBasedAccessControlEngineImpl::handleAction, case LOG (enforced, not shadow), sets `envoy.common`
// `access_log_hint` to the bool `matched` on every request or connection the engine sees. The HTTP and
// the network filter both write it here.

export const COMMON_METADATA = 'envoy.common';

// Shared and frozen, never written to: a merge copies them, so no request or connection makes one.
const HINT_TRUE: Readonly<Record<string, unknown>> = Object.freeze({ access_log_hint: true });
const HINT_FALSE: Readonly<Record<string, unknown>> = Object.freeze({ access_log_hint: false });

/** Sets the hint to `matched` in a stream's or connection's dynamic metadata, keeping what else `envoy.common` holds. */
export function markAccessLogHint(metadata: Map<string, Record<string, unknown>>, matched: boolean): void {
  const common = metadata.get(COMMON_METADATA);
  const hint = matched ? HINT_TRUE : HINT_FALSE;
  metadata.set(COMMON_METADATA, common ? { ...common, ...hint } : (hint as Record<string, unknown>));
}
