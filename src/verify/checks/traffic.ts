// Traffic checks through the running mesh: mTLS seen by the destination, the weighted split through
// the ingress within a binomial tolerance, and `X-Canary: true` always on the canary.
import { answerText, type Check, errorText, fail, pass, versionOf } from '../check.ts';
import { allowedCaller, callIngress, callThrough } from './mesh-callers.ts';

export const mtlsBetweenSidecars: Check = async (ctx) => {
  const name = 'mTLS between sidecars (peer identity seen by the destination)';
  const caller = allowedCaller(ctx);
  if (!caller) return [fail(name, 'no running meshed workload to call from')];
  try {
    const a = await callThrough(ctx, caller, '/headers');
    if (a.status !== 200) return [fail(name, `${caller.name} → ${ctx.settings.service}/headers answered ${answerText(a, undefined, 200)}`)];
    // XFCC's `URI=` is the client's identity (`By=` is the destination's own).
    const xfcc = /URI=(spiffe:\/\/[^;",\]\s]+)/.exec(a.body.match(/x-forwarded-client-cert[^\]]*/i)?.[0] ?? '')?.[1];
    if (!xfcc) return [fail(name, `the destination saw no x-forwarded-client-cert with a SPIFFE ID (headers: ${a.body.slice(0, 300)})`)];
    const ns = caller.name.split('/')[0] ?? '';
    if (!xfcc.includes(`/ns/${ns}/`)) return [fail(name, `the destination saw ${xfcc}, not an identity of namespace ${ns}`)];
    return [pass(name, `${caller.name} → ${ctx.settings.service}: destination saw ${xfcc}`)];
  } catch (err) {
    return [fail(name, errorText(err))];
  }
};

/** Three standard deviations of the binomial count, and never less than 2 requests. */
export function splitTolerance(n: number, percent: number): number {
  const p = percent / 100;
  return Math.max(2, Math.ceil(3 * Math.sqrt(n * p * (1 - p))));
}

export const trafficSplit: Check = async (ctx) => {
  const { splitRequests: n, canaryPercent } = ctx.settings;
  const name = `traffic split ${100 - canaryPercent}/${canaryPercent} through the ingress`;
  let stable = 0;
  let canary = 0;
  // Each distinct other answer once, with how often it came.
  const other = new Map<string, number>();
  try {
    for (let i = 0; i < n; i++) {
      const a = await callIngress(ctx, '/');
      const v = a.status === 200 ? versionOf(a.body) : undefined;
      if (v === 'stable') stable++;
      else if (v === 'canary') canary++;
      else {
        const text = answerText(a, ctx.settings.ingressHost, 80);
        other.set(text, (other.get(text) ?? 0) + 1);
      }
    }
  } catch (err) {
    return [fail(name, `after ${stable + canary} answers: ${errorText(err)}`)];
  }
  const expected = (n * canaryPercent) / 100;
  const tol = splitTolerance(n, canaryPercent);
  const counts = `stable ${stable}, canary ${canary} of ${n} (expected canary ${expected} ± ${tol})`;
  if (stable + canary !== n) {
    const kinds = [...other].slice(0, 3).map(([text, count]) => `${count} × ${text}`);
    const more = other.size > 3 ? `; and ${other.size - 3} more kinds` : '';
    return [fail(name, `${counts}; ${n - stable - canary} other answers: ${kinds.join('; ')}${more}`)];
  }
  // Within the tolerance, and each version with a share seen at least once: say which failed.
  const problem =
    Math.abs(canary - expected) > tol ? 'outside the tolerance' : canaryPercent > 0 && canary === 0 ? 'no request reached the canary' : canaryPercent < 100 && stable === 0 ? 'no request reached stable' : undefined;
  return [problem ? fail(name, `${counts}: ${problem}`) : pass(name, counts)];
};

export const canaryHeader: Check = async (ctx) => {
  const n = ctx.settings.headerRequests;
  const name = 'X-Canary: true always reaches the canary';
  // Each distinct miss once: the first request that got it, and how many did.
  const missed = new Map<string, { first: number; count: number }>();
  let misses = 0;
  try {
    for (let i = 0; i < n; i++) {
      const a = await callIngress(ctx, '/', { headers: { 'x-canary': 'true' } });
      const v = a.status === 200 ? versionOf(a.body) : undefined;
      if (v === 'canary') continue;
      misses++;
      const text = v ?? answerText(a, ctx.settings.ingressHost, 80);
      const m = missed.get(text) ?? { first: i + 1, count: 0 };
      m.count++;
      missed.set(text, m);
    }
  } catch (err) {
    return [fail(name, errorText(err))];
  }
  const kinds = [...missed].slice(0, 3).map(([text, m]) => (m.count === 1 ? `request ${m.first}: ${text}` : `${m.count} × ${text} (first: request ${m.first})`));
  return [misses === 0 ? pass(name, `${n} of ${n} answered by the canary`) : fail(name, `${misses} of ${n} missed the canary: ${kinds.join('; ')}`)];
};
