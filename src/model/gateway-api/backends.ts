// A backendRef → the Istio destination it names, as Istio's buildDestination: a Service (or a
// ServiceImport, read as the Service of its name) of the route's namespace, or of another namespace
// whose ReferenceGrant lets the route refer to it (at a Gateway only), or an Istio host by name
// (`networking.istio.io` Hostname). Anything else is not a backend.
import type { BackendObjectReference } from '../../config/types/gateway-api.ts';
import type { Destination } from '../../config/types/networking.ts';
import { serviceFqdn } from '../host.ts';
import type { GatewayApiIndex, GatewayRoute } from './references.ts';

export type BackendContext = Pick<GatewayApiIndex, 'service' | 'granted' | 'hostKnown'>;

/** Why a reference is not followed: what it names is `missing`, or it is not allowed; and in words. */
export interface RefProblem {
  missing: boolean;
  message: string;
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
  if (group === ISTIO_GROUP && kind === 'Hostname') {
    if (ref.namespace !== undefined) return { missing: false, message: `backendRef Hostname ${ref.name}: namespace may not be set with Hostname type` };
    return ctx.hostKnown(ref.name) ? undefined : { missing: true, message: `backendRef Hostname ${ref.name}: no Service or ServiceEntry has that host` };
  }
  const service = (group === '' && kind === 'Service') || (group === MCS_GROUP && kind === 'ServiceImport');
  if (!service) return { missing: false, message: `backendRef ${kind}${group ? `.${group}` : ''} ${ref.name}: only Services, ServiceImports and Hostnames (networking.istio.io) are backends` };
  if (!ctx.service(namespace, ref.name)) return { missing: true, message: `backendRef ${kind} ${namespace}/${ref.name} does not exist` };
  // Istio's BackendAllowed asks for a grant to the Service of that name, whatever the backend's kind.
  if (enforceRefGrant && namespace !== route.metadata.namespace && !ctx.granted({ kind: route.kind, namespace: route.metadata.namespace }, { group: '', kind: 'Service', namespace, name: ref.name })) {
    return { missing: false, message: `backendRef ${kind} ${namespace}/${ref.name} is in another namespace, and no ReferenceGrant in ${namespace} lets ${route.kind}s of ${route.metadata.namespace} refer to it` };
  }
  return undefined;
}

export function resolveBackend(ref: BackendObjectReference, route: GatewayRoute, ctx: BackendContext, enforceRefGrant = true): Destination | undefined {
  if (backendProblem(ref, route, ctx, enforceRefGrant)) return undefined;
  // A Hostname is the host itself; a ServiceImport, without MCS host support, its Service's host.
  const host = ref.kind === 'Hostname' ? ref.name : serviceFqdn(ref.name, ref.namespace ?? route.metadata.namespace);
  return ref.port === undefined ? { host } : { host, port: { number: ref.port } };
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
