// HTTPRoute, GRPCRoute, TCPRoute and TLSRoute references: each parentRef attaches to a Service or to a
// listener of an Istio-class Gateway, and each backendRef (and mirror) names a Service the route may
// refer to; each BackendTLSPolicy targetRef names a Service (port) of its namespace. A missing one is
// IST0101; one that exists but is refused (another class, allowedRoutes, no ReferenceGrant) is OR2010,
// as is a Gateway listener's certificate in another namespace that no ReferenceGrant there lets it use.
import type { BackendTLSPolicy, GRPCRoute, HTTPRoute, KubernetesGateway, TCPRoute, TLSRoute } from '../../config/resource.ts';
import { certificateRefProblem, refusedCertificate } from '../../model/gateway-api/gateways.ts';
import { targetProblem } from '../../model/gateway-api/backend-tls.ts';
import { backendProblem, type RefProblem } from '../../model/gateway-api/backends.ts';
import { enforcesRefGrant, parentProblem } from '../../model/gateway-api/parents.ts';
import { asGatewayRoute, type GatewayRoute, indexGatewayApi, referenceGranted } from '../../model/gateway-api/references.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';

const fixes = {
  parentMissing: 'Name an existing Service (group "", kind Service) or Gateway in parentRefs, or add it to the manifests.',
  parentRefused: 'Attach the route to a listener that admits it: check the Gateway\'s class ("istio"), the listener\'s allowedRoutes, hostname, sectionName and port.',
  backendMissing: 'Name an existing Service and its port in backendRefs, or add the Service to the manifests.',
  targetMissing: 'Name an existing Service of the policy\'s namespace (and, with sectionName, one of its port names) in targetRefs.',
  targetRefused: 'Target a Service (group "", kind Service): a BackendTLSPolicy applies to Services.',
  certificateElsewhere:
    "Put the kubernetes.io/tls Secret in the Gateway's namespace and drop certificateRefs[].namespace, or add a ReferenceGrant in the Secret's namespace that lets Gateways of this namespace refer to it (from: group gateway.networking.k8s.io, kind Gateway; to: group \"\", kind Secret).",
  backendRefused: 'Refer to a Service of the route\'s namespace, or add a ReferenceGrant in the Service\'s namespace that lets HTTPRoutes of this namespace refer to it.',
};

export const gatewayApiReferences: Analyzer = {
  name: 'outrigger.GatewayApiReferenceAnalyzer',
  codes: ['IST0101', 'OR2010'],
  analyze(ctx, report) {
    for (const gw of ctx.ofKind<KubernetesGateway>('KubernetesGateway')) {
      gw.spec.listeners.forEach((listener, i) => {
        const ns = refusedCertificate(gw, listener, { granted: (from, to) => referenceGranted(ctx.resources, from, to) });
        if (ns) {
          report({
            code: 'OR2010',
            resource: gw,
            path: ['spec', 'listeners', i, 'tls', 'certificateRefs', 0, 'namespace'],
            message: `listener ${listener.name}: its certificate is in namespace ${ns}, and no ReferenceGrant in ${ns} lets Gateways of ${gw.metadata.namespace} use it; the listener is not served`,
            fix: fixes.certificateElsewhere,
          });
        }
        const cert = certificateRefProblem(listener);
        if (cert) {
          report({
            code: 'OR2010',
            resource: gw,
            path: ['spec', 'listeners', i, ...cert.path],
            message: `listener ${listener.name}: ${cert.message}; the listener is not served`,
            fix: 'Name one or two kubernetes.io/tls Secrets (group "", kind Secret) in certificateRefs, or set gateway.istio.io/tls-terminate-mode to MUTUAL, OPTIONAL_MUTUAL or ISTIO_MUTUAL.',
          });
        }
      });
    }
    const routes = [...ctx.ofKind<HTTPRoute>('HTTPRoute'), ...ctx.ofKind<GRPCRoute>('GRPCRoute'), ...ctx.ofKind<TCPRoute>('TCPRoute'), ...ctx.ofKind<TLSRoute>('TLSRoute')];
    const policies = ctx.ofKind<BackendTLSPolicy>('BackendTLSPolicy');
    if (routes.length === 0 && policies.length === 0) return;
    const index = indexGatewayApi(ctx.resources);
    for (const policy of policies) {
      policy.spec.targetRefs.forEach((_, i) => {
        const p = targetProblem(policy, i, index.service);
        if (p) sayProblem(report, policy, p, ['spec', 'targetRefs', i], fixes.targetMissing, fixes.targetRefused);
      });
    }
    for (const resource of routes) {
      // A GRPCRoute's, TCPRoute's and TLSRoute's fields sit where an HTTPRoute's do: the paths below name all four.
      const route: GatewayRoute = asGatewayRoute(resource);
      const say = (p: RefProblem, path: FieldPath, missing: string, refused: string) =>
        sayProblem(report, resource, p, path, missing, refused);
      (route.spec.parentRefs ?? []).forEach((parent, i) => {
        const p = parentProblem(parent, route, index);
        if (p) say(p, ['spec', 'parentRefs', i], fixes.parentMissing, fixes.parentRefused);
      });
      (route.spec.rules ?? []).forEach((rule, r) => {
        (rule.backendRefs ?? []).forEach((ref, b) => {
          const p = backendProblem(ref, route, index, enforcesRefGrant(route));
          if (p) say(p, ['spec', 'rules', r, 'backendRefs', b], fixes.backendMissing, fixes.backendRefused);
        });
        (rule.filters ?? []).forEach((f, i) => {
          const p = f.requestMirror && backendProblem(f.requestMirror.backendRef, route, index, enforcesRefGrant(route));
          if (p) say(p, ['spec', 'rules', r, 'filters', i, 'requestMirror', 'backendRef'], fixes.backendMissing, fixes.backendRefused);
        });
      });
    }
  },
};

function sayProblem(report: Report, route: HTTPRoute | GRPCRoute | TCPRoute | TLSRoute | BackendTLSPolicy, p: RefProblem, path: FieldPath, missing: string, refused: string): void {
  report({ code: p.missing ? 'IST0101' : 'OR2010', resource: route, path, message: p.missing ? `Referenced resource not found: ${p.message}` : p.message, fix: p.missing ? missing : refused });
}
