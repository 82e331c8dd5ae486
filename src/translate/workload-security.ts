// The security filters of one workload's proxy, as Istio places them: `jwt_authn` (RequestAuthentication),
// then the authorization filters (CUSTOM ext_authz, DENY, AUDIT, ALLOW) on inbound HTTP and on gateways,
// and network RBAC in front of tcp_proxy on inbound TCP ports.
import type { AuthorizationPolicy, RequestAuthentication } from '../config/resource.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { type AuthorizationTarget, classicGatewaysOf, translateAuthorization } from './authorization.ts';
import type { HttpFilterBuilder, HttpFilterEntry, NetworkFilterBuilder } from './options.ts';
import { translateRequestAuthentication } from './request-authentication.ts';

function target(snapshot: MeshSnapshot, proxy: ProxyView, port: number): AuthorizationTarget {
  return {
    workloadLabels: proxy.labels,
    namespace: proxy.namespace,
    rootNamespace: snapshot.mesh.rootNamespace,
    trustDomain: snapshot.mesh.trustDomain,
    trustDomainAliases: snapshot.mesh.trustDomainAliases,
    port,
    extensionProviders: snapshot.mesh.raw.extensionProviders ?? [],
    classicGateways: classicGatewaysOf(snapshot.gateways, proxy),
  };
}

const policies = (s: MeshSnapshot) => s.resources.filter((r): r is AuthorizationPolicy => r.kind === 'AuthorizationPolicy');
const requestAuthentications = (s: MeshSnapshot) => s.resources.filter((r): r is RequestAuthentication => r.kind === 'RequestAuthentication');

/** jwt_authn and the authorization filters: a server-side concern, so inbound and gateway listeners only. */
export const securityHttpFilters: HttpFilterBuilder = (snapshot, proxy, port, direction) => {
  if (direction === 'outbound') return [];
  const t = target(snapshot, proxy, port);
  const out: HttpFilterEntry[] = [];
  const jwt = translateRequestAuthentication(requestAuthentications(snapshot), t, proxy.role === 'router').http;
  if (jwt) out.push(jwt);
  out.push(...translateAuthorization(policies(snapshot), t).http);
  return out;
};

/** Network RBAC for an inbound TCP port (outbound and gateway TCP chains get none). */
export const securityTcpFilters: NetworkFilterBuilder = (snapshot, proxy, port, direction) =>
  direction === 'inbound' ? translateAuthorization(policies(snapshot), target(snapshot, proxy, port)).tcp : [];
