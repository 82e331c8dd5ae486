// The few pieces of the DNS wire format (RFC 1035) the mesh DNS server needs: read one question from a
// query, write a response with at most one A record. Anything else in a query is answered, not parsed.

export const DnsType = { A: 1, AAAA: 28, ANY: 255 } as const;
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion {
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  /** The query's flags word, for its opcode and RD bit. */
  flags: number;
  question: DnsQuestion;
  /** The question section's bytes, echoed in the response. */
  questionBytes: Buffer;
}

export class DnsFormatError extends Error {
  readonly code = 'DNS_FORMAT';
  /** The query id when the header could be read, so a FORMERR can still be answered. */
  readonly id: number | undefined;
  constructor(message: string, id?: number) {
    super(message);
    this.id = id;
  }
}

const maxNameLength = 255;

/** Reads the header and the single question of a query. Compressed names in a question are refused. */
export function parseQuery(msg: Buffer): DnsQuery {
  if (msg.length < 12) throw new DnsFormatError('message shorter than a DNS header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) throw new DnsFormatError('not a query (QR set)', id);
  if (msg.readUInt16BE(4) !== 1) throw new DnsFormatError('exactly one question expected', id);
  const labels: string[] = [];
  let at = 12;
  let nameLength = 0;
  for (;;) {
    const len = msg[at];
    if (len === undefined) throw new DnsFormatError('question name runs past the message', id);
    at++;
    if (len === 0) break;
    if (len & 0xc0) throw new DnsFormatError('compressed or extended label in a question', id);
    nameLength += len + 1;
    if (at + len > msg.length || nameLength > maxNameLength) throw new DnsFormatError('question name too long', id);
    labels.push(msg.toString('latin1', at, at + len).toLowerCase());
    at += len;
  }
  if (at + 4 > msg.length) throw new DnsFormatError('question without type and class', id);
  const question = { name: labels.join('.'), type: msg.readUInt16BE(at), class: msg.readUInt16BE(at + 2) };
  return { id, flags, question, questionBytes: msg.subarray(12, at + 4) };
}

export interface DnsAnswer {
  rcode: number;
  /** IPv4 address of the one A record; absent for NXDOMAIN, REFUSED and empty answers. */
  address?: string;
  ttlSeconds?: number;
}

/** A response to `query`: authoritative, recursion not available, the question echoed. */
export function encodeResponse(query: Pick<DnsQuery, 'id' | 'flags' | 'questionBytes'>, answer: DnsAnswer): Buffer {
  const opcode = query.flags & 0x7800;
  const rd = query.flags & 0x0100;
  const flags = 0x8000 | opcode | 0x0400 | rd | (answer.rcode & 0xf);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(query.questionBytes.length ? 1 : 0, 4);
  header.writeUInt16BE(answer.address ? 1 : 0, 6);
  if (!answer.address) return Buffer.concat([header, query.questionBytes]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // a pointer to the question's name at offset 12
  rr.writeUInt16BE(DnsType.A, 2);
  rr.writeUInt16BE(1, 4); // class IN
  rr.writeUInt32BE(answer.ttlSeconds ?? 30, 6);
  rr.writeUInt16BE(4, 10);
  const octets = answer.address.split('.').map(Number);
  for (let i = 0; i < 4; i++) rr.writeUInt8(octets[i] ?? 0, 12 + i);
  return Buffer.concat([header, query.questionBytes, rr]);
}

/** A query as a stub resolver sends it: for tests and health checks. */
export function encodeQuery(id: number, name: string, type: number = DnsType.A): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  const parts: Buffer[] = [header];
  for (const label of name.split('.').filter(Boolean)) parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  parts.push(tail);
  return Buffer.concat(parts);
}

/** Reads rcode and the first A record of a response (for tests and clients of this server). */
export function decodeResponse(msg: Buffer): { id: number; rcode: number; authoritative: boolean; addresses: string[] } {
  if (msg.length < 12) throw new DnsFormatError('response shorter than a DNS header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let at = 12;
  const skipName = () => {
    for (;;) {
      const len = msg[at] ?? 0;
      if ((len & 0xc0) === 0xc0) {
        at += 2;
        return;
      }
      at += len + 1;
      if (len === 0) return;
    }
  };
  for (let i = 0; i < qd; i++) {
    skipName();
    at += 4;
  }
  const addresses: string[] = [];
  for (let i = 0; i < an && at < msg.length; i++) {
    skipName();
    const type = msg.readUInt16BE(at);
    const rdlength = msg.readUInt16BE(at + 8);
    if (type === DnsType.A && rdlength === 4) addresses.push([...msg.subarray(at + 10, at + 14)].join('.'));
    at += 10 + rdlength;
  }
  return { id, rcode: flags & 0xf, authoritative: (flags & 0x0400) !== 0, addresses };
}
