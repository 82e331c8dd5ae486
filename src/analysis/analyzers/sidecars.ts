// Sidecar resources (Istio's sidecar.SelectorAnalyzer and DefaultSelectorAnalyzer): one without
// selector per namespace (IST0111), a workloadSelector matches a workload of its namespace (IST0101),
// and no workload is selected by two (IST0110, reported on each of them).
import type { SidecarResource } from '../../config/resource.ts';
import type { Analyzer, FieldPath } from '../analyzer.ts';
import { selectorString, selects, sidecarSelectorLabels } from '../selector.ts';

function selectorPath(sc: SidecarResource): FieldPath {
  return ['spec', 'workloadSelector', 'matchLabels' in (sc.spec.workloadSelector ?? {}) ? 'matchLabels' : 'labels'];
}

export const sidecars: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  codes: ['IST0101', 'IST0110', 'IST0111'],
  analyze(ctx, report) {
    const all = ctx.ofKind<SidecarResource>('Sidecar');
    const defaults = new Map<string, SidecarResource[]>();
    for (const sc of all) {
      if (sidecarSelectorLabels(sc.spec.workloadSelector)) continue;
      defaults.set(sc.metadata.namespace, [...(defaults.get(sc.metadata.namespace) ?? []), sc]);
    }
    for (const [ns, list] of defaults) {
      if (list.length < 2) continue;
      for (const sc of list) {
        report({
          code: 'IST0111',
          resource: sc,
          path: ['metadata', 'name'],
          message: `The Sidecars [${list.map((s) => s.metadata.name).join(' ')}] in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`,
          fix: 'Keep one Sidecar without workloadSelector per namespace.',
        });
      }
    }
    // Workload → the Sidecars selecting it, in resource order.
    const owners = new Map<string, { name: string; list: SidecarResource[] }>();
    for (const sc of all) {
      const sel = sidecarSelectorLabels(sc.spec.workloadSelector);
      if (!sel || Object.keys(sel).length === 0) continue;
      const matched = ctx.workloads.filter((x) => x.namespace === sc.metadata.namespace && selects(sel, x.labels));
      if (matched.length === 0) {
        report({
          code: 'IST0101',
          resource: sc,
          path: selectorPath(sc),
          message: `Referenced selector not found: "${selectorString(sel)}"`,
          fix: `Select the labels of a workload in namespace ${sc.metadata.namespace}, or delete the Sidecar.`,
        });
        continue;
      }
      for (const w of matched) {
        const key = `${w.namespace}/${w.name}`;
        const entry = owners.get(key) ?? { name: w.name, list: [] };
        entry.list.push(sc);
        owners.set(key, entry);
      }
    }
    for (const { name, list } of owners.values()) {
      if (list.length < 2) continue;
      for (const sc of list) {
        report({
          code: 'IST0110',
          resource: sc,
          path: selectorPath(sc),
          message: `The Sidecars [${list.map((s) => s.metadata.name).join(' ')}] in namespace "${sc.metadata.namespace}" select the same workload pod "${name}", which can lead to undefined behavior.`,
          fix: 'Make the workload selectors disjoint, so each workload has one Sidecar.',
        });
      }
    }
  },
};
