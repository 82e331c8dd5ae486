// `envoy.filters.network.rbac` for TCP: the same engine over connection facts only. The proxy calls
// `check` once per connection (ONE_TIME_ON_FIRST_BYTE) and closes the connection on denial.
import type { Counter } from '../../../telemetry/metrics/registry.ts';
import type { TypedAny } from '../../../xds/any.ts';
import type { ConnectionInfo } from '../../http/stream.ts';
import { denialReceipt, rbacDetails } from './denial-receipt.ts';
import { RbacEngine } from './engine.ts';
import { connectionRbacInput } from './rbac-input.ts';
import type { RbacConfig } from './rbac-types.ts';

export const NETWORK_RBAC_FILTER_NAME = 'envoy.filters.network.rbac';
export const NETWORK_RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

export interface NetworkRbacResult {
  readonly allowed: boolean;
  /** Envoy's details string, and the `ns/name rule i` receipt when a policy decided. */
  readonly details: string;
  readonly deniedBy?: string;
  /** Dry-run results (`shadow_effective_policy_id`, `shadow_engine_result`) under the shadow prefix. */
  readonly shadow?: Record<string, string>;
  /**
   * The enforced engine is LOG (AUDIT): whether a policy matched, which Envoy's handleAction writes as
   * `access_log_hint` (true or false) on every connection. Absent for any other engine.
   */
  readonly logged?: boolean;
}

/** Envoy's counters of one network RBAC filter, bound by whoever keeps the stats. */
export interface NetworkRbacCounters {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
}

export interface NetworkRbac {
  /** Where its counters live: `<stat_prefix>.rbac.` (Istio's `tcp.rbac.`). */
  readonly statPrefix: string;
  /** Its shadow counters' prefix after that (`shadow_rules_stat_prefix`, Istio's `istio_dry_run_allow_`). */
  readonly shadowRulesStatPrefix: string;
  /** `counters`: counted as Envoy counts, allowed or denied when there are rules, shadow_* when there are shadow rules. */
  check(connection: ConnectionInfo, counters?: NetworkRbacCounters): NetworkRbacResult;
  toString(): string;
}

/** Compiles the network filter's typed config; throws RbacConfigError (with the field path) to NACK. */
export function compileNetworkRbac(config: TypedAny): NetworkRbac {
  const c = config as { stat_prefix?: string; rules?: RbacConfig; shadow_rules?: RbacConfig; shadow_rules_stat_prefix?: string };
  const enforced = c.rules ? new RbacEngine(c.rules, `${NETWORK_RBAC_FILTER_NAME}.rules`) : null;
  const shadow = c.shadow_rules ? new RbacEngine(c.shadow_rules, `${NETWORK_RBAC_FILTER_NAME}.shadow_rules`) : null;
  const prefix = c.shadow_rules_stat_prefix ?? '';
  const statPrefix = c.stat_prefix ?? '';
  return {
    // Envoy's statPrefixJoin: a prefix without its trailing dot gets one.
    statPrefix: `${statPrefix === '' || statPrefix.endsWith('.') ? statPrefix : `${statPrefix}.`}rbac.`,
    shadowRulesStatPrefix: prefix,
    check(connection: ConnectionInfo, counters?: NetworkRbacCounters): NetworkRbacResult {
      const input = connectionRbacInput(connection);
      let shadowOut: Record<string, string> | undefined;
      if (shadow) {
        const s = shadow.evaluate(input);
        if (counters) (s.allowed ? counters.shadowAllowed : counters.shadowDenied).value++;
        shadowOut = {
          [`${prefix}shadow_effective_policy_id`]: s.matchedPolicy ?? '',
          [`${prefix}shadow_engine_result`]: s.allowed ? 'allowed' : 'denied',
        };
      }
      const base = shadowOut ? { shadow: shadowOut } : {};
      if (!enforced) return { allowed: true, details: '', ...base };
      const d = enforced.evaluate(input);
      if (counters) (d.allowed ? counters.allowed : counters.denied).value++;
      if (enforced.action === 'LOG') return { allowed: true, details: '', logged: d.matchedPolicy !== undefined, ...base };
      if (d.allowed) return { allowed: true, details: '', ...base };
      const receipt = denialReceipt(d.matchedPolicy, enforced.action);
      return { allowed: false, details: rbacDetails(d.matchedPolicy), deniedBy: receipt.text, ...base };
    },
    toString: () => `network ${enforced ?? 'no enforced rules'}`,
  };
}
