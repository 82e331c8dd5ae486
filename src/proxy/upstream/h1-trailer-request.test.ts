// The HTTP/1.1 path for a request with trailers on a TLS-originating cluster (Node's client on its own
// agent), here over plain TCP to read its bytes on the wire: a chunked body and its trailers, and never a
// Content-Length beside `transfer-encoding: chunked` (an HTTP/2 client may send both content-length and
// trailers; toUpstreamHeaders keeps the first).
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { makeCa } from '../../../test/proxy/certs.ts';
import { TrailerRequester } from './h1-trailer-request.ts';
import type { OutgoingHeaders, UpstreamError, UpstreamHead } from './upstream.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** An origin that records the request's bytes until its last chunk and trailers, then answers 200. */
async function recordingOrigin(): Promise<{ port: number; wire: Promise<string> }> {
  let resolve!: (s: string) => void;
  const wire = new Promise<string>((r) => {
    resolve = r;
  });
  const server = net.createServer((s) => {
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (/\r\n0\r\n(?:[^\r\n]+\r\n)*\r\n$/.test(got)) {
        s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-answer: yes\r\n\r\nok');
        resolve(got);
      }
    });
    s.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, wire };
}

test("a trailered request goes chunked without the downstream's Content-Length, its trailers in the last chunk", async () => {
  const origin = await recordingOrigin();
  const r = new TrailerRequester(`http://127.0.0.1:${origin.port}`, { connectTimeoutMs: 2000, maxConnections: 1 });
  const head: UpstreamHead = {
    method: 'POST',
    path: '/upload',
    authority: 'api.example.com',
    scheme: 'https',
    headers: { 'content-length': '5', trailer: 'x-checksum', 'x-forwarded-proto': 'https' },
    trailers: () => ({ 'x-checksum': 'abc' }),
  };
  const answered = new Promise<{ status: number; headers: OutgoingHeaders; body: string }>((resolve, reject) => {
    let status = 0;
    let headers: OutgoingHeaders = {};
    let body = '';
    r.request(head, Readable.from([Buffer.from('hello')]), {
      onHead(s, h) {
        status = s;
        headers = h;
      },
      onData(c) {
        body += c.toString();
        return true;
      },
      onEnd() {
        resolve({ status, headers, body });
      },
      onError: reject,
    });
  });
  const wire = await origin.wire;
  const headText = wire.slice(0, wire.indexOf('\r\n\r\n') + 2).toLowerCase();
  assert.doesNotMatch(headText, /\r\ncontent-length:/, 'no Content-Length beside the chunked coding (RFC 9112 §6.2)');
  assert.equal(headText.match(/\r\ntransfer-encoding: chunked\r\n/g)?.length, 1);
  assert.match(headText, /\r\nhost: api\.example\.com\r\n/);
  assert.match(headText, /\r\ntrailer: x-checksum\r\n/);
  assert.ok(wire.endsWith('\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n'), JSON.stringify(wire));
  const res = await answered;
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-answer'], 'yes');
  assert.equal(res.body, 'ok');
  r.close();
});

test('TLS options read per request: another trust takes a connection of its own (no kept-alive socket, no resumed session); none is a connect failure', async () => {
  const [trusted, other] = await Promise.all([makeCa('trailer-origin'), makeCa('trailer-other')]);
  const server = https.createServer(await trusted.issueWithSans([{ type: 'dns', value: 'api.example.com' }]), (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  servers.push(server as unknown as net.Server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let now: ConnectionOptions | string = { ca: trusted.ca, servername: 'api.example.com' };
  const r = new TrailerRequester(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { connectTimeoutMs: 2000, maxConnections: 4, tls: () => now });
  const send = () =>
    new Promise<string>((resolve) => {
      const head: UpstreamHead = { method: 'POST', path: '/', authority: 'api.example.com', scheme: 'https', headers: { trailer: 'x-checksum' }, trailers: () => ({ 'x-checksum': 'abc' }) };
      r.request(head, Readable.from([Buffer.from('hello')]), {
        onHead: (status) => resolve(String(status)),
        onData: () => true,
        onEnd() {},
        onError: (err) => resolve((err as UpstreamError).failure),
      });
    });
  assert.equal(await send(), '200');
  now = { ca: other.ca, servername: 'api.example.com' };
  assert.equal(await send(), 'connect', 'the kept-alive socket verified under the old trust is not taken');
  now = 'trust bundle is not available';
  assert.equal(await send(), 'connect');
  r.close();
});
