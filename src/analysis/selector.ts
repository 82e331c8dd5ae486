// Label selection as Kubernetes and Istio do it for `matchLabels`.

/** `matchLabels` ⊆ `labels`; an empty or absent selector selects everything. */
export function selects(matchLabels: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(matchLabels ?? {})) if (labels[k] !== v) return false;
  return true;
}

/** A selector as Kubernetes' `labels.SelectorFromSet(...).String()` prints it, which Istio's messages quote: `k=v` sorted by key, comma-joined. */
export function selectorString(matchLabels: Record<string, string> | undefined): string {
  return Object.keys(matchLabels ?? {})
    .sort()
    .map((k) => `${k}=${matchLabels?.[k]}`)
    .join(',');
}

/**
 * The labels a Sidecar's `workloadSelector` names. Istio spells that field `labels` (networking
 * v1alpha3 WorkloadSelector), unlike the `matchLabels` of DestinationRule and the security kinds; both are read.
 */
export function sidecarSelectorLabels(selector: unknown): Record<string, string> | undefined {
  if (!selector || typeof selector !== 'object') return undefined;
  const s = selector as { labels?: Record<string, string>; matchLabels?: Record<string, string> };
  return s.labels ?? s.matchLabels;
}
