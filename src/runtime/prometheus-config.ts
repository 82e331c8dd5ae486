// A Prometheus configuration for the running mesh, written by `outrigger up` to `.outrigger/prometheus/`:
// the mesh's PrometheusRule resources as a rule file, and scrape targets labelled as Kubernetes
// service discovery would label Istio's, so the seed's alerts and queries work unchanged:
// - job `istiod`: the control plane's /metrics (pilot_*, citadel_*);
// - job `envoy-stats`: every proxy's /stats/prometheus, with `namespace`, `pod` and `app` labels. A
//   component is named by its pod, `istio-ingressgateway-0`, so `istio-ingressgateway-.*` selects it.
// Run it with: prometheus --config.file=.outrigger/prometheus/prometheus.yml
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { AnyResource } from '../config/resource.ts';
import { buildPrometheusRules } from '../telemetry/prometheus-rules.ts';
import { formatHostPort, reachableAddress } from './reachable-address.ts';
import type { MeshState } from './state.ts';
import { writeFileAtomic } from './write-atomic.ts';

const RULES_FILE = 'rules.yml';

interface StaticConfig {
  targets: string[];
  labels: Record<string, string>;
}

/** prometheus.yml for the mesh in `state`, reading the rule file beside it. */
export function buildPrometheusConfig(state: MeshState, scrapeInterval = '15s'): string {
  const proxies: StaticConfig[] = [];
  for (const c of state.components) {
    // Process mode maps 15090 to a loopback port; netns mode publishes it on the pod address.
    const target = reachableAddress(state.mode, c, 'proxy:15090');
    if (!target || !c.namespace) continue;
    const pod = c.name.slice(c.name.indexOf('/') + 1);
    proxies.push({ targets: [formatHostPort(target)], labels: { namespace: c.namespace, pod, app: pod.replace(/-\d+$/, '') } });
  }
  const config = {
    global: { scrape_interval: scrapeInterval, evaluation_interval: scrapeInterval },
    rule_files: [RULES_FILE],
    scrape_configs: [
      { job_name: 'istiod', metrics_path: '/metrics', static_configs: [{ targets: [state.controlPlane.debugAddress], labels: { namespace: 'istio-system', app: 'istiod' } }] },
      { job_name: 'envoy-stats', metrics_path: '/stats/prometheus', static_configs: proxies },
    ],
  };
  return `# Written by outrigger up for this mesh; rewritten at every up.\n${stringify(config)}`;
}

/** The rule file: every PrometheusRule of the config (none: an empty group list). */
export function buildRulesFile(resources: readonly AnyResource[]): string {
  const rules = resources.filter((r) => r.kind === 'PrometheusRule');
  return rules.length ? buildPrometheusRules(rules as Parameters<typeof buildPrometheusRules>[0]) : 'groups: []\n';
}

/**
 * Writes prometheus.yml and the rule file under `stateDir/prometheus`; returns prometheus.yml's path,
 * and why the rules were left out if a PrometheusRule could not become a rule file.
 */
export function writePrometheusFiles(stateDir: string, state: MeshState, resources: readonly AnyResource[]): { config: string; warning?: string } {
  const dir = path.join(stateDir, 'prometheus');
  mkdirSync(dir, { recursive: true });
  let warning: string | undefined;
  let rules = 'groups: []\n';
  try {
    rules = buildRulesFile(resources);
  } catch (err) {
    warning = `alert rules left out: ${(err as Error).message}`;
  }
  writeFileAtomic(path.join(dir, RULES_FILE), rules);
  const config = path.join(dir, 'prometheus.yml');
  writeFileAtomic(config, buildPrometheusConfig(state));
  return { config, ...(warning ? { warning } : {}) };
}
