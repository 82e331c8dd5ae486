// Sidecar injection labels (Istio's injection.Analyzer): every namespace says whether it is injected
// (IST0102), with or without workloads, and uses one label scheme, not several (IST0123).
import type { Namespace } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';

export const injection: Analyzer = {
  name: 'injection.Analyzer',
  codes: ['IST0102', 'IST0123'],
  analyze(ctx, report) {
    for (const ns of ctx.ofKind<Namespace>('Namespace')) {
      const labels = ns.metadata.labels;
      const name = ns.metadata.name;
      if (name === 'istio-system' || ctx.isSystemNamespace(name)) continue;
      const legacy = labels['istio-injection'];
      // A revision or dataplane-mode label counts against istio-injection unless that says other than "enabled".
      const scheme = [
        ...(legacy !== undefined ? [`istio-injection=${legacy}`] : []),
        ...['istio.io/rev', 'istio.io/dataplane-mode']
          .filter((l) => labels[l] !== undefined && (legacy === undefined || legacy === 'enabled'))
          .map((l) => `${l}=${labels[l]}`),
      ];
      if (scheme.length > 1) {
        report({
          code: 'IST0123',
          resource: ns,
          path: ['metadata', 'labels', labels['istio.io/rev'] !== undefined ? 'istio.io/rev' : 'istio.io/dataplane-mode'],
          message: `The namespace has more than one type of injection labels [${scheme.join(' ')}], which may lead to undefined behavior. Make sure only one injection label exists.`,
          fix: 'Keep one of istio-injection and istio.io/rev.',
        });
      }
      if (labels['istio.io/dataplane-mode'] === 'ambient' || legacy || labels['istio.io/rev'] !== undefined) continue;
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
