// The sidecar's `virtualInbound` listener (15006): one chain per inbound target port (HTTP through
// the connection manager to `inbound|port||`, TCP through network RBAC and tcp_proxy), two for an
// undeclared port (detected HTTP, then TCP, behind Istio's inspectors), and their local clusters. PeerAuthentication decides which transports a port's chain accepts: streams arriving through
// the mesh tunnel count as `tls`, plaintext connections as `raw_buffer` (Istio's filter chain matches).
import { isIP } from 'node:net';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isGrpc, isHttp, type Protocol, parseProtocol } from '../model/protocol.ts';
import { matchesLabels } from '../model/labels.ts';
import type { PeerAuthentication, SidecarResource } from '../config/resource.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshService } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { buildInboundCluster, inboundClusterName } from './clusters.ts';
import { buildHttpConnectionManager, buildTcpFilters, buildTcpProxy } from './network-filters.ts';
import type { TranslateOptions } from './options.ts';
import { type EffectiveMtlsMode, effectiveMtls } from './peer-authentication.ts';
import { duration, parseDurationMs } from '../xds/duration.ts';

/** The transport a port accepts under its mTLS mode; undefined = both (PERMISSIVE). */
export function transportFor(mode: EffectiveMtlsMode): 'tls' | 'raw_buffer' | undefined {
  return mode === 'STRICT' ? 'tls' : mode === 'DISABLE' ? 'raw_buffer' : undefined;
}

export interface InboundPort {
  /** The container port traffic is addressed to (the service's targetPort). */
  port: number;
  protocol: Protocol;
  /** The span name of its inbound route (its Envoy decorator); inbound ports only. */
  operation?: string;
}

/** The services of the proxy's namespace whose selector picks it (Kubernetes Services, and ServiceEntries by workloadSelector). */
export function servicesSelecting(snapshot: MeshSnapshot, proxy: { namespace: string; labels: Readonly<Record<string, string>> }): MeshService[] {
  return (snapshot.servicesByNamespace.get(proxy.namespace) ?? []).filter((s) => s.selector !== undefined && matchesLabels(s.selector, proxy.labels));
}

/**
 * Inbound ports: the Sidecar's ingress listeners if it has any, else the target ports of services
 * selecting the proxy. As pilot's inbound chain configs, the first service to a port decides its
 * protocol and its operation (`host:servicePort/*`); a Sidecar's ports are named `name.namespace:port/*`.
 */
export function inboundPorts(snapshot: MeshSnapshot, scope: ProxyScope): InboundPort[] {
  const ingress = scope.sidecar?.spec.ingress;
  const byPort = new Map<number, InboundPort>();
  if (ingress?.length) {
    const host = `${scope.sidecar?.metadata.name}.${scope.sidecar?.metadata.namespace}`;
    for (const l of ingress) byPort.set(l.port.number, { port: l.port.number, protocol: parseProtocol(l.port.protocol), operation: `${host}:${l.port.number}/*` });
  } else {
    // Istio's GetProxyServiceTargets: the Kubernetes registry's targets, then the ServiceEntry registry's
    // (a workloadSelector picking the proxy, whatever the entry's location).
    const selecting = servicesSelecting(snapshot, scope.proxy);
    const ordered = [...selecting.filter((s) => s.source === 'kubernetes'), ...selecting.filter((s) => s.source !== 'kubernetes')];
    for (const s of ordered) {
      for (const p of s.ports) {
        const target = snapshot.targetPortFor(p, scope.proxy);
        if (!byPort.has(target)) byPort.set(target, { port: target, protocol: p.protocol, operation: `${s.hostname}:${p.port}/*` });
      }
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

// Istio's ALPN lists for an undeclared port's HTTP chain (pilot/pkg/networking/core/listener.go): what
// http_inspector reports for plaintext (`http/1.0` only with PILOT_HTTP10), what the client sidecar's
// ALPN override sends over mTLS. A PERMISSIVE chain (no transport match) stands for both of Istio's
// chains, so it lists both, as Istio's catch-all HTTP chain does.
export const PLAINTEXT_HTTP_ALPNS: readonly string[] = ['http/1.1', 'h2c'];
export const MTLS_HTTP_ALPNS: readonly string[] = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

function httpAlpnsFor(transport: 'tls' | 'raw_buffer' | undefined): string[] {
  if (transport === 'tls') return [...MTLS_HTTP_ALPNS];
  if (transport === 'raw_buffer') return [...PLAINTEXT_HTTP_ALPNS];
  return [...PLAINTEXT_HTTP_ALPNS, ...MTLS_HTTP_ALPNS];
}

const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
// First on virtualInbound, as in Istio: a connection iptables redirected to 15006 (netns mode's app
// ports) is matched by the port it was sent to.
const ORIGINAL_DST = { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } };
const HTTP_INSPECTOR = { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } };

/** meshConfig.protocolDetectionTimeout in ms; Istio's default 0s means no timeout. */
function detectionTimeoutMs(snapshot: MeshSnapshot): number {
  const raw = (snapshot.mesh.raw as { protocolDetectionTimeout?: unknown }).protocolDetectionTimeout;
  return typeof raw === 'string' ? (parseDurationMs(raw) ?? 0) : 0;
}

/**
 * The inspectors of a listener with undeclared ports (none where every port is declared). Declared
 * ports are not sniffed (Istio's per-port filter_disabled): a server-first protocol there would
 * otherwise wait for client bytes that never come. Shared by virtualInbound and virtualOutbound.
 */
export function detectionFields(snapshot: MeshSnapshot, ports: readonly InboundPort[]): Record<string, unknown> {
  if (!ports.some((p) => p.protocol === 'auto')) return {};
  const declared = [...new Set(ports.filter((p) => p.protocol !== 'auto').map((p) => p.port))].map((port) => ({ destination_port_range: { start: port, end: port + 1 } }));
  const disabled = declared.length === 0 ? {} : { filter_disabled: declared.length === 1 ? declared[0] : { or_match: { rules: declared } } };
  return {
    listener_filters: [{ ...TLS_INSPECTOR, ...disabled }, { ...HTTP_INSPECTOR, ...disabled }],
    listener_filters_timeout: duration(detectionTimeoutMs(snapshot)),
    continue_on_listener_filters_timeout: true,
  };
}

/**
 * The action of an inbound port's one route, as Istio's BuildDefaultHTTPInboundRoute (1.24+): no
 * timeout, no stream duration limit, a gRPC client's grpc-timeout header unbounded, and, but for gRPC,
 * two retries of a request the app's connection reset before it was sent (ENABLE_INBOUND_RETRY_POLICY).
 * "gRPC" is Istio's `!protocol.IsGRPC()`, which counts gRPC-Web too.
 */
function inboundRouteAction(cluster: string, protocol: Protocol): Record<string, unknown> {
  return {
    cluster,
    timeout: { seconds: 0 },
    max_stream_duration: { max_stream_duration: { seconds: 0 }, grpc_timeout_header_max: { seconds: 0 } },
    ...(isGrpc(protocol) ? {} : { retry_policy: { retry_on: 'reset-before-request', num_retries: { value: 2 } } }),
  };
}

export function buildInboundListener(snapshot: MeshSnapshot, scope: ProxyScope, ports: readonly InboundPort[], options: TranslateOptions): Record<string, unknown> {
  const peerAuthentications = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const proxy = scope.proxy;
  const chains = ports.flatMap(({ port, protocol, operation }) => {
    const mtls = effectiveMtls(peerAuthentications, { namespace: proxy.namespace, labels: proxy.labels, port }, snapshot.mesh.rootNamespace);
    const transport = transportFor(mtls.mode);
    const cluster = inboundClusterName(port);
    const match = { destination_port: { value: port }, ...(transport ? { transport_protocol: transport } : {}) };
    const http = () =>
      buildHttpConnectionManager(snapshot, scope.proxy, options, {
        statPrefix: `inbound_0.0.0.0_${port}`,
        port,
        direction: 'inbound',
        routeConfig: {
          name: cluster,
          virtual_hosts: [
            {
              name: `inbound|http|${port}`,
              domains: ['*'],
              routes: [{ name: 'default', match: { prefix: '/' }, route: inboundRouteAction(cluster, protocol), ...(operation ? { decorator: { operation } } : {}) }],
            },
          ],
          validate_clusters: { value: false },
        },
      });
    const tcp = () => buildTcpFilters(snapshot, proxy, options, { statPrefix: cluster, port, direction: 'inbound', targets: [{ cluster }] });
    if (isHttp(protocol)) return [{ name: cluster, filter_chain_match: match, filters: [http()] }];
    if (protocol !== 'auto') return [{ name: cluster, filter_chain_match: match, filters: tcp() }];
    // Undeclared: the inspectors decide. Detected HTTP takes the first chain, anything else the second.
    return [
      { name: cluster, filter_chain_match: { ...match, application_protocols: httpAlpnsFor(transport) }, filters: [http()] },
      { name: `${cluster}-tcp`, filter_chain_match: match, filters: tcp() },
    ];
  });
  const detection = detectionFields(snapshot, ports) as { listener_filters?: unknown[] };
  return {
    name: 'virtualInbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    traffic_direction: 'INBOUND',
    ...detection,
    listener_filters: [ORIGINAL_DST, ...(detection.listener_filters ?? [])],
    filter_chains: chains,
    // Ports no service declares reach nothing (Istio would pass them through to the app).
    default_filter_chain: { name: 'BlackHoleCluster', filters: [buildTcpProxy('BlackHoleCluster', [{ cluster: 'BlackHoleCluster' }])] },
  };
}

/**
 * Each inbound port's cluster, carrying the services that deliver to that port (all the services that
 * select the workload where none does, as a Sidecar's ingress port may be): what the telemetry filter
 * reports as the destination service.
 */
export function buildInboundClusters(snapshot: MeshSnapshot, scope: ProxyScope, ports: readonly InboundPort[]): Record<string, unknown>[] {
  const proxy = scope.proxy;
  const selecting = servicesSelecting(snapshot, proxy);
  return ports.map(({ port, protocol }) => {
    const byPort = selecting.filter((s) => s.ports.some((p) => snapshot.targetPortFor(p, proxy) === port));
    const app = appEndpoint(scope, port);
    return buildInboundCluster(port, proxy.appPorts[app.port] ?? app.port, protocol, byPort.length > 0 ? byPort : selecting, app.address);
  });
}

/**
 * Where an inbound port's cluster delivers: as Istio's buildInboundClustersFromSidecar, a Sidecar ingress
 * listener's defaultEndpoint, `127.0.0.1:PORT` (`[::1]:PORT`) the loopback and `0.0.0.0:PORT`
 * (`[::]:PORT`) the workload's own address, falling back to the loopback where it has none of that
 * family; else the app on the loopback at the port itself. The port is a container port (process mode
 * maps it to the app's). A `unix://` endpoint is not supported (OR1045): the default applies.
 */
function appEndpoint(scope: ProxyScope, port: number): { address: string; port: number } {
  const endpoint = scope.sidecar?.spec.ingress?.find((l) => l.port.number === port)?.defaultEndpoint;
  const colon = endpoint?.lastIndexOf(':') ?? -1;
  const to = Number(endpoint?.slice(colon + 1));
  if (!endpoint || endpoint.startsWith('unix://') || colon < 0 || !Number.isInteger(to) || to <= 0) return { address: '127.0.0.1', port };
  const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const ip = scope.proxy.ip;
  if (host === '0.0.0.0') return { address: isIP(ip) === 4 ? ip : '127.0.0.1', port: to };
  if (host === '::') return { address: isIP(ip) === 6 ? ip : '::1', port: to };
  return { address: host === '::1' ? '::1' : '127.0.0.1', port: to };
}

/**
 * What the inbound clusters read of the proxy besides its workload: its address, where the Sidecar's
 * defaultEndpoint names it (`0.0.0.0:PORT`); replicas of a workload share their translation otherwise.
 */
export function inboundAddressKey(sidecar: SidecarResource | undefined, proxy: ProxyView): string {
  return sidecar?.spec.ingress?.some((l) => /^(0\.0\.0\.0|\[::\]):/.test(l.defaultEndpoint ?? '')) ? proxy.ip : '';
}
