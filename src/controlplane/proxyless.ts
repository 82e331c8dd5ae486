// Translation for proxyless gRPC clients (node metadata GENERATOR=grpc): for each listener name the
// client asks for (`xds:///name[:port]`), an API listener with inline routes built from the
// VirtualService for that host, plus the clusters and endpoints those routes name.
import type { AnyResource, DestinationRule, Service, VirtualService } from '../config/resource.ts';
import { hostMatches, resolveHost, serviceFqdn } from '../model/host.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { ProxyResources } from '../translate/proxy-resources.ts';
import { translateHttpRoute } from './proxyless-route.ts';

export interface ProxylessTarget {
  listenerName: string;
  service: Service;
  port: number;
}

/** Resolves `name`, `name.ns`, `name.ns.svc.cluster.local` with an optional `:port` to a Service port. */
export function resolveTarget(resources: readonly AnyResource[], listenerName: string, clientNamespace: string): ProxylessTarget | undefined {
  const m = /^([^:]+)(?::(\d+))?$/.exec(listenerName);
  if (!m) return undefined;
  const parts = (m[1] ?? '').split('.');
  const name = parts[0] ?? '';
  const ns = parts[1] ?? clientNamespace;
  const service = ofKind<Service>(resources, 'Service').find((r) => r.metadata.name === name && r.metadata.namespace === ns);
  if (!service) return undefined;
  const port = m[2] ? Number(m[2]) : service.spec.ports?.[0]?.port;
  if (!port || !service.spec.ports?.some((p) => p.port === port)) return undefined;
  return { listenerName, service, port };
}

function ofKind<T extends AnyResource>(resources: readonly AnyResource[], kind: T['kind']): T[] {
  return resources.filter((r) => r.kind === kind) as T[];
}

/** The Service's FQDN. */
function fqdn(s: Service): string {
  return serviceFqdn(s.metadata.name, s.metadata.namespace);
}

/** A VirtualService or DestinationRule host (short names relative to its namespace) covers the Service. */
function coversService(host: string, namespace: string, service: Service): boolean {
  return hostMatches(resolveHost(host, namespace), fqdn(service));
}

export function buildProxylessResources(snapshot: MeshSnapshot, clientNamespace: string, listenerNames: readonly string[]): ProxyResources {
  const listeners = new Map<string, TypedAny>();
  const clusters = new Map<string, TypedAny>();
  const endpoints = new Map<string, TypedAny>();
  const rules = ofKind<DestinationRule>(snapshot.resources, 'DestinationRule');
  const services = ofKind<VirtualService>(snapshot.resources, 'VirtualService');
  for (const listenerName of listenerNames) {
    const target = resolveTarget(snapshot.resources, listenerName, clientNamespace);
    if (!target) continue;
    const host = fqdn(target.service);
    const vs = services.find((r) => (r.spec.hosts ?? []).some((h) => coversService(h, r.metadata.namespace, target.service)));
    const routes = (vs?.spec.http?.length ? vs.spec.http : [{ route: [{ destination: { host } }] }]).map((h) =>
      translateHttpRoute(h, host, target.port),
    );
    listeners.set(listenerName, {
      '@type': TypeUrl.Listener,
      name: listenerName,
      api_listener: {
        api_listener: {
          '@type': TypeUrl.HttpConnectionManager,
          stat_prefix: listenerName,
          route_config: {
            name: listenerName,
            virtual_hosts: [{ name: `${host}:${target.port}`, domains: ['*'], routes: routes.flatMap((r) => r.routes) }],
          },
          http_filters: [
            { name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
          ],
        },
      },
    });
    for (const cluster of routes.flatMap((r) => r.clusters)) {
      clusters.set(cluster.name, {
        '@type': TypeUrl.Cluster,
        name: cluster.name,
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {} }, service_name: cluster.name },
        lb_policy: 'ROUND_ROBIN',
      });
      endpoints.set(cluster.name, buildLoadAssignment(snapshot, cluster.name, rules, target));
    }
  }
  return new Map([
    [TypeUrl.Listener, listeners],
    [TypeUrl.Cluster, clusters],
    [TypeUrl.ClusterLoadAssignment, endpoints],
  ]);
}

/** Endpoints of `outbound|port|subset|host`: healthy workloads the Service selects, narrowed by the subset's labels. */
function buildLoadAssignment(snapshot: MeshSnapshot, clusterName: string, rules: readonly DestinationRule[], target: ProxylessTarget): TypedAny {
  const [, portText = '', subset = '', host = ''] = clusterName.split('|');
  const service = ofKind<Service>(snapshot.resources, 'Service').find((r) => fqdn(r) === host) ?? target.service;
  // A named targetPort is each workload's own container port of that name (as Kubernetes resolves it,
  // and Istio's endpoints follow), a WorkloadEntry's port of the service port's name ahead of it: the
  // model's service port, as the sidecar translation reads it.
  const meshPort = snapshot.services.find((s) => s.hostname === host && s.namespace === service.metadata.namespace)?.ports.find((p) => p.port === Number(portText));
  const targetOf = (w: WorkloadInstance): number => (meshPort ? (w.portsByName?.[meshPort.name] ?? snapshot.targetPortFor(meshPort, w)) : Number(portText));
  const rule = rules.find((r) => coversService(r.spec.host, r.metadata.namespace, service));
  const subsetLabels = subset ? (rule?.spec.subsets?.find((s) => s.name === subset)?.labels ?? { 'outrigger.dev/no-such-subset': subset }) : {};
  const selector = { ...(service.spec.selector ?? {}), ...subsetLabels };
  const lb_endpoints = snapshot.workloads
    .filter((w) => w.healthy && w.namespace === service.metadata.namespace && Object.entries(selector).every(([k, v]) => w.labels[k] === v))
    .map((w) => {
      const targetPort = targetOf(w);
      return { endpoint: { address: { socket_address: { address: w.address, port_value: w.appPorts[targetPort] ?? targetPort } } }, health_status: 'HEALTHY' };
    });
  return { '@type': TypeUrl.ClusterLoadAssignment, cluster_name: clusterName, endpoints: lb_endpoints.length ? [{ locality: {}, load_balancing_weight: { value: 1 }, lb_endpoints }] : [] };
}
