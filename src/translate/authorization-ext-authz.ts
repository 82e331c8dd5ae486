// meshConfig.extensionProviders[].envoyExtAuthzHttp → Envoy's `ext_authz` HTTP filter config, enabled
// only for requests a CUSTOM policy matched (Istio marks them through the shadow RBAC filter's metadata).
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

/** `foo.ns.svc.cluster.local` + port → Istio's outbound cluster name. */
function clusterName(service: string, port: number): string {
  return `outbound|${port}||${service}`;
}

export function translateExtAuthzProvider(provider: ExtensionProvider): TypedAny {
  const http = provider.envoyExtAuthzHttp!;
  const timeoutMs = (http.timeout ? parseDurationMs(http.timeout) : undefined) ?? 600_000;
  const request: Record<string, unknown> = {};
  if (http.includeRequestHeadersInCheck?.length) request['allowed_headers'] = headerPatterns(http.includeRequestHeadersInCheck);
  const additional = Object.entries(http.includeAdditionalHeadersInCheck ?? {});
  if (additional.length) request['headers_to_add'] = additional.map(([key, value]) => ({ key, value }));
  const response: Record<string, unknown> = {};
  if (http.headersToUpstreamOnAllow?.length) response['allowed_upstream_headers'] = headerPatterns(http.headersToUpstreamOnAllow);
  if (http.headersToDownstreamOnDeny?.length) response['allowed_client_headers'] = headerPatterns(http.headersToDownstreamOnDeny);
  const status = http.statusOnError ? Number(http.statusOnError) : 403;
  return {
    '@type': TypeUrl.ExtAuthz,
    transport_api_version: 'V3',
    http_service: {
      server_uri: { uri: `http://${http.service}:${http.port}`, cluster: clusterName(http.service, http.port), timeout: duration(timeoutMs) },
      path_prefix: http.pathPrefix ?? '',
      ...(Object.keys(request).length ? { authorization_request: request } : {}),
      ...(Object.keys(response).length ? { authorization_response: response } : {}),
    },
    failure_mode_allow: http.failOpen === true,
    status_on_error: { code: Number.isInteger(status) ? status : 403 },
    filter_enabled_metadata: {
      filter: 'envoy.filters.http.rbac',
      path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }],
      value: { string_match: { prefix: 'istio-ext-authz' } },
    },
  };
}
