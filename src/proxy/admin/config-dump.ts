// Envoy's /config_dump shape (envoy.admin.v3.ConfigDump): one entry per config type with its dynamic
// resources, versions and last update; private keys are redacted as Envoy does.
import type { TypedAny } from '../../xds/any.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import type { DumpEntry } from '../config/xds-state.ts';

const admin = 'type.googleapis.com/envoy.admin.v3.';

function redact(secret: TypedAny): TypedAny {
  const copy = structuredClone(secret) as TypedAny & { tls_certificate?: { private_key?: unknown } };
  if (copy.tls_certificate?.private_key) copy.tls_certificate.private_key = { inline_string: '[redacted]' };
  return copy;
}

export function buildConfigDump(dump: (typeUrl: string) => ReadonlyMap<string, DumpEntry>): { configs: object[] } {
  const entries = (t: string) => [...dump(t).values()];
  return {
    configs: [
      { '@type': `${admin}BootstrapConfigDump` },
      {
        '@type': `${admin}ClustersConfigDump`,
        dynamic_active_clusters: entries(TypeUrl.Cluster).map((e) => ({ version_info: e.version, cluster: e.resource, last_updated: e.lastUpdated })),
      },
      {
        '@type': `${admin}ListenersConfigDump`,
        dynamic_listeners: entries(TypeUrl.Listener).map((e) => ({
          name: e.resource['name'],
          active_state: { version_info: e.version, listener: e.resource, last_updated: e.lastUpdated },
        })),
      },
      {
        '@type': `${admin}RoutesConfigDump`,
        dynamic_route_configs: entries(TypeUrl.RouteConfiguration).map((e) => ({ version_info: e.version, route_config: e.resource, last_updated: e.lastUpdated })),
      },
      {
        '@type': `${admin}SecretsConfigDump`,
        dynamic_active_secrets: entries(TypeUrl.Secret).map((e) => ({ name: e.resource['name'], version_info: e.version, last_updated: e.lastUpdated, secret: redact(e.resource) })),
      },
      {
        '@type': `${admin}EndpointsConfigDump`,
        dynamic_endpoint_configs: entries(TypeUrl.ClusterLoadAssignment).map((e) => ({ version_info: e.version, endpoint_config: e.resource, last_updated: e.lastUpdated })),
      },
    ],
  };
}
