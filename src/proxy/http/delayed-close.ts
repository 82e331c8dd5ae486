// Envoy's delayed close of a downstream HTTP/1.1 connection that ends after a response: FIN once the
// response is written out, the client's further bytes read and dropped until it closes too, and
// `delayed_close_timeout` (1 s) bounding the wait, the write of the response included.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Timers } from './router.ts';

/** Envoy's `delayed_close_timeout` default. */
export const DELAYED_CLOSE_MS = 1_000;

/**
 * Ends `socket` after `text` and reads on, dropping what comes, until the client closes too. Destroyed
 * at once with an upload still arriving unread, the socket would send RST, and the kernel drop what of
 * the response the client had not yet received. As Envoy's timer, it starts with the close, even with
 * the response still being written out; on firing it destroys the socket unless the write buffer made
 * progress since it was armed, in which case it is armed again. The response written out in full is
 * progress too: the client then has DELAYED_CLOSE_MS to close.
 */
export function closeDelayed(socket: Duplex, timers: Timers, text = ''): void {
  new DelayedClose(socket, timers).start(text);
}

class DelayedClose {
  readonly #socket: Duplex;
  readonly #timers: Timers;
  /**
   * The TCP socket carrying the bytes, whose libuv handle shows a write in flight going out in part
   * (a large body is one write). An HTTP/2 stream has none (and Node hands it its queued writes as
   * one), nor has a TLS socket over a JavaScript stream (a mixed port's): their progress shows only as
   * whole writes complete.
   */
  readonly #tcp: net.Socket | undefined;
  #timer: unknown;
  /** The write buffer when the timer was armed: the socket's, its TCP socket's, and that one's handle's queue. */
  #pending = 0;
  #tcpPending = 0;
  #queued = 0;

  constructor(socket: Duplex, timers: Timers) {
    this.#socket = socket;
    this.#timers = timers;
    this.#tcp = tcpUnder(socket);
  }

  start(text: string): void {
    const socket = this.#socket;
    socket.end(text, 'latin1', () => this.#arm());
    socket.once('close', () => this.#disarm());
    this.#arm();
    socket.resume();
  }

  #arm(): void {
    this.#disarm();
    if (this.#socket.destroyed) return;
    this.#pending = this.#socket.writableLength;
    this.#tcpPending = this.#tcp?.writableLength ?? 0;
    this.#queued = queued(this.#tcp);
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      if (this.#progressed()) this.#arm();
      else this.#socket.destroy();
    }, DELAYED_CLOSE_MS);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Whether bytes went out since the timer was armed, outermost buffer first: a whole write completed,
   * or (the same writes pending) the TCP socket's one did, or the kernel took part of the one in flight.
   * Not the sockets' `bytesWritten`: it counts bytes still buffered, so it stands still after end().
   * A TLS socket's close_notify, queued after the response, grows the TCP socket's buffer: no progress.
   */
  #progressed(): boolean {
    const pending = this.#socket.writableLength;
    if (pending !== this.#pending) return pending < this.#pending;
    const tcpPending = this.#tcp?.writableLength ?? 0;
    if (tcpPending !== this.#tcpPending) return tcpPending < this.#tcpPending;
    return queued(this.#tcp) < this.#queued;
  }
}

/** The socket itself when TCP; a TLS socket's TCP socket (Node keeps it as `_parent`) when it has one. */
function tcpUnder(socket: Duplex): net.Socket | undefined {
  if (!(socket instanceof tls.TLSSocket)) return socket instanceof net.Socket ? socket : undefined;
  const parent = (socket as unknown as { _parent?: unknown })._parent;
  return parent instanceof net.Socket && !(parent instanceof tls.TLSSocket) ? parent : undefined;
}

/** Bytes of the write in flight the kernel has not taken yet (libuv's queue); 0 when unknown. */
export function queued(socket: Duplex | undefined): number {
  const q = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null } | undefined)?._handle?.writeQueueSize;
  return typeof q === 'number' ? q : 0;
}
