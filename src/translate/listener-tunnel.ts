// The sidecar's `connect_terminate` listener (15008): the mutual-TLS HTTP/2 tunnel peers reach this
// workload through (docs/internals.md §5); what arrives is handed to `virtualInbound` by target port.
// Its peers must be of the mesh's trust domain or one of its aliases: Istio's URI-prefix SAN matchers
// (`spiffe://<trustDomain>/`), which it puts into inbound mTLS unless PILOT_SKIP_VALIDATE_TRUST_DOMAIN.
import { typedStruct } from '../xds/any.ts';
import { OutriggerExtension, TypeUrl } from '../xds/type-urls.ts';

const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

/** `trustDomains`: meshConfig.trustDomain, then its trustDomainAliases. */
export function buildTunnelListener(trustDomains: readonly string[]): Record<string, unknown> {
  const sanMatchers = [...new Set(trustDomains)].map((td) => ({ san_type: 'URI', matcher: { prefix: `spiffe://${td}/` } }));
  return {
    name: 'connect_terminate',
    address: { socket_address: { address: '0.0.0.0', port_value: 15008 } },
    traffic_direction: 'INBOUND',
    filter_chains: [
      {
        name: 'connect_terminate',
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': TypeUrl.DownstreamTlsContext,
            require_client_certificate: { value: true },
            common_tls_context: {
              tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
              alpn_protocols: ['h2'],
              tls_certificate_sds_secret_configs: [sds('default')],
              combined_validation_context: {
                default_validation_context: sanMatchers.length ? { match_typed_subject_alt_names: sanMatchers } : {},
                validation_context_sds_secret_config: sds('ROOTCA'),
              },
            },
          },
        },
        filters: [
          {
            name: 'outrigger.tunnel',
            typed_config: typedStruct(OutriggerExtension.Tunnel, {
              inbound_listener: 'virtualInbound',
              target_port_header: 'x-outrigger-target-port',
              peer_header: 'x-outrigger-peer',
            }),
          },
        ],
      },
    ],
  };
}
