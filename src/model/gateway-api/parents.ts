// Where a route attaches: each parentRef → the VirtualServices it contributes to. A Service parent is
// mesh routing (GAMMA): the service's host, applied by sidecars; a ServiceEntry parent the same for each
// of the entry's hosts. A Gateway parent is each listener that admits the route (sectionName, port,
// allowedRoutes) and each hostname the route and listener share that no more specific listener owns.
import type { KubernetesGateway } from '../../config/resource.ts';
import type { Listener, ParentReference } from '../../config/types/gateway-api.ts';
import { hostMatches, hostsIntersect, serviceFqdn } from '../host.ts';
import { matchesLabelSelector } from '../labels.ts';
import type { RefProblem } from './backends.ts';
import { listenerGatewayName } from './gateways.ts';
import { meshSniHosts } from './tls-routes.ts';
import { GATEWAY_API_GROUP, type GatewayApiIndex, type GatewayRoute } from './references.ts';

/** One VirtualService the conversion builds: its place, host and the gateways it binds to. */
export interface Binding {
  /** Groups the rules of every route that lands in the same VirtualService. */
  key: string;
  namespace: string;
  host: string;
  gateways: string[];
  /** A consumer route (in a namespace other than its Service's) applies to its own namespace only. */
  exportTo?: string[];
  /** A mesh route to one port of its Service. */
  port?: number;
}

/** Why a parentRef attaches nowhere, or undefined when it does. */
export function parentProblem(parent: ParentReference, route: GatewayRoute, index: GatewayApiIndex): RefProblem | undefined {
  const ns = parent.namespace ?? route.metadata.namespace;
  if (isServiceParent(parent)) {
    if (!index.service(ns, parent.name)) return { missing: true, message: `parentRef Service ${ns}/${parent.name} does not exist` };
    const fqdn = serviceFqdn(parent.name, ns);
    if (route.kind === 'TLSRoute' && meshSniHosts(route, fqdn).length === 0) {
      return { missing: false, message: `a TLSRoute attached to Service ${ns}/${parent.name} routes that Service's SNI only: its hostnames name none of ${fqdn}` };
    }
    return undefined;
  }
  if (isServiceEntryParent(parent)) {
    const entry = index.serviceEntry(ns, parent.name);
    if (!entry) return { missing: true, message: `parentRef ServiceEntry ${ns}/${parent.name} does not exist` };
    if (route.kind === 'TLSRoute' && entry.spec.hosts.every((h) => meshSniHosts(route, h).length === 0)) {
      return { missing: false, message: `a TLSRoute attached to ServiceEntry ${ns}/${parent.name} routes that entry's SNIs only: its hostnames name none of ${entry.spec.hosts.join(', ')}` };
    }
    return undefined;
  }
  if (!isGatewayParent(parent)) {
    return { missing: false, message: `parentRef ${parent.kind ?? 'Gateway'}.${parent.group ?? GATEWAY_API_GROUP} ${parent.name}: a route attaches to a Gateway, a Service or a ServiceEntry` };
  }
  const gw = index.gateway(ns, parent.name);
  if (!gw) return { missing: true, message: `parentRef Gateway ${ns}/${parent.name} does not exist` };
  if (!index.istioClass(gw.spec.gatewayClassName)) return { missing: false, message: `Gateway ${ns}/${parent.name} is of class "${gw.spec.gatewayClassName}", not Istio's ("istio")` };
  if (bindings(parent, route, index).length === 0) {
    return { missing: false, message: `no listener of Gateway ${ns}/${parent.name} admits the route (its sectionName, port, allowedRoutes or hostnames)` };
  }
  return undefined;
}

export function isServiceParent(parent: ParentReference): boolean {
  return (parent.group ?? GATEWAY_API_GROUP) === '' && parent.kind === 'Service';
}

/** A ServiceEntry parent (Istio's allowedParentReferences): mesh routing for the entry's hosts. */
export function isServiceEntryParent(parent: ParentReference): boolean {
  return parent.group === 'networking.istio.io' && parent.kind === 'ServiceEntry';
}

function isGatewayParent(parent: ParentReference): boolean {
  return (parent.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && (parent.kind ?? 'Gateway') === 'Gateway';
}

/**
 * Whether the route's backends need a ReferenceGrant to another namespace: when it attaches to a Gateway.
 * Istio converts a route for its mesh parents (Services, ServiceEntries) with `enforceRefGrant = !mesh`.
 */
export function enforcesRefGrant(route: GatewayRoute): boolean {
  return (route.spec.parentRefs ?? []).some(isGatewayParent);
}

export function bindings(parent: ParentReference, route: GatewayRoute, index: GatewayApiIndex): Binding[] {
  const routeNs = route.metadata.namespace;
  const ns = parent.namespace ?? routeNs;
  if (isServiceParent(parent) || isServiceEntryParent(parent)) {
    // A ServiceEntry stands for its hosts (Istio's HTTPRouteCollection: `vsHosts = ses.Spec.Hosts`).
    const hosts = isServiceParent(parent)
      ? index.service(ns, parent.name) && [serviceFqdn(parent.name, ns)]
      : index.serviceEntry(ns, parent.name)?.spec.hosts;
    const consumer = ns !== routeNs;
    return (hosts ?? []).map((host) => ({
      // Named so that a consumer route sorts before the producer's: for its own namespace's clients
      // it takes precedence, as the API's mesh routing (GAMMA) asks.
      key: `mesh|${consumer ? 'consumer' : 'producer'}|${routeNs}|${host}|${parent.port ?? ''}`,
      namespace: routeNs,
      host,
      gateways: ['mesh'],
      ...(consumer ? { exportTo: ['.'] } : {}),
      ...(parent.port !== undefined ? { port: parent.port } : {}),
    }));
  }
  if (!isGatewayParent(parent)) return [];
  const gw = index.gateway(ns, parent.name);
  if (!gw || !index.istioClass(gw.spec.gatewayClassName)) return [];
  const out: Binding[] = [];
  for (const listener of gw.spec.listeners) {
    if (parent.sectionName !== undefined && parent.sectionName !== listener.name) continue;
    if (parent.port !== undefined && parent.port !== listener.port) continue;
    if (!admits(gw, listener, route, index)) continue;
    const istioGateway = `${ns}/${listenerGatewayName(gw, listener)}`;
    // A TCPRoute has no hostnames: it takes the listener's connections (plain, or after TLS is terminated).
    const hosts = route.kind === 'TCPRoute' ? ['*'] : sharedHosts(listener.hostname, route.spec.hostnames).filter(isolation(route, gw, listener));
    for (const host of hosts) {
      out.push({ key: `gateway|${ns}|${gw.metadata.name}|${listener.name}|${host}`, namespace: ns, host, gateways: [istioGateway] });
    }
  }
  return out;
}

/**
 * Listener isolation (Istio's extractParentReferenceInfo BannedHostnames and hostnameAllowedByIsolation,
 * applied to HTTPRoutes and GRPCRoutes): whether a host the route shares with its listener is the
 * listener's to serve. A host that a listener of the same Gateway, port and protocol with a longer
 * hostname covers is that listener's alone: `foo.example.com` is not served on `*.example.com` when a
 * `foo.example.com` listener exists.
 */
function isolation(route: GatewayRoute, gw: KubernetesGateway, listener: Listener): (host: string) => boolean {
  const ours = listener.hostname ?? '';
  // Only a wildcard listener (or one without a hostname) can be shadowed by another.
  if ((route.kind !== 'HTTPRoute' && route.kind !== 'GRPCRoute') || (ours !== '' && !ours.startsWith('*'))) return () => true;
  const banned = gw.spec.listeners
    .filter((l) => l !== listener && l.port === listener.port && l.protocol === listener.protocol && l.hostname !== undefined && l.hostname !== ours)
    .map((l) => l.hostname as string);
  // host.Name.SubsetOf: the host is covered by the other listener's hostname.
  return (host) => (ours === '' || hostsIntersect(host, ours)) && !banned.some((other) => ours.length <= other.length && hostMatches(other, host));
}

/** The route kinds a listener of each protocol serves (and admits when allowedRoutes names no kinds). */
const routeKinds: Readonly<Record<string, readonly string[]>> = { HTTP: ['HTTPRoute', 'GRPCRoute'], HTTPS: ['HTTPRoute', 'GRPCRoute'], TCP: ['TCPRoute'] };

/**
 * The route kinds a listener serves: a TLS listener takes TLSRoutes when it passes TLS through, and
 * TCPRoutes when it terminates it (Istio's generateSupportedKinds).
 */
export function listenerRouteKinds(listener: Listener): readonly string[] {
  if (listener.protocol === 'TLS') return listener.tls?.mode === 'Passthrough' ? ['TLSRoute'] : ['TCPRoute'];
  return routeKinds[listener.protocol] ?? [];
}

/** allowedRoutes: the route's namespace (Same by default, All, or a Selector on its labels) and kind. */
function admits(gw: KubernetesGateway, listener: Listener, route: GatewayRoute, index: GatewayApiIndex): boolean {
  const routeNs = route.metadata.namespace;
  if (!listenerRouteKinds(listener).includes(route.kind)) return false;
  const allowed = listener.allowedRoutes;
  const kinds = allowed?.kinds;
  if (kinds && !kinds.some((k) => (k.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && k.kind === route.kind)) return false;
  const from = allowed?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return routeNs === gw.metadata.namespace;
  const labels = { ...index.namespaceLabels(routeNs), 'kubernetes.io/metadata.name': routeNs };
  return matchesLabelSelector(allowed?.namespaces?.selector ?? {}, labels);
}

/**
 * The hostnames a route serves on a listener: both unset, any (`*`); one set, its; both set, each pair
 * that intersects gives the narrower of the two (the API's hostname intersection).
 */
export function sharedHosts(listenerHost: string | undefined, routeHosts: readonly string[] | undefined): string[] {
  if (!routeHosts?.length) return [listenerHost ?? '*'];
  if (listenerHost === undefined) return [...routeHosts];
  const out = new Set<string>();
  for (const h of routeHosts) {
    if (hostMatches(listenerHost, h)) out.add(h);
    else if (hostMatches(h, listenerHost)) out.add(listenerHost);
  }
  return [...out];
}
