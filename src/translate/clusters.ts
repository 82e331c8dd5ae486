// Clusters for one proxy: `outbound|port|subset|host` per visible service port and subset (with
// their load assignments), `inbound|port||` to the local app, and Passthrough/BlackHole.
import type { DestinationRule } from '../config/resource.ts';
import type { PortTrafficPolicy } from '../config/types/networking.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { isHttp, isHttp2, type Protocol } from '../model/protocol.ts';
import type { MeshService, MeshServicePort } from '../model/service.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { applyClusterLocality, proxyLocality } from './cluster-locality.ts';
import { passthroughMtlsDisabled } from './destination-mtls.ts';
import { destinationRuleFor, effectivePolicy } from './destination-policy.ts';
import { buildLoadAssignment, dnsLoadAssignment, type EndpointCache } from './endpoints.ts';
import type { ClusterTransport, TranslateOptions } from './options.ts';
import { serviceAccounts } from './service-accounts.ts';
import { defaultCircuitBreakers, translateTrafficPolicy } from './traffic-policy.ts';
import { durationOf } from './xds-values.ts';
import { type StructValue, toStruct } from '../xds/any.ts';
import { isMeshTlsContext } from '../xds/mesh-tls-context.ts';
import { TypeUrl } from '../xds/type-urls.ts';

export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export interface ClusterSet {
  clusters: Record<string, unknown>[];
  loadAssignments: Record<string, unknown>[];
}

export function buildOutboundClusters(snapshot: MeshSnapshot, scope: ProxyScope, options: TranslateOptions): ClusterSet {
  const out: ClusterSet = { clusters: [], loadAssignments: [] };
  const endpointCache: EndpointCache = new Map();
  const proxy = { locality: proxyLocality(snapshot, scope.proxy), labels: scope.proxy.labels };
  const router = scope.proxy.role === 'router';
  for (const service of scope.services) {
    const dr = destinationRuleFor(snapshot, scope, service);
    const subsets = [{ name: '', labels: undefined as Record<string, string> | undefined }, ...(dr?.spec.subsets ?? []).map((s) => ({ name: s.name, labels: s.labels ?? {} }))];
    const metadata = new Map<string, Record<string, unknown>>();
    const services = servicesStruct([service]);
    const metadataFor = (subset: string) => {
      let m = metadata.get(subset);
      if (!m) {
        m = clusterMetadata(subset, dr, services);
        metadata.set(subset, m);
      }
      return m;
    };
    for (const port of service.ports) {
      for (const subset of subsets) {
        const name = outboundClusterName(port.port, subset.name, service.hostname);
        const policy = effectivePolicy(dr, subset.name, port.port);
        const fields = protocolFields(trafficPolicyFields(policy, isHttp2(port.protocol), isHttp(port.protocol) || port.protocol === 'auto', snapshot.mesh.connectTimeoutMs), port.protocol);
        const found = discovery(snapshot, name, service, port, router);
        const auto = options.clientTls(snapshot, scope.proxy, { service, port: port.port, subset: subset.name, tls: policy.tls, clusterName: name });
        const { upstream_http_protocol_options: upstreamHttp, ...transport } = meshTlsForType(auto, (fields['type'] ?? found['type']) === 'ORIGINAL_DST', passthroughMtlsDisabled(snapshot, service));
        const cluster: Record<string, unknown> = {
          name,
          ...found,
          ...withUpstreamHttp(fields, upstreamHttp),
          ...transport,
          metadata: hasMeshTls(transport) ? metadataFor(subset.name) : withSecureNaming(metadataFor(subset.name), serviceAccounts(snapshot, service)),
        };
        if (cluster['type'] === 'ORIGINAL_DST') delete cluster['eds_cluster_config'];
        out.clusters.push(cluster);
        if (cluster['type'] === 'EDS' || cluster['type'] === undefined) {
          const cla = buildLoadAssignment(snapshot, name, service, port, subset.labels, endpointCache, policy.tls?.mode);
          out.loadAssignments.push(applyClusterLocality(cluster, cla, policy.loadBalancer?.localityLbSetting, proxy));
        }
      }
    }
  }
  return out;
}

// A policy object is shared by the subsets that do not override it (effectivePolicy), and the fields
// it gives a cluster depend only on it and the port's protocol: built once, shared (output is read-only).
const policyFields = new WeakMap<PortTrafficPolicy, Map<string, Record<string, unknown>>>();

function trafficPolicyFields(policy: PortTrafficPolicy, http2: boolean, http: boolean, connectTimeoutMs: number): Record<string, unknown> {
  let byInputs = policyFields.get(policy);
  if (!byInputs) {
    byInputs = new Map();
    policyFields.set(policy, byInputs);
  }
  const key = `${http2 ? 2 : 1}${http ? 'h' : 't'}${connectTimeoutMs}`;
  let fields = byInputs.get(key);
  if (!fields) {
    fields = translateTrafficPolicy({ policy, http2, http, connectTimeoutMs });
    byInputs.set(key, fields);
  }
  return fields;
}

// An undeclared (sniffed) port forwards in whatever protocol the client spoke, as Istio's cluster
// builder sets use_downstream_protocol_config where the protocol is unsupported; the policy's other
// HTTP options stay. Memoised per shared fields object so subsets keep sharing one.
const USE_DOWNSTREAM_PROTOCOL = { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } };
const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const downstreamFields = new WeakMap<Record<string, unknown>, Record<string, unknown>>();

/**
 * The fields with `upstream_http_protocol_options` merged into their HttpProtocolOptions (a new object;
 * fields are shared). One made here gets HTTP/1.1, as Istio's clusterWrapper.build() sets it when no
 * protocol is: Envoy requires one of explicit_http_config, use_downstream_protocol_config, auto_config.
 */
function withUpstreamHttp(fields: Record<string, unknown>, upstreamHttp: ClusterTransport['upstream_http_protocol_options']): Record<string, unknown> {
  if (!upstreamHttp) return fields;
  const options = (fields['typed_extension_protocol_options'] as Record<string, Record<string, unknown>> | undefined)?.[HPO] ?? { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http_protocol_options: {} } };
  return { ...fields, typed_extension_protocol_options: { [HPO]: { ...options, upstream_http_protocol_options: upstreamHttp } } };
}

function protocolFields(fields: Record<string, unknown>, protocol: Protocol): Record<string, unknown> {
  if (protocol !== 'auto') return fields;
  let out = downstreamFields.get(fields);
  if (!out) {
    const options = (fields['typed_extension_protocol_options'] as Record<string, Record<string, unknown>> | undefined)?.[HPO];
    const { explicit_http_config: _explicit, ...rest } = options ?? { '@type': TypeUrl.HttpProtocolOptions };
    out = { ...fields, typed_extension_protocol_options: { [HPO]: { ...rest, ...USE_DOWNSTREAM_PROTOCOL } } };
    downstreamFields.set(fields, out);
  }
  return out;
}

// Istio's convertResolution: a gateway cannot use a passthrough cluster, so resolution NONE is EDS there.
function discovery(snapshot: MeshSnapshot, name: string, service: MeshService, port: MeshServicePort, router: boolean): Record<string, unknown> {
  switch (service.resolution) {
    case 'NONE':
      return router ? edsDiscovery(name) : { type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
    case 'DNS':
      return { type: 'STRICT_DNS', load_assignment: dnsLoadAssignment(snapshot, name, service, port), dns_lookup_family: 'V4_ONLY' };
    case 'DNS_ROUND_ROBIN':
      return { type: 'LOGICAL_DNS', load_assignment: dnsLoadAssignment(snapshot, name, service, port), dns_lookup_family: 'V4_ONLY' };
    default:
      return edsDiscovery(name);
  }
}

function edsDiscovery(name: string): Record<string, unknown> {
  return { type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } };
}

/**
 * The mesh's mTLS as the cluster's type allows it. An ORIGINAL_DST cluster gets none, auto or the rule's
 * ISTIO_MUTUAL: Outrigger's mesh mTLS is the tunnel of a known endpoint, and the proxy dials an original
 * destination directly, in plaintext (Istio would send mTLS there; docs/security-mtls.md). A gateway's EDS
 * cluster of a passthrough service gets no auto mTLS unless every endpoint has a sidecar (Istio's
 * BestEffortInferServiceMTLSMode). TLS the rule originates (SIMPLE, MUTUAL) is left as it is.
 */
function meshTlsForType(t: ClusterTransport, originalDst: boolean, passthroughDisabled: boolean): ClusterTransport {
  if (originalDst && isMeshTlsContext(t.transport_socket?.typed_config)) return {};
  if (!t.transport_socket_matches) return t;
  return originalDst || passthroughDisabled ? {} : t;
}

// Written as the Struct it becomes (toStruct's output for the same JSON): the `services` entry is the
// same for every subset of the service, so it is built once per service and shared.
function clusterMetadata(subset: string, dr: DestinationRule | undefined, services: StructValue): Record<string, unknown> {
  const fields: Record<string, StructValue> = { services };
  if (subset) fields['subset'] = { stringValue: subset };
  if (dr) fields['config'] = { stringValue: `/apis/networking.istio.io/v1/namespaces/${dr.metadata.namespace}/destination-rule/${dr.metadata.name}` };
  return { filter_metadata: { istio: { fields } } };
}

/** The transport names the mesh's own TLS (the `default` workload secret), explicitly or by auto mTLS. */
function hasMeshTls(t: ClusterTransport): boolean {
  return t.transport_socket_matches !== undefined || isMeshTlsContext(t.transport_socket?.typed_config);
}

// Shared per (metadata, SAN list): the same objects for every cluster of a service (output is read-only).
const secureNamed = new WeakMap<Record<string, unknown>, WeakMap<readonly string[], Record<string, unknown>>>();

/**
 * A cluster without the mesh's TLS context (DestinationRule DISABLE, SIMPLE or MUTUAL; auto mTLS off)
 * still reaches meshed endpoints through the tunnel: its metadata carries the service's accounts
 * (`outrigger.secure_naming`), which the tunnel's server must present one of.
 */
function withSecureNaming(metadata: Record<string, unknown>, sans: readonly string[]): Record<string, unknown> {
  if (sans.length === 0) return metadata;
  let bySans = secureNamed.get(metadata);
  if (!bySans) {
    bySans = new WeakMap();
    secureNamed.set(metadata, bySans);
  }
  let m = bySans.get(sans);
  if (!m) {
    const fm = metadata['filter_metadata'] as Record<string, unknown>;
    m = { filter_metadata: { ...fm, outrigger: toStruct({ secure_naming: [...sans] }) } };
    bySans.set(sans, m);
  }
  return m;
}

function servicesStruct(services: readonly MeshService[]): StructValue {
  return { listValue: { values: services.map((s) => ({ structValue: toStruct({ host: s.hostname, name: s.name, namespace: s.namespace }) })) } };
}

/**
 * `inbound|port||` → the app on loopback at the port it really listens on (process mode). HTTP/2 and
 * gRPC ports talk HTTP/2 to the app, as Istio's do; an undeclared (sniffed) port speaks whatever the
 * client spoke (Istio's cluster builder sets use_downstream_protocol_config where the protocol is unsupported).
 */
export function buildInboundCluster(port: number, appPort: number, protocol?: Protocol, services: readonly MeshService[] = [], appAddress = '127.0.0.1'): Record<string, unknown> {
  // A gRPC-Web port keeps HTTP/1.1 to the app: Istio speaks HTTP/2 there only because its inbound
  // grpc_web filter has turned the request into plain gRPC first; without that filter the app gets the
  // gRPC-Web request itself, which gRPC-Web servers take over HTTP/1.1 (docs/translation.md).
  const upstream =
    protocol === 'auto'
      ? USE_DOWNSTREAM_PROTOCOL
      : protocol && isHttp2(protocol) && protocol !== 'GRPC-WEB'
        ? { explicit_http_config: { http2_protocol_options: {} } }
        : undefined;
  return {
    name: inboundClusterName(port),
    type: 'STATIC',
    connect_timeout: durationOf(10_000),
    circuit_breakers: defaultCircuitBreakers(),
    ...(upstream
      ? { typed_extension_protocol_options: { [HPO]: { '@type': TypeUrl.HttpProtocolOptions, ...upstream } } }
      : {}),
    load_assignment: {
      cluster_name: inboundClusterName(port),
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: appAddress, port_value: appPort } } } }] }],
    },
    // The services this port serves, as Istio's inbound clusters carry them: the telemetry filter names the
    // destination service from the routed cluster, so the inbound listener itself names no service.
    ...(services.length > 0 ? { metadata: { filter_metadata: { istio: { fields: { services: servicesStruct(services) } } } } } : {}),
  };
}

export function buildFallbackClusters(connectTimeoutMs: number): Record<string, unknown>[] {
  return [
    { name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: durationOf(connectTimeoutMs) },
    // Istio's buildDefaultPassthroughCluster applies an empty connection pool: no limit, not Envoy's 1024.
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: durationOf(connectTimeoutMs), circuit_breakers: defaultCircuitBreakers() },
  ];
}
