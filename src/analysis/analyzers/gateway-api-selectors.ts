// Policies that pick a Kubernetes Gateway's proxy by `selector` (IST0166, Istio's
// k8sgateway.SelectorAnalyzer): a Gateway API gateway takes policies by targetRef, so say so.
import type { AnyResource } from '../../config/resource.ts';
import type { WorkloadSelector } from '../../config/types/networking.ts';
import { GATEWAY_NAME_LABEL } from '../../model/gateway-api/gateways.ts';
import type { Analyzer } from '../analyzer.ts';
import { selects } from '../selector.ts';

interface Selecting {
  spec: { selector?: WorkloadSelector; targetRef?: unknown; targetRefs?: unknown[] };
}

export const gatewayApiSelectors: Analyzer = {
  name: 'k8sgateway.SelectorAnalyzer',
  codes: ['IST0166'],
  analyze(ctx, report) {
    const gatewayPods = ctx.workloads.filter((w) => w.labels[GATEWAY_NAME_LABEL] !== undefined);
    if (gatewayPods.length === 0) return;
    for (const kind of ['AuthorizationPolicy', 'RequestAuthentication', 'Telemetry'] as const) {
      for (const resource of ctx.ofKind<AnyResource>(kind)) {
        const spec = (resource as unknown as Selecting).spec;
        if (spec.targetRef || spec.targetRefs?.length || !spec.selector) continue;
        for (const pod of gatewayPods) {
          if (pod.namespace !== resource.metadata.namespace || !selects(spec.selector.matchLabels, pod.labels)) continue;
          const gateway = pod.labels[GATEWAY_NAME_LABEL];
          report({
            code: 'IST0166',
            resource,
            path: ['spec', 'selector'],
            message: `Ineffective selector on Kubernetes Gateway ${gateway}. Use the TargetRef field instead.`,
            fix: `Attach the policy with targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: ${gateway}}] instead of a selector.`,
          });
        }
      }
    }
  },
};
