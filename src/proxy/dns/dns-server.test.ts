// The mesh DNS server over real UDP and TCP sockets, asked by Node's own resolver (c-ares) and by hand.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DnsRcode, DnsType, decodeResponse, encodeQuery } from './dns-message.ts';
import { DnsServer } from './dns-server.ts';
import { MeshNames } from './mesh-names.ts';

const names = new MeshNames([
  { service: 'podinfo-stable', namespace: 'podinfo', address: '10.250.9.130' },
  { service: 'podinfo-canary', namespace: 'podinfo', address: '10.250.9.131' },
  { service: 'jaeger', namespace: 'observability', address: '10.250.9.132' },
]);

/** A DNS message framed for TCP: its length in two bytes, then the message. */
const frame = (q: Buffer) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);

/** The first `n` length-prefixed answers read on `sock`, decoded. */
function tcpReplies(sock: net.Socket, n: number): Promise<ReturnType<typeof decodeResponse>[]> {
  const replies: ReturnType<typeof decodeResponse>[] = [];
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(decodeResponse(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length === n) resolve(replies);
    });
  });
}

describe('mesh DNS server', () => {
  const server = new DnsServer({ host: '127.0.0.1', port: 0, names, clientNamespace: (a) => (a === '127.0.0.1' ? 'podinfo' : undefined) });
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  let port = 0;
  before(async () => {
    port = (await server.listen()).udpPort;
    resolver.setServers([`127.0.0.1:${port}`]);
  });
  after(() => server.close());

  it('answers the full name, svc.ns and a bare name from the pod namespace over UDP', async () => {
    assert.deepEqual(await resolver.resolve4('podinfo-stable.podinfo.svc.cluster.local'), ['10.250.9.130']);
    assert.deepEqual(await resolver.resolve4('jaeger.observability'), ['10.250.9.132']);
    assert.deepEqual(await resolver.resolve4('podinfo-canary'), ['10.250.9.131']);
  });

  it('says NXDOMAIN for unknown names in the cluster domain and REFUSED outside it', async () => {
    await assert.rejects(resolver.resolve4('nope.podinfo.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('podinfo-stable.podinfo.podinfo.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('example.com'), { code: 'EREFUSED' });
  });

  it('answers AAAA for a mesh name with no records (NODATA) so resolvers fall back to A', async () => {
    await assert.rejects(resolver.resolve6('podinfo-stable.podinfo.svc.cluster.local'), { code: 'ENODATA' });
  });

  it('answers over TCP with length-prefixed messages, two on one connection', async () => {
    const sock = net.connect(port, '127.0.0.1');
    sock.write(Buffer.concat([frame(encodeQuery(7, 'podinfo-stable.podinfo.svc.cluster.local')), frame(encodeQuery(8, 'missing.podinfo'))]));
    const replies = await tcpReplies(sock, 2);
    sock.destroy();
    assert.deepEqual(replies[0], { id: 7, rcode: DnsRcode.NOERROR, authoritative: true, addresses: ['10.250.9.130'] });
    assert.deepEqual(replies[1], { id: 8, rcode: DnsRcode.NXDOMAIN, authoritative: true, addresses: [] });
  });

  it('answers TCP queries that arrive a byte at a time, the length prefix split too, joining them once', async () => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const long = `${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.podinfo.svc.cluster.local`;
    const bytes = Buffer.concat([frame(encodeQuery(11, 'podinfo-canary.podinfo.svc.cluster.local')), frame(encodeQuery(12, long))]);
    const done = tcpReplies(sock, 2);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    // One write per byte, each waited for, so the server reads them apart. The bytes copied to join
    // them are counted: a copy of all held so far per byte read would be quadratic in the query's size.
    const concat = Buffer.concat;
    let copied = 0;
    let replies: ReturnType<typeof decodeResponse>[] = [];
    Buffer.concat = (list: readonly Uint8Array[], total?: number) => {
      const b = concat(list, total);
      copied += b.length;
      return b;
    };
    try {
      for (const b of bytes) await new Promise<void>((resolve) => sock.write(Buffer.from([b]), () => setImmediate(resolve)));
      replies = await done;
    } finally {
      Buffer.concat = concat;
    }
    // Joined once per query, plus the answers framed and read back: a few times the bytes, where a copy
    // per byte would be some 60 times as many.
    assert.ok(copied < 10 * bytes.length, `${copied} bytes copied to read ${bytes.length}`);
    sock.destroy();
    assert.deepEqual(replies[0], { id: 11, rcode: DnsRcode.NOERROR, authoritative: true, addresses: ['10.250.9.131'] });
    assert.deepEqual(replies[1], { id: 12, rcode: DnsRcode.NXDOMAIN, authoritative: true, addresses: [] });
  });

  it('answers a malformed question with FORMERR and ignores a runt', () => {
    const bad = encodeQuery(9, 'a.b');
    bad[12] = 0xc0; // a compression pointer where a label belongs
    assert.equal(decodeResponse(server.answer(bad, '127.0.0.1') as Buffer).rcode, DnsRcode.FORMERR);
    assert.equal(server.answer(Buffer.alloc(5), '127.0.0.1'), undefined);
    const notQuery = encodeQuery(10, 'a.b');
    notQuery[2] = 0x80;
    assert.equal(decodeResponse(server.answer(notQuery, '127.0.0.1') as Buffer).rcode, DnsRcode.FORMERR);
    const other = encodeQuery(11, 'podinfo-stable.podinfo', DnsType.AAAA);
    assert.deepEqual(decodeResponse(server.answer(other, '127.0.0.1') as Buffer).addresses, []);
  });
});

describe('mesh names', () => {
  it('resolves like Kubernetes cluster DNS, with the pod search list', () => {
    assert.deepEqual(names.resolve('PodInfo-Stable.podinfo.svc.cluster.local.'), { kind: 'address', address: '10.250.9.130' });
    assert.deepEqual(names.resolve('podinfo-stable', 'observability'), { kind: 'refused' });
    assert.deepEqual(names.resolve('svc.cluster.local'), { kind: 'nxdomain' });
    assert.deepEqual(names.resolve('a.b.c.svc.cluster.local'), { kind: 'nxdomain' });
    assert.deepEqual(names.resolve('github.com'), { kind: 'refused' });
    assert.deepEqual(names.searchList('podinfo'), ['podinfo.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  });
});

describe('mesh DNS server over TCP, a client that never reads', () => {
  // Counts the answers, and the most the server ever held unsent, as each one is made.
  class Counting extends DnsServer {
    answered = 0;
    maxBacklog = 0;
    override answer(msg: Buffer, from: string): Buffer | undefined {
      this.answered++;
      this.maxBacklog = Math.max(this.maxBacklog, this.tcpBacklog);
      return super.answer(msg, from);
    }
  }
  const server = new Counting({ host: '127.0.0.1', port: 0, names });
  let port = 0;
  before(async () => {
    port = (await server.listen()).tcpPort;
  });
  after(() => server.close());

  it('stops reading its queries while its answers wait: what it holds unsent stays bounded', async () => {
    const q = encodeQuery(1, 'podinfo-stable.podinfo.svc.cluster.local');
    const query = frame(q);
    const total = 300_000;
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.pause();
    let written = false;
    sock.write(Buffer.concat(Array.from({ length: total }, () => query)), () => {
      written = true;
    });
    // Until every query was read (a server that never stops), or the server took nothing new for a while
    // (it stopped reading: its answers wait on a client that does not read them).
    for (let last = -1, still = 0; !written && still < 200; ) {
      await new Promise((r) => setImmediate(r));
      still = server.answered === last ? still + 1 : 0;
      last = server.answered;
    }
    assert.ok(server.maxBacklog <= 512 * 1024, `the server held ${server.maxBacklog} bytes of answers unsent`);
    assert.ok(server.answered < total, 'it stopped reading before the last query');
    // Once the client reads, every query is answered.
    const answerBytes = 2 + (server.answer(q, '127.0.0.1') as Buffer).length;
    server.answered--;
    let got = 0;
    sock.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= total * answerBytes) sock.destroy();
    });
    sock.resume();
    await new Promise<void>((r) => sock.once('close', () => r()));
    assert.equal(server.answered, total);
  });
});
