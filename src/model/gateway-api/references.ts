// What the Gateway API conversion looks resources up in: Services, ServiceEntries, Gateways and their
// classes, Namespaces (for allowedRoutes selectors), ReferenceGrants and Secrets (listener
// certificates), indexed once per conversion.
import type { AnyResource, GatewayClass, GRPCRoute, HTTPRoute, KubernetesGateway, Namespace, ObjectMeta, ReferenceGrant, Secret, Service, ServiceEntry, TCPRoute, TLSRoute } from '../../config/resource.ts';
import type { HTTPRouteSpec } from '../../config/types/gateway-api.ts';
import { CA_CREDENTIAL_SUFFIX, credentialRef, GATEWAY_CREDENTIAL_PREFIX } from '../credentials.ts';
import { serviceFqdn } from '../host.ts';
import { grpcAsHttpRoute } from './grpc-routes.ts';
import { tcpAsRoute } from './tcp-routes.ts';
import { tlsAsRoute } from './tls-routes.ts';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The GatewayClass Istio installs, and the controller a GatewayClass names to be Istio's. */
export const ISTIO_GATEWAY_CLASS = 'istio';
export const ISTIO_GATEWAY_CONTROLLER = 'istio.io/gateway-controller';

/**
 * A route as the conversion reads it: an HTTPRoute; a GRPCRoute as the HTTPRoute it routes like; a
 * TCPRoute or TLSRoute as rules of backends only (a TLSRoute with its hostnames).
 */
export interface GatewayRoute {
  readonly kind: 'HTTPRoute' | 'GRPCRoute' | 'TCPRoute' | 'TLSRoute';
  readonly metadata: ObjectMeta;
  readonly spec: HTTPRouteSpec;
}

export interface GatewayApiIndex {
  /** HTTPRoutes, GRPCRoutes, TCPRoutes and TLSRoutes, oldest first, then by namespace/name. */
  readonly routes: readonly GatewayRoute[];
  readonly gateways: readonly KubernetesGateway[];
  service(namespace: string, name: string): Service | undefined;
  serviceEntry(namespace: string, name: string): ServiceEntry | undefined;
  /**
   * Whether a Service (by its FQDN) or a ServiceEntry of `namespace` has this host: a `Hostname`
   * backend's lookup, as Istio's LookupHostname(host, routeNamespace) finds only hosts defined in the
   * route's own namespace (ServiceIndex.HostnameAndNamespace[host][namespace]), so a host names no
   * other namespace's Service without a ReferenceGrant.
   */
  hostKnown(host: string, namespace: string): boolean;
  secret(namespace: string, name: string): Secret | undefined;
  gateway(namespace: string, name: string): KubernetesGateway | undefined;
  namespaceLabels(namespace: string): Readonly<Record<string, string>>;
  /** Whether a Gateway of this class is Istio's (the built-in `istio` class, or a class naming Istio's controller). */
  istioClass(className: string): boolean;
  /** Whether a ReferenceGrant in `toNamespace` lets `fromKind` objects of `fromNamespace` refer to the core `toKind` `toName`. */
  granted(from: { kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export function indexGatewayApi(resources: readonly AnyResource[]): GatewayApiIndex {
  const services = new Map<string, Service>();
  const serviceEntries = new Map<string, ServiceEntry>();
  const gateways = new Map<string, KubernetesGateway>();
  const classes = new Map<string, GatewayClass>();
  const namespaces = new Map<string, Namespace>();
  const grants: ReferenceGrant[] = [];
  const secrets = new Map<string, Secret>();
  const routes: GatewayRoute[] = [];
  for (const r of resources) {
    if (r.kind === 'Service') services.set(key(r.metadata.namespace, r.metadata.name), r as Service);
    else if (r.kind === 'ServiceEntry') serviceEntries.set(key(r.metadata.namespace, r.metadata.name), r as ServiceEntry);
    else if (r.kind === 'KubernetesGateway') gateways.set(key(r.metadata.namespace, r.metadata.name), r as KubernetesGateway);
    else if (r.kind === 'GatewayClass') classes.set(r.metadata.name, r as GatewayClass);
    else if (r.kind === 'Namespace') namespaces.set(r.metadata.name, r as Namespace);
    else if (r.kind === 'ReferenceGrant') grants.push(r as ReferenceGrant);
    else if (r.kind === 'Secret') secrets.set(key(r.metadata.namespace, r.metadata.name), r as Secret);
    else if (r.kind === 'HTTPRoute') routes.push(r as HTTPRoute);
    else if (r.kind === 'GRPCRoute' || r.kind === 'TCPRoute' || r.kind === 'TLSRoute') routes.push(asGatewayRoute(r as GRPCRoute | TCPRoute | TLSRoute));
  }
  return {
    routes: routes.sort(byAge),
    gateways: [...gateways.values()].sort(byAge),
    service: (ns, name) => services.get(key(ns, name)),
    serviceEntry: (ns, name) => serviceEntries.get(key(ns, name)),
    hostKnown: (host, ns) =>
      [...services.values()].some((s) => s.metadata.namespace === ns && serviceFqdn(s.metadata.name, ns) === host) ||
      [...serviceEntries.values()].some((e) => e.metadata.namespace === ns && e.spec.hosts.includes(host)),
    secret: (ns, name) => secrets.get(key(ns, name)),
    gateway: (ns, name) => gateways.get(key(ns, name)),
    namespaceLabels: (ns) => namespaces.get(ns)?.metadata.labels ?? {},
    istioClass: (name) => {
      const c = classes.get(name);
      return c ? c.spec.controllerName === ISTIO_GATEWAY_CONTROLLER : name === ISTIO_GATEWAY_CLASS;
    },
    granted: (from, to) => referenceGranted(grants, from, to),
  };
}

/** Whether one of `grants` (in `to.namespace`) lets `from.kind` objects (of the Gateway API group) of `from.namespace` refer to the core `to.kind` `to.name`. */
export function referenceGranted(grants: Iterable<AnyResource>, from: { kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean {
  for (const r of grants) {
    if (r.kind !== 'ReferenceGrant' || r.metadata.namespace !== to.namespace) continue;
    const g = r as ReferenceGrant;
    if (
      g.spec.from.some((f) => f.group === GATEWAY_API_GROUP && f.kind === from.kind && f.namespace === from.namespace) &&
      g.spec.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === to.name))
    ) {
      return true;
    }
  }
  return false;
}

/** Whether a ReferenceGrant among `resources` lets Gateways of `gatewayNamespace` use the Secret `secretNamespace/name` (always, in their own namespace). */
export function secretGranted(resources: Iterable<AnyResource>, gatewayNamespace: string, secretNamespace: string, name: string): boolean {
  return secretNamespace === gatewayNamespace || referenceGranted(resources, { kind: 'Gateway', namespace: gatewayNamespace }, { group: '', kind: 'Secret', namespace: secretNamespace, name });
}

/**
 * Istio's mergeGateways `identityVerified`: whether a Gateway of `gatewayNamespace` whose server names the
 * SDS credential `sdsName` makes it a proxy of `proxyNamespace`'s to read. A `kubernetes://` one always
 * (the proxy reads its own namespace's Secrets); a `kubernetes-gateway://NS/NAME` one only from a Gateway
 * of the proxy's namespace, for a Secret of that namespace or one a ReferenceGrant lets its Gateways use
 * (sds.go: "Unverified cross namespace. Never allowed"). The control plane's readers and translation's
 * secrets both ask this.
 */
export function gatewayCredentialVerified(resources: Iterable<AnyResource>, gatewayNamespace: string, proxyNamespace: string, sdsName: string): boolean {
  if (!sdsName.startsWith(GATEWAY_CREDENTIAL_PREFIX)) return true;
  if (gatewayNamespace !== proxyNamespace) return false;
  const ref = credentialRef(sdsName, proxyNamespace);
  if (!ref) return false;
  const name = ref.name.endsWith(CA_CREDENTIAL_SUFFIX) ? ref.name.slice(0, -CA_CREDENTIAL_SUFFIX.length) : ref.name;
  return secretGranted(resources, proxyNamespace, ref.namespace, name);
}

/**
 * The Gateway API's tie-break between routes: the oldest first (creation time as written; one without
 * is created now, after every exported one), then namespace, then name, each alphabetically (Istio's
 * sortRoutesByCreationTime: not the string `namespace/name`, in which `team-b/x` would sort before `team/x`).
 */
export function byAge(a: { metadata: ObjectMeta }, b: { metadata: ObjectMeta }): number {
  const ta = creationSecond(a);
  const tb = creationSecond(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name);
}

/** Go's cmp.Compare on strings: by UTF-16 code unit here, the same order for the API's ASCII names. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The second a resource was created, Istio's first ordering key (sortConfigByCreationTime): a manifest
 * without a creationTimestamp is created now, after every exported one.
 */
export function creationSecond(r: { metadata: ObjectMeta }): number {
  const t = r.metadata.creationTimestamp === undefined ? Number.NaN : Date.parse(r.metadata.creationTimestamp);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : Math.floor(t / 1000);
}

/** A GRPCRoute, TCPRoute or TLSRoute read as the conversion reads routes (fields where an HTTPRoute's sit). */
export function asGatewayRoute(r: HTTPRoute | GRPCRoute | TCPRoute | TLSRoute): GatewayRoute {
  return r.kind === 'GRPCRoute' ? grpcAsHttpRoute(r) : r.kind === 'TCPRoute' ? tcpAsRoute(r) : r.kind === 'TLSRoute' ? tlsAsRoute(r) : r;
}
