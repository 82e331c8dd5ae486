// Telemetry resources: one without selector per namespace (IST0160), a selector matches a workload of
// its namespace (IST0101) and no workload is selected by two (IST0159, Istio's telemetry.SelectorAnalyzer),
// providers that exist (OR2008), and access logging entries that name a provider when the mesh has no
// default (IST0157).
import type { Telemetry } from '../../config/resource.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { selectorString, selects } from '../selector.ts';

/** Providers Istio defines without meshConfig.extensionProviders. */
const builtIn = new Set(['prometheus', 'envoy', 'stackdriver']);

function selectors(ctx: AnalysisContext, all: Telemetry[], report: Report): void {
  const owners = new Map<string, { name: string; list: Telemetry[] }>();
  for (const t of all) {
    const sel = t.spec.selector?.matchLabels;
    if (!sel || Object.keys(sel).length === 0) continue;
    const matched = ctx.workloads.filter((w) => w.namespace === t.metadata.namespace && selects(sel, w.labels));
    if (matched.length === 0) {
      report({
        code: 'IST0101',
        resource: t,
        path: ['spec', 'selector', 'matchLabels'],
        message: `Referenced selector not found: "${selectorString(sel)}"`,
        fix: `Select the labels of a workload in namespace ${t.metadata.namespace}, or delete the Telemetry.`,
      });
      continue;
    }
    for (const w of matched) {
      const key = `${w.namespace}/${w.name}`;
      const entry = owners.get(key) ?? { name: w.name, list: [] };
      entry.list.push(t);
      owners.set(key, entry);
    }
  }
  for (const { name, list } of owners.values()) {
    if (list.length < 2) continue;
    // Istio's telemetry getNames sorts the names.
    const names = list.map((t) => t.metadata.name).sort();
    for (const t of list) {
      report({
        code: 'IST0159',
        resource: t,
        path: ['spec', 'selector', 'matchLabels'],
        message: `The Telemetries [${names.join(' ')}] in namespace "${t.metadata.namespace}" select the same workload pod "${name}", which can lead to undefined behavior.`,
        fix: 'Make the selectors disjoint, so each workload has one Telemetry with a selector.',
      });
    }
  }
}

export const telemetry: Analyzer = {
  name: 'telemetry.ProviderAnalyzer',
  codes: ['IST0101', 'IST0157', 'IST0159', 'IST0160', 'OR2008'],
  analyze(ctx, report) {
    const mesh = ctx.mesh.raw;
    const names = [...builtIn, ...(mesh?.extensionProviders ?? []).map((p) => p.name)];
    // Pilot's fetchProvider matches names ignoring case (strings.EqualFold).
    const defined = new Set(names.map((n) => n.toLowerCase()));
    const defaultAccessLog = (mesh?.defaultProviders?.accessLogging ?? []).length > 0;
    const all = ctx.ofKind<Telemetry>('Telemetry');
    selectors(ctx, all, report);
    const unselected = new Map<string, Telemetry[]>();
    for (const t of all) {
      if (!t.spec.selector?.matchLabels && !t.spec.targetRef && !t.spec.targetRefs) {
        unselected.set(t.metadata.namespace, [...(unselected.get(t.metadata.namespace) ?? []), t]);
      }
      for (const section of ['tracing', 'metrics', 'accessLogging'] as const) {
        for (const [i, entry] of (t.spec[section] ?? []).entries()) {
          const providers = entry.providers ?? [];
          for (const [j, p] of providers.entries()) {
            if (defined.has(p.name.toLowerCase())) continue;
            report({
              code: 'OR2008',
              resource: t,
              path: ['spec', section, i, 'providers', j, 'name'],
              message: `Provider "${p.name}" is not defined in meshConfig.extensionProviders`,
              fix: `Define it in the IstioOperator meshConfig.extensionProviders, or use one of ${names.join(', ')}.`,
            });
          }
          if (section === 'accessLogging' && providers.length === 0 && !defaultAccessLog && !('disabled' in entry && entry.disabled)) {
            report({
              code: 'IST0157',
              resource: t,
              path: ['spec', section, i],
              message: `The Telemetry ${t.metadata.name} in namespace "${t.metadata.namespace}" with empty providers will be ignored.`,
              fix: 'Add providers: [{name: envoy}] (or set meshConfig.defaultProviders.accessLogging).',
            });
          }
        }
      }
    }
    for (const [ns, list] of unselected) {
      if (list.length < 2) continue;
      for (const t of list) {
        report({
          code: 'IST0160',
          resource: t,
          path: ['metadata', 'name'],
          message: `The Telemetries [${list.map((x) => x.metadata.name).sort().join(' ')}] in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`,
          fix: 'Keep one Telemetry without selector per namespace; give the others a selector.',
        });
      }
    }
  },
};
