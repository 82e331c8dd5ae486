// The proxy's xDS client: one ADS stream (state of the world) to the control plane. Each response is
// handed to a subscriber that compiles it; a throw (or a rejection, for an update that applies
// asynchronously, as listeners bind) becomes a NACK with its message, and the last good config stays
// in force. Responses are applied one at a time, in order. When the stream breaks, the client
// reconnects with backoff and resubscribes.
import * as grpc from '@grpc/grpc-js';
import type { TypedAny } from './any.ts';
import { toStruct, unpackAny } from './any.ts';
import { messageType } from './protos.ts';
import { adsOrder } from './type-urls.ts';

export const AdsMethod = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const requestType = () => messageType('type.googleapis.com/envoy.service.discovery.v3.DiscoveryRequest');
const responseType = () => messageType('type.googleapis.com/envoy.service.discovery.v3.DiscoveryResponse');

export interface DiscoveryRequest {
  version_info?: string;
  node?: { id: string; cluster?: string; metadata?: object; user_agent_name?: string };
  resource_names?: string[];
  type_url: string;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
}

export interface DiscoveryResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Uint8Array }[];
}

/** gRPC codec for DiscoveryRequest / DiscoveryResponse (shared with in-test servers). */
export const adsCodec = {
  encodeRequest: (r: DiscoveryRequest): Buffer =>
    Buffer.from(requestType().encode(requestType().fromObject(r)).finish()),
  decodeRequest: (b: Buffer): DiscoveryRequest =>
    requestType().toObject(requestType().decode(b), { longs: String, enums: String }) as DiscoveryRequest,
  encodeResponse: (r: DiscoveryResponse): Buffer =>
    Buffer.from(responseType().encode(responseType().fromObject(r)).finish()),
  decodeResponse: (b: Buffer): DiscoveryResponse => {
    const m = responseType().decode(b) as unknown as Partial<DiscoveryResponse>;
    return {
      version_info: m.version_info ?? '',
      type_url: m.type_url ?? '',
      nonce: m.nonce ?? '',
      resources: (m.resources ?? []).map((a) => ({ type_url: a.type_url, value: a.value })),
    };
  },
};

/**
 * What the proxy does with resources; `apply` throws to NACK. One that returns a promise is answered
 * once it settles (a rejection NACKs), and the next response waits for it: Envoy answers LDS only after
 * its listen sockets are bound.
 */
export interface AdsSubscriber {
  apply(typeUrl: string, resources: TypedAny[], version: string): void | Promise<void>;
  /**
   * Names to subscribe to for a type; undefined = wildcard; [] = nothing: not requested yet, or, once it
   * was, unsubscribed with an empty `resource_names` (Envoy's request once a type's last watch goes).
   */
  resourceNames(typeUrl: string): readonly string[] | undefined;
}

export interface AdsClientOptions {
  /** `host:port` of the control plane. */
  address: string;
  node: { id: string; cluster?: string; metadata: Record<string, unknown> };
  /** The bearer token; a function is called at each (re)connect, so a rotated token file is read again. */
  token?: string | (() => string);
  /**
   * A function is called at each (re)connect: when it returns other credentials than the last (a renewed
   * workload certificate to present), the stream goes over a new channel, so a new TLS handshake.
   */
  credentials?: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
  /** The name the TLS xDS server's certificate must carry (`istiod.istio-system.svc`) when `address` is an IP. */
  serverName?: string;
  subscriber: AdsSubscriber;
  /** Reconnect backoff: first delay and cap (ms). */
  backoff?: { initialMs: number; maxMs: number };
  /** Timer used for reconnects (injectable for tests). */
  schedule?: (fn: () => void, ms: number) => { unref?(): unknown };
  /** Hook for logs and tests. */
  onEvent?: (event: AdsEvent) => void;
  /**
   * Open its own HTTP/2 connection. By default grpc-js shares one connection between clients of one
   * process with the same target and options; simulated proxies set this so that each has a connection,
   * flow-control window and socket of its own, as separate Envoys do.
   */
  ownConnection?: boolean;
}

export type AdsEvent =
  /** A stream is opened (nothing answered on it yet: a control plane that is down fails it next). */
  | { kind: 'connected' }
  /** The first response arrived on the stream: the control plane is there. */
  | { kind: 'responding' }
  | { kind: 'disconnected'; reason: string; retryInMs: number }
  | { kind: 'ack'; typeUrl: string; version: string }
  | { kind: 'nack'; typeUrl: string; version: string; message: string };

interface TypeState {
  ackedVersion: string;
  lastNonce: string;
  sentNames: string | undefined;
  requested: boolean;
  lastError?: string;
}

/** Sync state per type, for the admin endpoint and `proxy-status`. */
export interface AdsStatus {
  connected: boolean;
  types: Record<string, { version: string; nonce: string; error?: string }>;
}

export class AdsClient {
  #opts: AdsClientOptions;
  #client: grpc.Client | undefined;
  #clientCredentials: grpc.ChannelCredentials | undefined;
  #call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> | undefined;
  #types = new Map<string, TypeState>();
  #connected = false;
  #stopped = false;
  #attempt = 0;
  /** Responses waiting for the one being applied (a pending LDS bind); a stream's own, in order. */
  #pending: { res: DiscoveryResponse; call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }[] = [];
  #applying = false;

  constructor(opts: AdsClientOptions) {
    this.#opts = opts;
  }

  /** The channel for the next stream: the one before, unless the credentials changed. */
  #channel(): grpc.Client {
    const c = this.#opts.credentials;
    const credentials = (typeof c === 'function' ? c() : c) ?? grpc.credentials.createInsecure();
    if (this.#client && credentials === this.#clientCredentials) return this.#client;
    this.#client?.close();
    this.#clientCredentials = credentials;
    this.#client = new grpc.Client(this.#opts.address, credentials, {
      'grpc.keepalive_time_ms': 30_000,
      // No cap on a response: grpc-js refuses one over 4 MiB, and a mesh with many services sends a
      // CDS or EDS response larger than that; refused, the stream ends, and every retry ends alike.
      'grpc.max_receive_message_length': -1,
      ...(this.#opts.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
      ...(this.#opts.serverName ? { 'grpc.ssl_target_name_override': this.#opts.serverName, 'grpc.default_authority': this.#opts.serverName } : {}),
    });
    return this.#client;
  }

  start(): void {
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    this.#call?.cancel();
    this.#client?.close();
  }

  status(): AdsStatus {
    const types: AdsStatus['types'] = {};
    for (const [url, s] of this.#types) {
      types[url] = s.lastError
        ? { version: s.ackedVersion, nonce: s.lastNonce, error: s.lastError }
        : { version: s.ackedVersion, nonce: s.lastNonce };
    }
    return { connected: this.#connected, types };
  }

  /** Re-sends requests whose subscribed names changed (e.g. new clusters need EDS). */
  refreshSubscriptions(): void {
    if (!this.#call) return;
    for (const typeUrl of adsOrder) this.#maybeRequest(typeUrl, false);
  }

  #open(): void {
    const meta = new grpc.Metadata();
    const token = typeof this.#opts.token === 'function' ? this.#opts.token() : this.#opts.token;
    if (token) meta.set('authorization', `Bearer ${token}`);
    const call = this.#channel().makeBidiStreamRequest<DiscoveryRequest, DiscoveryResponse>(
      AdsMethod,
      adsCodec.encodeRequest,
      adsCodec.decodeResponse,
      meta,
    );
    this.#call = call;
    let ended = false;
    const onEnd = (reason: string) => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      this.#connected = false;
      if (this.#stopped) return;
      const { initialMs, maxMs } = this.#opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
      const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 16));
      const delay = Math.round(base / 2 + (Math.random() * base) / 2);
      this.#attempt++;
      this.#opts.onEvent?.({ kind: 'disconnected', reason, retryInMs: delay });
      const schedule = this.#opts.schedule ?? ((fn, ms) => setTimeout(fn, ms));
      schedule(() => {
        if (!this.#stopped) this.#open();
      }, delay).unref?.();
    };
    call.on('data', (res: DiscoveryResponse) => {
      if (!this.#connected) {
        this.#connected = true;
        this.#attempt = 0;
        this.#opts.onEvent?.({ kind: 'responding' });
      }
      this.#pending.push({ res, call });
      if (!this.#applying) this.#applyPending();
    });
    call.on('error', (err: grpc.ServiceError) => onEnd(`${err.code}: ${err.details || err.message}`));
    call.on('end', () => onEnd('stream ended'));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) onEnd(`${s.code}: ${s.details}`);
    });
    // A new stream resubscribes everything, presenting the versions we already hold (resync).
    for (const s of this.#types.values()) {
      s.requested = false;
      s.lastNonce = '';
    }
    for (const typeUrl of adsOrder) this.#maybeRequest(typeUrl, true);
    this.#opts.onEvent?.({ kind: 'connected' });
  }

  #state(typeUrl: string): TypeState {
    let s = this.#types.get(typeUrl);
    if (!s) {
      s = { ackedVersion: '', lastNonce: '', sentNames: undefined, requested: false };
      this.#types.set(typeUrl, s);
    }
    return s;
  }

  #maybeRequest(typeUrl: string, first: boolean): void {
    const names = this.#opts.subscriber.resourceNames(typeUrl);
    // Nothing to ask for: a type never requested on this stream stays unasked; one that was is unsubscribed.
    if (names && names.length === 0 && !this.#types.get(typeUrl)?.requested) return;
    const s = this.#state(typeUrl);
    const key = names ? [...names].sort().join('\n') : undefined;
    if (s.requested && key === s.sentNames) return;
    s.sentNames = key;
    s.requested = true;
    this.#send({ typeUrl, names, version: s.ackedVersion, nonce: s.lastNonce, node: first });
  }

  #send(r: { typeUrl: string; names: readonly string[] | undefined; version: string; nonce: string; node: boolean; error?: string }): void {
    const req: DiscoveryRequest = { type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce };
    if (r.names) req.resource_names = [...r.names];
    if (r.node) {
      const { id, cluster, metadata } = this.#opts.node;
      req.node = { id, cluster: cluster ?? 'outrigger', metadata: toStruct(metadata), user_agent_name: 'outrigger' };
    }
    if (r.error !== undefined) req.error_detail = { code: grpc.status.INVALID_ARGUMENT, message: r.error };
    this.#call?.write(req);
  }

  /** Applies queued responses in order; one whose apply is asynchronous holds the rest until it settles. */
  #applyPending(): void {
    this.#applying = true;
    let held = false;
    try {
      for (let next = this.#pending.shift(); next; next = this.#pending.shift()) {
        let settling: Promise<void> | undefined;
        try {
          settling = this.#onResponse(next.res, next.call);
        } catch {
          // An answer that threw (a write on a stream that broke meanwhile: its own end handles that)
          // must not keep the responses after it from being applied.
          continue;
        }
        if (settling) {
          held = true;
          // The same for one that settles later: the next response is applied, nothing rejects unhandled.
          void settling
            .catch(() => {})
            .then(() => this.#applyPending())
            .catch(() => {});
          return;
        }
      }
    } finally {
      // A throw (a write on a broken stream) must not leave later responses waiting forever.
      if (!held) this.#applying = false;
    }
  }

  /** Returns a promise when the subscriber's apply is still settling; the answer is sent once it has. */
  #onResponse(res: DiscoveryResponse, call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>): Promise<void> | undefined {
    // Queued behind an apply while its stream closed: the new stream's resync sends it again.
    if (call !== this.#call) return undefined;
    // Envoy's GrpcMuxImpl::onDiscoveryResponse: a type never subscribed to is ignored, unanswered ("no
    // current subscribers"); an answer would subscribe it, as a wildcard.
    const s = this.#types.get(res.type_url);
    if (!s) return undefined;
    s.lastNonce = res.nonce;
    const names = this.#opts.subscriber.resourceNames(res.type_url);
    if (names && names.length === 0) {
      // Unsubscribed since (no watches): nothing is applied. An empty response is taken silently; one
      // with resources gets the request again at the version held, a NACK without detail, as Envoy's.
      if (res.resources.length === 0) s.ackedVersion = res.version_info;
      else this.#send({ typeUrl: res.type_url, names, version: s.ackedVersion, nonce: res.nonce, node: false });
      return undefined;
    }
    let applied: void | Promise<void>;
    try {
      const decoded: TypedAny[] = [];
      for (const any of res.resources) {
        if (any.type_url !== res.type_url) throw new Error(`resource of type ${any.type_url} in a ${res.type_url} response`);
        decoded.push(unpackAny(any));
      }
      applied = this.#opts.subscriber.apply(res.type_url, decoded, res.version_info);
    } catch (err) {
      this.#answer(res, call, errorMessage(err));
      return undefined;
    }
    if (!(applied instanceof Promise)) {
      this.#answer(res, call, undefined);
      return undefined;
    }
    return applied.then(
      () => this.#answer(res, call, undefined),
      (err: unknown) => this.#answer(res, call, errorMessage(err)),
    );
  }

  /** ACKs (no error) or NACKs a response; on a stream closed meanwhile the outcome is kept, not sent. */
  #answer(res: DiscoveryResponse, call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>, error: string | undefined): void {
    const s = this.#state(res.type_url);
    const current = call === this.#call;
    const names = this.#opts.subscriber.resourceNames(res.type_url);
    if (error === undefined) {
      s.ackedVersion = res.version_info;
      delete s.lastError;
      if (!current) return;
      this.#send({ typeUrl: res.type_url, names, version: s.ackedVersion, nonce: res.nonce, node: false });
      this.#opts.onEvent?.({ kind: 'ack', typeUrl: res.type_url, version: res.version_info });
      // Dependent types (EDS after CDS, RDS after LDS) may now have names to ask for.
      this.refreshSubscriptions();
    } else {
      s.lastError = error;
      if (!current) return;
      this.#send({ typeUrl: res.type_url, names, version: s.ackedVersion, nonce: res.nonce, node: false, error });
      this.#opts.onEvent?.({ kind: 'nack', typeUrl: res.type_url, version: res.version_info, message: error });
      // An LDS update NACKed for a listener that would not bind applied the others, which may name routes.
      this.refreshSubscriptions();
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
