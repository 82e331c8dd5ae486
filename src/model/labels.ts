// Label selectors: a selector matches when every one of its labels is present with the same value; a
// Kubernetes LabelSelector also when every one of its expressions holds (all of them, ANDed).
import type { LabelSelector } from '../config/types/kubernetes.ts';

export function matchesLabels(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}


/** A Kubernetes LabelSelector: its labels, and each of its expressions (In, NotIn, Exists, DoesNotExist). */
export function matchesLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (!matchesLabels(selector.matchLabels, labels)) return false;
  for (const e of selector.matchExpressions ?? []) {
    // Own labels only: `constructor` or `toString` is no label of a plain object's.
    const value = Object.hasOwn(labels, e.key) ? labels[e.key] : undefined;
    const present = value !== undefined;
    const listed = present && (e.values ?? []).includes(value);
    if (e.operator === 'In' ? !listed : e.operator === 'NotIn' ? listed : e.operator === 'Exists' ? !present : present) return false;
  }
  return true;
}
