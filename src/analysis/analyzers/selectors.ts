// Workload selectors of policies: they select something (IST0127), and what they select gets a
// sidecar to enforce them (OR2006).
import type { AnyResource } from '../../config/resource.ts';
import type { WorkloadSelector } from '../../config/types/networking.ts';
import type { Analyzer, FieldPath } from '../analyzer.ts';
import { sidecarSelectorLabels } from '../selector.ts';

interface Selecting {
  spec: { selector?: WorkloadSelector; workloadSelector?: WorkloadSelector };
}

const policyKinds = ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication', 'Telemetry', 'Sidecar'] as const;

export const policySelectors: Analyzer = {
  name: 'outrigger.PolicySelectorAnalyzer',
  codes: ['IST0127', 'OR2006'],
  analyze(ctx, report) {
    for (const kind of policyKinds) {
      for (const resource of ctx.ofKind<AnyResource>(kind)) {
        const spec = (resource as unknown as Selecting).spec;
        const field = kind === 'Sidecar' ? 'workloadSelector' : 'selector';
        const matchLabels = kind === 'Sidecar' ? sidecarSelectorLabels(spec.workloadSelector) : spec.selector?.matchLabels;
        const labelsField = kind === 'Sidecar' && !('matchLabels' in (spec.workloadSelector ?? {})) ? 'labels' : 'matchLabels';
        const ns = resource.metadata.namespace;
        const selected = ctx.selected(ns, matchLabels);
        const path: FieldPath = matchLabels ? ['spec', field, labelsField] : ['metadata', 'namespace'];
        if (matchLabels && Object.keys(matchLabels).length > 0 && selected.length === 0) {
          report({
            code: 'IST0127',
            resource,
            path,
            message: `No matching workloads for this resource with the following labels: ${Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(',')}`,
            fix: `Fix the labels to match a workload in ${ns === ctx.rootNamespace ? 'the mesh' : `namespace ${ns}`}, or delete the ${kind}.`,
          });
          continue;
        }
        // A namespace-wide policy outside the root namespace with no workloads at all says nothing either way.
        if (selected.length === 0 || selected.some((w) => w.meshed)) continue;
        report({
          code: 'OR2006',
          resource,
          path,
          message: `${kind} ${ns}/${resource.metadata.name} applies to ${selected.map((w) => w.name).join(', ')}, which get${selected.length === 1 ? 's' : ''} no sidecar: nothing enforces it`,
          fix: `Enable injection (label namespace ${ns} istio-injection=enabled, or the pods sidecar.istio.io/inject="true").`,
        });
      }
    }
  },
};
