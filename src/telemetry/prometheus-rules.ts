// A PrometheusRule resource (monitoring.coreos.com/v1) as a Prometheus rule file: the `spec.groups`
// Prometheus itself loads, checked here for the shape `promtool check rules` expects.
import { stringify } from 'yaml';

export interface PrometheusRuleSpec {
  groups?: {
    name: string;
    interval?: string;
    rules: { alert?: string; record?: string; expr: string | number; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
  }[];
}

export class PrometheusRuleError extends Error {
  readonly code = 'PROMETHEUS_RULE';
}

interface RuleResource {
  metadata: { name: string; namespace: string };
  spec: unknown;
}

/** Rule groups of several PrometheusRule resources; group names are prefixed `namespace/name/` to stay unique. */
export function buildPrometheusRules(resources: readonly RuleResource[]): string {
  const groups: Record<string, unknown>[] = [];
  for (const r of resources) {
    const spec = r.spec as PrometheusRuleSpec;
    const where = `PrometheusRule ${r.metadata.namespace}/${r.metadata.name}`;
    if (!Array.isArray(spec.groups)) throw new PrometheusRuleError(`${where}: spec.groups must be a list`);
    spec.groups.forEach((g, gi) => {
      if (typeof g.name !== 'string' || !g.name) throw new PrometheusRuleError(`${where}: spec.groups[${gi}].name is required`);
      if (!Array.isArray(g.rules)) throw new PrometheusRuleError(`${where}: spec.groups[${gi}].rules must be a list`);
      const rules = g.rules.map((rule, ri) => {
        const at = `${where}: spec.groups[${gi}].rules[${ri}]`;
        if (!rule.alert === !rule.record) throw new PrometheusRuleError(`${at}: exactly one of alert, record is required`);
        if (rule.expr === undefined || String(rule.expr).trim() === '') throw new PrometheusRuleError(`${at}.expr is required`);
        return {
          ...(rule.alert ? { alert: rule.alert } : { record: rule.record }),
          // Block scalars in the source end in a newline; Prometheus does not care, but diffs do.
          expr: String(rule.expr).trim(),
          ...(rule.for ? { for: rule.for } : {}),
          ...(rule.labels ? { labels: rule.labels } : {}),
          ...(rule.annotations ? { annotations: rule.annotations } : {}),
        };
      });
      groups.push({ name: `${r.metadata.namespace}/${r.metadata.name}/${g.name}`, ...(g.interval ? { interval: g.interval } : {}), rules });
    });
  }
  return stringify({ groups }, { lineWidth: 0 });
}

/** cAdvisor's container series, which a proxy reports as its `istio-proxy` container's only when it has its process to itself. */
const PROXY_CONTAINER_SERIES = /\bcontainer_(cpu_usage_seconds_total|memory_working_set_bytes)\b/;

/**
 * The alerts (by name, once each) that read the istio-proxy container's CPU or memory, as the seed's
 * IstioProxyHighResourceUsage does: `up` says they cannot fire where the proxies share a process.
 */
export function proxyContainerAlerts(resources: readonly RuleResource[]): string[] {
  const out = new Set<string>();
  for (const r of resources) {
    const groups = (r.spec as PrometheusRuleSpec).groups;
    if (!Array.isArray(groups)) continue;
    for (const g of groups) {
      for (const rule of Array.isArray(g?.rules) ? g.rules : []) {
        if (rule?.alert && PROXY_CONTAINER_SERIES.test(String(rule.expr ?? ''))) out.add(rule.alert);
      }
    }
  }
  return [...out];
}
