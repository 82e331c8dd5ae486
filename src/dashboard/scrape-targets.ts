// Scrape targets from the local runtime's state file: every running component with a sidecar or gateway
// proxy exposes `/stats/prometheus` on the port it lists as `proxy:15090`, read where the host reaches it
// (127.0.0.1 in process mode, the pod address in netns mode).
import { formatHostPort, reachableAddress } from '../runtime/reachable-address.ts';
import type { MeshState } from '../runtime/state.ts';
import type { ScrapeTarget } from './scraper.ts';

export function scrapeTargetsFromState(state: MeshState | undefined): ScrapeTarget[] {
  if (!state) return [];
  const out: ScrapeTarget[] = [];
  for (const c of state.components) {
    const target = reachableAddress(state.mode, c, 'proxy:15090');
    if (!target || c.status === 'stopped' || c.status === 'completed') continue;
    out.push({ name: c.name, url: `http://${formatHostPort(target)}/stats/prometheus` });
  }
  return out;
}
