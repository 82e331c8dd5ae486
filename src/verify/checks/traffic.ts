// Traffic checks through the running mesh: mTLS seen by the destination, the weighted split through
// the ingress within a binomial tolerance, and `X-Canary: true` always on the canary.
import { type Check, errorText, fail, pass, versionOf } from '../check.ts';
import { allowedCaller, callIngress, callThrough } from './mesh-callers.ts';

export const mtlsBetweenSidecars: Check = async (ctx) => {
  const name = 'mTLS between sidecars (peer identity seen by the destination)';
  const caller = allowedCaller(ctx);
  if (!caller) return [fail(name, 'no running meshed workload to call from')];
  try {
    const a = await callThrough(ctx, caller, '/headers');
    if (a.status !== 200) return [fail(name, `${caller.name} → ${ctx.settings.service}/headers answered ${a.status}: ${a.body.slice(0, 200)}`)];
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
  const other: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const a = await callIngress(ctx, '/');
      const v = a.status === 200 ? versionOf(a.body) : undefined;
      if (v === 'stable') stable++;
      else if (v === 'canary') canary++;
      else if (other.length < 3) other.push(`HTTP ${a.status} ${a.body.slice(0, 80)}`);
    }
  } catch (err) {
    return [fail(name, `after ${stable + canary} answers: ${errorText(err)}`)];
  }
  const expected = (n * canaryPercent) / 100;
  const tol = splitTolerance(n, canaryPercent);
  const counts = `stable ${stable}, canary ${canary} of ${n} (expected canary ${expected} ± ${tol})`;
  if (stable + canary !== n) return [fail(name, `${counts}; ${n - stable - canary} other answers: ${other.join('; ')}`)];
  // Within the tolerance, and each version with a share seen at least once: say which failed.
  const problem =
    Math.abs(canary - expected) > tol ? 'outside the tolerance' : canaryPercent > 0 && canary === 0 ? 'no request reached the canary' : canaryPercent < 100 && stable === 0 ? 'no request reached stable' : undefined;
  return [problem ? fail(name, `${counts}: ${problem}`) : pass(name, counts)];
};

export const canaryHeader: Check = async (ctx) => {
  const n = ctx.settings.headerRequests;
  const name = 'X-Canary: true always reaches the canary';
  const seen: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const a = await callIngress(ctx, '/', { headers: { 'x-canary': 'true' } });
      const v = a.status === 200 ? versionOf(a.body) : undefined;
      if (v !== 'canary') seen.push(`request ${i + 1}: ${v ?? `HTTP ${a.status}`}`);
    }
  } catch (err) {
    return [fail(name, errorText(err))];
  }
  return [seen.length === 0 ? pass(name, `${n} of ${n} answered by the canary`) : fail(name, `${seen.length} of ${n} missed the canary: ${seen.slice(0, 3).join('; ')}`)];
};
