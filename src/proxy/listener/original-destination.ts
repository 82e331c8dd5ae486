// Envoy's `envoy.filters.listener.original_dst`: where a connection that iptables REDIRECTed to
// virtualOutbound was really going, read from the kernel's NAT table with getsockopt(SO_ORIGINAL_DST).
// Node has no getsockopt, so the call goes through koffi (an FFI whose prebuilt binary ships inside
// its npm package: nothing is built or downloaded). It is loaded only by a proxy whose traffic is
// captured (INTERCEPTION_MODE REDIRECT, netns mode); Linux and IPv4 only, as the capture rules are.
import { createRequire } from 'node:module';
import type net from 'node:net';

export interface Destination {
  readonly address: string;
  readonly port: number;
}

/** The original destination of an accepted socket; undefined when the connection was not redirected. */
export type OriginalDestinationReader = (socket: net.Socket) => Destination | undefined;

const SOL_IP = 0;
const SO_ORIGINAL_DST = 80;

interface Koffi {
  load(lib: string): { func(signature: string): (...args: unknown[]) => number };
}

/** Parses a `struct sockaddr_in` (family, port and address in network order). */
export function parseSockaddrIn(buf: Uint8Array): Destination | undefined {
  if (buf.length < 8) return undefined;
  const family = buf[0]! | (buf[1]! << 8);
  if (family !== 2) return undefined;
  return { port: (buf[2]! << 8) | buf[3]!, address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}` };
}

/**
 * Loads the reader, or explains why it cannot: the caller decides whether that is fatal. A socket
 * whose connection was not NATed (the kernel answers ENOENT) reads as undefined.
 */
export function loadOriginalDestination(): OriginalDestinationReader {
  if (process.platform !== 'linux') throw new Error(`SO_ORIGINAL_DST needs Linux, this is ${process.platform}`);
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const getsockopt = koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)');
  const buf = Buffer.alloc(16);
  const len = [16];
  return (socket) => {
    const fd = (socket as net.Socket & { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return undefined;
    len[0] = 16;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, buf, len) !== 0) return undefined;
    return parseSockaddrIn(buf);
  };
}
