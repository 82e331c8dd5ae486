// TLS material for the mesh tunnel, from the `default` (certificate chain + key) and `ROOTCA` secrets:
// TLS 1.2+, AEAD ciphers, ALPN h2, peer SPIFFE ID from its single URI SAN. The identity module can
// replace `meshTlsFromPem` with its own builder behind the same shape.
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import { isSpiffeId } from '../../ca/spiffe-id.ts';
import type { Timers } from '../http/router.ts';
import { longTimer } from '../../xds/long-timer.ts';

export interface MeshTlsMaterial {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

/**
 * Streams a tunnel session may have open, as the server counts them, and as its clients open them: the
 * server's limit leaves room for streams a client has closed and the server has not yet let go of.
 */
export const TUNNEL_SERVER_STREAMS = 200;
export const TUNNEL_CLIENT_STREAMS = 100;
/**
 * Flow-control windows of tunnel sessions, both sides: 256 KiB a stream (a paused stream holds at most
 * that), 16 MiB for the session. At the 64 KiB defaults every 32 KiB moved on a stream, and on the
 * session, cost a WINDOW_UPDATE frame: at low load a TLS record, a write and a wake-up of the peer of
 * its own (8.5 % of the pair's CPU at 1,000 rps). Larger bodies across hosts also move faster.
 */
export const TUNNEL_STREAM_WINDOW = 256 * 1024;
export const TUNNEL_SESSION_WINDOW = 16 * 1024 * 1024;

export const MESH_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305';

export function meshContextOptions(m: MeshTlsMaterial): SecureContextOptions {
  return { key: m.key, cert: m.cert, ca: m.ca, minVersion: 'TLSv1.2', ciphers: MESH_CIPHERS, ecdhCurve: 'X25519:P-256' };
}

/** A peer certificate's SHA-256 (DER), lower-case hex: the x-forwarded-client-cert `Hash`, once per connection. */
export function certificateHash(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The SPIFFE ID of a verified peer certificate: a leaf (not a CA certificate, as the X509-SVID spec
 * requires of a leaf SVID) with exactly one URI SAN, a well-formed `spiffe://` ID. Node lists the SANs
 * as `TYPE:value, TYPE:value`, quoting a value that holds a comma (escaped as `\u002c`), a quote or a
 * control character: splitting on `, ` cannot cut inside a value, and a quoted URI is never a
 * well-formed SPIFFE ID. Other SAN types (quoted or not) may sit beside it.
 */
export function spiffeIdOf(raw: Buffer | undefined): string | undefined {
  if (!raw || raw.length === 0) return undefined;
  const cert = new X509Certificate(raw);
  if (cert.ca || basicConstraintsCa(raw)) return undefined;
  const san = cert.subjectAltName ?? '';
  const uris = san
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
  return uris.length === 1 && isSpiffeId(uris[0] as string) ? uris[0] : undefined;
}

/** The OID of basicConstraints, 2.5.29.19, as its DER content bytes. */
const BASIC_CONSTRAINTS_OID = Buffer.from([0x55, 0x1d, 0x13]);

/** One DER element at `at`: its tag, where its content starts and ends; undefined when it runs past `end`. */
function tlv(der: Buffer, at: number, end: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > end) return undefined;
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || start + n > end) return undefined;
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + (der[start + k] as number);
    start += n;
  }
  return start + length > end ? undefined : { tag, start, end: start + length };
}

/**
 * Whether a certificate's basicConstraints say `cA: TRUE`. Node's `ca` is OpenSSL's X509_check_ca, which
 * also wants keyCertSign: a certificate marked CA without that key usage is still no leaf SVID. Walked
 * by structure (Certificate, tbsCertificate, its [3] extensions, each Extension), never by searching
 * the bytes, which any other field could hold. A DER that does not parse counts as a CA: refused.
 */
function basicConstraintsCa(der: Buffer): boolean {
  const cert = tlv(der, 0, der.length);
  const tbs = cert?.tag === 0x30 ? tlv(der, cert.start, cert.end) : undefined;
  if (tbs?.tag !== 0x30) return true;
  for (let at = tbs.start; at < tbs.end; ) {
    const field = tlv(der, at, tbs.end);
    if (!field) return true;
    at = field.end;
    if (field.tag !== 0xa3) continue;
    const list = tlv(der, field.start, field.end);
    if (list?.tag !== 0x30) return true;
    for (let e = list.start; e < list.end; ) {
      const ext = tlv(der, e, list.end);
      if (ext?.tag !== 0x30) return true;
      e = ext.end;
      const oid = tlv(der, ext.start, ext.end);
      if (oid?.tag !== 0x06 || !der.subarray(oid.start, oid.end).equals(BASIC_CONSTRAINTS_OID)) continue;
      let next = tlv(der, oid.end, ext.end);
      if (next?.tag === 0x01) next = tlv(der, next.end, ext.end);
      if (next?.tag !== 0x04) return true;
      const seq = tlv(der, next.start, next.end);
      if (seq?.tag !== 0x30) return true;
      const first = seq.start < seq.end ? tlv(der, seq.start, seq.end) : undefined;
      return first?.tag === 0x01 && der[first.start] !== 0x00;
    }
  }
  return false;
}

/** Client-side check: the server must present a SPIFFE identity (host names do not apply in the mesh). */
export function checkMeshServerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  return spiffeIdOf(cert.raw) ? undefined : Object.assign(new Error('peer certificate has no single spiffe:// URI SAN'), { code: 'MESH_PEER_IDENTITY' });
}

export type ServerIdentityCheck = (host: string, cert: PeerCertificate) => Error | undefined;

/**
 * Secure naming, Istio's client-side check: the tunnel's server must present one SPIFFE ID and, when
 * the cluster names its service's accounts (`sans`), one of those. A workload with a valid mesh
 * certificate for another account cannot answer for this service.
 */
export function meshServerIdentity(sans: readonly string[]): ServerIdentityCheck {
  if (sans.length === 0) return checkMeshServerIdentity;
  const allowed = new Set(sans);
  return (host, cert) => {
    const id = spiffeIdOf(cert.raw);
    if (id === undefined) return checkMeshServerIdentity(host, cert);
    if (allowed.has(id)) return undefined;
    return Object.assign(new Error(`server identity ${id} is not one of the service's accounts (${sans.join(', ')})`), { code: 'MESH_PEER_IDENTITY' });
  };
}

/**
 * Once secure naming refuses a connected peer (its name left the service's accounts), what is still open
 * on its connection has this long to finish (Envoy's drain timeout). Not at certificate expiry: see
 * atPeerExpiry.
 */
export const REFUSED_PEER_GRACE_MS = 5000;

/**
 * Calls `fn` when a verified peer's certificate expires (`valid_to`, on the wall clock; the wait runs
 * on `timers`): the tunnel session verified with it then takes no new streams, so new work goes over a
 * new handshake with the peer's current certificate. What is open on it runs on to its end, as Envoy
 * keeps established connections across rotation and expiry (a certificate is checked at the handshake
 * only). Returns the disarm; nothing is armed without a readable expiry.
 */
export function atPeerExpiry(peer: Pick<PeerCertificate, 'valid_to'> | undefined, timers: Timers, fn: () => void): () => void {
  const at = Date.parse(peer?.valid_to ?? '');
  if (!Number.isFinite(at)) return () => {};
  const timer = longTimer((f, ms) => timers.set(f, ms), at - Date.now(), fn);
  return () => timers.clear(timer.handle);
}
