// meshConfig.extensionProviders[].envoyExtAuthzHttp / envoyExtAuthzGrpc → Envoy's `ext_authz` HTTP filter
// (and, for gRPC providers, the network filter on TCP ports), enabled only for requests or connections
// a CUSTOM policy matched (Istio marks them through the shadow RBAC filter's metadata).
import type { ExtensionProvider } from '../config/types/other.ts';
import type { TypedAny } from '../xds/any.ts';
import { duration, parseDurationMs } from '../xds/duration.ts';
import { TypeUrl } from '../xds/type-urls.ts';

function headerPatterns(names: readonly string[]): { patterns: Record<string, unknown>[] } {
  return {
    patterns: names.map((n) => {
      if (n.endsWith('*')) return { prefix: n.slice(0, -1).toLowerCase(), ignore_case: true };
      if (n.startsWith('*')) return { suffix: n.slice(1).toLowerCase(), ignore_case: true };
      return { exact: n.toLowerCase(), ignore_case: true };
    }),
  };
}

/** Istio accepts `ns/name` or a hostname for `service`; the cluster is named by the FQDN. */
function serviceHost(service: string): string {
  const slash = service.indexOf('/');
  return slash > 0 ? `${service.slice(slash + 1)}.${service.slice(0, slash)}.svc.cluster.local` : service;
}

/** `foo.ns.svc.cluster.local` + port → Istio's outbound cluster name. */
function clusterName(service: string, port: number): string {
  return `outbound|${port}||${serviceHost(service)}`;
}

function statusCode(s: string | undefined): number {
  const n = s ? Number(s) : 403;
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : 403;
}

/** The CUSTOM marker: the shadow RBAC filter (`istio_ext_authz_` prefix) matched an `istio-ext-authz-...` rule. */
function enabledBy(filter: 'envoy.filters.http.rbac' | 'envoy.filters.network.rbac'): Record<string, unknown> {
  return { filter, path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } };
}

function grpcService(grpc: NonNullable<ExtensionProvider['envoyExtAuthzGrpc']>): Record<string, unknown> {
  const cluster = clusterName(grpc.service, grpc.port);
  const timeoutMs = grpc.timeout ? parseDurationMs(grpc.timeout) : undefined;
  // `|` is invalid in :authority; Istio replaces it so the server does not refuse the stream.
  return { envoy_grpc: { cluster_name: cluster, authority: cluster.replaceAll('|', '_.') }, ...(timeoutMs !== undefined ? { timeout: duration(timeoutMs) } : {}) };
}

export function translateExtAuthzProvider(provider: ExtensionProvider): TypedAny {
  const grpc = provider.envoyExtAuthzGrpc;
  if (grpc) {
    return {
      '@type': TypeUrl.ExtAuthz,
      transport_api_version: 'V3',
      grpc_service: grpcService(grpc),
      failure_mode_allow: grpc.failOpen === true,
      status_on_error: { code: statusCode(grpc.statusOnError) },
      filter_enabled_metadata: enabledBy('envoy.filters.http.rbac'),
    };
  }
  const http = provider.envoyExtAuthzHttp!;
  const timeoutMs = (http.timeout ? parseDurationMs(http.timeout) : undefined) ?? 600_000;
  const request: Record<string, unknown> = {};
  if (http.includeRequestHeadersInCheck?.length) request['allowed_headers'] = headerPatterns(http.includeRequestHeadersInCheck);
  const additional = Object.entries(http.includeAdditionalHeadersInCheck ?? {});
  if (additional.length) request['headers_to_add'] = additional.map(([key, value]) => ({ key, value }));
  const response: Record<string, unknown> = {};
  if (http.headersToUpstreamOnAllow?.length) response['allowed_upstream_headers'] = headerPatterns(http.headersToUpstreamOnAllow);
  if (http.headersToDownstreamOnDeny?.length) response['allowed_client_headers'] = headerPatterns(http.headersToDownstreamOnDeny);
  return {
    '@type': TypeUrl.ExtAuthz,
    transport_api_version: 'V3',
    http_service: {
      server_uri: { uri: `http://${serviceHost(http.service)}:${http.port}`, cluster: clusterName(http.service, http.port), timeout: duration(timeoutMs) },
      path_prefix: http.pathPrefix ?? '',
      ...(Object.keys(request).length ? { authorization_request: request } : {}),
      ...(Object.keys(response).length ? { authorization_response: response } : {}),
    },
    failure_mode_allow: http.failOpen === true,
    status_on_error: { code: statusCode(http.statusOnError) },
    filter_enabled_metadata: enabledBy('envoy.filters.http.rbac'),
  };
}

/** The network filter for TCP ports; Istio supports CUSTOM on TCP with gRPC providers only. */
export function translateNetworkExtAuthz(provider: ExtensionProvider): TypedAny | null {
  const grpc = provider.envoyExtAuthzGrpc;
  if (!grpc) return null;
  return {
    '@type': TypeUrl.NetworkExtAuthz,
    stat_prefix: 'tcp.',
    transport_api_version: 'V3',
    grpc_service: grpcService(grpc),
    failure_mode_allow: grpc.failOpen === true,
    filter_enabled_metadata: enabledBy('envoy.filters.network.rbac'),
  };
}
