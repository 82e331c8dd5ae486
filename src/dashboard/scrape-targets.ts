// Scrape targets from the local runtime's state file: every component with a sidecar or gateway
// proxy exposes `/stats/prometheus` on the port it lists as `proxy:15090`.
import type { MeshState } from '../runtime/state.ts';
import type { ScrapeTarget } from './scraper.ts';

export function scrapeTargetsFromState(state: MeshState | undefined, host = '127.0.0.1'): ScrapeTarget[] {
  if (!state) return [];
  const out: ScrapeTarget[] = [];
  for (const c of state.components) {
    const port = c.ports['proxy:15090'];
    if (!port || c.status === 'stopped' || c.status === 'completed') continue;
    out.push({ name: c.name, url: `http://${host}:${port}/stats/prometheus` });
  }
  return out;
}
