// The sidecar's `virtualInbound` listener (15006): one chain per inbound target port (HTTP through
// the connection manager to `inbound|port||`, TCP through network RBAC and tcp_proxy), and their local
// clusters. PeerAuthentication decides which transports a port's chain accepts: streams arriving through
// the mesh tunnel count as `tls`, plaintext connections as `raw_buffer` (Istio's filter chain matches).
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp, type Protocol, parseProtocol } from '../model/protocol.ts';
import { matchesLabels } from '../model/labels.ts';
import type { PeerAuthentication } from '../config/resource.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { buildInboundCluster, inboundClusterName } from './clusters.ts';
import { buildHttpConnectionManager, buildTcpProxy } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { type EffectiveMtlsMode, effectiveMtls } from './peer-authentication.ts';

/** The transport a port accepts under its mTLS mode; undefined = both (PERMISSIVE). */
export function transportFor(mode: EffectiveMtlsMode): 'tls' | 'raw_buffer' | undefined {
  return mode === 'STRICT' ? 'tls' : mode === 'DISABLE' ? 'raw_buffer' : undefined;
}

export interface InboundPort {
  /** The container port traffic is addressed to (the service's targetPort). */
  port: number;
  protocol: Protocol;
}

/** Inbound ports: the Sidecar's ingress listeners if it has any, else the target ports of services selecting the proxy. */
export function inboundPorts(snapshot: MeshSnapshot, scope: ProxyScope): InboundPort[] {
  const ingress = scope.sidecar?.spec.ingress;
  const byPort = new Map<number, Protocol>();
  if (ingress?.length) {
    for (const l of ingress) byPort.set(l.port.number, parseProtocol(l.port.protocol));
  } else {
    const proxy = scope.proxy;
    for (const s of snapshot.servicesByNamespace.get(proxy.namespace) ?? []) {
      if (s.source !== 'kubernetes' || !s.selector || !matchesLabels(s.selector, proxy.labels)) continue;
      for (const p of s.ports) if (!byPort.has(p.targetPort)) byPort.set(p.targetPort, p.protocol);
    }
  }
  return [...byPort].sort((a, b) => a[0] - b[0]).map(([port, protocol]) => ({ port, protocol }));
}

export function buildInboundListener(snapshot: MeshSnapshot, scope: ProxyScope, ports: readonly InboundPort[], options: TranslateOptions): Record<string, unknown> {
  const peerAuthentications = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const proxy = scope.proxy;
  const chains = ports.map(({ port, protocol }) => {
    const mtls = effectiveMtls(peerAuthentications, { namespace: proxy.namespace, labels: proxy.labels, port }, snapshot.mesh.rootNamespace);
    const transport = transportFor(mtls.mode);
    const cluster = inboundClusterName(port);
    const filter =
      isHttp(protocol) || protocol === 'auto'
        ? buildHttpConnectionManager(snapshot, scope.proxy, options, {
            statPrefix: `inbound_0.0.0.0_${port}`,
            port,
            direction: 'inbound',
            routeConfig: {
              name: cluster,
              virtual_hosts: [
                {
                  name: `inbound|http|${port}`,
                  domains: ['*'],
                  routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0 } } }],
                },
              ],
              validate_clusters: { value: false },
            },
          })
        : undefined;
    const filters = filter
      ? [filter]
      : [...options.tcpFilters.flatMap((build) => build(snapshot, proxy, port)), buildTcpProxy(cluster, [{ cluster }])];
    return {
      name: cluster,
      filter_chain_match: { destination_port: { value: port }, ...(transport ? { transport_protocol: transport } : {}) },
      filters,
    };
  });
  return {
    name: 'virtualInbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    traffic_direction: 'INBOUND',
    filter_chains: chains,
    // Ports no service declares reach nothing (Istio would pass them through to the app).
    default_filter_chain: { name: 'BlackHoleCluster', filters: [buildTcpProxy('BlackHoleCluster', [{ cluster: 'BlackHoleCluster' }])] },
  };
}

export function buildInboundClusters(scope: ProxyScope, ports: readonly InboundPort[]): Record<string, unknown>[] {
  return ports.map(({ port, protocol }) => buildInboundCluster(port, scope.proxy.appPorts[port] ?? port, protocol));
}
