// The mesh DNS server: UDP and TCP on one address, A records for mesh service names, NXDOMAIN for
// unknown names in the cluster domain, REFUSED for everything else (no recursion, no passthrough).
import dgram from 'node:dgram';
import net from 'node:net';
import { DnsFormatError, type DnsQuery, DnsRcode, DnsType, encodeResponse, parseQuery } from './dns-message.ts';
import type { MeshNames } from './mesh-names.ts';

export interface DnsServerOptions {
  host: string;
  /** 53 in a pod's view; 0 in tests. */
  port: number;
  names: MeshNames;
  /** The namespace of the pod at a source address, for bare single-label names. */
  clientNamespace?: (address: string) => string | undefined;
  ttlSeconds?: number;
}

const tcpIdleMs = 10_000;

export class DnsServer {
  #opts: DnsServerOptions;
  #names: MeshNames;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  #sockets = new Set<net.Socket>();

  constructor(opts: DnsServerOptions) {
    this.#opts = opts;
    this.#names = opts.names;
  }

  /** Replaces the name table (services added or removed); answers in flight keep the old one. */
  setNames(names: MeshNames): void {
    this.#names = names;
  }

  /** Answer bytes written to TCP clients and not yet sent (the sockets' own buffers). */
  get tcpBacklog(): number {
    let n = 0;
    for (const s of this.#sockets) n += s.writableLength;
    return n;
  }

  /** The response bytes for one query message, or undefined when it cannot be answered at all. */
  answer(msg: Buffer, from: string): Buffer | undefined {
    let query: DnsQuery;
    try {
      query = parseQuery(msg);
    } catch (err) {
      const id = err instanceof DnsFormatError ? err.id : undefined;
      if (id === undefined) return undefined;
      return encodeResponse({ id, flags: msg.readUInt16BE(2) & 0x7900, questionBytes: Buffer.alloc(0) }, { rcode: DnsRcode.FORMERR });
    }
    if ((query.flags & 0x7800) !== 0) return encodeResponse(query, { rcode: DnsRcode.NOTIMP });
    const { question } = query;
    if (question.class !== 1) return encodeResponse(query, { rcode: DnsRcode.REFUSED });
    const result = this.#names.resolve(question.name, this.#opts.clientNamespace?.(from));
    if (result.kind === 'refused') return encodeResponse(query, { rcode: DnsRcode.REFUSED });
    if (result.kind === 'nxdomain') return encodeResponse(query, { rcode: DnsRcode.NXDOMAIN });
    // A known name asked for another type (AAAA from getaddrinfo): NOERROR without records.
    if (question.type !== DnsType.A && question.type !== DnsType.ANY) return encodeResponse(query, { rcode: DnsRcode.NOERROR });
    return encodeResponse(query, { rcode: DnsRcode.NOERROR, address: result.address, ttlSeconds: this.#opts.ttlSeconds ?? 30 });
  }

  async listen(): Promise<{ udpPort: number; tcpPort: number }> {
    const { host } = this.#opts;
    const udp = dgram.createSocket({ type: 'udp4' });
    this.#udp = udp;
    udp.on('message', (msg, rinfo) => {
      const out = this.answer(msg, rinfo.address);
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    udp.on('error', () => {});
    const udpPort = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.#opts.port, host, () => {
        udp.off('error', reject);
        resolve(udp.address().port);
      });
    });
    const tcp = net.createServer((s) => this.#onTcp(s));
    this.#tcp = tcp;
    // Both protocols on one port number, as resolvers expect: TCP takes the port UDP got.
    const tcpPort = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(udpPort, host, () => {
        tcp.off('error', reject);
        resolve((tcp.address() as net.AddressInfo).port);
      });
    });
    return { udpPort, tcpPort };
  }

  #onTcp(s: net.Socket): void {
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    s.on('error', () => {});
    s.setTimeout(tcpIdleMs, () => s.destroy());
    // The bytes read and not yet answered, kept as chunks: joined only once a whole query is there, so a
    // query dribbled a byte at a time costs one copy, not one per byte.
    let chunks: Buffer[] = [];
    let have = 0;
    /** Everything held, as one buffer. */
    const joined = (): Buffer => {
      if (chunks.length > 1) chunks = [Buffer.concat(chunks, have)];
      return chunks[0] as Buffer;
    };
    // A client that sends queries and never reads the answers: once the socket holds more than its
    // high-water mark unsent, no more queries are read (nor answered) until it drains, so what waits
    // for the client is bounded, not everything it ever asked (TCP flow control then holds the client).
    const serve = (): void => {
      while (have >= 2) {
        const first = chunks[0] as Buffer;
        const len = first.length >= 2 ? first.readUInt16BE(0) : joined().readUInt16BE(0);
        if (len < 12) return void s.destroy();
        if (have < 2 + len) return;
        const buf = joined();
        const out = this.answer(buf.subarray(2, 2 + len), s.remoteAddress ?? '');
        have -= 2 + len;
        chunks = have > 0 ? [buf.subarray(2 + len)] : [];
        if (!out) return void s.destroy();
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(out.length);
        if (!s.write(Buffer.concat([prefix, out]))) {
          s.pause();
          s.once('drain', () => {
            s.resume();
            serve();
          });
          return;
        }
      }
    };
    s.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      serve();
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r())),
    ]);
  }
}
