// HTTP/2 fuzz inputs for the proxy's listeners and its mesh tunnel: a valid preface, then mostly valid
// requests with a bad frame here and there (wrong lengths, unknown types, bad HPACK, stream id misuse,
// window overflow, bad SETTINGS, padding and CONTINUATION errors), and one last request on a fresh stream.
import type net from 'node:net';
import tls from 'node:tls';
import type { Timers } from '../../src/proxy/http/router.ts';
import { frame, FrameType, headers, PREFACE, settings } from '../proxy/h2-frames.ts';
import type { Rng } from './fuzz-rng.ts';

const CONTINUATION = 9;
/** The last request's stream: above any a case uses. */
export const LAST = 0x7ffffff1;

/** A GET; `extra` fields follow the pseudo-headers (the tunnel's target port). */
export const request = (path: string, extra: Record<string, string> = {}): Record<string, string> => ({ ':method': 'GET', ':path': path, ':scheme': 'http', ':authority': 'a.example', ...extra });

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function bytes(rng: Rng, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => rng.int(256)));
}

/** One frame a bad peer may send; `sid` the next odd stream id the case may use. */
export function badFrame(rng: Rng, sid: number, extra: Record<string, string> = {}): Buffer {
  switch (rng.int(16)) {
    case 0: // valid request, maybe left open
      return headers(sid, request(rng.pick(['/', '/a', '/b?x']), extra), rng.chance(0.7));
    case 1: // bad HPACK: random header block
      return frame(FrameType.HEADERS, rng.pick([0x4, 0x5, 0x0]), sid, bytes(rng, rng.range(0, 40)));
    case 2: // unknown type
      return frame(rng.range(10, 255), rng.int(256), rng.int(4) === 0 ? 0 : sid, bytes(rng, rng.range(0, 20)));
    case 3: // length field that lies about the payload
    {
      const f = frame(rng.pick([0, 1, 3, 4, 6, 8]), 0, rng.pick([0, sid]), bytes(rng, rng.range(0, 16)));
      f.writeUIntBE(rng.pick([0, 1, 7, 8, 0x4000, 0xffffff]), 0, 3);
      return f;
    }
    case 4: // stream id misuse: even, zero, or already used
      return headers(rng.pick([0, 2, 1, sid - 2 > 0 ? sid - 2 : 2]), request('/misuse', extra), true);
    case 5: // DATA on an idle or closed stream, or on stream 0
      return frame(FrameType.DATA, rng.int(2), rng.pick([0, sid, sid + 2, 1]), bytes(rng, rng.range(0, 10)));
    case 6: // WINDOW_UPDATE overflow or zero
      return frame(FrameType.WINDOW_UPDATE, 0, rng.pick([0, sid, 1]), u32(rng.pick([0, 1, 0x7fffffff, 0x80000000])));
    case 7: // SETTINGS with values out of range, or an odd length
    {
      const id = rng.pick([1, 2, 3, 4, 5, 6, 0x8, 0xff]);
      const v = rng.pick([0, 1, 2, 16_383, 0x7fffffff, 0x80000000, 0xffffffff]);
      const body = Buffer.concat([Buffer.from([0, id]), u32(v)]);
      return frame(FrameType.SETTINGS, rng.pick([0, 0, 1]), rng.chance(0.1) ? 1 : 0, rng.chance(0.2) ? body.subarray(0, rng.range(1, 5)) : body);
    }
    case 8: // PING of the wrong size or on a stream
      return frame(FrameType.PING, rng.int(2), rng.chance(0.3) ? 1 : 0, bytes(rng, rng.pick([0, 7, 8, 9])));
    case 9: // RST_STREAM on idle streams, or of the wrong size
      return frame(FrameType.RST_STREAM, 0, rng.pick([0, sid, sid + 4]), bytes(rng, rng.pick([4, 4, 3, 5])));
    case 10: // PRIORITY depending on itself, or of the wrong size
      return frame(FrameType.PRIORITY, 0, sid, rng.chance(0.5) ? Buffer.concat([u32(sid), Buffer.from([7])]) : bytes(rng, rng.range(0, 8)));
    case 11: // CONTINUATION out of place, or a HEADERS left without END_HEADERS
      return rng.chance(0.5)
        ? frame(CONTINUATION, rng.pick([0, 4]), sid, bytes(rng, rng.range(0, 10)))
        : frame(FrameType.HEADERS, 0x1, sid, headers(sid, request('/open', extra), true).subarray(9));
    case 12: // padding longer than the payload
      return frame(rng.pick([FrameType.DATA, FrameType.HEADERS]), 0x8 | 0x4 | 0x1, sid, Buffer.concat([Buffer.from([rng.pick([5, 200, 255])]), bytes(rng, rng.range(0, 6))]));
    case 13: // a request with pseudo-headers that no request may carry
      return headers(sid, rng.pick([{ ':method': 'GET', ':path': '' , ':scheme': 'http', ':authority': 'a.example' }, { ':method': 'GET /admin HTTP/1.1', ':path': '/', ':scheme': 'http', ':authority': 'a' }, { ':path': '/', ':scheme': 'http' }, { ':method': 'GET', ':path': '/', ':scheme': 'HtTp', ':authority': 'a', host: 'b' }, { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'a', connection: 'close', 'transfer-encoding': 'chunked' }]), true);
    case 14: // a request with a body that lies about content-length
      return Buffer.concat([headers(sid, { ...request('/cl', extra), ':method': 'POST', 'content-length': String(rng.pick([0, 3, 100])) }, false), frame(FrameType.DATA, 1, sid, bytes(rng, rng.range(0, 10)))]);
    default: // GOAWAY from the client, well-formed or not
      return frame(FrameType.GOAWAY, 0, rng.chance(0.2) ? 1 : 0, rng.chance(0.5) ? Buffer.concat([u32(0), u32(rng.int(14))]) : bytes(rng, rng.range(0, 7)));
  }
}

/**
 * The proxy's timers in an HTTP/2 fuzz run: real ones, except that a case can run those of one length at
 * once (`expire`): the stream idle timeout, which bounds a session its client left with GOAWAY, is
 * minutes long, and a case never waits for it.
 */
export class ExpirableTimers implements Timers {
  readonly #pending = new Map<NodeJS.Timeout, { fn: () => void; ms: number }>();
  set(fn: () => void, ms: number): unknown {
    const h: NodeJS.Timeout = setTimeout(() => {
      this.#pending.delete(h);
      fn();
    }, ms).unref();
    this.#pending.set(h, { fn, ms });
    return h;
  }
  clear(h: unknown): void {
    clearTimeout(h as NodeJS.Timeout);
    this.#pending.delete(h as NodeJS.Timeout);
  }
  /** Runs every pending timer of `ms` now. */
  expire(ms: number): void {
    for (const [h, t] of [...this.#pending]) {
      if (t.ms !== ms) continue;
      this.clear(h);
      t.fn();
    }
  }
}

/** How long a connection the client is done with may stay silent before a case runs `expire`. */
const STALL_MS = 200;

/** A frame of the wrong size, which nghttp2 answers with a connection error (GOAWAY FRAME_SIZE_ERROR). */
function connectionError(rng: Rng, sid: number): Buffer {
  switch (rng.int(4)) {
    case 0:
      return frame(FrameType.RST_STREAM, 0, sid, bytes(rng, rng.pick([3, 5])));
    case 1:
      return frame(FrameType.PING, 0, 0, bytes(rng, rng.pick([0, 7, 9])));
    case 2:
      return frame(FrameType.WINDOW_UPDATE, 0, rng.pick([0, sid]), bytes(rng, rng.pick([0, 3, 5])));
    default:
      return frame(FrameType.SETTINGS, 0, 0, bytes(rng, rng.pick([1, 5, 7])));
  }
}

export interface Outcome {
  hung: boolean;
  /** The connection was still open, silent, after the client was done: `expire` ran before it ended. */
  expired: boolean;
  /** The last request was answered (HEADERS or RST_STREAM on its stream). */
  answered: boolean;
  goaway: number | undefined;
  /** Bytes received that do not parse as frames. */
  garbled: string | undefined;
  /** What came back, `type/flags@stream` per frame, for a failure message. */
  frames: string[];
}

/**
 * `fin`: end the client's side once written (a frame left unfinished would otherwise be waited for).
 * `expire`: run, for a client that said GOAWAY, each time the connection has been silent STALL_MS
 * after everything was written: it runs the proxy's stream idle timers (streams the client left open
 * end, rightly, only then), after which the session must end.
 */
export function runCase(open: () => net.Socket, input: Buffer, cuts: number[], fin = false, deadlineMs = 4000, expire?: () => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = open();
    let buf = Buffer.alloc(0);
    let answered = false;
    let goaway: number | undefined;
    let garbled: string | undefined;
    let hung = false;
    let expired = false;
    let stall: NodeJS.Timeout | undefined;
    const frames: string[] = [];
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, deadlineMs);
    const watchStall = (): void => {
      if (expire === undefined) return;
      clearTimeout(stall);
      stall = setTimeout(() => {
        expired = true;
        expire();
        watchStall();
      }, STALL_MS);
    };
    socket.on('data', (c: Buffer) => {
      if (stall !== undefined) watchStall();
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (len > 16_384) garbled ??= `frame of ${len} bytes`;
        if (buf.length < 9 + len) break;
        const type = buf.readUInt8(3);
        const sid = buf.readUInt32BE(5) & 0x7fffffff;
        frames.push(`${type}/${buf.readUInt8(4)}@${sid}`);
        if (type === FrameType.GOAWAY && len >= 8) goaway = buf.readUInt32BE(13);
        if (sid === LAST && (type === FrameType.HEADERS || type === FrameType.RST_STREAM)) {
          answered = true;
          socket.destroy();
        }
        buf = buf.subarray(9 + len);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(stall);
      resolve({ hung, expired, answered, goaway, garbled, frames });
    });
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', async () => {
      let at = 0;
      for (const cut of [...cuts, input.length]) {
        if (socket.destroyed) return;
        socket.write(input.subarray(at, cut));
        at = cut;
        await new Promise((r) => setImmediate(r));
      }
      if (fin && !socket.destroyed) socket.end();
      if (!socket.destroyed) watchStall();
    });
  });
}

/** The frames a case sends, `type/flags@stream:length` (length fields as written, lies included). */
export function describe(b: Buffer): string {
  const out: string[] = [];
  for (let at = 0; at + 9 <= b.length; at += 9 + b.readUIntBE(at, 3)) out.push(`${b[at + 3]}/${b[at + 4]}@${b.readUInt32BE(at + 5) & 0x7fffffff}:${b.readUIntBE(at, 3)}`);
  return out.join(' ');
}

/**
 * A case's bytes; `goaway`: the client said GOAWAY (after which its last request is not served), and
 * keeps its connection open as a peer may: the proxy must end the session (at the stream idle timeout
 * at the latest); `fin`: a frame left unfinished: the client ends its side once written.
 */
export function makeCase(rng: Rng, extra: Record<string, string> = {}): { input: Buffer; goaway: boolean; fin: boolean } {
  const parts: Buffer[] = [PREFACE, settings()];
  let goaway = false;
  let fin = false;
  let sid = 1;
  const n = rng.range(1, 8);
  // Mostly valid traffic with a bad frame here and there: a case reaches the code behind the codec too.
  const bad = rng.chance(0.15) ? 0 : rng.range(1, 2);
  const badAt = new Set(Array.from({ length: bad }, () => rng.int(n)));
  for (let i = 0; i < n; i++) {
    if (badAt.has(i)) {
      const f = badFrame(rng, sid, extra);
      // A length that promises more than was sent leaves the server waiting for it: the client is done.
      fin ||= f.readUIntBE(0, 3) > f.length - 9;
      goaway ||= f[3] === FrameType.GOAWAY;
      // A client's graceful GOAWAY (NO_ERROR: any other code ends the session at once), then a frame
      // nghttp2 answers with a connection error, left Node's session open for ever with a stream in
      // flight: half of the GOAWAYs are that pair.
      if (f[3] === FrameType.GOAWAY && rng.chance(0.5)) parts.push(frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8)), connectionError(rng, sid));
      else parts.push(f);
    }
    else if (rng.chance(0.6)) parts.push(headers(sid, request(rng.pick(['/', '/a', '/b?x']), extra), true));
    else parts.push(headers(sid, { ...request('/up', extra), ':method': 'POST' }, false), frame(FrameType.DATA, 1, sid, bytes(rng, rng.range(0, 20))));
    sid += 2;
  }
  parts.push(headers(LAST, request('/last', extra), true));
  return { input: Buffer.concat(parts), goaway, fin };
}

