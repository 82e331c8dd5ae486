// HTTP/2 abuse defences beyond Node's own: Envoy's premature-reset accounting (CVE-2023-44487, "rapid
// reset"), the flood closes that Node's codec performs, counted under Envoy's stat names, and a bound on
// a session its peer left with GOAWAY. Shared by the listeners' sessions and the mesh tunnel's.
import http2 from 'node:http2';
import type { Timers } from '../http/router.ts';
import type { H2CodecStat } from './h2-codec-stats.ts';

export const PREMATURE_RESET_MIN_STREAMS = 500;
export const PREMATURE_RESET_WINDOW_MS = 1000;

export interface AbuseCounters {
  /** Called once when a session is closed for abuse. */
  onPrematureResetClose?(): void;
}

/**
 * Envoy's `max_consecutive_inbound_frames_with_empty_payload` (1): Node counts an empty DATA frame
 * without END_STREAM as an invalid frame and closes the session once more than this many arrived. Node's
 * count is per session, not per run of consecutive frames, and includes other invalid frames: the third
 * one closes the connection where Envoy closes at the second in a row.
 */
export const MAX_SESSION_INVALID_FRAMES = 1;

/** nghttp2's error for a peer that makes it queue too many ACK frames (not in Node's constants). */
const NGHTTP2_ERR_FLOODED = -904;

/**
 * Which Envoy flood a session error is. nghttp2 closes a session whose queue of ACK frames (PING and
 * SETTINGS acknowledgements, RST_STREAM) passes 1,000 unsent (NGHTTP2_ERR_FLOODED, Envoy's
 * `max_outbound_control_frames`); Node closes on too many invalid frames (see above). Both send GOAWAY.
 */
export function floodOf(err: Error & { code?: string; errno?: number }): H2CodecStat | undefined {
  if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'inbound_empty_frames_flood';
  if (err.code === 'ERR_HTTP2_ERROR' && (err.errno === NGHTTP2_ERR_FLOODED || /flood/i.test(err.message))) return 'outbound_control_flood';
  return undefined;
}

/** Counts the floods that close a session (each session error once). */
export function watchFloods(session: http2.ServerHttp2Session, count: (stat: H2CodecStat) => void): void {
  session.on('error', (err: Error) => {
    const stat = floodOf(err);
    if (stat) count(stat);
  });
}

const kWatch = Symbol('outrigger.h2.resetWatch');
const kOpened = Symbol('outrigger.h2.opened');
const kRefused = Symbol('outrigger.h2.refusedHere');
type Watched = { [kWatch]?: ResetWatch; [kOpened]?: number; [kRefused]?: true };

/**
 * Resets a stream this side refuses (a plaintext stream at a STRICT port): the reset is this side's, not
 * the peer's, so it never counts as a premature reset against the peer's session (which many clients
 * may share: the service proxy's, say).
 */
export function refuseStream(stream: http2.ServerHttp2Stream, code: number): void {
  (stream as http2.ServerHttp2Stream & Watched)[kRefused] = true;
  stream.close(code);
}

/** One session's premature-reset count; its streams carry it (shared listeners, no closures per stream). */
class ResetWatch {
  readonly session: http2.ServerHttp2Session;
  readonly now: () => number;
  readonly counters: AbuseCounters;
  total = 0;
  premature = 0;
  closed = false;
  constructor(session: http2.ServerHttp2Session, now: () => number, counters: AbuseCounters) {
    this.session = session;
    this.now = now;
    this.counters = counters;
  }
}

function onWatchedStream(this: http2.ServerHttp2Session & Watched, stream: http2.ServerHttp2Stream & Watched): void {
  const w = this[kWatch] as ResetWatch;
  w.total++;
  stream[kWatch] = w;
  stream[kOpened] = w.now();
  // A stream closes once: on, not once (no wrapper per stream).
  stream.on('close', onWatchedClose);
}

/**
 * A stream that closed within the window without a response head is premature, whatever its reset code
 * (Envoy's isPrematureRstStream reads the stream's lifetime and whether it has a response code, not the
 * code: an RST_STREAM(NO_ERROR) or CANCEL flood is as cheap to send as any). A stream answered, even one
 * the client then cancels, has its head sent; one this side refused is not the peer's doing.
 */
function onWatchedClose(this: http2.ServerHttp2Stream & Watched): void {
  const w = this[kWatch] as ResetWatch;
  if (w.closed || this.headersSent || this[kRefused]) return;
  if (w.now() - (this[kOpened] as number) > PREMATURE_RESET_WINDOW_MS) return;
  w.premature++;
  if (w.total >= PREMATURE_RESET_MIN_STREAMS && w.premature * 2 > w.total) {
    w.closed = true;
    const session = w.session;
    // Streams closing with a session already gone (its socket closed) leave it as it is.
    if (session.destroyed) return;
    w.counters.onPrematureResetClose?.();
    // One GOAWAY, ENHANCE_YOUR_CALM: destroy() sends its final GOAWAY with the code it is given (a
    // goaway() of its own first made two, the second NO_ERROR, which reads as a graceful close). The
    // error goes to the session's 'error' listener, which its owner keeps.
    session.destroy(new Error('too many premature resets'), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

export function watchPrematureResets(session: http2.ServerHttp2Session, now: () => number, counters: AbuseCounters = {}): void {
  (session as http2.ServerHttp2Session & Watched)[kWatch] = new ResetWatch(session, now, counters);
  session.on('stream', onWatchedStream);
}

/**
 * A peer's GOAWAY starts Node's graceful close; a connection error nghttp2 finds after it (an RST_STREAM
 * of the wrong size, say) then leaves the session open for ever: nothing more read or written, its
 * streams never closed, no timer left. So after a peer's GOAWAY the session's writes are watched on
 * `timers`: one that wrote nothing for `silentMs` is destroyed (one to two periods after its last
 * write); one whose streams still carry traffic (a long-lived gRPC or tunnelled TCP stream, flow-control
 * updates for an upload included) runs on. A GOAWAY that answers the session's own (it is already
 * closing: drain, a peer certificate's expiry) arms nothing: its end is the drain deadline's or its
 * streams'. One once-listener per session; a timer only after a peer's GOAWAY.
 */
export function watchPeerGoaway(session: http2.ServerHttp2Session, timers: Timers, silentMs: number): void {
  session.once('goaway', () => {
    if (session.closed || session.destroyed) return;
    let written = bytesWritten(session);
    let timer: unknown;
    const check = (): void => {
      const now = bytesWritten(session);
      if (now === written) return void session.destroy();
      written = now;
      timer = timers.set(check, silentMs);
    };
    timer = timers.set(check, silentMs);
    session.once('close', () => timers.clear(timer));
  });
}

/** What the session's socket has written (Node counts the writes of a socket its session consumed). */
function bytesWritten(session: http2.ServerHttp2Session): number {
  const n = (session.socket as { bytesWritten?: unknown } | undefined)?.bytesWritten;
  return typeof n === 'number' ? n : 0;
}
