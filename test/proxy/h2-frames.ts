// Raw HTTP/2 frames for abuse tests: the client preface, frame encoding and a reader that reports the
// GOAWAY the server sends. Headers use HPACK's literal-without-indexing form (no Huffman), enough for tests.
import net from 'node:net';

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('test header too long');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** A HEADERS frame (END_HEADERS, END_STREAM if asked) for a request. */
export function headers(streamId: number, h: Record<string, string>, endStream: boolean): Buffer {
  const block = Buffer.concat(Object.entries(h).map(([k, v]) => literal(k, v)));
  return frame(FrameType.HEADERS, 0x4 | (endStream ? 0x1 : 0), streamId, block);
}

export function priority(streamId: number, dependsOn = 0, weight = 15): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(dependsOn);
  p.writeUInt8(weight, 4);
  return frame(FrameType.PRIORITY, 0, streamId, p);
}

export const ping = (n: number): Buffer => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(n, 4);
  return frame(FrameType.PING, 0, 0, p);
};

export const settings = (): Buffer => frame(FrameType.SETTINGS, 0, 0);

export interface RawH2 {
  socket: net.Socket;
  /** Resolves when the server closed the connection, with the GOAWAY error code if one came. */
  closed: Promise<{ goaway?: number }>;
  /** Types of the frames received so far, in order. */
  received: number[];
}

/** Connects, sends the preface and an empty SETTINGS frame, and parses what the server sends. */
export function connectRaw(port: number): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let goaway: number | undefined;
    const received: number[] = [];
    const closed = new Promise<{ goaway?: number }>((done) => socket.once('close', () => done(goaway === undefined ? {} : { goaway })));
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        received.push(buf.readUInt8(3));
        if (buf.readUInt8(3) === FrameType.GOAWAY && len >= 8) goaway = buf.readUInt32BE(9 + 4);
        buf = buf.subarray(9 + len);
      }
    });
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write(Buffer.concat([PREFACE, settings()]));
      resolve({ socket, closed, received });
    });
    socket.once('error', reject);
  });
}

/** Writes `batches` buffers until the server closes; returns how many were written. */
export async function writeUntilClosed(raw: RawH2, make: (i: number) => Buffer, batches: number): Promise<number> {
  let written = 0;
  for (let i = 0; i < batches && !raw.socket.destroyed && raw.socket.writable; i++) {
    const ok = raw.socket.write(make(i));
    written++;
    if (!ok) await new Promise((r) => raw.socket.once('drain', r).once('close', r));
    else await new Promise((r) => setImmediate(r));
  }
  return written;
}

/**
 * The server side in raw frames, on a socket a net.Server accepted: takes the client's preface, sends
 * SETTINGS (`settingsPayload`, none by default) and acknowledges the client's, and hands every other
 * frame (type, stream id) to `onFrame`.
 */
export function serveRawH2(s: net.Socket, onFrame: (type: number, streamId: number) => void, settingsPayload: Buffer = Buffer.alloc(0)): void {
  s.on('error', () => {});
  let buf = Buffer.alloc(0);
  let preface = false;
  s.write(frame(FrameType.SETTINGS, 0, 0, settingsPayload));
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!preface) {
      if (buf.length < PREFACE.length) return;
      buf = buf.subarray(PREFACE.length);
      preface = true;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) return;
      const type = buf[3] as number;
      const ack = ((buf[4] as number) & 1) === 1;
      const id = buf.readUInt32BE(5) & 0x7fffffff;
      buf = buf.subarray(9 + len);
      if (type === FrameType.SETTINGS) {
        if (!ack) s.write(frame(FrameType.SETTINGS, 1, 0));
      } else onFrame(type, id);
    }
  });
}
