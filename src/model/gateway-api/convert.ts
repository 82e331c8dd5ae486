// The Gateway API → Istio stage (Istio's own approach, pilot/pkg/config/kube/gateway): Gateways of
// Istio's class become Istio Gateways (and the Service of their deployed proxy), HTTPRoutes, GRPCRoutes,
// TCPRoutes and TLSRoutes become VirtualServices, BackendTLSPolicies DestinationRules, before any translation, so every translator, analyzer and
// explanation treats them as the Istio config they stand for. Pure.
import type { AnyResource, DestinationRule, Gateway, Service, VirtualService } from '../../config/resource.ts';
import type { HTTPRouteMatch } from '../../config/types/gateway-api.ts';
import type { HTTPRoute, TCPRoute, TLSRoute } from '../../config/types/networking.ts';
import { buildBackendTlsRules } from './backend-tls.ts';
import { routeConversionProblem } from './backends.ts';
import { buildGatewayServices, buildListenerGateways, GENERATED_SUFFIX, PARENTS_ANNOTATION, ROUTE_SEMANTICS_ANNOTATION } from './gateways.ts';
import { ruleMatches, translateRuleMatch } from './http-rules.ts';
import { type Binding, bindings } from './parents.ts';
import { GATEWAY_API_GROUP, indexGatewayApi } from './references.ts';
import { translateTcpRules } from './tcp-routes.ts';
import { translateTlsRules } from './tls-routes.ts';

interface Entry {
  /** Undefined: a rule without matches. */
  match: HTTPRouteMatch | undefined;
  routes: HTTPRoute[];
}

interface Group {
  binding: Binding;
  entries: Entry[];
  tcp: TCPRoute[];
  tls: TLSRoute[];
  /** The routes it came from (`HTTPRoute.gateway.networking.k8s.io/ns/name`), for the parents annotation. */
  parents: Set<string>;
}

/** The Istio resources the Gateway API resources among `resources` stand for (none when there are none). */
export function convertGatewayApi(resources: readonly AnyResource[]): (Gateway | VirtualService | Service | DestinationRule)[] {
  const backendTls = buildBackendTlsRules(resources);
  if (!resources.some((r) => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute' || r.kind === 'TCPRoute' || r.kind === 'TLSRoute' || r.kind === 'KubernetesGateway')) return backendTls;
  const index = indexGatewayApi(resources);
  const groups = new Map<string, Group>();
  // Routes oldest first, then by namespace/name: the API's tie-break, kept by the stable sort below.
  for (const route of index.routes) {
    for (const parent of route.spec.parentRefs ?? []) {
      for (const binding of bindings(parent, route, index)) {
        // A ReferenceGrant is needed at a Gateway only: Istio converts mesh routes with `enforceRefGrant = !mesh`.
        const enforceRefGrant = !binding.gateways.includes('mesh');
        // A backendRef Istio refuses outright (no port, say) leaves the route nothing for these parents.
        if (routeConversionProblem(route, index, enforceRefGrant)) continue;
        const group = groups.get(binding.key) ?? { binding, entries: [], tcp: [], tls: [], parents: new Set<string>() };
        groups.set(binding.key, group);
        // A route named by two parentRefs that land in one VirtualService contributes once.
        const parentName = `${route.kind}.${GATEWAY_API_GROUP}/${route.metadata.namespace}/${route.metadata.name}`;
        if (group.parents.has(parentName)) continue;
        group.parents.add(parentName);
        if (route.kind === 'TCPRoute') {
          group.tcp.push(...translateTcpRules(route, binding.port, index, enforceRefGrant));
          continue;
        }
        if (route.kind === 'TLSRoute') {
          group.tls.push(...translateTlsRules(route, binding, index, enforceRefGrant));
          continue;
        }
        (route.spec.rules ?? []).forEach((rule, ruleIndex) => {
          ruleMatches(route, rule).forEach((match, matchIndex) => {
            group.entries.push({ match, routes: translateRuleMatch(route, ruleIndex, matchIndex, match, binding.port, index, enforceRefGrant) });
          });
        });
      }
    }
  }
  const out: (Gateway | VirtualService | Service | DestinationRule)[] = [...buildListenerGateways(index), ...buildGatewayServices(index), ...backendTls];
  for (const { binding, entries, tcp, tls, parents } of groups.values()) {
    const ordered = [...entries].sort(byPrecedence);
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {
        name: generatedName(binding),
        namespace: binding.namespace,
        labels: {},
        annotations: { [PARENTS_ANNOTATION]: [...parents].join(','), [ROUTE_SEMANTICS_ANNOTATION]: 'gateway' },
      },
      spec: {
        hosts: [binding.host],
        gateways: binding.gateways,
        // Only the protocols routed: an empty `http` would leave the host's HTTP traffic no route.
        ...(ordered.length > 0 ? { http: ordered.flatMap((e) => e.routes) } : {}),
        ...(tls.length > 0 ? { tls } : {}),
        ...(tcp.length > 0 ? { tcp } : {}),
        ...(binding.exportTo ? { exportTo: binding.exportTo } : {}),
      },
    });
  }
  return out;
}

/** A stable name per VirtualService: where it binds and its host (`mesh-shop-web.shop.svc.cluster.local-…`). */
function generatedName(b: Binding): string {
  return `${b.key.replace(/[|/]+/g, '-').replace(/\*/g, 'wildcard').replace(/-+$/, '')}-${GENERATED_SUFFIX}`;
}

/** `resources` with the Istio resources their Gateway API resources stand for added. */
export function withGatewayApi(resources: readonly AnyResource[]): readonly AnyResource[] {
  const generated = convertGatewayApi(resources);
  return generated.length === 0 ? resources : [...resources, ...generated];
}

/**
 * The API's precedence between matches, as Istio sorts them (sortHTTPRoutes): an exact path before a
 * prefix before a regex before no path at all, a longer path first, then a method match, then more
 * header matches, then more query matches; a rule without matches last. Ties keep their order: older
 * route first, then namespace/name, then rule and match order.
 */
function byPrecedence(a: Entry, b: Entry): number {
  if (!a.match || !b.match) return (a.match ? 0 : 1) - (b.match ? 0 : 1);
  const pa = pathRank(a.match);
  const pb = pathRank(b.match);
  if (pa.rank !== pb.rank) return pb.rank - pa.rank;
  if (pa.length !== pb.length) return pb.length - pa.length;
  const ma = a.match.method ? 1 : 0;
  const mb = b.match.method ? 1 : 0;
  if (ma !== mb) return mb - ma;
  const ha = a.match.headers?.length ?? 0;
  const hb = b.match.headers?.length ?? 0;
  if (ha !== hb) return hb - ha;
  return (b.match.queryParams?.length ?? 0) - (a.match.queryParams?.length ?? 0);
}

function pathRank(m: HTTPRouteMatch): { rank: number; length: number } {
  if (!m.path) return { rank: 0, length: 0 };
  const type = m.path.type ?? 'PathPrefix';
  const value = m.path.value ?? '/';
  const rank = type === 'Exact' ? 3 : type === 'PathPrefix' ? 2 : 1;
  return { rank, length: value !== '/' && value.endsWith('/') ? value.length - 1 : value.length };
}
