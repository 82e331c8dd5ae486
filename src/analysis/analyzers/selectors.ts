// Workload selectors of policies: an AuthorizationPolicy selects something (IST0127, Istio's
// analyzeNoMatchingWorkloads), so does a PeerAuthentication or RequestAuthentication (OR2013: Istio has
// no analyzer for them), and what a policy selects gets a sidecar to enforce it (OR2006). Sidecar and
// Telemetry selectors that match nothing are IST0101, reported by sidecars.ts and telemetry.ts.
import type { AnyResource } from '../../config/resource.ts';
import type { WorkloadSelector } from '../../config/types/networking.ts';
import type { Analyzer, FieldPath } from '../analyzer.ts';
import { selectorString, sidecarSelectorLabels } from '../selector.ts';

interface Selecting {
  spec: { selector?: WorkloadSelector; workloadSelector?: WorkloadSelector; targetRef?: unknown; targetRefs?: unknown[] };
}

const policyKinds = ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication', 'Telemetry', 'Sidecar'] as const;

export const policySelectors: Analyzer = {
  name: 'outrigger.PolicySelectorAnalyzer',
  codes: ['IST0127', 'OR2013', 'OR2006'],
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
        const where = ns === ctx.rootNamespace ? 'the mesh' : `namespace ${ns}`;
        if (kind === 'AuthorizationPolicy' && selected.length === 0 && !spec.targetRef && !spec.targetRefs?.length) {
          // A namespace-wide policy outside the root namespace counts too: Istio reports it with empty labels.
          if (matchLabels || ns !== ctx.rootNamespace) {
            report({
              code: 'IST0127',
              resource,
              path,
              message: `No matching workloads for this resource with the following labels: ${selectorString(matchLabels)}`,
              fix: matchLabels ? `Fix the labels to match a workload in ${where}, or delete the ${kind}.` : `Deploy the workloads of namespace ${ns}, or delete the ${kind}.`,
            });
          }
          continue;
        }
        if ((kind === 'PeerAuthentication' || kind === 'RequestAuthentication') && matchLabels && Object.keys(matchLabels).length > 0 && selected.length === 0) {
          report({
            code: 'OR2013',
            resource,
            path,
            message: `${kind} ${ns}/${resource.metadata.name} selects no workload (${selectorString(matchLabels)}) in ${where}: it applies to nothing`,
            fix: `Fix the labels to match a workload in ${where}, or delete the ${kind}.`,
          });
          continue;
        }
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
