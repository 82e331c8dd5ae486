// `envoy.filters.network.ext_authz` (Istio's CUSTOM on TCP ports, envoyExtAuthzGrpc only): one gRPC
// Check per connection carrying the source and destination peers; anything but OK closes the connection.
import type { TypedAny } from '../../../xds/any.ts';
import type { Timers } from '../../http/router.ts';
import type { ConnectionInfo } from '../../http/stream.ts';
import { compileEnabledMetadata, compileGrpcService, type ExtAuthzConfigJson, type GrpcServiceJson } from './config.ts';
import { type ClusterDialer, GrpcCheckClient } from './grpc-check.ts';
import { peer } from './grpc-http-check.ts';
import { FilterConfigError } from '../../http/filter.ts';

export const NETWORK_EXT_AUTHZ_FILTER_NAME = 'envoy.filters.network.ext_authz';

export interface NetworkExtAuthzResult {
  readonly allowed: boolean;
  /** Envoy's connection termination details when denied (`ext_authz_denied`, `ext_authz_error`). */
  readonly details: string;
}

export interface NetworkExtAuthz {
  /**
   * Undefined when `filter_enabled_metadata` does not match: the filter passes without a check. `signal`
   * cancels the call (the connection closed first); what the promise then says is not used. The call's
   * timeout runs on `timers` (the proxy's).
   */
  check(connection: ConnectionInfo, metadata: ReadonlyMap<string, Record<string, unknown>>, dial: ClusterDialer, signal?: AbortSignal, timers?: Timers): Promise<NetworkExtAuthzResult> | undefined;
  toString(): string;
}

interface NetworkExtAuthzJson {
  stat_prefix?: string;
  grpc_service?: GrpcServiceJson;
  failure_mode_allow?: boolean;
  include_peer_certificate?: boolean;
  include_tls_session?: boolean;
  filter_enabled_metadata?: ExtAuthzConfigJson['filter_enabled_metadata'];
}

/** Compiles the typed config once; throws FilterConfigError (with the field path) to NACK. */
export function compileNetworkExtAuthz(config: TypedAny, localPrincipal?: string): NetworkExtAuthz {
  const c = config as NetworkExtAuthzJson;
  const at = NETWORK_EXT_AUTHZ_FILTER_NAME;
  if (!c.grpc_service) throw new FilterConfigError(`${at}.grpc_service: required`);
  if (c.include_peer_certificate || c.include_tls_session) throw new FilterConfigError(`${at}: include_peer_certificate and include_tls_session are not supported`);
  const service = compileGrpcService(c.grpc_service, `${at}.grpc_service`);
  const enabled = compileEnabledMetadata(c.filter_enabled_metadata, at);
  const failOpen = c.failure_mode_allow === true;
  let client: GrpcCheckClient | undefined;
  return {
    check(connection, metadata, dial, signal, timers) {
      if (enabled && !enabled(metadata)) return undefined;
      client ??= new GrpcCheckClient(service.cluster, service.authority, dial, timers);
      const request = {
        attributes: {
          source: peer(connection.remoteAddress, connection.remotePort, connection.peerPrincipal),
          destination: peer(connection.localAddress, connection.localPort, localPrincipal),
        },
      };
      return client.check(request, service.timeoutMs, signal).then(
        (res) => ((res.status?.code ?? 0) === 0 ? { allowed: true, details: '' } : { allowed: false, details: 'ext_authz_denied' }),
        () => (failOpen ? { allowed: true, details: '' } : { allowed: false, details: 'ext_authz_error' }),
      );
    },
    toString: () => `ext_authz grpc ${service.cluster}${failOpen ? ' (fail open)' : ''}`,
  };
}
