// The control plane answers its debug API and every proxy the runtime started is connected and SYNCED
// for each config type it was sent (Istio's proxy-status vocabulary).
import { type Check, type CheckResult, errorText, fail, hostPort, pass, proxies, request } from '../check.ts';

interface SyncEntry {
  name: string;
  types: Record<string, { status: string; lastNack?: { message: string } }>;
}

export const controlPlaneSynced: Check = async (ctx) => {
  const name = 'control plane up, every proxy SYNCED';
  let sync: SyncEntry[];
  try {
    const res = await request(hostPort(ctx.state.controlPlane.debugAddress), '/debug/syncz', { timeoutMs: ctx.settings.timeoutMs });
    if (res.status !== 200) return [fail(name, `/debug/syncz answered ${res.status}`)];
    sync = JSON.parse(res.body) as SyncEntry[];
  } catch (err) {
    return [fail(name, `control plane debug API at ${ctx.state.controlPlane.debugAddress}: ${errorText(err)}`)];
  }
  const problems: string[] = sync.length === 0 ? ['no proxy is connected'] : [];
  for (const p of sync) {
    for (const [type, t] of Object.entries(p.types ?? {})) {
      // NOT SENT is fine for a type that has nothing for this proxy (a gateway without secrets).
      if (t.status === 'STALE') problems.push(`${p.name} ${type} STALE${t.lastNack ? ` (NACK: ${t.lastNack.message})` : ''}`);
    }
  }
  const connected = new Set(sync.map((p) => p.name));
  for (const c of proxies(ctx.state)) {
    // `podinfo/podinfo-stable-0` is connected as `podinfo-stable-0.podinfo`.
    const [ns, pod] = c.name.includes('/') ? c.name.split('/', 2) : [c.namespace ?? '', c.name];
    if (!connected.has(`${pod}.${ns}`)) problems.push(`${c.name}: its proxy is not connected`);
  }
  const results: CheckResult[] = [];
  if (problems.length) results.push(fail(name, problems.join('; ')));
  else results.push(pass(name, `${sync.length} proxies connected, all SYNCED`));
  return results;
};
