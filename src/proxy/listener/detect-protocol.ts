// Envoy's tls_inspector and http_inspector listener filters: read a connection's first bytes to tell a
// TLS ClientHello (with its SNI), the HTTP/2 preface and an HTTP/1.x request line from anything else,
// so filter chains can match `application_protocols`. A server-first protocol sends nothing: the wait
// is bounded only by `listener_filters_timeout` (Istio's protocolDetectionTimeout, 0 = wait forever).
import type { Duplex } from 'node:stream';
import type { Timers } from '../http/router.ts';
import { compilePredicate, type PortPredicate, type PredicateJson } from './filter-disabled.ts';

export interface Detection {
  http: boolean;
  tls: boolean;
  /** 0: no timeout (Istio's default protocolDetectionTimeout 0s). */
  timeoutMs: number;
  /** On timeout: go on undetected (Istio sets this) or close the connection (Envoy's default). */
  continueOnTimeout: boolean;
  /** Each inspector's `filter_disabled`: ports it skips. */
  httpDisabled?: PortPredicate;
  tlsDisabled?: PortPredicate;
}

export interface Sniffed {
  /** Envoy's detected application protocol (`http/1.1`, `http/1.0`, `h2c`), absent when not HTTP. */
  appProtocol?: 'http/1.1' | 'http/1.0' | 'h2c';
  /** A TLS ClientHello was seen; its SNI when it carried one. */
  tls?: { serverName?: string };
}

export interface ListenerFilterFields {
  listener_filters?: { name?: string; typed_config?: { '@type'?: string }; filter_disabled?: PredicateJson }[];
  listener_filters_timeout?: { seconds?: string | number; nanos?: number };
  continue_on_listener_filters_timeout?: boolean;
}

const find = (l: ListenerFilterFields, what: string) => (l.listener_filters ?? []).find((f) => f.name?.endsWith(what) || f.typed_config?.['@type']?.endsWith(what));
/** Whether the listener has the listener filter `what` (by name or type URL suffix). */
export const hasListenerFilter = (l: ListenerFilterFields, what: string) => find(l, what) !== undefined;

/** The detection a listener asks for, or undefined when it has no inspector. Envoy's timeout default is 15 s. */
export function compileDetection(l: ListenerFilterFields): Detection | undefined {
  const http = hasListenerFilter(l, 'http_inspector');
  const tls = hasListenerFilter(l, 'tls_inspector');
  if (!http && !tls) return undefined;
  const t = l.listener_filters_timeout;
  const timeoutMs = t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 15_000;
  const httpOff = find(l, 'http_inspector')?.filter_disabled;
  const tlsOff = find(l, 'tls_inspector')?.filter_disabled;
  return {
    http,
    tls,
    timeoutMs,
    continueOnTimeout: l.continue_on_listener_filters_timeout === true,
    ...(httpOff ? { httpDisabled: compilePredicate(httpOff) } : {}),
    ...(tlsOff ? { tlsDisabled: compilePredicate(tlsOff) } : {}),
  };
}

/** The detection for a connection to `port`, without the inspectors `filter_disabled` skips there. */
export function detectionFor(d: Detection | undefined, port: number): Detection | undefined {
  if (!d || (!d.httpDisabled && !d.tlsDisabled)) return d;
  const http = d.http && !d.httpDisabled?.(port);
  const tls = d.tls && !d.tlsDisabled?.(port);
  return http || tls ? { ...d, http, tls } : undefined;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/**
 * tls_inspector's read limit (TLS_MAX_CLIENT_HELLO = SSL3_RT_MAX_PLAIN_LENGTH, 16 KiB: all the records
 * of a ClientHello, headers included), and what http_inspector is bounded by here.
 */
const MAX_SNIFF = 16 * 1024;
/** BoringSSL's largest record (SSL3_RT_MAX_ENCRYPTED_LENGTH): a header claiming more is refused at once. */
const MAX_TLS_RECORD = 16 * 1024 + 320;
/** `sniff`'s verdict on a ClientHello not done within MAX_SNIFF: tls_inspector closes the connection. */
export const CLIENT_HELLO_TOO_LARGE = 'client_hello_too_large';
/** http_inspector's MAX_INSPECT_SIZE: a request line not complete within it is not HTTP. */
export const MAX_REQUEST_LINE = 8192;

/**
 * Decides from the bytes so far, or 'more' when they could still become a match. As tls_inspector (its
 * BoringSSL handshake), the ClientHello is read whole across its records: one split across reads or
 * records still yields its SNI, the same one OpenSSL reads later; a record longer than TLS allows is
 * not TLS; a ClientHello that does not end within MAX_SNIFF is too large, and the connection is closed.
 */
export function sniff(buf: Buffer, d: Pick<Detection, 'http' | 'tls'>): Sniffed | 'more' | typeof CLIENT_HELLO_TOO_LARGE {
  if (buf.length === 0) return 'more';
  if (d.tls && buf[0] === 0x16) {
    if (buf.length < 3) return 'more';
    if (buf[1] === 0x03) {
      if (buf.length < 5) return 'more';
      if (buf.readUInt16BE(3) <= MAX_TLS_RECORD) {
        const hello = clientHello(buf);
        if (typeof hello === 'number') return 'more';
        return hello === CLIENT_HELLO_TOO_LARGE ? hello : { tls: hello ? clientHelloSni(hello) : {} };
      }
    }
  }
  if (d.http) {
    const n = Math.min(buf.length, H2_PREFACE.length);
    if (H2_PREFACE.subarray(0, n).equals(buf.subarray(0, n))) return n === H2_PREFACE.length ? { appProtocol: 'h2c' } : 'more';
    const line = requestLine(buf);
    if (line !== 'no') return line;
  }
  return {};
}

// Token characters (RFC 9110 tchar) of an HTTP method.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0'];

/**
 * http_inspector's HTTP/1.x test: the first line (up to CR or LF) is exactly `METHOD SP TARGET SP
 * HTTP/1.0|HTTP/1.1`. Bytes that cannot begin such a line decide at once ('no'); a line not yet
 * complete waits for more, up to MAX_REQUEST_LINE.
 */
export function requestLine(buf: Buffer): Sniffed | 'more' | 'no' {
  const end = Math.min(buf.length, MAX_REQUEST_LINE);
  let i = 0;
  while (i < end && (buf[i] ?? 0) < 128 && TCHAR[buf[i] ?? 0] === 1) i++;
  if (i === end) return end < MAX_REQUEST_LINE ? 'more' : 'no';
  if (i === 0 || buf[i] !== 0x20) return 'no';
  const targetStart = ++i;
  // The target: visible bytes (obs-text included), no spaces or controls.
  while (i < end && (buf[i] ?? 0) > 0x20 && buf[i] !== 0x7f) i++;
  if (i === end) return end < MAX_REQUEST_LINE ? 'more' : 'no';
  if (i === targetStart || buf[i] !== 0x20) return 'no';
  const v = ++i;
  const have = buf.toString('latin1', v, Math.min(end, v + 8));
  const version = VERSIONS.find((x) => x.startsWith(have));
  if (!version) return 'no';
  if (have.length < 8 || v + 8 >= end) return end < MAX_REQUEST_LINE ? 'more' : 'no';
  const after = buf[v + 8];
  if (after !== 0x0d && after !== 0x0a) return 'no';
  return { appProtocol: version === 'HTTP/1.1' ? 'http/1.1' : 'http/1.0' };
}

/**
 * The handshake message the TLS records in `buf` carry, reassembled (a ClientHello may span records);
 * undefined when the records stop before it ends (no SNI to read), a number (the bytes `buf` must hold
 * before this can change) while it is incomplete, or CLIENT_HELLO_TOO_LARGE when it cannot end within
 * MAX_SNIFF.
 */
function clientHello(buf: Buffer): Buffer | number | undefined | typeof CLIENT_HELLO_TOO_LARGE {
  const parts: Buffer[] = [];
  let have = 0;
  let length = -1;
  for (let p = 0; ; ) {
    if (buf.length < p + 5) return p + 5 > MAX_SNIFF ? CLIENT_HELLO_TOO_LARGE : p + 5;
    if (buf[p] !== 0x16 || buf[p + 1] !== 0x03) return undefined;
    const end = p + 5 + buf.readUInt16BE(p + 3);
    if (end > MAX_SNIFF) return buf.length < MAX_SNIFF ? MAX_SNIFF : CLIENT_HELLO_TOO_LARGE;
    if (buf.length < end) return end;
    parts.push(buf.subarray(p + 5, end));
    have += end - p - 5;
    p = end;
    if (length < 0 && have >= 4) {
      const head = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      // handshake type(1) length(3)
      length = 4 + head.readUIntBE(1, 3);
      if (length > MAX_SNIFF) return CLIENT_HELLO_TOO_LARGE;
    }
    if (length >= 0 && have >= length) return (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have)).subarray(0, length);
  }
}

/** The server_name extension of a ClientHello handshake message, if it is all there. */
export function clientHelloSni(buf: Buffer): { serverName?: string } {
  try {
    // handshake type(1) len(3) version(2) random(32)
    if (buf[0] !== 0x01) return {};
    let p = 4 + 2 + 32;
    p += 1 + (buf[p] ?? 0); // session id
    p += 2 + buf.readUInt16BE(p); // cipher suites
    p += 1 + (buf[p] ?? 0); // compression methods
    const end = p + 2 + buf.readUInt16BE(p);
    p += 2;
    while (p + 4 <= end && p + 4 <= buf.length) {
      const type = buf.readUInt16BE(p);
      const len = buf.readUInt16BE(p + 2);
      p += 4;
      if (type === 0 && p + 5 <= buf.length) {
        // server_name_list(2) name_type(1) host_name length(2) host_name
        const nameLen = buf.readUInt16BE(p + 3);
        if (buf[p + 2] === 0 && p + 5 + nameLen <= buf.length) return { serverName: buf.toString('latin1', p + 5, p + 5 + nameLen).toLowerCase() };
      }
      p += len;
    }
  } catch {
    // A truncated or odd ClientHello is still TLS; it just has no SNI we can read.
  }
  return {};
}

/**
 * Reads until `sniff` decides, then puts the bytes back so the chosen chain reads them again.
 * `onResult` gets undefined when the timeout expired and the listener continues undetected; on a
 * timeout without continue (or EOF first), or a ClientHello too large, the socket is closed and
 * onResult is not called.
 */
export function detectProtocol(socket: Duplex, d: Detection, timers: Timers, onResult: (s: Sniffed | undefined) => void): void {
  // Bytes so far in a buffer that doubles as it fills: a ClientHello sent byte by byte is copied once.
  let store: Buffer = Buffer.alloc(0);
  let buf: Buffer = store;
  // A ClientHello's record not yet complete cannot change the verdict: sniff waits for this many bytes.
  let need = 0;
  let timer: unknown;
  const finish = (s: Sniffed | undefined) => {
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    if (timer !== undefined) timers.clear(timer);
    socket.pause();
    if (buf.length) socket.unshift(buf);
    onResult(s);
  };
  const onData = (c: Buffer) => {
    if (buf.length === 0) buf = store = c;
    else {
      const n = buf.length + c.length;
      if (n > store.length) {
        const grown = Buffer.allocUnsafe(Math.max(n, Math.min(2 * store.length, 2 * MAX_SNIFF)));
        buf.copy(grown);
        store = grown;
      }
      c.copy(store, buf.length);
      buf = store.subarray(0, n);
    }
    if (buf.length < need) return;
    const s = sniff(buf, d);
    if (s === CLIENT_HELLO_TOO_LARGE) {
      socket.removeListener('data', onData);
      socket.destroy();
    } else if (s !== 'more') finish(s);
    else if (buf.length >= MAX_SNIFF) finish({});
    else if (d.tls && buf[0] === 0x16) {
      const hello = clientHello(buf);
      need = typeof hello === 'number' ? hello : 0;
    }
  };
  const onEnd = () => finish({});
  if (d.timeoutMs > 0) {
    timer = timers.set(() => {
      timer = undefined;
      if (d.continueOnTimeout) finish(undefined);
      else {
        socket.removeListener('data', onData);
        socket.destroy();
      }
    }, d.timeoutMs);
  }
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', () => {
    if (timer !== undefined) timers.clear(timer);
  });
}
