// The upstream transport socket of a cluster from a DestinationRule `tls` setting (DISABLE, SIMPLE,
// MUTUAL, ISTIO_MUTUAL) or, without one, Istio's auto mTLS (`transport_socket_matches` on tlsMode=istio).
import type { ClientTLSSettings } from '../config/types/networking.ts';
import { CA_CREDENTIAL_SUFFIX, credentialResourceName } from '../model/credentials.ts';
import { CONFIGMAP_CREDENTIAL_PREFIX } from '../model/gateway-api/backend-tls.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { type TypedAny, toStruct } from '../xds/any.ts';
import { SYSTEM_ROOT_SECRET, WORKLOAD_CERT_SECRET } from '../xds/mesh-tls-context.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { serviceMtlsDisabled } from './destination-mtls.ts';
import { serviceAccounts } from './service-accounts.ts';
import type { ClusterTlsContext, ClusterTransport } from './options.ts';

const TLS = 'envoy.transport_sockets.tls';
const tlsParams = { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' };
// The same two values in every auto-mTLS cluster.
const istioMatch = toStruct({ tlsMode: 'istio' });
const plaintextMatch = { name: 'tlsMode-disabled', transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } };

/** An SDS reference over ADS. `credentialName` secrets are `kubernetes://NAME` (and `-cacert`), as Istio (credentialResourceName). */
export function sdsSecret(name: string) {
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

function sanMatchers(sans: readonly string[]) {
  return sans.map((san) => ({ san_type: san.includes('://') ? 'URI' : 'DNS', matcher: { exact: san } }));
}

/** SPIFFE IDs of the workloads behind the cluster's service: Istio's secure naming. */
function serviceAccountSans(snapshot: MeshSnapshot, cluster: ClusterTlsContext): string[] {
  return serviceAccounts(snapshot, cluster.service);
}

// Translation output is never mutated: clusters with the same SAN list share one common_tls_context.
const commonBySans = new WeakMap<readonly string[], Record<string, unknown>>();

function istioCommonTls(sans: readonly string[]): Record<string, unknown> {
  let common = commonBySans.get(sans);
  if (!common) {
    common = {
      tls_params: tlsParams,
      alpn_protocols: ['h2'],
      tls_certificate_sds_secret_configs: [sdsSecret(WORKLOAD_CERT_SECRET)],
      combined_validation_context: {
        default_validation_context: sans.length ? { match_typed_subject_alt_names: sanMatchers(sans) } : {},
        validation_context_sds_secret_config: sdsSecret('ROOTCA'),
      },
    };
    commonBySans.set(sans, common);
  }
  return common;
}

/**
 * The SNI Istio's sidecars send on mesh mTLS (pilot's BuildDNSSrvSubsetKey): `outbound_.9898_._.HOST`,
 * `outbound_.9898_.v1_.HOST` for a subset. The destination sees it as the connection's requested server
 * name (`%REQUESTED_SERVER_NAME%`, AuthorizationPolicy `connection.sni`).
 */
export function istioMtlsSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** The mesh's own mTLS: workload certificate `default`, trust `ROOTCA`, ALPN h2 (the tunnel). */
export function istioMutualContext(sni: string, sans: readonly string[]): TypedAny {
  return { '@type': TypeUrl.UpstreamTlsContext, common_tls_context: istioCommonTls(sans), sni };
}

/**
 * SIMPLE or MUTUAL origination to a server outside the mesh's identity (files or a Secret), as Istio's
 * constructUpstreamTLS. `serviceSans`: a ServiceEntry's names (its `subjectAltNames` and endpoint
 * accounts), checked when the rule names none.
 */
export function originationContext(tls: ClientTLSSettings, serviceSans: readonly string[] = []): TypedAny {
  const mutual = tls.mode === 'MUTUAL';
  const common: Record<string, unknown> = { tls_params: tlsParams };
  const sans = tls.subjectAltNames?.length ? tls.subjectAltNames : serviceSans;
  const matchers = sans.length ? { match_typed_subject_alt_names: sanMatchers(sans) } : {};
  if (tls.credentialName?.startsWith(CONFIGMAP_CREDENTIAL_PREFIX)) {
    // A CA only (a BackendTLSPolicy's ConfigMap): the SDS secret is named by the URI itself, as Istio's.
    if (!tls.insecureSkipVerify) common['combined_validation_context'] = { default_validation_context: matchers, validation_context_sds_secret_config: sdsSecret(tls.credentialName) };
  } else if (tls.credentialName) {
    // Named as Istio's ConstructSdsSecretConfigForCredential names them (credentials.ToResourceName):
    // `kubernetes://NAME` for a bare name, a name written with its scheme as written; the CA half is the
    // credential name with `-cacert`, so named the same way.
    if (mutual) common['tls_certificate_sds_secret_configs'] = [sdsSecret(credentialResourceName(tls.credentialName))];
    if (!tls.insecureSkipVerify) {
      common['combined_validation_context'] = {
        default_validation_context: matchers,
        validation_context_sds_secret_config: sdsSecret(credentialResourceName(`${tls.credentialName}${CA_CREDENTIAL_SUFFIX}`)),
      };
    }
  } else {
    if (mutual && tls.clientCertificate && tls.privateKey) {
      common['tls_certificates'] = [
        { certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } },
      ];
    }
    if (tls.insecureSkipVerify) {
      // Istio's empty ValidationContext: no CA, so Envoy verifies neither chain nor names.
      common['validation_context'] = {};
    } else if (tls.caCertificates) {
      common['validation_context'] = { trusted_ca: { filename: tls.caCertificates }, ...matchers };
    } else {
      // No CA named: the platform's roots (Istio's `file-root:system`), never no verification.
      common['combined_validation_context'] = { default_validation_context: matchers, validation_context_sds_secret_config: sdsSecret(SYSTEM_ROOT_SECRET) };
    }
  }
  // No `sni`: none here; the HTTP request's host instead (autoSniOptions).
  return { '@type': TypeUrl.UpstreamTlsContext, common_tls_context: common, ...(tls.sni ? { sni: tls.sni } : {}) };
}

/**
 * Istio's setAutoSniAndAutoSanValidation: a rule without `sni` sends each HTTP request's host as SNI
 * (never the service's name, a `*.example.com` for a wildcard ServiceEntry) and, unless it names
 * `subjectAltNames` or skips verification, checks the certificate against that host.
 */
function autoSniOptions(tls: ClientTLSSettings): ClusterTransport['upstream_http_protocol_options'] {
  if (tls.sni) return undefined;
  return tls.subjectAltNames?.length || tls.insecureSkipVerify ? { auto_sni: true } : { auto_sni: true, auto_san_validation: true };
}

function clusterSni(cluster: ClusterTlsContext): string {
  return istioMtlsSni(cluster.port, cluster.subset, cluster.service.hostname);
}

/** The `ClientTlsBuilder` of translation (src/translate/options.ts). */
export function clientTlsTransport(snapshot: MeshSnapshot, _proxy: ProxyView, cluster: ClusterTlsContext): ClusterTransport {
  const tls = cluster.tls;
  const mode = tls?.mode;
  if (mode === 'DISABLE') return {};
  if (mode === 'ISTIO_MUTUAL') {
    const sans = tls?.subjectAltNames?.length ? tls.subjectAltNames : serviceAccountSans(snapshot, cluster);
    // The rule's own `sni` wins; otherwise Istio's form, as pilot's buildUpstreamTLSSettings.
    return { transport_socket: { name: TLS, typed_config: istioMutualContext(tls?.sni ?? clusterSni(cluster), sans) } };
  }
  if (tls && (mode === 'SIMPLE' || mode === 'MUTUAL')) {
    // A ServiceEntry's names stand in for the rule's (Istio: opts.serviceRegistry == provider.External).
    const serviceSans = cluster.service.source === 'service-entry' ? serviceAccountSans(snapshot, cluster) : [];
    const auto = autoSniOptions(tls);
    return { transport_socket: { name: TLS, typed_config: originationContext(tls, serviceSans) }, ...(auto ? { upstream_http_protocol_options: auto } : {}) };
  }
  // No TLS setting: auto mTLS. Endpoints with a sidecar (tlsMode=istio) get mesh mTLS, others plaintext;
  // a destination whose PeerAuthentication is DISABLE gets plaintext (Istio's buildAutoMtlsSettings).
  if (!snapshot.mesh.enableAutoMtls || cluster.service.location === 'MESH_EXTERNAL') return {};
  if (serviceMtlsDisabled(snapshot, cluster.service, cluster.port)) return {};
  const mtls = { name: TLS, typed_config: istioMutualContext(clusterSni(cluster), serviceAccountSans(snapshot, cluster)) };
  return { transport_socket_matches: [{ name: 'tlsMode-istio', match: istioMatch, transport_socket: mtls }, plaintextMatch] };
}
