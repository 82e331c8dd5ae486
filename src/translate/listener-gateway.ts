// A router's listeners `0.0.0.0_PORT` (`BIND_PORT` with a bind), one per Gateway server port and bind:
// plaintext HTTP through RDS `http.PORT`, TLS-terminated HTTPS per server (SNI), TLS passthrough,
// TLS-terminated TCP and TCP through tcp_proxy.
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp, parseProtocol } from '../model/protocol.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { gatewayRouteName, type MergedServers, serverNames, virtualServicesOn } from './gateway-servers.ts';
import { buildHttpConnectionManager, buildTcpFilters } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { buildGatewayRouteConfig } from './route-config-gateway.ts';
import { tcpTargets, tlsChains } from './tcp-routes.ts';

const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };

export interface GatewayOutput {
  listeners: Record<string, unknown>[];
  routeConfigs: Record<string, unknown>[];
}

export function buildGatewayListeners(snapshot: MeshSnapshot, scope: ProxyScope, merged: readonly MergedServers[], options: TranslateOptions): GatewayOutput {
  const out: GatewayOutput = { listeners: [], routeConfigs: [] };
  for (const { port, bind, servers } of merged) {
    // A server's `bind` is the listener's address and name (Istio's `BIND_PORT`); the proxy binds it as
    // given, and a bind that fails is reported for that listener, never widened to every address.
    const address = bind || '0.0.0.0';
    const statPrefix = `outbound_${address}_${port}`;
    const chains: Record<string, unknown>[] = [];
    const plainHttp = servers.filter((s) => isHttp(parseProtocol(s.server.port.protocol)));
    if (plainHttp[0]) {
      const name = gatewayRouteName(plainHttp[0], port);
      out.routeConfigs.push(buildGatewayRouteConfig(snapshot, scope, name, plainHttp));
      chains.push({ filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix, port, direction: 'gateway', rds: name })] });
    }
    // The SNI names passthrough routes have taken on the listener: a TLS match naming one again is
    // skipped whole (Istio's buildGatewayNetworkFiltersFromTLSRoutes, CheckDuplicates).
    const sniTaken = new Set<string>();
    for (const gs of servers) {
      const protocol = parseProtocol(gs.server.port.protocol);
      const mode = gs.server.tls?.mode;
      const sni = serverNames(gs);
      // AUTO_PASSTHROUGH forwards a sidecar's own mTLS by its SNI to the pods, which the mesh tunnel
      // cannot take: the server is refused (OR1045) and builds nothing.
      if (mode === 'AUTO_PASSTHROUGH') continue;
      if ((protocol === 'HTTPS' || protocol === 'TLS') && mode === 'PASSTHROUGH') {
        for (const { vs } of virtualServicesOn(snapshot, scope, gs)) {
          // A route's `match.port` names the Gateway server's port (443), not the pod's it is bound on (8443).
          for (const c of tlsChains(snapshot, scope, vs, gs.server.port.number, [gs.key])) {
            if (c.sniHosts.some((h) => sniTaken.has(h))) continue;
            for (const h of c.sniHosts) sniTaken.add(h);
            // `*` is any SNI: Envoy's server_names has no such entry, so the chain matches without one.
            const names = c.sniHosts.includes('*') ? [] : c.sniHosts;
            chains.push({ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix, port, direction: 'gateway', targets: c.targets }) });
          }
        }
      } else if (protocol === 'HTTPS') {
        const name = gatewayRouteName(gs, port);
        out.routeConfigs.push(buildGatewayRouteConfig(snapshot, scope, name, [gs]));
        const transport = options.gatewayTls(snapshot, scope.proxy, gs.gateway, gs.server);
        chains.push({
          ...(sni.length ? { filter_chain_match: { server_names: sni } } : {}),
          ...(transport ? { transport_socket: transport } : {}),
          filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix, port, direction: 'gateway', rds: name })],
        });
      } else if (!isHttp(protocol)) {
        // A TLS server that terminates (SIMPLE, MUTUAL): its TCP routes take the decrypted connection.
        const transport = protocol === 'TLS' ? options.gatewayTls(snapshot, scope.proxy, gs.gateway, gs.server) : undefined;
        for (const { vs } of virtualServicesOn(snapshot, scope, gs)) {
          const targets = tcpTargets(snapshot, scope, vs, gs.server.port.number, [gs.key]);
          if (targets) {
            chains.push({
              ...(transport && sni.length ? { filter_chain_match: { server_names: sni } } : {}),
              ...(transport ? { transport_socket: transport } : {}),
              filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix, port, direction: 'gateway', targets }),
            });
            break;
          }
        }
      }
    }
    if (chains.length === 0) continue;
    // Chains matched by SNI need the ClientHello read before a chain is chosen, as Istio's gateways do.
    const bySni = chains.some((c) => ((c['filter_chain_match'] as { server_names?: string[] } | undefined)?.server_names?.length ?? 0) > 0);
    out.listeners.push({
      name: `${address}_${port}`,
      address: { socket_address: { address, port_value: port } },
      traffic_direction: 'OUTBOUND',
      ...(bySni ? { listener_filters: [TLS_INSPECTOR] } : {}),
      filter_chains: dedupe(chains),
    });
  }
  return out;
}

function dedupe(chains: Record<string, unknown>[]): Record<string, unknown>[] {
  const seen = new Set<string>();
  return chains.filter((c) => {
    const key = JSON.stringify(c['filter_chain_match'] ?? {});
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
