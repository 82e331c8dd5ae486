// A router's listeners `0.0.0.0_PORT`, one per Gateway server port: plaintext HTTP through RDS
// `http.PORT`, TLS-terminated HTTPS per server (SNI), TLS passthrough, TLS-terminated TCP and TCP
// through tcp_proxy.
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp, parseProtocol } from '../model/protocol.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { type GatewayServer, httpsRouteName, serverNames, virtualServicesOn } from './gateway-servers.ts';
import { buildHttpConnectionManager, buildTcpFilters } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { buildGatewayRouteConfig } from './route-config-gateway.ts';
import { tcpTargets, tlsChains } from './tcp-routes.ts';

const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };

export interface GatewayOutput {
  listeners: Record<string, unknown>[];
  routeConfigs: Record<string, unknown>[];
}

export function buildGatewayListeners(snapshot: MeshSnapshot, scope: ProxyScope, byPort: Map<number, GatewayServer[]>, options: TranslateOptions): GatewayOutput {
  const out: GatewayOutput = { listeners: [], routeConfigs: [] };
  for (const [port, servers] of byPort) {
    const chains: Record<string, unknown>[] = [];
    const plainHttp = servers.filter((s) => isHttp(parseProtocol(s.server.port.protocol)));
    if (plainHttp.length > 0) {
      out.routeConfigs.push(buildGatewayRouteConfig(snapshot, scope, `http.${port}`, port, plainHttp));
      chains.push({ filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${port}`, port, direction: 'gateway', rds: `http.${port}` })] });
    }
    for (const gs of servers) {
      const protocol = parseProtocol(gs.server.port.protocol);
      const mode = gs.server.tls?.mode;
      const sni = serverNames(gs);
      if ((protocol === 'HTTPS' || protocol === 'TLS') && (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH')) {
        for (const { vs } of virtualServicesOn(snapshot, scope, gs)) {
          // A route's `match.port` names the Gateway server's port (443), not the pod's it is bound on (8443).
          for (const c of tlsChains(snapshot, scope, vs, gs.server.port.number, [gs.key])) {
            // `*` is any SNI: Envoy's server_names has no such entry, so the chain matches without one.
            const names = c.sniHosts.includes('*') ? [] : c.sniHosts;
            chains.push({ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${port}`, port, direction: 'gateway', targets: c.targets }) });
          }
        }
      } else if (protocol === 'HTTPS') {
        const name = httpsRouteName(gs);
        out.routeConfigs.push(buildGatewayRouteConfig(snapshot, scope, name, port, [gs]));
        const transport = options.gatewayTls(snapshot, scope.proxy, gs.gateway, gs.server);
        chains.push({
          ...(sni.length ? { filter_chain_match: { server_names: sni } } : {}),
          ...(transport ? { transport_socket: transport } : {}),
          filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${port}`, port, direction: 'gateway', rds: name })],
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
              filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${port}`, port, direction: 'gateway', targets }),
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
      name: `0.0.0.0_${port}`,
      address: { socket_address: { address: '0.0.0.0', port_value: port } },
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
