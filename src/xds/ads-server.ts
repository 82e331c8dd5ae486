// The ADS server (envoy.service.discovery.v3.AggregatedDiscoveryService), state of the world: it
// authenticates each stream, tracks per-type versions, nonces, ACKs and NACKs, and pushes a type to a
// proxy only when that proxy's resources of that type changed.
import * as grpc from '@grpc/grpc-js';
import type { IdentityCredential, WorkloadIdentity } from '../controlplane/bootstrap-tokens.ts';
import type { ClientCertResult } from '../controlplane/client-cert-authenticator.ts';
import { BootstrapTokens } from '../controlplane/bootstrap-tokens.ts';
import { authenticateCaller, type CallerAuthOptions } from '../controlplane/caller-authentication.ts';
import type { Clock } from '../controlplane/clock.ts';
import { systemClock } from '../controlplane/clock.ts';
import type { ProxyResources } from '../translate/proxy-resources.ts';
import type { DiscoveryRequest, DiscoveryResponse } from './ads-client.ts';
import { AdsMethod, adsCodec } from './ads-client.ts';
import { AdsConnection } from './ads-connection.ts';
import type { TypeState } from './ads-connection.ts';
import type { NodeInfo } from './node-view.ts';
import { NodeError, parseNode } from './node-view.ts';
import type { EncodedSet } from './resource-encoder.ts';
import { ResourceEncoder } from './resource-encoder.ts';
import { adsOrder, TypeUrl } from './type-urls.ts';
import { longTimer } from './long-timer.ts';

export type AdsServerEvent =
  | { kind: 'connect'; conn: AdsConnection }
  | { kind: 'disconnect'; conn: AdsConnection }
  | { kind: 'refused'; peer: string; code: string; reason: string }
  | { kind: 'push'; conn: AdsConnection; typeUrl: string; version: string; bytes: number }
  | { kind: 'ack'; conn: AdsConnection; typeUrl: string; version: string }
  | { kind: 'nack'; conn: AdsConnection; typeUrl: string; version: string; message: string }
  | { kind: 'error'; conn: AdsConnection; typeUrl: string; message: string };

/**
 * How a stream's caller is authenticated (caller-authentication.ts, shared with CSDS): the workload
 * certificate it presented (TLS port) proves a namespace and service account, the workload being the
 * node's own claim; else its token. Streams without either only with `allowAnonymous` (they never
 * receive secrets).
 */
export interface AdsServerOptions extends CallerAuthOptions {
  /**
   * Why a stream whose node matches its token may still not go on (PERMISSION_DENIED, the reason sent to
   * the caller too), or undefined to accept it: the control plane refuses a proxy that claims a pod of
   * another identity. `credential` is what proved the identity, for the reason to name.
   */
  admit?: (node: NodeInfo, identity: WorkloadIdentity | undefined, credential: IdentityCredential) => string | undefined;
  /** Everything this connection should hold now. */
  generate: (conn: AdsConnection) => ProxyResources;
  /** The current config version, sent as `version_info`. */
  version: () => string;
  clock?: Clock;
  onEvent?: (event: AdsServerEvent) => void;
  /** Connections pushed per turn of the event loop in `pushAll` (default 32). */
  pushBatch?: number;
}

type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export const adsServiceDefinition: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: AdsMethod,
    requestStream: true,
    responseStream: true,
    requestSerialize: adsCodec.encodeRequest,
    requestDeserialize: adsCodec.decodeRequest,
    responseSerialize: adsCodec.encodeResponse,
    responseDeserialize: adsCodec.decodeResponse,
  },
};

/**
 * The most resource names one DiscoveryRequest may list. A sidecar's EDS list in a mesh of 1,000
 * services (two ports, two subsets each) is 6,000 names, 278 KB; the message limit (4 MiB by default,
 * call-limits.ts) holds some 90,000 such names, so this refuses only lists of names shorter than any
 * cluster's.
 */
export const MAX_RESOURCE_NAMES = 65_536;
/** The longest resource name (characters): a cluster name is at most `outbound|65535|<subset>|<host>`, some 330. */
export const MAX_RESOURCE_NAME_LENGTH = 4096;

/** Why a request's `resource_names` is refused, or undefined. */
export function resourceNamesRefusal(req: DiscoveryRequest): string | undefined {
  const names = req.resource_names ?? [];
  if (names.length > MAX_RESOURCE_NAMES) return `resource_names lists ${names.length} names for ${req.type_url ?? ''}, more than ${MAX_RESOURCE_NAMES}`;
  for (const n of names) {
    if (n.length > MAX_RESOURCE_NAME_LENGTH) return `a resource name for ${req.type_url ?? ''} is ${n.length} characters long, more than ${MAX_RESOURCE_NAME_LENGTH}`;
  }
  return undefined;
}

function refusal(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

export class AdsServer {
  #opts: AdsServerOptions;
  #clock: Clock;
  #encoder = new ResourceEncoder();
  #connections = new Set<AdsConnection>();
  #generated = new WeakMap<AdsConnection, { key: string; resources: ProxyResources }>();
  #pushing = new Set<AdsConnection>();
  /** Per stream opened with a client certificate: whether it still proves the identity (else the stream ends). */
  #certificateChecks = new WeakMap<AdsConnection, () => boolean>();
  #calls = new Set<AdsCall>();
  #seq = 0;
  #round = 0;
  #roundActive = false;

  constructor(opts: AdsServerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Adds the ADS service to a gRPC server. */
  register(server: grpc.Server): void {
    server.addService(adsServiceDefinition, { StreamAggregatedResources: (call: AdsCall) => this.#accept(call) });
  }

  get connections(): readonly AdsConnection[] {
    return [...this.#connections];
  }

  /**
   * Recomputes every connection's resources and pushes the types that changed, `pushBatch` connections
   * per turn of the event loop: the first responses go on the wire (and proxies start applying them)
   * while later ones are still being built, instead of every proxy waiting for the whole round. A newer
   * round supersedes an unfinished one (it covers every connection). `onDone` runs when the round ends.
   */
  pushAll(onDone?: () => void): void {
    const round = ++this.#round;
    const pending = [...this.#connections];
    const batch = this.#opts.pushBatch ?? 32;
    let next = 0;
    const step = () => {
      if (round !== this.#round) return;
      const end = Math.min(pending.length, next + batch);
      for (; next < end; next++) this.push(pending[next] as AdsConnection);
      if (next < pending.length) {
        setImmediate(step);
        return;
      }
      this.#roundActive = false;
      onDone?.();
    };
    this.#roundActive = true;
    step();
  }

  /** Whether a push round is still working through the connections. */
  get pushing(): boolean {
    return this.#roundActive;
  }

  /** Recomputes one connection's resources and pushes the types that changed (`force`: send anyway). */
  push(conn: AdsConnection, force: ReadonlySet<string> = new Set()): void {
    if (!this.#connections.has(conn)) return;
    if (this.#certificateChecks.get(conn)?.() === false) return;
    if (this.#pushing.has(conn)) return;
    this.#pushing.add(conn);
    try {
      const version = this.#opts.version();
      const all = this.#resourcesFor(conn, version);
      // Translation failed and this connection has had nothing yet: send nothing, not an empty config
      // that would tell a proxy reconnecting with config of its own to drop it. A later change retries.
      if (all === undefined) return;
      const now = this.#clock.now();
      const subscribed = [...conn.subscriptions().keys()].sort(byAdsOrder);
      let clustersSent = false;
      for (const typeUrl of subscribed) {
        let set: EncodedSet;
        try {
          set = this.#encoder.encodeSelected(typeUrl, all.get(typeUrl), conn.state(typeUrl).names, version);
        } catch (err) {
          // Translation produced something that is not Envoy config: the proxy keeps what it has.
          this.#opts.onEvent?.({ kind: 'error', conn, typeUrl, message: (err as Error).message });
          continue;
        }
        // EDS follows every CDS response, changed endpoints or not, as in istiod's full push (pushXds for
        // each watched type; edsNeedsPush for a DestinationRule or ServiceEntry change): Envoy keeps an
        // updated EDS cluster warming until an EDS response names it.
        const forced = force.has(typeUrl) || (clustersSent && typeUrl === TypeUrl.ClusterLoadAssignment);
        if (conn.offer(typeUrl, set, set.objects, version, now, forced)) {
          this.#opts.onEvent?.({ kind: 'push', conn, typeUrl, version, bytes: set.bytes });
          if (typeUrl === TypeUrl.Cluster) clustersSent = true;
        }
      }
    } finally {
      this.#pushing.delete(conn);
    }
  }

  /** Ends every stream (the proxies will reconnect elsewhere or later). */
  closeStreams(): void {
    for (const call of this.#calls) call.end();
  }

  #resourcesFor(conn: AdsConnection, version: string): ProxyResources | undefined {
    // An Envoy proxy's resources depend on the snapshot only (its subscriptions select from them), so a
    // new subscription or a changed name list does not translate again; proxyless clients' resources
    // are built from the listener names they ask for.
    const key = conn.node.generator === 'grpc' ? `${version}|${[...conn.subscriptions()].map(([t, n]) => `${t}=${n.join(',')}`).join(';')}` : version;
    const cached = this.#generated.get(conn);
    if (cached?.key === key) return cached.resources;
    let resources: ProxyResources;
    try {
      resources = this.#opts.generate(conn);
    } catch (err) {
      this.#opts.onEvent?.({ kind: 'error', conn, typeUrl: '', message: `translation failed: ${(err as Error).message}` });
      // The proxy keeps what it was last sent; one that was sent nothing yet waits.
      if (!cached) return undefined;
      resources = cached.resources;
    }
    // A client without a verified identity never receives secrets.
    if (!conn.identity) resources.delete(TypeUrl.Secret);
    this.#generated.set(conn, { key, resources });
    return resources;
  }

  #accept(call: AdsCall): void {
    const peer = call.getPeer();
    const authContext = call.getAuthContext();
    const auth = authenticateCaller(call.metadata.get('authorization')[0], authContext, this.#opts, this.#clock.now());
    if (auth.kind === 'refused') {
      this.#refuse(call, peer, grpc.status.UNAUTHENTICATED, auth.code, auth.reason);
      return;
    }
    let identity: WorkloadIdentity | undefined = auth.kind === 'token' ? auth.identity : undefined;
    const certified: Extract<ClientCertResult, { kind: 'verified' }> | undefined = auth.kind === 'certificate' ? auth.cert : undefined;
    this.#calls.add(call);
    let conn: AdsConnection | undefined;
    let closed = false;
    // A token's or certificate's expiry ends the stream it opened, secrets and all: it is not only
    // checked at the start. The proxy reconnects with what it holds then (a renewed certificate).
    const expiry = certified ? certified.expiresAtMs : auth.kind === 'token' ? BootstrapTokens.expiresAt(auth.token) : undefined;
    const expiryTimer =
      expiry === undefined
        ? undefined
        : longTimer((f, ms) => this.#clock.setTimer(f, ms), expiry - this.#clock.now(), () => {
            if (closed) return;
            close();
            const [code, what] = certified ? (['CERT_EXPIRED', `client certificate ${certified.spiffeId}`] as const) : (['TOKEN_EXPIRED', 'token'] as const);
            this.#refuse(call, peer, grpc.status.UNAUTHENTICATED, code, `${what} expired at ${new Date(expiry).toISOString()} on an open stream`);
          });
    // The certificate is checked again before each push: one that no longer proves its identity (its
    // root removed from the trust bundle) ends its stream as its expiry does, and receives nothing more.
    const stillCertified = (): boolean => {
      if (closed || !certified) return !closed;
      const again = this.#opts.verifyCertificate?.(authContext);
      if (again?.kind === 'verified' && again.spiffeId === certified.spiffeId) return true;
      close();
      const [code, reason] = again?.kind === 'refused' ? [again.code, again.reason] : ['BAD_CERT', `client certificate ${certified.spiffeId} no longer verifies`];
      this.#refuse(call, peer, grpc.status.UNAUTHENTICATED, code, `${reason} on an open stream`);
      return false;
    };
    const close = () => {
      if (closed) return;
      closed = true;
      expiryTimer?.handle.cancel();
      this.#calls.delete(call);
      if (conn && this.#connections.delete(conn)) this.#opts.onEvent?.({ kind: 'disconnect', conn });
    };
    call.on('data', (req: DiscoveryRequest) => {
      if (closed) return;
      // A list no proxy sends ends the stream, as a message over the size limit does: it would be kept
      // (as this stream's subscription) and matched against on every push.
      const tooLarge = resourceNamesRefusal(req);
      if (tooLarge !== undefined) {
        close();
        return this.#refuse(call, peer, grpc.status.RESOURCE_EXHAUSTED, 'TOO_MANY_NAMES', tooLarge, true);
      }
      if (!conn) {
        try {
          const node = parseNode(req.node);
          if (certified) {
            const { namespace, serviceAccount } = certified.identity;
            if (namespace !== node.view.namespace || serviceAccount !== node.view.serviceAccount) {
              close();
              const why = `node ${node.view.namespace}/${node.view.serviceAccount} is not the certificate's ${certified.spiffeId}`;
              return this.#refuse(call, peer, grpc.status.PERMISSION_DENIED, 'IDENTITY_MISMATCH', why);
            }
            // A SPIFFE ID names no workload (Istio's identity is the service account): the node claims it.
            identity = { namespace, serviceAccount, workload: node.view.workloadName };
          }
          if (identity && !sameIdentity(identity, node.view)) {
            close();
            const why = `node ${node.view.namespace}/${node.view.serviceAccount}/${node.view.workloadName} is not the token's ${identity.namespace}/${identity.serviceAccount}/${identity.workload}`;
            return this.#refuse(call, peer, grpc.status.PERMISSION_DENIED, 'IDENTITY_MISMATCH', why);
          }
          const denied = this.#opts.admit?.(node, identity, certified ? 'client certificate' : 'token');
          if (denied !== undefined) {
            close();
            return this.#refuse(call, peer, grpc.status.PERMISSION_DENIED, 'NOT_YOUR_WORKLOAD', denied, true);
          }
          conn = new AdsConnection({
            id: `${node.view.id}-${++this.#seq}`,
            node,
            identity,
            connectedAt: this.#clock.now(),
            peer,
            writer: { write: (res, done) => call.write(res, () => done()) },
          });
          const c = conn;
          conn.onDrain = () => {
            if (c.dirtyTypes().length > 0) this.push(c);
          };
          if (certified) this.#certificateChecks.set(conn, stillCertified);
          this.#connections.add(conn);
          this.#opts.onEvent?.({ kind: 'connect', conn });
        } catch (err) {
          close();
          const reason = err instanceof NodeError ? err.message : 'bad node';
          return this.#refuse(call, peer, grpc.status.INVALID_ARGUMENT, 'BAD_NODE', reason);
        }
      }
      this.#onRequest(conn, req);
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('cancelled', close);
    call.on('error', close);
    call.on('close', close);
  }

  #onRequest(conn: AdsConnection, req: DiscoveryRequest): void {
    const typeUrl = req.type_url;
    // Only the types this server generates, as istiod answers nothing for a type it has no generator
    // for: the type URL is the client's string, and each new one would be state kept on the stream and
    // a metric series (`pilot_xds_pushes{type}`) named by the client.
    if (!typeUrl || !servedTypes.has(typeUrl)) return;
    const s = conn.state(typeUrl);
    const wildcardType = isWildcardType(typeUrl);
    const requested = req.resource_names ?? [];
    // "*" is the explicit wildcard of CDS and LDS (xDS spec); for the other types it is just a name.
    const names = wildcardType && requested.includes('*') ? [] : [...requested].sort();
    const namesChanged = names.join('\0') !== s.names.join('\0');
    // A reply to what was sent on this stream (istiod's ShouldRespond: previousInfo set). A nonce from an
    // earlier stream (a proxy that reconnected) opens a new watch instead.
    const nonce = req.response_nonce ?? '';
    const reply = nonce !== '' && s.subscribed && s.sentNonce !== undefined;
    const current = reply && nonce === s.sentNonce;
    // A NACK is recorded (of the latest response only) and answers nothing, its names unread: istiod
    // checks it first. The same goes for a NACK of another stream's response.
    if (req.error_detail) {
      if (current) {
        const message = req.error_detail.message || `NACK code ${req.error_detail.code}`;
        s.lastNack = { version: s.sentVersion ?? '', nonce, message, at: this.#clock.now() };
        this.#opts.onEvent?.({ kind: 'nack', conn, typeUrl, version: s.sentVersion ?? '', message });
      }
      return;
    }
    if (current) {
      s.ackedNonce = nonce;
      s.ackedVersion = req.version_info ?? '';
      this.#opts.onEvent?.({ kind: 'ack', conn, typeUrl, version: s.ackedVersion });
    }
    // An RDS, EDS or SDS request naming nothing ends that watch, whatever its nonce and initial request
    // included (istiod's shouldUnsubscribe, before the nonce check): only CDS and LDS have a wildcard mode.
    if (!wildcardType && names.length === 0) {
      unsubscribe(s);
      return;
    }
    if (reply) {
      // A reply to an older response: the newer one is on its way, so this one says nothing.
      if (!current || !namesChanged) return;
      const before = new Set(s.names);
      const added = names.some((n) => !before.has(n));
      s.names = names;
      // Names only removed from a non-wildcard type: the proxy drops those itself (istiod's ShouldRespond:
      // !IsWildcardTypeURL && len(added) == 0). Otherwise the type goes again, every watched name in it:
      // a client that replaces a type's state with each response keeps what it had.
      if (wildcardType || added) this.push(conn, new Set([typeUrl]));
      return;
    }
    // A new subscription on this stream (or a proxy that reconnected): it gets its full state.
    s.subscribed = true;
    s.names = names;
    this.push(conn, new Set([typeUrl]));
  }

  /** `tell`: the caller holds a valid token, and is told why as well as the log; otherwise only the status. */
  #refuse(call: AdsCall, peer: string, status: grpc.status, code: string, reason: string, tell = false): void {
    this.#opts.onEvent?.({ kind: 'refused', peer, code, reason });
    const details = tell ? reason : status === grpc.status.UNAUTHENTICATED ? 'authentication failed' : 'request refused';
    call.emit('error', refusal(status, details));
  }
}

const servedTypes: ReadonlySet<string> = new Set(adsOrder);

/** Whether an empty name list means every resource of the type (istiod IsWildcardTypeURL: CDS and LDS). */
function isWildcardType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener;
}

/**
 * The proxy no longer watches the type: nothing of it is pushed until it asks again, and it is reported
 * as never sent (istiod's DeleteWatchedResource).
 */
function unsubscribe(s: TypeState): void {
  s.subscribed = false;
  s.names = [];
  s.dirty = false;
  delete s.sentVersion;
  delete s.sentNonce;
  delete s.sentHash;
  delete s.sentAt;
  delete s.ackedVersion;
  delete s.ackedNonce;
  delete s.lastNack;
  s.sentResources = [];
  s.sentBytes = 0;
}

function sameIdentity(id: WorkloadIdentity, view: { namespace: string; serviceAccount: string; workloadName: string }): boolean {
  return id.namespace === view.namespace && id.serviceAccount === view.serviceAccount && id.workload === view.workloadName;
}

function byAdsOrder(a: string, b: string): number {
  const ia = adsOrder.indexOf(a);
  const ib = adsOrder.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
}

export type { AdsConnection };
