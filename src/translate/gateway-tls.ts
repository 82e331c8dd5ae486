// The DownstreamTlsContext of a Gateway server: SIMPLE, MUTUAL, OPTIONAL_MUTUAL and ISTIO_MUTUAL, with
// certificates from a Kubernetes Secret (`credentialName` → SDS `kubernetes://NAME`, or a Gateway API
// listener's `kubernetes-gateway://NAMESPACE/NAME` as written) or files.
// PASSTHROUGH and AUTO_PASSTHROUGH terminate nothing (undefined); `httpsRedirect` is a route concern.
import type { Gateway } from '../config/resource.ts';
import type { Server, ServerTLSSettings } from '../config/types/networking.ts';
import { CA_CREDENTIAL_SUFFIX, credentialResourceName } from '../model/credentials.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { sdsSecret } from './client-tls.ts';

const versions: Record<string, string> = {
  TLS_AUTO: 'TLS_AUTO',
  TLSV1_0: 'TLSv1_0',
  TLSV1_1: 'TLSv1_1',
  TLSV1_2: 'TLSv1_2',
  TLSV1_3: 'TLSv1_3',
};

/** Istio's gateway defaults: TLS 1.2 minimum, ECDHE + AEAD suites unless the server lists its own. */
const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
];

function tlsParams(tls: ServerTLSSettings) {
  return {
    tls_minimum_protocol_version: versions[tls.minProtocolVersion ?? 'TLSV1_2'] ?? 'TLSv1_2',
    tls_maximum_protocol_version: versions[tls.maxProtocolVersion ?? 'TLSV1_3'] ?? 'TLSv1_3',
    cipher_suites: tls.cipherSuites?.length ? tls.cipherSuites : DEFAULT_CIPHERS,
  };
}

function sanMatchers(sans: readonly string[]) {
  return sans.map((san) => ({ san_type: san.includes('://') ? 'URI' : 'DNS', matcher: { exact: san } }));
}

/** Envoy's DownstreamTlsContext for one server, or undefined when the gateway does not terminate TLS. */
export function translateGatewayTls(server: Server): TypedAny | undefined {
  const tls = server.tls;
  const mode = tls?.mode;
  if (!tls || !mode || mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') return undefined;
  const mutual = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  const http = ['HTTPS', 'HTTP2', 'GRPC'].includes(server.port.protocol.toUpperCase());
  const common: Record<string, unknown> = {
    tls_params: tlsParams(tls),
    alpn_protocols: http ? ['h2', 'http/1.1'] : [],
  };
  const matchers = {
    ...(tls.subjectAltNames?.length ? { match_typed_subject_alt_names: sanMatchers(tls.subjectAltNames) } : {}),
    ...(tls.verifyCertificateSpki?.length ? { verify_certificate_spki: tls.verifyCertificateSpki } : {}),
    ...(tls.verifyCertificateHash?.length ? { verify_certificate_hash: tls.verifyCertificateHash } : {}),
  };
  if (mode === 'ISTIO_MUTUAL') {
    common['tls_certificate_sds_secret_configs'] = [sdsSecret('default')];
    common['combined_validation_context'] = {
      default_validation_context: matchers,
      validation_context_sds_secret_config: sdsSecret('ROOTCA'),
    };
  } else if (tls.credentialName) {
    const credential = credentialResourceName(tls.credentialName);
    common['tls_certificate_sds_secret_configs'] = [sdsSecret(credential)];
    if (mutual) {
      common['combined_validation_context'] = {
        default_validation_context: matchers,
        validation_context_sds_secret_config: sdsSecret(`${credential}${CA_CREDENTIAL_SUFFIX}`),
      };
    }
  } else {
    if (tls.serverCertificate && tls.privateKey) {
      common['tls_certificates'] = [
        { certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } },
      ];
    }
    if (mutual && tls.caCertificates) {
      common['validation_context'] = { trusted_ca: { filename: tls.caCertificates }, ...matchers };
    }
  }
  return {
    '@type': TypeUrl.DownstreamTlsContext,
    common_tls_context: common,
    ...(mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL' ? { require_client_certificate: { value: true } } : {}),
  };
}

/** The `GatewayTlsBuilder` of translation (src/translate/options.ts). */
export function gatewayDownstreamTls(
  _snapshot: MeshSnapshot,
  _proxy: ProxyView,
  _gateway: Gateway,
  server: Server,
): { name: string; typed_config: TypedAny } | undefined {
  const ctx = translateGatewayTls(server);
  return ctx ? { name: 'envoy.transport_sockets.tls', typed_config: ctx } : undefined;
}

/** Whether plain HTTP on this server must answer with a 301 to HTTPS (Istio's `httpsRedirect`). */
export function requiresHttpsRedirect(server: Server): boolean {
  return server.tls?.httpsRedirect === true;
}
