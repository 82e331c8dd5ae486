// How the translator marks, and the proxy recognises, the mesh's own TLS in an UpstreamTlsContext:
// it presents the workload certificate, the SDS secret named `default` (trust from `ROOTCA`).

export const WORKLOAD_CERT_SECRET = 'default';

/**
 * The trust of TLS origination with no CA of its own: the platform's roots, as Istio's SDS resource
 * `file-root:system` (constructUpstreamTLS defaults `caCertificates` to `system`). Named explicitly, since
 * an UpstreamTlsContext without a CA verifies nothing (Envoy).
 */
export const SYSTEM_ROOT_SECRET = 'file-root:system';

/** An UpstreamTlsContext (its `typed_config`) that is the mesh's own TLS, whatever its SNI or SANs say. */
export function isMeshTlsContext(ctx: unknown): boolean {
  const secrets = (ctx as { common_tls_context?: { tls_certificate_sds_secret_configs?: { name?: string }[] } } | undefined)?.common_tls_context?.tls_certificate_sds_secret_configs;
  return secrets?.some((s) => s.name === WORKLOAD_CERT_SECRET) ?? false;
}
