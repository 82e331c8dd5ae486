// Table tests of the sniffer's decisions: http_inspector's request-line rule, the h2c preface, TLS,
// and when it must wait for more bytes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { CLIENT_HELLO_TOO_LARGE, detectProtocol, MAX_REQUEST_LINE, type Sniffed, sniff } from './detect-protocol.ts';

const both = { http: true, tls: true };
const H1: Sniffed = { appProtocol: 'http/1.1' };
const H10: Sniffed = { appProtocol: 'http/1.0' };
const NOT_HTTP: Sniffed = {};

const cases: [string, string | Buffer, Sniffed | 'more'][] = [
  ['a GET request line', 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', H1],
  ['a line ending in a bare LF', 'GET /x HTTP/1.1\n', H1],
  ['any token method', 'PROPFIND /dav HTTP/1.1\r\n', H1],
  ['an absolute-form target', 'GET http://a.example/x?q=1 HTTP/1.1\r\n', H1],
  ['HTTP/1.0 reports http/1.0 (no Istio chain lists it without PILOT_HTTP10)', 'GET / HTTP/1.0\r\n', H10],
  ['the h2c preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { appProtocol: 'h2c' }],
  ['part of the h2c preface waits', 'PRI * HTTP/2.0\r\n', 'more'],
  ['a method alone waits', 'GET', 'more'],
  ['a method and a space wait', 'GET ', 'more'],
  ['a target not yet ended waits', 'GET /very/long', 'more'],
  ['a version in progress waits', 'GET / HTT', 'more'],
  ['a full version without its line end waits', 'GET / HTTP/1.1', 'more'],
  ['a word and a space are not enough: a protocol greeting', 'HELO mail.example\r\n', NOT_HTTP],
  ['two fields', 'GET /\r\n', NOT_HTTP],
  ['another version', 'GET / HTTP/2.0\r\n', NOT_HTTP],
  ['a version with more after it', 'GET / HTTP/1.11\r\n', NOT_HTTP],
  ['a lower-case version', 'GET / http/1.1\r\n', NOT_HTTP],
  ['four fields', 'GET / x HTTP/1.1\r\n', NOT_HTTP],
  ['two spaces after the method', 'GET  / HTTP/1.1\r\n', NOT_HTTP],
  ['a leading space', ' GET / HTTP/1.1\r\n', NOT_HTTP],
  ['a non-token byte in the method', 'GE\u0001T / HTTP/1.1\r\n', NOT_HTTP],
  ['a control byte in the target', 'GET /a\u0000b HTTP/1.1\r\n', NOT_HTTP],
  ['plain bytes with a line end', 'ping\r\n', NOT_HTTP],
  ['a server-first client reply (binary)', Buffer.from([0x0a, 0x35, 0x2e, 0x37, 0x00]), NOT_HTTP],
  ['a TLS record holding a whole (empty) ClientHello is TLS', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]), { tls: {} }],
  ['a ClientHello whose header is not yet in waits for its next record', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00]), 'more'],
  ['a ClientHello followed by a record of another type is TLS without SNI', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00, 0x15, 0x03, 0x03, 0x00, 0x00]), { tls: {} }],
  ['a TLS record not all in waits for the rest (its SNI may be in it)', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01]), 'more'],
  ['a TLS record header alone waits', Buffer.from([0x16, 0x03, 0x01]), 'more'],
];

for (const [name, input, want] of cases) {
  test(`sniff: ${name}`, () => {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    assert.deepEqual(sniff(buf, both), want);
  });
}

test('sniff: every prefix of a request line waits, the whole line decides', () => {
  const line = 'POST /orders?id=7 HTTP/1.1\r\n';
  for (let n = 1; n < line.length - 1; n++) assert.equal(sniff(Buffer.from(line.slice(0, n)), both), 'more', line.slice(0, n));
  assert.deepEqual(sniff(Buffer.from(line), both), H1);
});

test('sniff: a request line not complete within the inspect limit is not HTTP', () => {
  const target = `/${'a'.repeat(MAX_REQUEST_LINE)}`;
  assert.equal(sniff(Buffer.from(`GET ${target.slice(0, MAX_REQUEST_LINE - 10)}`), both), 'more');
  assert.deepEqual(sniff(Buffer.from(`GET ${target} HTTP/1.1\r\n`), both), NOT_HTTP);
  assert.deepEqual(sniff(Buffer.from(`GET /${'a'.repeat(MAX_REQUEST_LINE - 20)} HTTP/1.1\r\n`), both), H1, 'a long line inside the limit');
});

test('sniff: with only the TLS inspector, an HTTP request line is not HTTP', () => {
  assert.deepEqual(sniff(Buffer.from('GET / HTTP/1.1\r\n'), { http: false, tls: true }), NOT_HTTP);
});

/** A real ClientHello record for `servername`, as a client first sends it. */
function clientHelloFor(servername: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve) => {
    const server = net.createServer((s) => {
      s.once('data', (c: Buffer) => {
        resolve(c);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      tls.connect({ host: '127.0.0.1', port, servername }).on('error', () => {});
    });
  });
}

/** The ClientHello record re-sent as two records, split just before its server_name extension (legal TLS). */
function splitBeforeSni(rec: Buffer): Buffer {
  const payload = rec.subarray(5, 5 + rec.readUInt16BE(3));
  let p = 4 + 2 + 32;
  p += 1 + (payload[p] ?? 0);
  p += 2 + payload.readUInt16BE(p);
  p += 1 + (payload[p] ?? 0);
  const end = p + 2 + payload.readUInt16BE(p);
  p += 2;
  while (p < end && payload.readUInt16BE(p) !== 0) p += 4 + payload.readUInt16BE(p + 2);
  assert.ok(p < end, 'the ClientHello has an SNI');
  const header = (n: number) => Buffer.from([0x16, 0x03, 0x01, n >> 8, n & 0xff]);
  return Buffer.concat([header(p), payload.subarray(0, p), header(payload.length - p), payload.subarray(p)]);
}

test('sniff: a real ClientHello split across reads waits for the rest, then names its SNI', async () => {
  const hello = await clientHelloFor('API.example.com');
  for (const n of [6, 50, hello.length - 1]) assert.equal(sniff(hello.subarray(0, n), both), 'more', `${n} of ${hello.length} bytes`);
  assert.deepEqual(sniff(hello, both), { tls: { serverName: 'api.example.com' } });
});

test('sniff: as tls_inspector (BoringSSL), a ClientHello split over two records names the SNI of the second', async () => {
  const split = splitBeforeSni(await clientHelloFor('a.example.com'));
  for (let n = 1; n < split.length; n += 7) assert.equal(sniff(split.subarray(0, n), both), 'more', `${n} of ${split.length} bytes`);
  assert.deepEqual(sniff(split, both), { tls: { serverName: 'a.example.com' } });
});

test('sniff: a ClientHello over many records that does not end within 16 KiB is too large', () => {
  // Its header claims 16,132 bytes: more than the 16 KiB of records it fits in, headers included.
  const head = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x3f, 0x00]);
  const filler = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x10, 0x00]), Buffer.alloc(0x1000)]);
  const buf = Buffer.concat([head, filler, filler, filler, filler]);
  assert.equal(sniff(buf.subarray(0, 12_000), both), 'more');
  assert.equal(sniff(buf, both), CLIENT_HELLO_TOO_LARGE);  assert.equal(sniff(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]), both), CLIENT_HELLO_TOO_LARGE, 'a header claiming 64 KiB');
});

test('detectProtocol: a ClientHello over two records sent byte by byte names its SNI', async () => {
  const split = splitBeforeSni(await clientHelloFor('b.example.com'));
  let sniffed: Sniffed | undefined;
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    detectProtocol(s, { http: true, tls: true, timeoutMs: 0, continueOnTimeout: true }, new FakeClock(), (r) => (sniffed = r));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.setNoDelay(true);
  client.on('error', () => {});
  for (let i = 0; i < split.length; i += 64) client.write(split.subarray(i, i + 64));
  await until(() => sniffed !== undefined, 'decided');
  client.destroy();
  server.close();
  assert.deepEqual(sniffed, { tls: { serverName: 'b.example.com' } });
});

/** A handshake record's first `have` bytes, its header claiming `length`. */
function record(length: number, have: number): Buffer {
  const b = Buffer.alloc(have);
  b.set([0x16, 0x03, 0x01]);
  b.writeUInt16BE(length, 3);
  b[5] = 0x01;
  return b;
}

test('sniff: as tls_inspector, a first record not done within 16 KiB is a ClientHello too large; one longer than TLS allows is not TLS', () => {
  assert.deepEqual(sniff(record(16_379, 16_384), both), { tls: {} }, 'a record ending at 16 KiB');
  assert.equal(sniff(record(16_380, 16_383), both), 'more');
  assert.equal(sniff(record(16_380, 16_384), both), CLIENT_HELLO_TOO_LARGE);
  assert.equal(sniff(record(16_704, 16_384), both), CLIENT_HELLO_TOO_LARGE, "BoringSSL's largest record");
  assert.deepEqual(sniff(record(16_705, 5), both), NOT_HTTP, 'BoringSSL refuses the header: plaintext, and not HTTP');
});

test('detectProtocol: a ClientHello too large closes the connection undecided', async () => {
  let decided = false;
  let closed = false;
  const server = net.createServer((s) => {
    s.on('close', () => (closed = true));
    detectProtocol(s, { http: true, tls: true, timeoutMs: 0, continueOnTimeout: true }, new FakeClock(), () => (decided = true));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  client.write(record(16_500, 16_505));
  await until(() => closed || decided, 'closed or decided');
  client.destroy();
  server.close();
  assert.equal(decided, false, 'no chain is chosen');
  await until(() => closed, 'the connection closes');
});
