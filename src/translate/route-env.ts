// The environment a VirtualService's routes are translated in: how a destination becomes a cluster
// name (short hosts resolved from the VS namespace, port inferred) and its consistent-hash policy.
import type { VirtualService } from '../config/resource.ts';
import type { Destination } from '../config/types/networking.ts';
import { resolveHost } from '../model/host.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { lookupService, type MeshSnapshot } from '../model/snapshot.ts';
import { toStruct } from '../xds/any.ts';
import { outboundClusterName } from './clusters.ts';
import { translateHashPolicy } from './consistent-hash.ts';
import { destinationRuleFor, effectivePolicy } from './destination-policy.ts';
import type { RouteEnv } from './http-route.ts';
import type { RouteContext } from './route-match.ts';
import { ROUTE_SEMANTICS_ANNOTATION } from '../model/gateway-api/gateways.ts';

// The `istio.config` route metadata names only the VirtualService: one object per VirtualService, shared
// by all its routes on every port and proxy (translation output is read-only).
const metadataByVs = new WeakMap<VirtualService, Record<string, unknown>>();
const noVsMetadata = { filter_metadata: { istio: toStruct({ config: '' }) } };

function configMetadata(vs: VirtualService | undefined, configPath: string): Record<string, unknown> {
  if (!vs) return noVsMetadata;
  let m = metadataByVs.get(vs);
  if (!m) {
    m = { filter_metadata: { istio: toStruct({ config: configPath }) } };
    metadataByVs.set(vs, m);
  }
  return m;
}

/** `root`: the VirtualService that delegates to `vs`, when it is a delegate (its name names the spans). */
export function routeEnv(snapshot: MeshSnapshot, scope: ProxyScope, ctx: RouteContext, vs: VirtualService | undefined, root: VirtualService | undefined = vs): RouteEnv {
  const ns = vs?.metadata.namespace ?? scope.proxy.namespace;
  const configPath = vs ? `/apis/networking.istio.io/v1/namespaces/${ns}/virtual-service/${vs.metadata.name}` : '';
  return {
    mesh: snapshot.mesh,
    ctx,
    configPath,
    metadata: configMetadata(vs, configPath),
    vsName: root?.metadata.name ?? '',
    ...(vs?.metadata.annotations[ROUTE_SEMANTICS_ANNOTATION] === 'gateway' ? { gatewaySemantics: true } : {}),
    destination(dest: Destination) {
      // The proxy's own service of the host, as its cluster's (ServiceForHostname); other names by lookup.
      const service = scope.service(resolveHost(dest.host, ns)) ?? lookupService(snapshot, dest.host, ns);
      const host = service?.hostname ?? resolveHost(dest.host, ns);
      const only = service?.ports.length === 1 ? service.ports[0]?.port : undefined;
      const port = dest.port?.number ?? only ?? ctx.port;
      const cluster = outboundClusterName(port, dest.subset ?? '', host);
      if (!service) return { cluster };
      const dr = destinationRuleFor(snapshot, scope, service);
      const hashPolicy = translateHashPolicy(effectivePolicy(dr, dest.subset ?? '', port).loadBalancer?.consistentHash);
      return hashPolicy ? { cluster, hashPolicy } : { cluster };
    },
  };
}
