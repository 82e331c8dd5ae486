// A policy denial that says who denied it: Istio's policy names (`ns[NS]-policy[NAME]-rule[i]`) are
// turned back into "NS/NAME rule i" for the debug header, the body and the stream info.

export const DEBUG_HEADER = 'x-outrigger-debug';
export const DENIED_BY_HEADER = 'x-outrigger-denied-by';

export interface DenialReceipt {
  /** The RBAC policy name as configured, or `none` when no ALLOW policy matched. */
  readonly policy: string;
  /** `ns/name rule i`, or the raw policy name when it is not one of Istio's. */
  readonly text: string;
}

// A CUSTOM rule enforced as DENY because its provider cannot be used carries Istio's suffix.
const ISTIO_NAME = /^(?:istio-ext-authz-)?ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\](-deny-due-to-bad-CUSTOM-action)?$/;

export function denialReceipt(policy: string | undefined, action: 'ALLOW' | 'DENY'): DenialReceipt {
  if (policy === undefined) {
    return { policy: 'none', text: action === 'ALLOW' ? 'no ALLOW policy matched' : 'denied' };
  }
  const m = ISTIO_NAME.exec(policy);
  if (!m) return { policy, text: policy };
  return { policy, text: `${m[1]}/${m[2]} rule ${m[3]}${m[4] ? ' (CUSTOM, provider unusable)' : ''}` };
}

/** Envoy's response code details for an RBAC denial. */
export function rbacDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy ?? 'none'}]`;
}
