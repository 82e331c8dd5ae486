// Sidecar injection labels: namespaces with workloads say whether they are injected (IST0102) and
// use one label scheme, not both (IST0123).
import type { Namespace } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';

export const injection: Analyzer = {
  name: 'injection.Analyzer',
  codes: ['IST0102', 'IST0123'],
  analyze(ctx, report) {
    for (const ns of ctx.ofKind<Namespace>('Namespace')) {
      const labels = ns.metadata.labels;
      const name = ns.metadata.name;
      if (labels['istio-injection'] !== undefined && labels['istio.io/rev'] !== undefined) {
        report({
          code: 'IST0123',
          resource: ns,
          path: ['metadata', 'labels', 'istio.io/rev'],
          message: `The namespace has both new and legacy injection labels. Run 'kubectl label namespace ${name} istio.io/rev-' or 'kubectl label namespace ${name} istio-injection-'`,
          fix: 'Keep one of istio-injection and istio.io/rev.',
        });
      }
      if (ctx.isSystemNamespace(name) || labels['istio-injection'] !== undefined || labels['istio.io/rev'] !== undefined) continue;
      if (!ctx.workloads.some((w) => w.namespace === name && w.kind !== 'Gateway')) continue;
      report({
        code: 'IST0102',
        resource: ns,
        path: ['metadata', 'name'],
        message: `The namespace is not enabled for Istio injection. Run 'kubectl label namespace ${name} istio-injection=enabled' to enable it, or 'kubectl label namespace ${name} istio-injection=disabled' to explicitly mark it as not needing injection.`,
        fix: `Label namespace ${name} istio-injection=enabled (or =disabled to say it is deliberate).`,
      });
    }
  },
};
