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

const ISTIO_NAME = /^(?:istio-ext-authz-)?ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\]$/;

export function denialReceipt(policy: string | undefined, action: 'ALLOW' | 'DENY'): DenialReceipt {
  if (policy === undefined) {
    return { policy: 'none', text: action === 'ALLOW' ? 'no ALLOW policy matched' : 'denied' };
  }
  const m = ISTIO_NAME.exec(policy);
  return { policy, text: m ? `${m[1]}/${m[2]} rule ${m[3]}` : policy };
}

/** Envoy's response code details for an RBAC denial. */
export function rbacDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy ?? 'none'}]`;
}
