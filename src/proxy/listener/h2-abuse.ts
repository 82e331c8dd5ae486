// HTTP/2 abuse defences beyond Node's own: Envoy's premature-reset accounting (CVE-2023-44487, "rapid
// reset"), and the flood closes that Node's codec performs, counted under Envoy's stat names.
import http2 from 'node:http2';
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
type Watched = { [kWatch]?: ResetWatch; [kOpened]?: number };

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

function onWatchedClose(this: http2.ServerHttp2Stream & Watched): void {
  const w = this[kWatch] as ResetWatch;
  if (w.closed || this.rstCode === http2.constants.NGHTTP2_NO_ERROR || this.headersSent) return;
  if (w.now() - (this[kOpened] as number) > PREMATURE_RESET_WINDOW_MS) return;
  w.premature++;
  if (w.total >= PREMATURE_RESET_MIN_STREAMS && w.premature * 2 > w.total) {
    w.closed = true;
    w.counters.onPrematureResetClose?.();
    w.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    w.session.destroy();
  }
}

export function watchPrematureResets(session: http2.ServerHttp2Session, now: () => number, counters: AbuseCounters = {}): void {
  (session as http2.ServerHttp2Session & Watched)[kWatch] = new ResetWatch(session, now, counters);
  session.on('stream', onWatchedStream);
}
