// Sidecar resources: one without selector per namespace (IST0111), no workload selected twice (IST0110).
import type { SidecarResource } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import { selects, sidecarSelectorLabels } from '../selector.ts';

export const sidecars: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  codes: ['IST0110', 'IST0111'],
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
          message: `The Sidecars ${list.map((s) => s.metadata.name).join(', ')} in namespace ${ns} have no workload selector; Istio uses only one of them`,
          fix: 'Keep one Sidecar without workloadSelector per namespace.',
        });
      }
    }
    const owners = new Map<string, SidecarResource>();
    for (const sc of all) {
      const sel = sidecarSelectorLabels(sc.spec.workloadSelector);
      if (!sel) continue;
      for (const w of ctx.workloads.filter((x) => x.namespace === sc.metadata.namespace && selects(sel, x.labels))) {
        const key = `${w.namespace}/${w.name}`;
        const other = owners.get(key);
        if (!other) {
          owners.set(key, sc);
          continue;
        }
        report({
          code: 'IST0110',
          resource: sc,
          path: ['spec', 'workloadSelector', 'matchLabels' in (sc.spec.workloadSelector ?? {}) ? 'matchLabels' : 'labels'],
          message: `The Sidecars ${other.metadata.name}, ${sc.metadata.name} in namespace ${sc.metadata.namespace} select the same workload ${w.name}`,
          fix: 'Make the workload selectors disjoint.',
        });
      }
    }
  },
};
