// The sidecar's `virtualOutbound` listener (15001): one HTTP chain per HTTP port (RDS named by the
// port), TCP/TLS chains per service port (matched by the service's addresses where it has them), and a
// default chain to Passthrough or BlackHole. An undeclared port gets both: its HTTP chain for what the
// http_inspector detects, a TCP chain otherwise; with addresses, both per address.
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp } from '../model/protocol.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { toStruct } from '../xds/any.ts';
import { outboundClusterName } from './clusters.ts';
import { detectionFields, type InboundPort, PLAINTEXT_HTTP_ALPNS } from './listener-inbound.ts';
import { buildHttpConnectionManager, buildTcpFilters } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { domainsFor, httpPorts } from './route-config-sidecar.ts';
import { tcpTargets, tlsChains } from './tcp-routes.ts';
import { virtualServiceFor } from './virtual-service-routes.ts';

export function buildOutboundListener(snapshot: MeshSnapshot, scope: ProxyScope, options: TranslateOptions): Record<string, unknown> {
  const chains: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const add = (chain: Record<string, unknown>) => {
    const key = JSON.stringify(chain['filter_chain_match']);
    if (seen.has(key)) return;
    seen.add(key);
    chains.push(chain);
  };
  // A port is sniffed when some service leaves it undeclared and none declares it HTTP (Istio's
  // outbound ALPN list for a detected-HTTP chain, as on virtualInbound's plaintext chains).
  const ports: InboundPort[] = scope.services.flatMap((s) => s.ports.map((p) => ({ port: p.port, protocol: p.protocol })));
  const sniffed = new Set(ports.filter((p) => p.protocol === 'auto').map((p) => p.port));
  for (const p of ports) if (isHttp(p.protocol)) sniffed.delete(p.port);
  for (const port of httpPorts(scope)) {
    add({
      name: `0.0.0.0_${port}`,
      filter_chain_match: { destination_port: { value: port }, ...(sniffed.has(port) ? { application_protocols: [...PLAINTEXT_HTTP_ALPNS] } : {}) },
      filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${port}`, port, direction: 'outbound', rds: String(port) })],
    });
  }
  for (const service of scope.services) {
    const vs = virtualServiceFor(snapshot, scope, service.hostname, ['mesh']);
    for (const sp of service.ports) {
      if (isHttp(sp.protocol) || (sp.protocol === 'auto' && !sniffed.has(sp.port))) continue;
      const ranges = service.addresses.map((a) => ({ address_prefix: a, prefix_len: { value: a.includes(':') ? 128 : 32 } }));
      const tls = sp.protocol === 'TLS' || sp.protocol === 'HTTPS';
      const metadata = { filter_metadata: { outrigger: toStruct({ hosts: domainsFor(service, sp.port, scope.proxy.namespace) }) } };
      const statPrefix = outboundClusterName(sp.port, '', service.hostname);
      if (tls && vs) {
        for (const c of tlsChains(snapshot, scope, vs, sp.port, ['mesh'])) {
          add({
            name: `${statPrefix}|${c.sniHosts.join(',')}`,
            filter_chain_match: { destination_port: { value: sp.port }, ...(ranges.length ? { prefix_ranges: ranges } : {}), server_names: c.sniHosts },
            filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix, port: sp.port, direction: 'outbound', targets: c.targets }),
            metadata,
          });
        }
      }
      if (sniffed.has(sp.port) && ranges.length) {
        // Envoy matches the destination address before application protocols, so an address's TCP
        // chain would take sniffed HTTP too: the address gets its own detected-HTTP chain first.
        add({
          name: `${statPrefix}|http`,
          filter_chain_match: { destination_port: { value: sp.port }, prefix_ranges: ranges, application_protocols: [...PLAINTEXT_HTTP_ALPNS] },
          filters: [buildHttpConnectionManager(snapshot, scope.proxy, options, { statPrefix: `outbound_0.0.0.0_${sp.port}`, port: sp.port, direction: 'outbound', rds: String(sp.port) })],
          metadata,
        });
      }
      const targets = (vs && tcpTargets(snapshot, scope, vs, sp.port, ['mesh'])) || [{ cluster: statPrefix }];
      const match: Record<string, unknown> = { destination_port: { value: sp.port } };
      if (ranges.length) match['prefix_ranges'] = ranges;
      else if (tls) match['server_names'] = [service.hostname];
      add({ name: statPrefix, filter_chain_match: match, filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix, port: sp.port, direction: 'outbound', targets }), metadata });
    }
  }
  const fallback = scope.outboundTrafficPolicy === 'REGISTRY_ONLY' ? 'BlackHoleCluster' : 'PassthroughCluster';
  return {
    name: 'virtualOutbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    traffic_direction: 'OUTBOUND',
    // A captured connection is matched by where it was going (netns mode's iptables REDIRECT).
    use_original_dst: { value: true },
    // Only sniffed ports are inspected; every other port counts as declared.
    ...detectionFields(snapshot, ports.map((p) => ({ port: p.port, protocol: sniffed.has(p.port) ? 'auto' : 'TCP' }))),
    filter_chains: chains,
    // Istio's catch-all chain reports too (destination_service_name PassthroughCluster or BlackHoleCluster).
    default_filter_chain: { name: fallback, filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix: fallback, port: 0, direction: 'outbound', targets: [{ cluster: fallback }] }) },
  };
}
