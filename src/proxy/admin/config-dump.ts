// Envoy's /config_dump shape (envoy.admin.v3.ConfigDump): one entry per config type with its dynamic
// resources, versions and last update; private keys are redacted as Envoy does. Secrets made inside the
// proxy (the `default` workload certificate) are listed too, with their chain PEM and never the key.
// Metadata and other Struct values print as plain JSON, as Envoy's JSON mapping prints them.
import type { TypedAny } from '../../xds/any.ts';
import { envoyJson } from '../../xds/envoy-json.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import type { DumpEntry } from '../config/xds-state.ts';

const admin = 'type.googleapis.com/envoy.admin.v3.';

function redact(secret: TypedAny): TypedAny {
  const copy = structuredClone(secret) as TypedAny & { tls_certificate?: { private_key?: unknown } };
  if (copy.tls_certificate?.private_key) copy.tls_certificate.private_key = { inline_string: '[redacted]' };
  return copy;
}

/** The proxy's secrets as the SecretStore holds them: SDS ones (`raw`) and those made locally. */
export interface SecretSource {
  names(): string[];
  get(name: string): { cert?: string; key?: string; ca?: string } | undefined;
  raw(): readonly TypedAny[];
}

/** Secrets not delivered over SDS, in Envoy's Secret shape; the key is never included. */
function localSecrets(source: SecretSource | undefined): object[] {
  if (!source) return [];
  const fromXds = new Set(source.raw().map((s) => String(s['name'])));
  return source
    .names()
    .filter((n) => !fromXds.has(n))
    .sort()
    .flatMap((name) => {
      const pem = source.get(name);
      if (!pem?.cert) return [];
      return [
        {
          name,
          version_info: 'local',
          secret: {
            '@type': TypeUrl.Secret,
            name,
            tls_certificate: { certificate_chain: { inline_string: pem.cert }, private_key: { inline_string: '[redacted]' } },
          },
        },
      ];
    });
}

export function buildConfigDump(dump: (typeUrl: string) => ReadonlyMap<string, DumpEntry>, secrets?: SecretSource): { configs: object[] } {
  const entries = (t: string) => [...dump(t).values()];
  // envoyJson copies: the resources the proxy runs are left in their own form.
  return envoyJson({
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
        dynamic_active_secrets: [
          ...localSecrets(secrets),
          ...entries(TypeUrl.Secret).map((e) => ({ name: e.resource['name'], version_info: e.version, last_updated: e.lastUpdated, secret: redact(e.resource) })),
        ],
      },
      {
        '@type': `${admin}EndpointsConfigDump`,
        dynamic_endpoint_configs: entries(TypeUrl.ClusterLoadAssignment).map((e) => ({ version_info: e.version, endpoint_config: e.resource, last_updated: e.lastUpdated })),
      },
    ],
  }) as { configs: object[] };
}
