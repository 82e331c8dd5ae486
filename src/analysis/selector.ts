// Label selection as Kubernetes and Istio do it for `matchLabels`.

/** `matchLabels` ⊆ `labels`; an empty or absent selector selects everything. */
export function selects(matchLabels: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(matchLabels ?? {})) if (labels[k] !== v) return false;
  return true;
}
