// Istio's auto mTLS shape for an outbound cluster, used until the client TLS concept plugs in:
// endpoints labelled tlsMode=istio get mutual TLS with the workload certificate, others plaintext.
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import { type TypedAny, toStruct } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { istioMtlsSni } from './client-tls.ts';
import { serviceMtlsDisabled } from './destination-mtls.ts';
import type { ClusterTlsContext, ClusterTransport } from './options.ts';

const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

// Shared by every cluster (translation output is never mutated): thousands of clusters, one copy.
const istioCommonTls = deepFreeze({
  tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
  alpn_protocols: ['h2'],
  tls_certificate_sds_secret_configs: [sds('default')],
  validation_context_sds_secret_config: sds('ROOTCA'),
});
const plaintextMatch = deepFreeze({ name: 'tlsMode-disabled', transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } });
const istioMatch = deepFreeze(toStruct({ tlsMode: 'istio' }));

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}

/** The UpstreamTlsContext that talks to a peer sidecar's tunnel with the workload identity. */
export function istioMutualTls(sni: string): TypedAny {
  return { '@type': TypeUrl.UpstreamTlsContext, common_tls_context: istioCommonTls, sni };
}

export function autoMtlsTransport(snapshot: MeshSnapshot, _proxy: ProxyView, cluster: ClusterTlsContext): ClusterTransport {
  const mode = cluster.tls?.mode;
  if (mode === 'DISABLE') return {};
  // Istio's SNI form; an explicit ISTIO_MUTUAL keeps the rule's own `sni`.
  const sni = (mode === 'ISTIO_MUTUAL' ? cluster.tls?.sni : undefined) ?? istioMtlsSni(cluster.port, cluster.subset, cluster.service.hostname);
  const tls = { name: 'envoy.transport_sockets.tls', typed_config: istioMutualTls(sni) };
  if (mode === 'ISTIO_MUTUAL') return { transport_socket: tls };
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    const ctx: TypedAny = {
      '@type': TypeUrl.UpstreamTlsContext,
      common_tls_context: cluster.tls?.credentialName
        ? { tls_certificate_sds_secret_configs: [sds(cluster.tls.credentialName)] }
        : {},
      ...(cluster.tls?.sni ? { sni: cluster.tls.sni } : {}),
    };
    return { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: ctx } };
  }
  if (!snapshot.mesh.enableAutoMtls || cluster.service.location === 'MESH_EXTERNAL') return {};
  if (serviceMtlsDisabled(snapshot, cluster.service, cluster.port)) return {};
  return {
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: istioMatch, transport_socket: tls },
      plaintextMatch,
    ],
  };
}
