// The output of translation for one proxy: every xDS resource it should have, by type URL and name.
// Sidecars get virtualOutbound/virtualInbound/connect_terminate; routers get their Gateway listeners.
import { buildProxyScope } from '../model/proxy-scope.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { buildFallbackClusters, buildOutboundClusters } from './clusters.ts';
import { gatewayServersByPort } from './gateway-servers.ts';
import { buildGatewayListeners } from './listener-gateway.ts';
import { buildInboundClusters, buildInboundListener, inboundPorts } from './listener-inbound.ts';
import { buildOutboundListener } from './listener-outbound.ts';
import { buildTunnelListener } from './listener-tunnel.ts';
import { meshTranslateOptions } from './default-options.ts';
import type { TranslateOptions } from './options.ts';
import { buildSidecarRouteConfig, httpPorts } from './route-config-sidecar.ts';

/** type URL → resource name → resource (Envoy canonical JSON, see docs/internals.md §2). */
export type ProxyResources = Map<string, Map<string, TypedAny>>;

export function buildProxyResources(
  snapshot: MeshSnapshot,
  proxy: ProxyView,
  options: TranslateOptions = meshTranslateOptions,
): ProxyResources {
  const scope = buildProxyScope(snapshot, proxy);
  const out: ProxyResources = new Map([
    [TypeUrl.Cluster, new Map()],
    [TypeUrl.ClusterLoadAssignment, new Map()],
    [TypeUrl.Listener, new Map()],
    [TypeUrl.RouteConfiguration, new Map()],
  ]);
  const put = (typeUrl: string, key: string, r: Record<string, unknown>) => {
    r['@type'] = typeUrl;
    out.get(typeUrl)?.set(String(r[key]), r as TypedAny);
  };
  const outbound = buildOutboundClusters(snapshot, scope, options);
  for (const c of [...outbound.clusters, ...buildFallbackClusters(snapshot.mesh.connectTimeoutMs)]) put(TypeUrl.Cluster, 'name', c);
  for (const la of outbound.loadAssignments) put(TypeUrl.ClusterLoadAssignment, 'cluster_name', la);

  if (proxy.role === 'router') {
    const gw = buildGatewayListeners(snapshot, scope, gatewayServersByPort(snapshot, scope), options);
    for (const l of gw.listeners) put(TypeUrl.Listener, 'name', l);
    for (const rc of gw.routeConfigs) put(TypeUrl.RouteConfiguration, 'name', rc);
    return out;
  }
  const ports = inboundPorts(snapshot, scope);
  for (const c of buildInboundClusters(scope, ports)) put(TypeUrl.Cluster, 'name', c);
  put(TypeUrl.Listener, 'name', buildOutboundListener(snapshot, scope, options));
  put(TypeUrl.Listener, 'name', buildInboundListener(snapshot, scope, ports, options));
  put(TypeUrl.Listener, 'name', buildTunnelListener());
  for (const port of httpPorts(scope)) put(TypeUrl.RouteConfiguration, 'name', buildSidecarRouteConfig(snapshot, scope, port));
  return out;
}
