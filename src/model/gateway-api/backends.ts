// A backendRef → the Istio destination it names, as Istio's buildDestination: a Service (or a
// ServiceImport, read as the Service of its name) of the route's namespace, or of another namespace
// whose ReferenceGrant lets the route refer to it (at a Gateway only), or an Istio host by name
// (`networking.istio.io` Hostname) of a Service or ServiceEntry of the route's namespace, each with a
// port. Anything else is not a backend.
import type { BackendObjectReference } from '../../config/types/gateway-api.ts';
import type { Destination } from '../../config/types/networking.ts';
import { serviceFqdn } from '../host.ts';
import type { GatewayApiIndex, GatewayRoute } from './references.ts';

export type BackendContext = Pick<GatewayApiIndex, 'service' | 'granted' | 'hostKnown'>;

/**
 * Why a reference is not followed: what it names is `missing`, or it is not allowed; and in words.
 * `dropsRoute`: a backendRef Istio's buildDestination refuses with a hard error (not an invalid
 * backend), so convertHTTPRoute returns no route and computeRoute converts none of the route's rules.
 */
export interface RefProblem {
  missing: boolean;
  message: string;
  dropsRoute?: true;
}

/** Istio's group of the ServiceImport kind (features.MCSAPIGroup) and of the Hostname kind (ServiceEntry's). */
const MCS_GROUP = 'multicluster.x-k8s.io';
const ISTIO_GROUP = 'networking.istio.io';

/**
 * Why a backendRef names no backend, or undefined when it names one. `enforceRefGrant` is false for
 * mesh routing: Istio converts a route for a Service parent with `convertHTTPRoute(..., !mesh)`, so a
 * backend in another namespace needs a ReferenceGrant only where a Gateway routes to it.
 */
export function backendProblem(ref: BackendObjectReference, route: GatewayRoute, ctx: BackendContext, enforceRefGrant = true): RefProblem | undefined {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  const namespace = ref.namespace ?? route.metadata.namespace;
  // In buildDestination's order: the grant first (whatever the kind; Istio's BackendAllowed asks for one
  // to the Service of that name), then the kind, and the port last, after a lookup that failed.
  if (enforceRefGrant && namespace !== route.metadata.namespace && !ctx.granted({ kind: route.kind, namespace: route.metadata.namespace }, { group: '', kind: 'Service', namespace, name: ref.name })) {
    return { missing: false, message: `backendRef ${kind} ${namespace}/${ref.name} is in another namespace, and no ReferenceGrant in ${namespace} lets ${route.kind}s of ${route.metadata.namespace} refer to it` };
  }
  let notFound: RefProblem | undefined;
  if (group === ISTIO_GROUP && kind === 'Hostname') {
    if (ref.namespace !== undefined) return { missing: false, message: `backendRef Hostname ${ref.name}: namespace may not be set with Hostname type`, dropsRoute: true };
    if (!ctx.hostKnown(ref.name, namespace)) notFound = { missing: true, message: `backendRef Hostname ${ref.name}: no Service or ServiceEntry of namespace ${namespace} has that host` };
  } else if ((group === '' && kind === 'Service') || (group === MCS_GROUP && kind === 'ServiceImport')) {
    if (kind === 'Service' && ref.name.includes('.')) {
      return { missing: false, message: `backendRef Service ${ref.name}: service name invalid; the name of the Service must be used, not the hostname.`, dropsRoute: true };
    }
    if (!ctx.service(namespace, ref.name)) notFound = { missing: true, message: `backendRef ${kind} ${namespace}/${ref.name} does not exist` };
  } else {
    return { missing: false, message: `backendRef ${kind}${group ? `.${group}` : ''} ${ref.name}: only Services, ServiceImports and Hostnames (networking.istio.io) are backends` };
  }
  // "All types currently require a Port": the CRD asks for one of a Service only.
  if (ref.port === undefined) return { missing: false, message: `backendRef ${kind} ${ref.name}: port is required in backendRef`, dropsRoute: true };
  return notFound;
}

/**
 * The backendRef problem for which Istio converts none of the route's rules for these parents (mesh or
 * Gateway: `enforceRefGrant` differs), or undefined. Only backends of weight above 0 are built. A
 * GRPCRoute's mirror counts too: convertGRPCRoute returns no route for any mirror error (an HTTPRoute's
 * convertHTTPRoute only drops the mirror).
 */
export function routeConversionProblem(route: GatewayRoute, ctx: BackendContext, enforceRefGrant: boolean): RefProblem | undefined {
  for (const rule of route.spec.rules ?? []) {
    for (const ref of rule.backendRefs ?? []) {
      const p = (ref.weight ?? 1) !== 0 ? backendProblem(ref, route, ctx, enforceRefGrant) : undefined;
      if (p?.dropsRoute) return p;
    }
    if (route.kind !== 'GRPCRoute') continue;
    for (const f of rule.filters ?? []) {
      const p = f.requestMirror && backendProblem(f.requestMirror.backendRef, route, ctx, enforceRefGrant);
      if (p) return { ...p, dropsRoute: true };
    }
  }
  return undefined;
}

export function resolveBackend(ref: BackendObjectReference, route: GatewayRoute, ctx: BackendContext, enforceRefGrant = true): Destination | undefined {
  if (backendProblem(ref, route, ctx, enforceRefGrant)) return undefined;
  // A Hostname is the host itself; a ServiceImport, without MCS host support, its Service's host.
  const host = ref.kind === 'Hostname' ? ref.name : serviceFqdn(ref.name, ref.namespace ?? route.metadata.namespace);
  // backendProblem refused a ref without a port.
  return { host, port: { number: ref.port as number } };
}

/**
 * Where an invalid backend's share of a split goes: a host no cluster is built for (`.invalid` is
 * reserved, RFC 2606), so those requests get the 500 the API asks for (cluster_not_found_response_code),
 * and those TCP and TLS connections are closed as they open (tcp_proxy finds no cluster, Envoy's NC).
 */
export function invalidBackend(ref: BackendObjectReference, route: GatewayRoute): Destination {
  const host = `${ref.name}.${ref.namespace ?? route.metadata.namespace}.backend.invalid`;
  return ref.port === undefined ? { host } : { host, port: { number: ref.port } };
}

/**
 * Where a TCPRoute or TLSRoute rule with no backend (none named, or all weighing 0) sends its
 * connections: nowhere, so each is refused (Istio's zero-weight destination). No backendRef can name
 * it: theirs carry a namespace label.
 */
export const NO_BACKEND: Destination = { host: 'none.backend.invalid' };
