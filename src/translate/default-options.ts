// Translation as the mesh runs it: every concept plugged into the seams of options.ts — security filters
// (RequestAuthentication, AuthorizationPolicy), telemetry, DestinationRule client TLS with auto mTLS, and
// gateway TLS.
import { clientTlsTransport } from './client-tls.ts';
import { gatewayDownstreamTls } from './gateway-tls.ts';
import type { TranslateOptions } from './options.ts';
import { telemetryHttpFilters, telemetryTcpFilters } from './telemetry.ts';
import { securityHttpFilters, securityTcpFilters } from './workload-security.ts';

export const meshTranslateOptions: TranslateOptions = Object.freeze({
  // Istio's order: authentication and authorization first, stats last before cors/fault/router.
  httpFilters: [securityHttpFilters, telemetryHttpFilters],
  // Istio's order on TCP chains too: network RBAC, then stats, then tcp_proxy.
  tcpFilters: [securityTcpFilters, telemetryTcpFilters],
  clientTls: clientTlsTransport,
  gatewayTls: gatewayDownstreamTls,
});
