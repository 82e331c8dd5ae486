// The sidecar's `virtualOutbound` listener (15001): one HTTP chain per HTTP port (RDS named by the
// port), TCP/TLS chains per service port (matched by the service's addresses where it has them, a
// headless service's by its endpoints' IPs), and a default chain to Passthrough (or the Sidecar's egress
// proxy) or BlackHole. An undeclared port gets both: its HTTP chain for what the http_inspector detects,
// a TCP chain otherwise; with addresses, both per address.
import { isIP } from 'node:net';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp } from '../model/protocol.ts';
import type { MeshService } from '../model/service.ts';
import { type MeshSnapshot, serviceKey } from '../model/snapshot.ts';
import { toStruct } from '../xds/any.ts';
import { outboundClusterName } from './clusters.ts';
import { detectionFields, type InboundPort, PLAINTEXT_HTTP_ALPNS } from './listener-inbound.ts';
import { buildHttpConnectionManager, buildTcpFilters } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { catchAllCluster, domainsFor, httpPorts } from './route-config-sidecar.ts';
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
  const endpointRanges = new EndpointRanges(snapshot);
  for (const service of scope.services) {
    for (const sp of service.ports) {
      if (isHttp(sp.protocol) || (sp.protocol === 'auto' && !sniffed.has(sp.port))) continue;
      // The egress listener of the chain's port decides which VirtualServices it imports, as Istio's.
      const vs = virtualServiceFor(snapshot, scope, service.hostname, ['mesh'], sp.port);
      const ranges = service.addresses.length > 0 ? service.addresses.map(addressRange) : endpointRanges.claim(service, sp.port);
      if (!ranges) continue;
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
  const fallback = catchAllCluster(scope);
  return {
    name: 'virtualOutbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    traffic_direction: 'OUTBOUND',
    // A captured connection is matched by where it was going (netns mode's iptables REDIRECT).
    use_original_dst: { value: true },
    // Only sniffed ports are inspected; every other port counts as declared.
    ...detectionFields(snapshot, ports.map((p) => ({ port: p.port, protocol: sniffed.has(p.port) ? 'auto' : 'TCP' }))),
    filter_chains: chains,
    // Istio's catch-all chain reports too (destination_service_name PassthroughCluster, BlackHoleCluster
    // or the egress proxy's service).
    default_filter_chain: { name: fallback, filters: buildTcpFilters(snapshot, scope.proxy, options, { statPrefix: fallback, port: 0, direction: 'outbound', targets: [{ cluster: fallback }] }) },
  };
}

type PrefixRange = { address_prefix: string; prefix_len: { value: number } };

/** A service address as a chain's range: an IP is its own /32 (/128), a CIDR keeps its length (Istio's ConvertAddressToCidr). */
export function addressRange(address: string): PrefixRange {
  const slash = address.indexOf('/');
  if (slash >= 0) return { address_prefix: address.slice(0, slash), prefix_len: { value: Number(address.slice(slash + 1)) } };
  return { address_prefix: address, prefix_len: { value: address.includes(':') ? 128 : 32 } };
}

/**
 * The ranges of a service port without addresses. One that passes connections through (a headless
 * Kubernetes Service, a resolution NONE ServiceEntry) takes only its endpoints' IPs, as Istio's
 * buildSidecarOutboundListeners gives such a TCP or undeclared port one listener per endpoint IP; the first
 * service to claim an IP on a port keeps it, as Istio's listener for that IP and port. Istio also leaves
 * out the proxy's own IP, whose traffic never reaches the outbound listener: kept here, so that the proxies
 * of a scope share the listener. In process mode every workload is 127.0.0.1, so the first such service of
 * a port claims it and a second one gets no chain: its connections take the first's (unlike Istio, where
 * pod IPs differ; docs/translation.md).
 */
class EndpointRanges {
  readonly #snapshot: MeshSnapshot;
  readonly #claimed = new Map<number, Set<string>>();

  constructor(snapshot: MeshSnapshot) {
    this.#snapshot = snapshot;
  }

  /** `[]`: the whole port; undefined: no chain (no endpoint left to match). */
  claim(service: MeshService, port: number): PrefixRange[] | undefined {
    if (!service.headless && service.resolution !== 'NONE') return [];
    const workloads = this.#snapshot.endpointsByService.get(serviceKey(service)) ?? [];
    const statics = this.#snapshot.staticEndpointsByService.get(serviceKey(service)) ?? [];
    const addresses = [...workloads.map((w) => w.address), ...statics.map((e) => e.spec.address ?? '')];
    // A ServiceEntry with neither endpoints nor a workloadSelector has nothing to match by: the whole port.
    if (!service.headless && addresses.length === 0 && !service.selector) return [];
    let claimed = this.#claimed.get(port);
    if (!claimed) {
      claimed = new Set();
      this.#claimed.set(port, claimed);
    }
    const ips = [...new Set(addresses.filter((a) => isIP(a) !== 0 && !claimed.has(a)))].sort();
    for (const ip of ips) claimed.add(ip);
    return ips.length > 0 ? ips.map(addressRange) : undefined;
  }
}
