// Per-path sampling from an OpenTelemetry collector's `tail_sampling` policies, turned into the
// proxies' head-sampling rules. The seed expresses "10 % of health checks, 1 % of metrics endpoints"
// this way; Istio's Telemetry API has no per-path field. Recognised policy shape:
//   and: [string_attribute {key: http.url, values: [regex...], enabled_regex_matching: true}, probabilistic {sampling_percentage}]
// Inverted matches and other policy types are ignored (they describe the default, which the
// Telemetry sampling percentage already gives).
import { parse } from 'yaml';
import type { SamplingRule } from '../filter-config.ts';

interface Policy {
  type?: string;
  string_attribute?: { key?: string; values?: unknown[]; enabled_regex_matching?: boolean; invert_match?: boolean };
  probabilistic?: { sampling_percentage?: number };
  and?: { and_sub_policy?: Policy[] };
}

/** Rules from the collector config (the YAML text in OpenTelemetryCollector `spec.config`, or its object form). */
export function samplingRulesFromCollectorConfig(config: unknown): SamplingRule[] {
  let doc: unknown = config;
  if (typeof config === 'string') {
    try {
      doc = parse(config);
    } catch {
      return [];
    }
  }
  const processors = (doc as { processors?: Record<string, { policies?: Policy[] }> } | null)?.processors ?? {};
  const rules: SamplingRule[] = [];
  for (const [name, p] of Object.entries(processors)) {
    if (name !== 'tail_sampling' && !name.startsWith('tail_sampling/')) continue;
    for (const policy of p?.policies ?? []) rules.push(...rulesOf(policy));
  }
  return rules;
}

function rulesOf(policy: Policy): SamplingRule[] {
  if (policy.type !== 'and') return [];
  const subs = policy.and?.and_sub_policy ?? [];
  const attr = subs.find((s) => s.type === 'string_attribute')?.string_attribute;
  const prob = subs.find((s) => s.type === 'probabilistic')?.probabilistic;
  if (subs.length !== 2 || !attr || !prob || attr.key !== 'http.url' || attr.invert_match) return [];
  const pct = prob.sampling_percentage;
  if (typeof pct !== 'number' || pct < 0 || pct > 100) return [];
  const values = (attr.values ?? []).filter((v): v is string => typeof v === 'string' && v !== '');
  // Without regex matching the collector compares exact strings: anchor and escape.
  return values.map((v) => ({ url: attr.enabled_regex_matching ? v : `^${v.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$`, percentage: pct }));
}
