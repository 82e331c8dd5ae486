// Telemetry resources: one without selector per namespace (IST0160), providers that exist (OR2008),
// and access logging entries that name a provider when the mesh has no default (IST0157).
import type { Telemetry } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';

/** Providers Istio defines without meshConfig.extensionProviders. */
const builtIn = new Set(['prometheus', 'envoy', 'stackdriver']);

export const telemetry: Analyzer = {
  name: 'telemetry.ProviderAnalyzer',
  codes: ['IST0157', 'IST0160', 'OR2008'],
  analyze(ctx, report) {
    const mesh = ctx.mesh.raw;
    const names = [...builtIn, ...(mesh?.extensionProviders ?? []).map((p) => p.name)];
    // Pilot's fetchProvider matches names ignoring case (strings.EqualFold).
    const defined = new Set(names.map((n) => n.toLowerCase()));
    const defaultAccessLog = (mesh?.defaultProviders?.accessLogging ?? []).length > 0;
    const all = ctx.ofKind<Telemetry>('Telemetry');
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
              message: 'The Telemetry access logging entry names no provider and meshConfig.defaultProviders.accessLogging is empty, so it is ignored',
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
          message: `The Telemetries ${list.map((x) => x.metadata.name).join(', ')} in namespace ${ns} have no selector; Istio uses only one of them`,
          fix: 'Keep one Telemetry without selector per namespace; give the others a selector.',
        });
      }
    }
  },
};
