// HTTPRoute, GRPCRoute, TCPRoute and TLSRoute references: each parentRef attaches to a Service or to a
// listener of an Istio-class Gateway, and each backendRef (and mirror) names a Service the route may
// refer to; each BackendTLSPolicy targetRef names a Service (port) of its namespace. A missing one is
// IST0101; one that exists but is refused (another class, allowedRoutes, no ReferenceGrant, no port) is
// OR2010, as is each Gateway listener certificateRef that names no usable Secret (IST0101 when missing).
import type { BackendTLSPolicy, GRPCRoute, HTTPRoute, KubernetesGateway, TCPRoute, TLSRoute } from '../../config/resource.ts';
import type { BackendObjectReference } from '../../config/types/gateway-api.ts';
import { listenerCertificateProblems } from '../../model/gateway-api/gateways.ts';
import { targetProblem } from '../../model/gateway-api/backend-tls.ts';
import { backendProblem, type RefProblem } from '../../model/gateway-api/backends.ts';
import { enforcesRefGrant, isServiceEntryParent, isServiceParent, parentProblem } from '../../model/gateway-api/parents.ts';
import { asGatewayRoute, type GatewayRoute, indexGatewayApi } from '../../model/gateway-api/references.ts';
import type { Analyzer, FieldPath, Report } from '../analyzer.ts';

const fixes = {
  parentMissing: 'Name an existing Service (group "", kind Service) or Gateway in parentRefs, or add it to the manifests.',
  parentRefused: 'Attach the route to a listener that admits it: check the Gateway\'s class ("istio"), the listener\'s allowedRoutes, hostname, sectionName and port.',
  backendMissing: 'Name an existing Service and its port in backendRefs, or add the Service to the manifests.',
  targetMissing: 'Name an existing Service of the policy\'s namespace (and, with sectionName, one of its port names) in targetRefs.',
  targetRefused: 'Target a Service (group "", kind Service): a BackendTLSPolicy applies to Services.',
  certificateElsewhere:
    "Put the kubernetes.io/tls Secret in the Gateway's namespace and drop certificateRefs[].namespace, or add a ReferenceGrant in the Secret's namespace that lets Gateways of this namespace refer to it (from: group gateway.networking.k8s.io, kind Gateway; to: group \"\", kind Secret).",
  certificate:
    'Name one or two kubernetes.io/tls Secrets (group "", kind Secret) that exist and hold tls.crt and tls.key in certificateRefs, or set gateway.istio.io/tls-terminate-mode to ISTIO_MUTUAL.',
  backendRefused: 'Refer to a Service of the route\'s namespace, or add a ReferenceGrant in the Service\'s namespace that lets HTTPRoutes of this namespace refer to it.',
};

export const gatewayApiReferences: Analyzer = {
  name: 'outrigger.GatewayApiReferenceAnalyzer',
  codes: ['IST0101', 'OR2010'],
  analyze(ctx, report) {
    const gateways = ctx.ofKind<KubernetesGateway>('KubernetesGateway');
    const routes = [...ctx.ofKind<HTTPRoute>('HTTPRoute'), ...ctx.ofKind<GRPCRoute>('GRPCRoute'), ...ctx.ofKind<TCPRoute>('TCPRoute'), ...ctx.ofKind<TLSRoute>('TLSRoute')];
    const policies = ctx.ofKind<BackendTLSPolicy>('BackendTLSPolicy');
    if (gateways.length === 0 && routes.length === 0 && policies.length === 0) return;
    const index = indexGatewayApi(ctx.resources);
    for (const gw of gateways) {
      gw.spec.listeners.forEach((listener, i) => {
        // Every ref that names no certificate, the second as the first. Istio's buildTLS drops a failing
        // second ref without a condition (validCertCount > 0): that one is a warning only.
        const { served, problems } = listenerCertificateProblems(gw, listener, index);
        for (const p of problems) {
          const notFound = p.missing && !served;
          report({
            code: notFound ? 'IST0101' : 'OR2010',
            resource: gw,
            path: ['spec', 'listeners', i, ...p.path],
            message: `${notFound ? 'Referenced resource not found: ' : ''}listener ${listener.name}: ${p.message}; ${served ? 'the listener serves its other certificate only' : 'the listener is not served'}`,
            fix: p.path.at(-1) === 'namespace' ? fixes.certificateElsewhere : fixes.certificate,
          });
        }
      });
    }
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
      // Istio converts the route once for its Gateway parents and once for its mesh parents, with the
      // grant checked at Gateways only: a backend that is only refused at a Gateway may drop the route in the mesh.
      const atGateway = enforcesRefGrant(route);
      const inMesh = (route.spec.parentRefs ?? []).some((p) => isServiceParent(p) || isServiceEntryParent(p));
      // A mirror's problem drops a GRPCRoute whatever it is (convertGRPCRoute), never an HTTPRoute (convertHTTPRoute drops the mirror).
      const sayBackend = (ref: BackendObjectReference, path: FieldPath, mirror: boolean) => {
        const drops = (x: RefProblem) => (mirror ? route.kind === 'GRPCRoute' : x.dropsRoute === true);
        const p = backendProblem(ref, route, index, atGateway);
        if (!p) return;
        // Where the grant is all that refuses it at a Gateway, the mesh side may still refuse it outright.
        const mesh = atGateway && inMesh ? backendProblem(ref, route, index, false) : p;
        let message = p.message;
        if (drops(p)) message += mesh && drops(mesh) ? "; none of the route's rules is converted" : "; the route's Gateway parents get none of its rules";
        else if (mesh && drops(mesh)) message += `; in the mesh, ${mesh.message}; the route's mesh parents get none of its rules`;
        say({ ...p, message }, path, fixes.backendMissing, fixes.backendRefused);
      };
      (route.spec.rules ?? []).forEach((rule, r) => {
        (rule.backendRefs ?? []).forEach((ref, b) => {
          // Istio's buildHTTPDestination (and buildTCPDestination) never build a backend of weight 0: nothing to report.
          if ((ref.weight ?? 1) !== 0) sayBackend(ref, ['spec', 'rules', r, 'backendRefs', b], false);
        });
        (rule.filters ?? []).forEach((f, i) => {
          if (f.requestMirror) sayBackend(f.requestMirror.backendRef, ['spec', 'rules', r, 'filters', i, 'requestMirror', 'backendRef'], true);
        });
      });
    }
  },
};

function sayProblem(report: Report, route: HTTPRoute | GRPCRoute | TCPRoute | TLSRoute | BackendTLSPolicy, p: RefProblem, path: FieldPath, missing: string, refused: string): void {
  report({ code: p.missing ? 'IST0101' : 'OR2010', resource: route, path, message: p.missing ? `Referenced resource not found: ${p.message}` : p.message, fix: p.missing ? missing : refused });
}
