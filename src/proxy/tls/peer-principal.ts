// The verified peer's SPIFFE ID on a mesh TLS connection, read from its certificate's DER (never from
// Node's `subjectAltName` string), cached per socket.
import type { TLSSocket } from 'node:tls';
import { spiffeIdOf } from '../../ca/svid.ts';

const cache = new WeakMap<TLSSocket, string | null>();

/** The peer's SPIFFE ID if its chain verified and its cert has exactly one SPIFFE URI SAN; else null. */
export function peerPrincipal(socket: TLSSocket): string | null {
  const cached = cache.get(socket);
  if (cached !== undefined) return cached;
  let principal: string | null = null;
  if (socket.authorized) {
    const cert = socket.getPeerX509Certificate();
    if (cert) {
      try {
        principal = spiffeIdOf(cert.raw);
      } catch {
        principal = null;
      }
    }
  }
  cache.set(socket, principal);
  return principal;
}

/** `cluster.local/ns/podinfo/sa/podinfo`: the principal form AuthorizationPolicy matches against. */
export function principalName(spiffeId: string): string {
  return spiffeId.startsWith('spiffe://') ? spiffeId.slice('spiffe://'.length) : spiffeId;
}
