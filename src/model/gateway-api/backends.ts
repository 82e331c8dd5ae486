// A backendRef → the Istio destination it names: a Service of the route's namespace, or of another
// namespace whose ReferenceGrant lets the route refer to it. Anything else is not a backend.
import type { BackendObjectReference } from '../../config/types/gateway-api.ts';
import type { Destination } from '../../config/types/networking.ts';
import { serviceFqdn } from '../host.ts';
import type { GatewayApiIndex, GatewayRoute } from './references.ts';

export type BackendContext = Pick<GatewayApiIndex, 'service' | 'granted'>;

/** Why a reference is not followed: what it names is `missing`, or it is not allowed; and in words. */
export interface RefProblem {
  missing: boolean;
  message: string;
}

/** Why a backendRef names no backend, or undefined when it names one. */
export function backendProblem(ref: BackendObjectReference, route: GatewayRoute, ctx: BackendContext): RefProblem | undefined {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (group !== '' || kind !== 'Service') return { missing: false, message: `backendRef ${kind}${group ? `.${group}` : ''} ${ref.name}: only Services are backends` };
  const namespace = ref.namespace ?? route.metadata.namespace;
  if (!ctx.service(namespace, ref.name)) return { missing: true, message: `backendRef Service ${namespace}/${ref.name} does not exist` };
  if (namespace !== route.metadata.namespace && !ctx.granted({ kind: route.kind, namespace: route.metadata.namespace }, { group: '', kind: 'Service', namespace, name: ref.name })) {
    return { missing: false, message: `backendRef Service ${namespace}/${ref.name} is in another namespace, and no ReferenceGrant in ${namespace} lets ${route.kind}s of ${route.metadata.namespace} refer to it` };
  }
  return undefined;
}

export function resolveBackend(ref: BackendObjectReference, route: GatewayRoute, ctx: BackendContext): Destination | undefined {
  if (backendProblem(ref, route, ctx)) return undefined;
  const host = serviceFqdn(ref.name, ref.namespace ?? route.metadata.namespace);
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
