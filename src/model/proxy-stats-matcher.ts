// One proxy's ProxyConfig.proxyStatsMatcher, resolved as Istio resolves it: the mesh's
// `defaultConfig.proxyStatsMatcher`, replaced whole by the pod's `proxy.istio.io/config` one, then each
// list replaced by its `sidecar.istio.io/statsInclusion*` annotation (pkg/bootstrap/config.go,
// getStatsOptions: an annotation wins over the ProxyConfig list, they are not merged).
import { parse } from 'yaml';
import type { ProxyStatsMatcher } from '../telemetry/metrics/stats-matcher.ts';

export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

/** The older per-list annotations, comma separated, each replacing its ProxyConfig list. */
export const statsInclusionAnnotations = {
  inclusionPrefixes: 'sidecar.istio.io/statsInclusionPrefixes',
  inclusionSuffixes: 'sidecar.istio.io/statsInclusionSuffixes',
  inclusionRegexps: 'sidecar.istio.io/statsInclusionRegexps',
} as const;

type Lists = { -readonly [K in keyof ProxyStatsMatcher]: readonly string[] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The `proxyStatsMatcher` of a `proxy.istio.io/config` value (validated where the config is read); undefined when it has none. */
export function annotatedStatsMatcher(text: string): ProxyStatsMatcher | undefined {
  let pc: unknown;
  try {
    pc = parse(text, { version: '1.1' });
  } catch {
    return undefined;
  }
  const m = isRecord(pc) ? pc['proxyStatsMatcher'] : undefined;
  return isRecord(m) ? (m as ProxyStatsMatcher) : undefined;
}

/**
 * The proxy's matcher, or undefined when nothing configures one: Outrigger then keeps every stat, where
 * Istio would keep only its own inclusions (docs/observability.md, "Envoy stats").
 */
export function proxyStatsMatcherFor(meshDefault: ProxyStatsMatcher | undefined, podAnnotations: Readonly<Record<string, string>>): ProxyStatsMatcher | undefined {
  const annotated = podAnnotations[PROXY_CONFIG_ANNOTATION];
  const base = (annotated !== undefined ? annotatedStatsMatcher(annotated) : undefined) ?? meshDefault;
  const lists: Lists = {};
  let configured = base !== undefined;
  for (const field of ['inclusionPrefixes', 'inclusionSuffixes', 'inclusionRegexps'] as const) {
    const text = podAnnotations[statsInclusionAnnotations[field]];
    // As Istio: a non-empty annotation is split on commas as it is (no trimming) and replaces the list.
    if (text !== undefined && text !== '') {
      lists[field] = text.split(',');
      configured = true;
    } else if (base?.[field] !== undefined) lists[field] = base[field];
  }
  return configured ? lists : undefined;
}
