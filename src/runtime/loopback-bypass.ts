// What process mode cannot enforce: an app listens on a loopback port of this host, and nothing stands
// between that port and another local process, so STRICT mTLS holds for callers that go through the
// mesh but not for one that connects to the app's port directly. netns mode closes that path with
// iptables; process mode has no firewall of its own, so `up` says it once when STRICT is in force.
import { buildSnapshot } from '../model/snapshot.ts';
import type { AnyResource } from '../config/resource.ts';
import { inboundFirewallPorts } from './netns/inbound-ports.ts';
import type { MeshPlan } from './plan.ts';

/** The one-line notice for a process-mode mesh whose meshed workloads have STRICT ports; undefined without any. */
export function loopbackBypassNote(plan: MeshPlan, resources: readonly AnyResource[]): string | undefined {
  const config = buildSnapshot(resources, [], 'strict-ports');
  const strict: string[] = [];
  const seen = new Set<string>();
  for (const w of plan.workloads) {
    const key = `${w.namespace}/${w.owner.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const port of inboundFirewallPorts(config, w).strict) strict.push(`${key}:${port}`);
  }
  if (strict.length === 0) return undefined;
  const named = strict.length > 3 ? `${strict.slice(0, 3).join(', ')} and ${strict.length - 3} more` : strict.join(', ');
  return `mTLS is STRICT on ${named}, but in process mode each app's own port on 127.0.0.1 also answers any local process directly, past its sidecar; --mode netns enforces STRICT (docs/local-mode.md)`;
}
