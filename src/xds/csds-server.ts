// CSDS (envoy.service.status.v3.ClientStatusDiscoveryService) on the xDS port: per-proxy sync state
// of every ADS connection, so CSDS tooling (istioctl x proxy-status style) reads Outrigger as istiod.
// The caller is authenticated as ADS authenticates a stream (its workload certificate on the TLS port,
// else its bearer token): an identity of `istio-system` sees every proxy, any other only the proxies of
// its own namespace; no credential only where anonymous is allowed.
import * as grpc from '@grpc/grpc-js';
import { authenticateCaller, type CallerAuthOptions, type CallerRefusalCode } from '../controlplane/caller-authentication.ts';
import type { AdsConnection } from './ads-connection.ts';
import { type ClientConfig, clientConfigOf } from './client-status.ts';
import { messageType } from './protos.ts';

export const CsdsMethods = {
  stream: '/envoy.service.status.v3.ClientStatusDiscoveryService/StreamClientStatus',
  fetch: '/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus',
} as const;

interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: unknown;
}

export interface ClientStatusRequest {
  node_matchers?: { node_id?: StringMatcher; node_metadatas?: unknown[] }[];
  node?: unknown;
  exclude_resource_contents?: boolean;
}

export interface ClientStatusResponse {
  config: ClientConfig[];
}

const requestType = () => messageType('type.googleapis.com/envoy.service.status.v3.ClientStatusRequest');
const responseType = () => messageType('type.googleapis.com/envoy.service.status.v3.ClientStatusResponse');

/** gRPC codec for CSDS requests and responses (shared with test clients). */
export const csdsCodec = {
  encodeRequest: (r: ClientStatusRequest): Buffer => Buffer.from(requestType().encode(requestType().fromObject(r)).finish()),
  decodeRequest: (b: Buffer): ClientStatusRequest => requestType().toObject(requestType().decode(b), { longs: String, enums: String }) as ClientStatusRequest,
  encodeResponse: (r: ClientStatusResponse): Buffer => Buffer.from(responseType().encode(responseType().fromObject(r)).finish()),
  decodeResponse: (b: Buffer): ClientStatusResponse => {
    const o = responseType().toObject(responseType().decode(b), { longs: String, enums: String }) as Partial<ClientStatusResponse>;
    return { config: o.config ?? [] };
  },
};

export const csdsServiceDefinition: grpc.ServiceDefinition = {
  StreamClientStatus: {
    path: CsdsMethods.stream,
    requestStream: true,
    responseStream: true,
    requestSerialize: csdsCodec.encodeRequest,
    requestDeserialize: csdsCodec.decodeRequest,
    responseSerialize: csdsCodec.encodeResponse,
    responseDeserialize: csdsCodec.decodeResponse,
  },
  FetchClientStatus: {
    path: CsdsMethods.fetch,
    requestStream: false,
    responseStream: false,
    requestSerialize: csdsCodec.encodeRequest,
    requestDeserialize: csdsCodec.decodeRequest,
    responseSerialize: csdsCodec.encodeResponse,
    responseDeserialize: csdsCodec.decodeResponse,
  },
};

/** `allowAnonymous`: callers without a credential see every proxy (local mode's loopback port); off by default. */
export interface CsdsOptions extends CallerAuthOptions {
  connections: () => readonly AdsConnection[];
  /** The namespace whose identities see every proxy (Istio's system namespace). */
  systemNamespace?: string;
  /** The control plane's clock, by which a token is named expired; the wall clock by default. */
  now?: () => number;
  /** A caller refused (UNAUTHENTICATED, no detail sent): logged and counted as a refused ADS stream. */
  onRefused?: (refusal: { peer: string; code: CallerRefusalCode; reason: string }) => void;
}

export class CsdsError extends Error {
  /** A refused caller has ADS's code for it. */
  readonly code: CallerRefusalCode | 'CSDS_UNSUPPORTED_MATCHER';
  readonly status: grpc.status;
  constructor(code: CsdsError['code'], status: grpc.status, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** What authentication reads of a unary call or a stream. */
type CsdsCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getPeer' | 'getAuthContext'>;

/** Adds CSDS to a gRPC server (the same server as ADS, on 15010 and 15012). */
export function addCsdsService(server: grpc.Server, opts: CsdsOptions): void {
  // Each request is authenticated again: a stream's credential holds by the clock of that request.
  const answer = (call: CsdsCall, req: ClientStatusRequest): ClientStatusResponse => {
    const visible = authorize(call, opts);
    const matches = nodeMatcher(req);
    const config = opts
      .connections()
      .filter((c) => visible(c) && matches(c.node.view.id))
      .map((c) => clientConfigOf(c, !req.exclude_resource_contents));
    return { config };
  };
  const asServiceError = (err: unknown): Partial<grpc.ServiceError> =>
    err instanceof CsdsError ? { code: err.status, details: err.message } : { code: grpc.status.INTERNAL, details: 'client status failed' };
  server.addService(csdsServiceDefinition, {
    FetchClientStatus: (call: grpc.ServerUnaryCall<ClientStatusRequest, ClientStatusResponse>, callback: grpc.sendUnaryData<ClientStatusResponse>) => {
      try {
        callback(null, answer(call, call.request));
      } catch (err) {
        callback(asServiceError(err));
      }
    },
    StreamClientStatus: (call: grpc.ServerDuplexStream<ClientStatusRequest, ClientStatusResponse>) => {
      let failed = false;
      call.on('data', (req: ClientStatusRequest) => {
        // The stream is over once it failed: requests already on their way are neither answered nor refused again.
        if (failed) return;
        try {
          call.write(answer(call, req));
        } catch (err) {
          failed = true;
          call.emit('error', Object.assign(new Error(String(asServiceError(err).details)), asServiceError(err)));
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
}

/** Which proxies the caller may see; throws when it is refused (the reason goes to `onRefused`, not to the caller). */
function authorize(call: CsdsCall, opts: CsdsOptions): (c: AdsConnection) => boolean {
  const auth = authenticateCaller(call.metadata.get('authorization')[0], call.getAuthContext(), opts, (opts.now ?? Date.now)());
  if (auth.kind === 'refused') {
    opts.onRefused?.({ peer: call.getPeer(), code: auth.code, reason: auth.reason });
    throw new CsdsError(auth.code, grpc.status.UNAUTHENTICATED, 'authentication failed');
  }
  if (auth.kind === 'anonymous') return () => true;
  const namespace = auth.kind === 'certificate' ? auth.cert.identity.namespace : auth.identity.namespace;
  if (namespace === (opts.systemNamespace ?? 'istio-system')) return () => true;
  return (c) => c.node.view.namespace === namespace;
}

/** Node matchers by node id (exact, prefix, suffix, contains); any one matching admits a node. */
function nodeMatcher(req: ClientStatusRequest): (id: string) => boolean {
  const matchers = req.node_matchers ?? [];
  if (matchers.length === 0) return () => true;
  for (const m of matchers) {
    if ((m.node_metadatas?.length ?? 0) > 0 || m.node_id?.safe_regex) {
      throw new CsdsError('CSDS_UNSUPPORTED_MATCHER', grpc.status.UNIMPLEMENTED, 'only node_id exact, prefix, suffix and contains matchers are supported');
    }
  }
  return (id) =>
    matchers.some(({ node_id: m }) => {
      if (!m) return true;
      if (m.exact !== undefined && m.exact !== '') return id === m.exact;
      if (m.prefix) return id.startsWith(m.prefix);
      if (m.suffix) return id.endsWith(m.suffix);
      if (m.contains) return id.includes(m.contains);
      return true;
    });
}
