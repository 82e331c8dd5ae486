// A chain's HTTP filters run on the explained request: the proxy's RBAC filters decide (and the same
// engine names the deciding policy), the fault filter runs with the explainer's draw, and filters that
// need the outside world (ext_authz, JWKS) are listed as not evaluated.
import { CompiledHttpRbac, RBAC_FILTER_NAME } from '../proxy/filters/rbac/http-filter.ts';
import { denialReceipt } from '../proxy/filters/rbac/denial-receipt.ts';
import { httpRbacInput } from '../proxy/filters/rbac/rbac-input.ts';
import { compileFaultConfig, createFaultFilterFactory, FAULT_FILTER_NAME, type FaultConfig } from '../proxy/filters/fault/index.ts';
import type { LocalReply, RequestContext } from '../proxy/http/filter.ts';
import { FILTER_DISABLED } from '../proxy/http/route/index.ts';
import type { HttpChain } from '../proxy/listener/compile-listener.ts';
import type { CompiledProxy } from './compiled-proxy.ts';
import type { AuthorizationTrace, FaultTrace, FilterStep } from './trace.ts';

export interface FilterRun {
  authorization?: AuthorizationTrace;
  fault?: FaultTrace;
  /** The local reply a filter answered with, if one did. */
  reply?: LocalReply;
}

const istioAction = { ALLOW: 'ALLOW', DENY: 'DENY', LOG: 'AUDIT' } as const;

function rbacStep(compiled: CompiledHttpRbac | null, ctx: RequestContext, denied: boolean): FilterStep {
  if (compiled === null) return { filter: 'rbac', result: 'skipped', detail: 'disabled on this route' };
  const input = httpRbacInput(ctx.request, ctx.info);
  const engine = compiled.enforced;
  if (!engine) {
    const shadow = compiled.shadow?.evaluate(input);
    const what = shadow?.allowed ? 'allow' : 'deny';
    return { filter: 'rbac', result: 'passed', detail: `dry run only: would ${what}${shadow?.matchedPolicy ? ` (${denialReceipt(shadow.matchedPolicy, 'DENY').text})` : ''}` };
  }
  const d = engine.evaluate(input);
  const label = `${istioAction[engine.action]} policies`;
  if (engine.action === 'LOG') return { filter: 'rbac', result: 'logged', detail: `${label}: ${d.matchedPolicy ? `audited by ${denialReceipt(d.matchedPolicy, 'DENY').text}` : 'no match'}` };
  const receipt = denialReceipt(d.matchedPolicy, engine.action);
  if (denied) return { filter: 'rbac', result: 'denied', detail: `${label}: ${engine.action === 'ALLOW' ? receipt.text : `denied by ${receipt.text}`}` };
  return { filter: 'rbac', result: 'allowed', detail: `${label}: ${engine.action === 'ALLOW' ? `allowed by ${receipt.text}` : 'no DENY policy matched'}` };
}

function summarise(steps: FilterStep[]): AuthorizationTrace | undefined {
  const authz = steps.filter((s) => s.filter === 'rbac' || s.filter === 'ext_authz');
  if (authz.length === 0) return undefined;
  const denied = authz.find((s) => s.result === 'denied');
  if (denied) return { steps, decision: 'denied', decidedBy: denied.detail.replace(/^[A-Z]+ policies: (denied by )?/, '') };
  if (authz.some((s) => s.filter === 'ext_authz')) return { steps, decision: 'unknown', decidedBy: 'the CUSTOM authorizer (not called by explain)' };
  const allow = authz.find((s) => s.result === 'allowed' && s.detail.startsWith('ALLOW'));
  return { steps, decision: 'allowed', decidedBy: allow ? allow.detail.replace(/^ALLOW policies: allowed by /, '') : 'no ALLOW policy applies (allowed by default)' };
}

function faultTrace(config: FaultConfig, ctx: RequestContext): FaultTrace | undefined {
  if (!config.delay && !config.abort) return undefined;
  const flags = ctx.info.responseFlags;
  const out: FaultTrace = {};
  if (config.delay) out.delay = { ms: config.delay.ms, percent: config.delay.fraction.percent, applied: flags.has('DI') };
  if (config.abort) out.abort = { status: config.abort.httpStatus ?? 200, percent: config.abort.fraction.percent, applied: flags.has('FI') };
  return out;
}

export async function runFilters(proxy: CompiledProxy, chain: HttpChain, ctx: RequestContext, draw: () => number): Promise<FilterRun> {
  const steps: FilterStep[] = [];
  const out: FilterRun = {};
  for (const f of chain.filters) {
    const config = proxy.filterConfig(f.filter);
    if (f.name === RBAC_FILTER_NAME && config) {
      const verdict = await f.filter.onRequest?.(ctx);
      const perRoute = ctx.route?.perFilterConfig(RBAC_FILTER_NAME);
      const compiled = perRoute === null ? null : perRoute instanceof CompiledHttpRbac ? perRoute : new CompiledHttpRbac(config as ConstructorParameters<typeof CompiledHttpRbac>[0], 'explain');
      steps.push(rbacStep(compiled, ctx, verdict?.action === 'respond'));
      if (verdict?.action === 'respond') {
        out.reply = verdict.reply;
        break;
      }
    } else if (f.name === FAULT_FILTER_NAME && config) {
      // A fresh filter with the explainer's draw and a timer that does not wait: same decision, no delay.
      const fault = createFaultFilterFactory({ random: draw, timer: { set: (fn) => queueMicrotask(fn), clear: () => {} } }).create(config);
      const verdict = await fault.onRequest?.(ctx);
      const override = ctx.route?.perFilterConfig(FAULT_FILTER_NAME);
      const effective = override === FILTER_DISABLED ? undefined : ((override as FaultConfig | undefined) ?? compileFaultConfig(config));
      const trace = effective && faultTrace(effective, ctx);
      if (trace) out.fault = trace;
      if (verdict?.action === 'respond') {
        out.reply = verdict.reply;
        break;
      }
    } else if (f.name === 'envoy.filters.http.ext_authz') {
      steps.push({ filter: 'ext_authz', result: 'not evaluated', detail: 'CUSTOM policies: the external authorizer decides at request time' });
    } else if (f.name === 'envoy.filters.http.jwt_authn') {
      steps.push({ filter: 'jwt_authn', result: 'not evaluated', detail: 'RequestAuthentication: a JWT, when present, must be valid (checked at request time)' });
    }
  }
  const authorization = summarise(steps);
  if (authorization) out.authorization = authorization;
  return out;
}
