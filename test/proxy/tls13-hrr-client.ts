// A minimal TLS 1.3 client (x25519, TLS_AES_128_GCM_SHA256, ECDSA P-256 client certificate) that forces a
// HelloRetryRequest (empty key_share) and may send a different SNI in its second ClientHello.
import crypto from 'node:crypto';
import net from 'node:net';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const v8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const v16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const v24 = (b: Buffer) => Buffer.concat([u24(b.length), b]);
const ext = (t: number, b: Buffer) => Buffer.concat([u16(t), v16(b)]);
const hs = (t: number, b: Buffer) => Buffer.concat([u8(t), v24(b)]);
const sha = (...b: Buffer[]) => crypto.createHash('sha256').update(Buffer.concat(b)).digest();
const hmac = (k: Buffer, d: Buffer) => crypto.createHmac('sha256', k).update(d).digest();
const extract = (salt: Buffer, ikm: Buffer) => hmac(salt, ikm);
function expand(prk: Buffer, info: Buffer, len: number): Buffer {
  let t = Buffer.alloc(0), out = Buffer.alloc(0);
  for (let i = 1; out.length < len; i++) { t = hmac(prk, Buffer.concat([t, info, u8(i)])); out = Buffer.concat([out, t]); }
  return out.subarray(0, len);
}
const label = (s: Buffer, l: string, ctx: Buffer, len: number) => expand(s, Buffer.concat([u16(len), v8(Buffer.from('tls13 ' + l)), v8(ctx)]), len);
const derive = (s: Buffer, l: string, transcript: Buffer[]) => label(s, l, sha(...transcript), 32);

function clientHello(sni: string | undefined, sid: Buffer, share: Buffer | undefined, cookie?: Buffer): Buffer {
  const exts = [
    ...(sni ? [ext(0, v16(Buffer.concat([u8(0), v16(Buffer.from(sni))])))] : []),
    ext(10, v16(u16(0x001d))),
    ext(13, v16(Buffer.concat([u16(0x0403), u16(0x0804)]))),
    ext(43, v8(u16(0x0304))),
    ext(51, v16(share ? Buffer.concat([u16(0x001d), v16(share)]) : Buffer.alloc(0))),
    ...(cookie ? [ext(44, cookie)] : []),
  ];
  return hs(1, Buffer.concat([u16(0x0303), crypto.randomBytes(32), v8(sid), v16(u16(0x1301)), v8(u8(0)), v16(Buffer.concat(exts))]));
}
const record = (type: number, b: Buffer) => Buffer.concat([u8(type), u16(0x0303), v16(b)]);

class Keys {
  seq = 0n; key: Buffer; iv: Buffer;
  constructor(secret: Buffer) { this.key = label(secret, 'key', Buffer.alloc(0), 16); this.iv = label(secret, 'iv', Buffer.alloc(0), 12); }
  nonce() { const n = Buffer.from(this.iv); const s = Buffer.alloc(8); s.writeBigUInt64BE(this.seq++); for (let i = 0; i < 8; i++) n[4 + i]! ^= s[i]!; return n; }
  seal(type: number, b: Buffer) {
    const inner = Buffer.concat([b, u8(type)]);
    const hdr = Buffer.concat([u8(23), u16(0x0303), u16(inner.length + 16)]);
    const c = crypto.createCipheriv('aes-128-gcm', this.key, this.nonce()); c.setAAD(hdr);
    return Buffer.concat([hdr, c.update(inner), c.final(), c.getAuthTag()]);
  }
  open(hdr: Buffer, body: Buffer): { type: number; data: Buffer } {
    const d = crypto.createDecipheriv('aes-128-gcm', this.key, this.nonce()); d.setAAD(hdr); d.setAuthTag(body.subarray(-16));
    const p = Buffer.concat([d.update(body.subarray(0, -16)), d.final()]);
    let e = p.length - 1; while (p[e] === 0) e--;
    return { type: p[e]!, data: p.subarray(0, e) };
  }
}

/** Connects; CH1 names sni1, CH2 names sni2; returns the first line(s) of the HTTP answer or the error. */
export function hrrRequest(port: number, sni1: string | undefined, sni2: string | undefined, host: string, cert: string, key: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const sid = crypto.randomBytes(32);
    const kp = crypto.generateKeyPairSync('x25519');
    const pub = (kp.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32);
    const ch1 = clientHello(sni1, sid, undefined);
    const transcript: Buffer[] = [];
    let state = 'hrr';
    let sKeys: Keys | undefined, cKeys: Keys | undefined, hsSecret: Buffer | undefined, cHs: Buffer | undefined, sApp: Keys | undefined;
    let hsBuf = Buffer.alloc(0);
    let certReqCtx: Buffer | undefined;
    let out = '';
    const done = (s: string) => { sock.destroy(); resolve(s); };
    sock.on('error', (e) => done(`error ${e.message} ${out}`));
    sock.on('close', () => done(out || 'closed'));
    sock.write(record(22, ch1));
    const onHandshake = (m: Buffer) => {
      const t = m[0]!;
      if (state === 'hrr') {
        // HRR
        transcript.push(hs(254, sha(ch1)), m);
        let cookie: Buffer | undefined;
        let p = 4 + 2 + 32; p += 1 + m[p]!; p += 3; const end = p + 2 + m.readUInt16BE(p); p += 2;
        while (p < end) { const et = m.readUInt16BE(p), el = m.readUInt16BE(p + 2); if (et === 44) cookie = m.subarray(p + 4, p + 4 + el); p += 4 + el; }
        const ch2 = clientHello(sni2, sid, pub, cookie);
        transcript.push(ch2);
        sock.write(Buffer.concat([record(20, u8(1)), record(22, ch2)]));
        state = 'sh';
      } else if (state === 'sh') {
        transcript.push(m);
        let p = 4 + 2 + 32; p += 1 + m[p]!; p += 3; const end = p + 2 + m.readUInt16BE(p); p += 2;
        let spub: Buffer | undefined;
        while (p < end) { const et = m.readUInt16BE(p), el = m.readUInt16BE(p + 2); if (et === 51) spub = m.subarray(p + 8, p + 4 + el); p += 4 + el; }
        const spk = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), spub!]), format: 'der', type: 'spki' });
        const shared = crypto.diffieHellman({ privateKey: kp.privateKey, publicKey: spk });
        const early = extract(Buffer.alloc(32), Buffer.alloc(32));
        hsSecret = extract(derive(early, 'derived', []), shared);
        cHs = derive(hsSecret, 'c hs traffic', transcript);
        sKeys = new Keys(derive(hsSecret, 's hs traffic', transcript));
        cKeys = new Keys(cHs);
        state = 'enc';
      } else if (state === 'enc') {
        if (t === 13) { certReqCtx = m.subarray(5, 5 + m[4]!); }
        if (t === 20) {
          transcript.push(m);
          const master = extract(derive(hsSecret!, 'derived', []), Buffer.alloc(32));
          const cAp = derive(master, 'c ap traffic', transcript);
          sApp = new Keys(derive(master, 's ap traffic', transcript));
          const msgs: Buffer[] = [];
          if (certReqCtx !== undefined) {
            const der = Buffer.from(cert.replace(/-----[^-]+-----|\s/g, ''), 'base64');
            const c = hs(11, Buffer.concat([v8(certReqCtx), v24(Buffer.concat([v24(der), v16(Buffer.alloc(0))]))]));
            transcript.push(c); msgs.push(c);
            const toSign = Buffer.concat([Buffer.alloc(64, 0x20), Buffer.from('TLS 1.3, client CertificateVerify'), u8(0), sha(...transcript)]);
            const sig = crypto.sign('sha256', toSign, key);
            const cv = hs(15, Buffer.concat([u16(0x0403), v16(sig)]));
            transcript.push(cv); msgs.push(cv);
          }
          const fin = hs(20, hmac(label(cHs!, 'finished', Buffer.alloc(0), 32), sha(...transcript)));
          msgs.push(fin);
          sock.write(Buffer.concat([record(20, u8(1)), ...msgs.map((x) => cKeys!.seal(22, x))]));
          const app = new Keys(cAp);
          sock.write(app.seal(23, Buffer.from(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`)));
          sKeys = sApp; state = 'app';
          return;
        }
        transcript.push(m);
      }
    };
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        const hdr = buf.subarray(0, 5), body = buf.subarray(5, 5 + buf.readUInt16BE(3));
        buf = buf.subarray(5 + body.length);
        let type = hdr[0]!, data: Buffer = body;
        if (type === 20) continue;
        if (type === 21) { out += `alert ${body[1]} `; continue; }
        if (type === 23 && sKeys) ({ type, data } = sKeys.open(hdr, body));
        if (type === 22) {
          hsBuf = Buffer.concat([hsBuf, data]);
          while (hsBuf.length >= 4 && hsBuf.length >= 4 + hsBuf.readUIntBE(1, 3)) {
            const m = hsBuf.subarray(0, 4 + hsBuf.readUIntBE(1, 3)); hsBuf = hsBuf.subarray(m.length);
            if (state !== 'app') onHandshake(m);
          }
        } else if (type === 23) out += data.toString('latin1');
      }
    });
  });
}
