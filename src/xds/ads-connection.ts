// One ADS stream from one proxy: what it subscribed to, what was sent (version, nonce, hash), what it
// ACKed or NACKed, per type. Writes are bounded: while a response is in flight, later changes only mark
// the type dirty, and the newest state is sent once the stream drains.
import { randomUUID } from 'node:crypto';
import type { WorkloadIdentity } from '../controlplane/bootstrap-tokens.ts';
import type { TypedAny } from './any.ts';
import type { DiscoveryResponse } from './ads-client.ts';
import type { NodeInfo } from './node-view.ts';
import type { EncodedSet } from './resource-encoder.ts';

export type SyncStatus = 'SYNCED' | 'NOT SENT' | 'STALE';

export interface Nack {
  version: string;
  nonce: string;
  message: string;
  at: number;
}

export interface TypeState {
  subscribed: boolean;
  /** Requested names; empty means every resource of the type (wildcard, CDS and LDS only). */
  names: string[];
  sentVersion?: string;
  sentNonce?: string;
  sentHash?: string;
  sentBytes: number;
  sentAt?: number;
  /** What was last sent, for config dumps. */
  sentResources: readonly TypedAny[];
  ackedVersion?: string;
  ackedNonce?: string;
  lastNack?: Nack;
  /** A newer state is waiting for the stream to drain. */
  dirty: boolean;
}

export interface ConnectionWriter {
  /** Writes one response; `done` runs when the transport took it. */
  write(response: DiscoveryResponse, done: () => void): void;
}

export class AdsConnection {
  readonly id: string;
  readonly node: NodeInfo;
  /** Verified token identity; undefined for an anonymous (proxyless, test) client. */
  readonly identity: WorkloadIdentity | undefined;
  readonly connectedAt: number;
  readonly peer: string;
  #types = new Map<string, TypeState>();
  #writer: ConnectionWriter;
  #inFlight = false;
  #nonce = 0;
  /**
   * Random per stream, so no nonce is ever sent twice, across streams, restarts and control planes: an
   * old stream's nonce can never pass for an ACK of this one (istiod's nonces carry a UUID too).
   */
  #noncePrefix = `${randomUUID()}-`;

  constructor(init: { id: string; node: NodeInfo; identity: WorkloadIdentity | undefined; connectedAt: number; peer: string; writer: ConnectionWriter }) {
    this.id = init.id;
    this.node = init.node;
    this.identity = init.identity;
    this.connectedAt = init.connectedAt;
    this.peer = init.peer;
    this.#writer = init.writer;
  }

  state(typeUrl: string): TypeState {
    let s = this.#types.get(typeUrl);
    if (!s) {
      s = { subscribed: false, names: [], sentBytes: 0, sentResources: [], dirty: false };
      this.#types.set(typeUrl, s);
    }
    return s;
  }

  get types(): ReadonlyMap<string, TypeState> {
    return this.#types;
  }

  /** Names the proxy asked for, per subscribed type (empty array = wildcard). */
  subscriptions(): Map<string, readonly string[]> {
    const out = new Map<string, readonly string[]>();
    for (const [t, s] of this.#types) if (s.subscribed) out.set(t, s.names);
    return out;
  }

  status(typeUrl: string): SyncStatus {
    const s = this.#types.get(typeUrl);
    if (!s?.sentNonce) return 'NOT SENT';
    return s.ackedNonce === s.sentNonce ? 'SYNCED' : 'STALE';
  }

  get configBytes(): number {
    let n = 0;
    for (const s of this.#types.values()) n += s.sentBytes;
    return n;
  }

  /**
   * Sends `set` for a type unless the proxy already has exactly it (`force` sends anyway, for a new
   * subscription). Returns whether a response went out now; false may mean it waits for the drain.
   */
  offer(typeUrl: string, set: EncodedSet, resources: readonly TypedAny[], version: string, now: number, force: boolean): boolean {
    const s = this.state(typeUrl);
    if (!force && s.sentHash === set.hash) {
      s.dirty = false;
      return false;
    }
    if (this.#inFlight) {
      s.dirty = true;
      // A forced send (new subscription) must still happen after the drain, even if nothing changed.
      if (force) delete s.sentHash;
      return false;
    }
    s.dirty = false;
    const nonce = `${this.#noncePrefix}${++this.#nonce}`;
    s.sentVersion = version;
    s.sentNonce = nonce;
    s.sentHash = set.hash;
    s.sentBytes = set.bytes;
    s.sentAt = now;
    s.sentResources = resources;
    this.#inFlight = true;
    this.#writer.write({ version_info: version, type_url: typeUrl, nonce, resources: set.resources }, () => {
      this.#inFlight = false;
      this.onDrain?.();
    });
    return true;
  }

  /** Called when the stream can take another response; the server resends dirty types from fresh state. */
  onDrain: (() => void) | undefined;

  dirtyTypes(): string[] {
    return [...this.#types].filter(([, s]) => s.dirty).map(([t]) => t);
  }
}
