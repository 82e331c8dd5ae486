// Policies attached by `targetRef(s)` (AuthorizationPolicy, RequestAuthentication): at least one workload
// takes them (OR2011), judged by translation's own selection (policySelects, Istio's ShouldAttachPolicy).
import type { AuthorizationPolicy, Gateway, RequestAuthentication } from '../../config/resource.ts';
import { classicGatewaysOf, policySelects } from '../../translate/authorization.ts';
import type { Analyzer } from '../analyzer.ts';

export const policyTargetRefs: Analyzer = {
  name: 'outrigger.PolicyTargetRefAnalyzer',
  codes: ['OR2011'],
  analyze(ctx, report) {
    const gateways = ctx.ofKind<Gateway>('Gateway');
    const targets = ctx.workloads.map((w) => ({
      workloadLabels: w.labels,
      namespace: w.namespace,
      rootNamespace: ctx.rootNamespace,
      trustDomain: ctx.trustDomain,
      classicGateways: classicGatewaysOf(gateways, w),
    }));
    for (const kind of ['AuthorizationPolicy', 'RequestAuthentication'] as const) {
      for (const resource of ctx.ofKind<AuthorizationPolicy | RequestAuthentication>(kind)) {
        const spec = resource.spec;
        const field = spec.targetRefs?.length ? 'targetRefs' : spec.targetRef ? 'targetRef' : undefined;
        if (!field) continue;
        if (targets.some((t) => policySelects(resource, t))) continue;
        const refs = (field === 'targetRefs' ? spec.targetRefs! : [spec.targetRef!]).map((r) => `${r.group ? `${r.group}/` : ''}${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`);
        report({
          code: 'OR2011',
          resource,
          path: ['spec', field],
          message: `${kind} ${resource.metadata.namespace}/${resource.metadata.name} attaches to no workload: ${refs.join(', ')} ${refs.length === 1 ? 'names' : 'name'} no gateway of namespace ${resource.metadata.namespace} (a Service or ServiceEntry ref attaches to waypoints only)`,
          fix: `Name a Gateway (networking.istio.io or gateway.networking.k8s.io) of namespace ${resource.metadata.namespace} that runs a proxy, put the policy in that Gateway's namespace, or use a selector.`,
        });
      }
    }
  },
};
