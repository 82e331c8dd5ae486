// The suite in the seed's order: sync first (nothing else means anything without it), then traffic,
// then policy, then what traffic leaves behind (metrics), then certificates.
import type { MeshState } from '../runtime/state.ts';
import { type Check, type CheckResult, seedSettings, type VerifyContext, type VerifySettings } from './check.ts';
import { authorization } from './checks/authorization.ts';
import { certificates } from './checks/certificates.ts';
import { controlPlaneSynced } from './checks/control-plane.ts';
import { metricsPresent } from './checks/metrics.ts';
import { canaryHeader, mtlsBetweenSidecars, trafficSplit } from './checks/traffic.ts';

export const seedChecks: readonly Check[] = [controlPlaneSynced, mtlsBetweenSidecars, trafficSplit, canaryHeader, authorization, metricsPresent, certificates];

export interface VerifyReport {
  passed: boolean;
  checks: CheckResult[];
}

export async function runVerify(state: MeshState, options: { settings?: Partial<VerifySettings>; now?: () => number; checks?: readonly Check[] } = {}): Promise<VerifyReport> {
  const ctx: VerifyContext = { state, settings: { ...seedSettings, ...options.settings }, now: options.now ?? Date.now };
  const checks: CheckResult[] = [];
  for (const check of options.checks ?? seedChecks) checks.push(...(await check(ctx)));
  return { passed: checks.every((c) => c.status !== 'FAIL'), checks };
}

export function formatVerifyText(r: VerifyReport): string {
  const lines = r.checks.map((c) => `${c.status.padEnd(4)} ${c.name}\n       ${c.detail}`);
  const failed = r.checks.filter((c) => c.status === 'FAIL').length;
  const skipped = r.checks.filter((c) => c.status === 'SKIP').length;
  const passed = r.checks.length - failed - skipped;
  const rest = skipped ? `, ${skipped} skipped` : '';
  lines.push(failed === 0 ? `RESULT: PASS (${passed} checks passed${rest})` : `RESULT: FAIL (${failed} of ${r.checks.length} checks failed${rest})`);
  return `${lines.join('\n')}\n`;
}
