// Zero trust as the seed states it: what no policy allows is refused by the proxy (403, RBAC), and
// health checks pass for any caller.
import { type Check, type CheckResult, errorText, fail, pass } from '../check.ts';
import { allowedCaller, callIngress, callThrough, isRbacDenial, unlistedCaller } from './mesh-callers.ts';

function denial(name: string, a: { status: number; body: string }, ok: boolean): CheckResult {
  // The body's first line is Envoy's; a second, in local mode, says which policy decided ("denied by ...").
  const [reply = '', receipt = ''] = a.body.split('\n').map((l) => l.trim());
  const why = receipt ? `${reply}, ${receipt.replace(/^denied /, '')}` : reply;
  return ok ? pass(name, `403 from the proxy: ${why}`) : fail(name, `HTTP ${a.status}, want 403 with the RBAC flag: ${a.body.slice(0, 120)}`);
}

export const authorization: Check = async (ctx) => {
  const out: CheckResult[] = [];
  const attempt = async (name: string, fn: () => Promise<CheckResult>) => {
    try {
      out.push(await fn());
    } catch (err) {
      out.push(fail(name, errorText(err)));
    }
  };
  // The gateway's identity may GET/HEAD/POST only: a DELETE through the ingress is the policy's to refuse.
  await attempt('authorization: DELETE through the ingress is denied', async () => {
    const a = await callIngress(ctx, '/', { method: 'DELETE' });
    return denial('authorization: DELETE through the ingress is denied', a, isRbacDenial(a));
  });
  const caller = allowedCaller(ctx);
  if (caller) {
    const name = `authorization: DELETE from ${caller.name} is denied`;
    await attempt(name, async () => {
      const a = await callThrough(ctx, caller, '/', { method: 'DELETE' });
      return denial(name, a, isRbacDenial(a));
    });
  }
  const stranger = unlistedCaller(ctx);
  if (stranger) {
    const name = `authorization: ${stranger.name} (identity not allowed) is denied`;
    await attempt(name, async () => {
      const a = await callThrough(ctx, stranger, '/');
      return denial(name, a, isRbacDenial(a));
    });
    const health = `authorization: health check from ${stranger.name} is allowed`;
    await attempt(health, async () => {
      const a = await callThrough(ctx, stranger, '/healthz');
      return a.status === 200 ? pass(health, 'GET /healthz → 200') : fail(health, `GET /healthz → ${a.status}: ${a.body.slice(0, 120)}`);
    });
  } else {
    out.push({ name: 'authorization: a caller without an allowed identity is denied', status: 'SKIP', detail: 'every meshed workload here has an allowed identity' });
  }
  const health = 'authorization: health check through the ingress is allowed';
  await attempt(health, async () => {
    const a = await callIngress(ctx, '/healthz');
    return a.status === 200 ? pass(health, 'GET /healthz → 200') : fail(health, `GET /healthz → ${a.status}: ${a.body.slice(0, 120)}`);
  });
  return out;
};
