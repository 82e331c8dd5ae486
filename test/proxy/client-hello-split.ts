// A TLS client that can split its ClientHello into two records with the SNI in the second (legal TLS;
// the transcript is unchanged): for the tests that a port picks its server from the whole ClientHello.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

/** Splits the ClientHello record into two records just before the server_name extension. */
export function refragment(rec: Buffer): Buffer {
  const payload = rec.subarray(5, 5 + rec.readUInt16BE(3));
  let p = 4 + 2 + 32;
  p += 1 + (payload[p] ?? 0);
  p += 2 + payload.readUInt16BE(p);
  p += 1 + (payload[p] ?? 0);
  const end = p + 2 + payload.readUInt16BE(p);
  p += 2;
  while (p < end && payload.readUInt16BE(p) !== 0) p += 4 + payload.readUInt16BE(p + 2);
  assert.ok(p < end, 'ClientHello has SNI');
  const rec1 = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, p >> 8, p & 0xff]), payload.subarray(0, p)]);
  const rest = payload.subarray(p);
  const rec2 = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, rest.length >> 8, rest.length & 0xff]), rest]);
  return Buffer.concat([rec1, rec2, rec.subarray(5 + payload.length)]);
}

export interface Fetched { protocol: string | null; head: string }

/** GET / with host a.example.com over TLS naming `servername`, its first ClientHello split if `fragment`. */
export function fetchFragmented(port: number, opts: { maxVersion: tls.SecureVersion; fragment: boolean; servername: string; client?: { cert: string; key: string } }): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1');
    let first = true;
    const wrap = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        const out = first && opts.fragment ? refragment(chunk) : chunk;
        first = false;
        raw.write(out, cb);
      },
    });
    raw.on('data', (d) => wrap.push(d));
    raw.on('end', () => wrap.push(null));
    raw.on('error', reject);
    const t = tls.connect({ socket: wrap, servername: opts.servername, maxVersion: opts.maxVersion, rejectUnauthorized: false, ...(opts.client ? { cert: opts.client.cert, key: opts.client.key } : {}) });
    let data = '';
    t.on('secureConnect', () => t.write('GET / HTTP/1.1\r\nhost: a.example.com\r\nconnection: close\r\n\r\n'));
    t.on('data', (d) => (data += d));
    t.on('end', () => resolve({ protocol: t.getProtocol(), head: data.split('\r\n\r\n')[0] ?? '' }));
    t.on('error', reject);
  });
}
