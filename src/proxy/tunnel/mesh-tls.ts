// TLS material for the mesh tunnel, from the `default` (certificate chain + key) and `ROOTCA` secrets:
// TLS 1.2+, AEAD ciphers, ALPN h2, peer SPIFFE ID from its single URI SAN. The identity module can
// replace `meshTlsFromPem` with its own builder behind the same shape.
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import { isSpiffeId } from '../../ca/spiffe-id.ts';
import type { Timers } from '../http/router.ts';

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

/** basicConstraints (2.5.29.19) in the DER. */
const BASIC_CONSTRAINTS_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x13]);

/**
 * Whether a certificate's basicConstraints say `cA: TRUE`. Node's `ca` is OpenSSL's X509_check_ca, which
 * also wants keyCertSign: a certificate marked CA without that key usage is still no leaf SVID. Read
 * from the extension's DER: the OID, an optional `critical` BOOLEAN, then an OCTET STRING wrapping the
 * SEQUENCE whose first element, when present, is the cA BOOLEAN.
 */
function basicConstraintsCa(der: Buffer): boolean {
  let i = der.indexOf(BASIC_CONSTRAINTS_OID);
  if (i < 0) return false;
  i += BASIC_CONSTRAINTS_OID.length;
  if (der[i] === 0x01 && der[i + 1] === 0x01) i += 3;
  if (der[i] !== 0x04) return false;
  // Short-form lengths only: the extension is a few bytes.
  if (((der[i + 1] ?? 0x80) & 0x80) !== 0 || der[i + 2] !== 0x30 || ((der[i + 3] ?? 0x80) & 0x80) !== 0) return false;
  const seqLength = der[i + 3] as number;
  return seqLength >= 3 && der[i + 4] === 0x01 && der[i + 5] === 0x01 && der[i + 6] !== 0x00;
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

/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  let handle: unknown;
  const arm = (ms: number): void => {
    handle = timers.set(() => (ms > MAX_TIMER_MS ? arm(ms - MAX_TIMER_MS) : fn()), Math.min(ms, MAX_TIMER_MS));
  };
  arm(Math.max(0, at - Date.now()));
  return () => timers.clear(handle);
}
