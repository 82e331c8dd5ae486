// `envoy.filters.http.rbac`: enforces `rules`, evaluates `shadow_rules` into dynamic metadata (dry
// run), honours RBACPerRoute, and answers a denial with 403, flag RBAC and, on request, a receipt.
import type { TypedAny } from '../../../xds/any.ts';
import {
  CONTINUE,
  FilterConfigError,
  type FilterVerdict,
  type HttpFilter,
  type HttpFilterFactory,
  type RequestContext,
} from '../../http/filter.ts';
import { DEBUG_HEADER, DENIED_BY_HEADER, denialReceipt, rbacDetails } from './denial-receipt.ts';
import { RbacEngine } from './engine.ts';
import { markAccessLogHint } from './access-log-hint.ts';
import { httpRbacInput } from './rbac-input.ts';
import { type RbacConfig, RbacConfigError } from './rbac-types.ts';

export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
export const RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const RBAC_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
/** Where a denial is recorded for access logs and metrics (policy 403 vs application 403). */
export const RBAC_DENIAL_METADATA = 'outrigger.rbac';

export interface RbacFilterOptions {
  /** Local mode: every denial names its policy, without the debug header. */
  readonly localMode?: boolean;
}

interface HttpRbacConfig {
  rules?: RbacConfig;
  rules_stat_prefix?: string;
  shadow_rules?: RbacConfig;
  shadow_rules_stat_prefix?: string;
  matcher?: unknown;
  shadow_matcher?: unknown;
}

/** The compiled listener- or route-level config: both engines optional (absent rules = not enforced). */
export class CompiledHttpRbac {
  readonly enforced: RbacEngine | null;
  readonly shadow: RbacEngine | null;
  readonly shadowPrefix: string;

  constructor(config: HttpRbacConfig, path: string) {
    if (config.matcher || config.shadow_matcher) throw new RbacConfigError(`${path}.matcher: the matcher API is not supported; use rules`);
    this.enforced = config.rules ? new RbacEngine(config.rules, `${path}.rules`) : null;
    this.shadow = config.shadow_rules ? new RbacEngine(config.shadow_rules, `${path}.shadow_rules`) : null;
    this.shadowPrefix = config.shadow_rules_stat_prefix ?? '';
  }
}

function compile(config: TypedAny, path: string): CompiledHttpRbac {
  try {
    return new CompiledHttpRbac(config as HttpRbacConfig, path);
  } catch (err) {
    if (err instanceof RbacConfigError) throw new FilterConfigError(err.message, { cause: err });
    throw err;
  }
}

function mergeMetadata(ctx: RequestContext, filter: string, values: Record<string, unknown>): void {
  const existing = ctx.info.dynamicMetadata.get(filter);
  ctx.info.dynamicMetadata.set(filter, existing ? { ...existing, ...values } : values);
}

class RbacHttpFilter implements HttpFilter {
  readonly #config: CompiledHttpRbac;
  readonly #localMode: boolean;
  constructor(config: CompiledHttpRbac, localMode: boolean) {
    this.#config = config;
    this.#localMode = localMode;
  }

  onRequest(ctx: RequestContext): FilterVerdict {
    const perRoute = ctx.route?.perFilterConfig(RBAC_FILTER_NAME);
    // RBACPerRoute without `rbac` disables the filter on that route.
    if (perRoute === null) return CONTINUE;
    const config = perRoute instanceof CompiledHttpRbac ? perRoute : this.#config;
    const input = httpRbacInput(ctx.request, ctx.info);
    if (config.shadow) {
      const shadow = config.shadow.evaluate(input);
      mergeMetadata(ctx, RBAC_FILTER_NAME, {
        [`${config.shadowPrefix}shadow_effective_policy_id`]: shadow.matchedPolicy ?? '',
        [`${config.shadowPrefix}shadow_engine_result`]: shadow.allowed ? 'allowed' : 'denied',
      });
    }
    const engine = config.enforced;
    if (!engine) return CONTINUE;
    const decision = engine.evaluate(input);
    if (engine.action === 'LOG') {
      // Matched or not: a request the AUDIT engine saw logs `true` or `false`, never `-` (as Envoy).
      markAccessLogHint(ctx.info.dynamicMetadata, decision.matchedPolicy !== undefined);
      return CONTINUE;
    }
    if (decision.allowed) return CONTINUE;
    const receipt = denialReceipt(decision.matchedPolicy, engine.action);
    ctx.info.dynamicMetadata.set(RBAC_DENIAL_METADATA, { action: engine.action, policy: receipt.policy, denied_by: receipt.text });
    // Recorded here as well as on the reply, so telemetry tells a policy 403 from an application 403.
    ctx.info.responseFlags.add('RBAC');
    ctx.info.responseCodeDetails = rbacDetails(decision.matchedPolicy);
    const show = this.#localMode || ctx.request.headers.get(DEBUG_HEADER) === '1';
    return {
      action: 'respond',
      reply: {
        status: 403,
        flag: 'RBAC',
        details: rbacDetails(decision.matchedPolicy),
        body: show ? `RBAC: access denied\ndenied by ${receipt.text}\n` : 'RBAC: access denied',
        ...(show ? { headers: { [DENIED_BY_HEADER]: receipt.text } } : {}),
      },
    };
  }
}

export function createRbacFilterFactory(options: RbacFilterOptions = {}): HttpFilterFactory {
  const localMode = options.localMode === true;
  return {
    name: RBAC_FILTER_NAME,
    typeUrls: [RBAC_TYPE_URL],
    create(config: TypedAny): HttpFilter {
      return new RbacHttpFilter(compile(config, RBAC_FILTER_NAME), localMode);
    },
    /** Returns the compiled config, or null when the route disables RBAC (RBACPerRoute without `rbac`). */
    compilePerRoute(config: TypedAny): CompiledHttpRbac | null {
      const rbac = (config as { rbac?: TypedAny }).rbac;
      return rbac ? compile(rbac, `${RBAC_FILTER_NAME}.per_route.rbac`) : null;
    },
  };
}
