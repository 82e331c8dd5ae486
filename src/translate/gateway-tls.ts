// The DownstreamTlsContext of a Gateway server: SIMPLE, MUTUAL, OPTIONAL_MUTUAL and ISTIO_MUTUAL, with
// certificates from Kubernetes Secrets (`credentialName(s)` → SDS `kubernetes://NAME`, or a Gateway API
// listener's `kubernetes-gateway://NAMESPACE/NAME` as written) or files (`file-cert:` / `file-root:`).
// PASSTHROUGH and AUTO_PASSTHROUGH terminate nothing (undefined); `httpsRedirect` is a route concern.
import type { Gateway } from '../config/resource.ts';
import type { Server, ServerTLSSettings } from '../config/types/networking.ts';
import type { MeshTlsDefaults } from '../config/types/other.ts';
import { CA_CREDENTIAL_SUFFIX, credentialResourceName } from '../model/credentials.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { sdsSecret } from './client-tls.ts';

const versions: Record<string, string> = {
  TLSV1_0: 'TLSv1_0',
  TLSV1_1: 'TLSv1_1',
  TLSV1_2: 'TLSv1_2',
  TLSV1_3: 'TLSv1_3',
};

/** util.ALPNHttp: what a terminating gateway server offers. */
const ALPN_HTTP = ['h2', 'http/1.1'];
/** util.ALPNDownstreamWithMxc: an ISTIO_MUTUAL TLS (non-HTTP) server also speaks Istio's metadata exchange. */
const ALPN_DOWNSTREAM_WITH_MXC = ['istio-peer-exchange', 'h2', 'http/1.1'];

/**
 * security.ValidCipherSuites: the BoringSSL names Istio passes on (`bssl ciphers -openssl-name ALL`,
 * without PSK); FilterCipherSuites drops others (TLS 1.3 names among them) and duplicates, so Envoy
 * never NACKs a gateway for them.
 */
const VALID_CIPHER_SUITES = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
]);

/** Istio's FilterCipherSuites: known names and expressions (`-`, `+`, `!`, `[`...), each once, in order. */
function filterCipherSuites(suites: readonly string[] | undefined): string[] {
  const valid = (s: string) => s === '' || s === 'ALL' || !/^[A-Za-z0-9]/.test(s) || VALID_CIPHER_SUITES.has(s);
  return [...new Set((suites ?? []).filter(valid))];
}

/**
 * applyDownstreamTLSDefaults then applyServerTLSSettings (SIMPLE, MUTUAL, OPTIONAL_MUTUAL only): what
 * neither sets is left to Envoy's server defaults (TLS 1.2 to 1.3, ECDHE AEAD suites with ChaCha20).
 */
function tlsParams(tls: ServerTLSSettings, defaults: MeshTlsDefaults | undefined): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (defaults?.ecdhCurves?.length) out['ecdh_curves'] = defaults.ecdhCurves;
  if (defaults?.cipherSuites?.length) out['cipher_suites'] = defaults.cipherSuites;
  const meshMin = defaults?.minProtocolVersion ? versions[defaults.minProtocolVersion] : undefined;
  if (meshMin) out['tls_minimum_protocol_version'] = meshMin;
  const min = tls.minProtocolVersion ? versions[tls.minProtocolVersion] : undefined;
  if (min) out['tls_minimum_protocol_version'] = min;
  const ciphers = filterCipherSuites(tls.cipherSuites);
  if (ciphers.length) out['cipher_suites'] = ciphers;
  const max = tls.maxProtocolVersion ? versions[tls.maxProtocolVersion] : undefined;
  if (max) out['tls_maximum_protocol_version'] = max;
  return Object.keys(out).length ? out : undefined;
}

/**
 * The client-certificate checks: SANs as util.StringToExactMatch writes them (untyped, so Envoy tries each
 * against DNS, URI, EMAIL and IP SANs), and the SPKI and hash pins. Istio sets the pins only for
 * credentialName servers; here every mode keeps them (docs/security-mtls.md: a check written is not dropped).
 */
function clientChecks(tls: ServerTLSSettings) {
  return {
    ...(tls.subjectAltNames?.length ? { match_subject_alt_names: tls.subjectAltNames.map((exact) => ({ exact })) } : {}),
    ...(tls.verifyCertificateSpki?.length ? { verify_certificate_spki: tls.verifyCertificateSpki } : {}),
    ...(tls.verifyCertificateHash?.length ? { verify_certificate_hash: tls.verifyCertificateHash } : {}),
  };
}

/** Istio's SdsCertificateConfig names: istio-agent serves these from the gateway pod's files. */
function fileCertSecret(cert: string | undefined, key: string | undefined): string {
  return cert && key ? `file-cert:${cert}~${key}` : 'default';
}

/**
 * Envoy's DownstreamTlsContext for one server, as Istio's BuildListenerTLSContext builds it; undefined
 * when the gateway does not terminate TLS. `tlsDefaults` is meshConfig.tlsDefaults.
 */
export function translateGatewayTls(server: Server, tlsDefaults?: MeshTlsDefaults): TypedAny | undefined {
  const tls = server.tls;
  const mode = tls?.mode;
  if (!tls || !mode || mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') return undefined;
  const validateClient = mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  // gateway.IsTCPServerWithTLSTermination: a server whose protocol is neither HTTP nor HTTPS.
  const tcp = !['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTPS'].includes(server.port.protocol.toUpperCase());
  const common: Record<string, unknown> = { alpn_protocols: mode === 'ISTIO_MUTUAL' && tcp ? ALPN_DOWNSTREAM_WITH_MXC : ALPN_HTTP };
  if (mode === 'ISTIO_MUTUAL') {
    // ApplyToCommonTLSContext with the workload's own certificate and the mesh root.
    common['tls_certificate_sds_secret_configs'] = [sdsSecret('default')];
    common['combined_validation_context'] = { default_validation_context: clientChecks(tls), validation_context_sds_secret_config: sdsSecret('ROOTCA') };
  } else if (tls.credentialNames?.length || tls.credentialName) {
    // ApplyCredentialSDSToServerCommonTLSContext: one secret per name (an RSA and an ECDSA certificate),
    // the client CA from the first name's `-cacert`.
    const names = tls.credentialNames?.length ? tls.credentialNames : [tls.credentialName ?? ''];
    const credentials = names.map(credentialResourceName);
    common['tls_certificate_sds_secret_configs'] = credentials.map(sdsSecret);
    if (validateClient) {
      common['combined_validation_context'] = {
        default_validation_context: clientChecks(tls),
        validation_context_sds_secret_config: sdsSecret(`${credentials[0]}${CA_CREDENTIAL_SUFFIX}`),
      };
    }
  } else {
    // Files, as ApplyToCommonTLSContext names them (one secret per tlsCertificates entry).
    const pairs = tls.tlsCertificates?.length ? tls.tlsCertificates : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    common['tls_certificate_sds_secret_configs'] = pairs.map((c) => sdsSecret(fileCertSecret(c.serverCertificate, c.privateKey)));
    if (validateClient) {
      common['combined_validation_context'] = {
        default_validation_context: clientChecks(tls),
        validation_context_sds_secret_config: sdsSecret(tls.caCertificates ? `file-root:${tls.caCertificates}` : 'ROOTCA'),
      };
    }
  }
  const params = mode === 'ISTIO_MUTUAL' ? undefined : tlsParams(tls, tlsDefaults);
  if (params) common['tls_params'] = params;
  return {
    '@type': TypeUrl.DownstreamTlsContext,
    common_tls_context: common,
    ...(mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL' ? { require_client_certificate: { value: true } } : {}),
  };
}

/** The `GatewayTlsBuilder` of translation (src/translate/options.ts). */
export function gatewayDownstreamTls(
  snapshot: MeshSnapshot,
  _proxy: ProxyView,
  _gateway: Gateway,
  server: Server,
): { name: string; typed_config: TypedAny } | undefined {
  const ctx = translateGatewayTls(server, snapshot.mesh.raw.tlsDefaults);
  return ctx ? { name: 'envoy.transport_sockets.tls', typed_config: ctx } : undefined;
}

/** Whether plain HTTP on this server must answer with a 301 to HTTPS (Istio's `httpsRedirect`). */
export function requiresHttpsRedirect(server: Server): boolean {
  return server.tls?.httpsRedirect === true;
}
