// Zero trust as the seed states it: what no policy allows is refused by the proxy (403, RBAC), and
// health checks pass for any caller.
import { answerText, type Check, type CheckResult, errorText, fail, type HttpAnswer, pass } from '../check.ts';
import { allowedCaller, callIngress, callThrough, isRbacDenial, unlistedCaller } from './mesh-callers.ts';

function denial(name: string, a: HttpAnswer, ok: boolean, ingressHost?: string): CheckResult {
  // The body's first line is Envoy's; a second, in local mode, says which policy decided ("denied by ...").
  const [reply = '', receipt = ''] = a.body.split('\n').map((l) => l.trim());
  const why = receipt ? `${reply}, ${receipt.replace(/^denied /, '')}` : reply;
  return ok ? pass(name, `403 from the proxy: ${why}`) : fail(name, wantRbac(answerText(a, ingressHost)));
}

/** `HTTP 200, want 403 with the RBAC flag: {"message":...}`: the answer's status, then what was wanted, then its body. */
function wantRbac(answer: string): string {
  const m = /^(HTTP \d+)(: .*)?$/s.exec(answer);
  return m ? `${m[1]}, want 403 with the RBAC flag${m[2] ?? ''}` : `${answer}, want 403 with the RBAC flag`;
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
    return denial('authorization: DELETE through the ingress is denied', a, isRbacDenial(a), ctx.settings.ingressHost);
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
      return a.status === 200 ? pass(health, 'GET /healthz → 200') : fail(health, `GET /healthz → ${answerText(a)}`);
    });
  } else {
    out.push({ name: 'authorization: a caller without an allowed identity is denied', status: 'SKIP', detail: 'every meshed workload here has an allowed identity' });
  }
  const health = 'authorization: health check through the ingress is allowed';
  await attempt(health, async () => {
    const a = await callIngress(ctx, '/healthz');
    return a.status === 200 ? pass(health, 'GET /healthz → 200') : fail(health, `GET /healthz → ${answerText(a, ctx.settings.ingressHost)}`);
  });
  return out;
};
