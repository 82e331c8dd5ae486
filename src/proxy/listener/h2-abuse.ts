// Envoy's premature-reset accounting for HTTP/2 sessions (CVE-2023-44487, "rapid reset"): once a
// session has opened enough streams, close it when more than half were reset by the client within a
// second of opening, before any response.
import http2 from 'node:http2';

export const PREMATURE_RESET_MIN_STREAMS = 500;
export const PREMATURE_RESET_WINDOW_MS = 1000;

export interface AbuseCounters {
  /** Called once when a session is closed for abuse. */
  onPrematureResetClose?(): void;
}

export function watchPrematureResets(session: http2.ServerHttp2Session, now: () => number, counters: AbuseCounters = {}): void {
  let total = 0;
  let premature = 0;
  let closed = false;
  session.on('stream', (stream) => {
    total++;
    const opened = now();
    stream.once('close', () => {
      if (closed || stream.rstCode === http2.constants.NGHTTP2_NO_ERROR || stream.headersSent) return;
      if (now() - opened > PREMATURE_RESET_WINDOW_MS) return;
      premature++;
      if (total >= PREMATURE_RESET_MIN_STREAMS && premature * 2 > total) {
        closed = true;
        counters.onPrematureResetClose?.();
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        session.destroy();
      }
    });
  });
}
