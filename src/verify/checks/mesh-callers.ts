// Calls made from inside the mesh: an app's request through its sidecar's outbound port, which is the
// app's HTTP proxy (docs/internals.md §6), so the request carries that identity.
import { openAddress } from '../../runtime/reachable-address.ts';
import type { ComponentState } from '../../runtime/state.ts';
import { type HttpAnswer, request, type VerifyContext } from '../check.ts';

/** Namespaces whose workloads the seed allows to call podinfo (allow-service-to-service). */
const allowedCallers = [/^istio-system\/mesh-test-runner/, /^podinfo\//];

function meshed(c: ComponentState): boolean {
  return c.kind === 'workload' && c.sidecar && c.ports['proxy:15001'] !== undefined && c.status !== 'stopped' && c.status !== 'failed';
}

/** A sidecar whose identity the policies allow, preferring the seed's test runner. */
export function allowedCaller(ctx: VerifyContext): ComponentState | undefined {
  const all = ctx.state.components.filter(meshed);
  for (const re of allowedCallers) {
    const c = all.find((x) => re.test(x.name));
    if (c) return c;
  }
  return undefined;
}

/** A sidecar whose identity no allow rule names (not podinfo's namespace, not the test runner, not monitoring). */
export function unlistedCaller(ctx: VerifyContext): ComponentState | undefined {
  return ctx.state.components.filter(meshed).find((c) => !allowedCallers.some((re) => re.test(c.name)) && !c.name.startsWith('monitoring/'));
}

/** A request through `caller`'s sidecar; in netns mode its outbound port is on the pod's loopback, forwarded for the call. */
export async function callThrough(ctx: VerifyContext, caller: ComponentState, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const outbound = await openAddress(ctx.state.mode, caller, 'proxy:15001');
  if (!outbound) throw new Error(`${caller.name}: its sidecar's outbound port cannot be reached from here`);
  const url = `http://${ctx.settings.service}${path}`;
  try {
    return await request(outbound, url, { ...opts, headers: { host: ctx.settings.service, ...(opts.headers ?? {}) }, timeoutMs: ctx.settings.timeoutMs });
  } finally {
    await outbound.close();
  }
}

/** A request to the ingress gateway addressed to the Gateway's host. */
export function callIngress(ctx: VerifyContext, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const url = ctx.state.ingressUrl;
  if (!url) return Promise.reject(new Error('the mesh has no ingress URL in its state'));
  const u = new URL(url);
  return request({ host: u.hostname, port: Number(u.port || 80) }, path, { ...opts, headers: { host: ctx.settings.ingressHost, ...(opts.headers ?? {}) }, timeoutMs: ctx.settings.timeoutMs });
}

/** Whether a 403 is the proxy's policy denial (its local reply), not the app's own 403. */
export function isRbacDenial(a: HttpAnswer): boolean {
  return a.status === 403 && (a.body.startsWith('RBAC: access denied') || a.headers['x-outrigger-denied-by'] !== undefined);
}
