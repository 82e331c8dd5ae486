// Test harness: node:tls options for a mesh-TLS server and client fed by a CertificateManager, for the
// identity tests (rotation, bad peers). They compose the proxy's own parts (meshTlsBase, MESH_ALPN, the
// secure-naming check, peerPrincipal); the proxy's tunnel builds its TLS from its SDS secrets instead
// (tunnel-server.ts, cluster.ts). New certificates and trust bundles apply to new handshakes only
// (setSecureContext / SNICallback), never by restarting servers.
import { type ConnectionOptions, createSecureContext, type SecureContext, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import type { CertificateManager } from '../../src/proxy/tls/certificate-manager.ts';
import { meshServerIdentity } from '../../src/proxy/tunnel/mesh-tls.ts';
import { MESH_ALPN, meshTlsBase } from '../../src/proxy/tls/mesh-tls-policy.ts';
import { peerPrincipal } from '../../src/proxy/tls/peer-principal.ts';

function material(manager: CertificateManager): { key: string; cert: string; ca: string[] } {
  const current = manager.current;
  if (!current || manager.rootCa.length === 0) {
    // Never serve before both the certificate and the trust bundle are loaded (CVE-2020-8664 class).
    throw Object.assign(new Error('no workload certificate or trust bundle yet'), { code: 'TLS_NOT_READY' });
  }
  return { key: current.keyPem, cert: current.certChainPem, ca: [...manager.rootCa] };
}

const contexts = new WeakMap<CertificateManager, { serial: string; roots: readonly string[]; context: SecureContext }>();

/** The server secure context for the current `default` + `ROOTCA`, rebuilt only when they change. */
export function serverSecureContext(manager: CertificateManager): SecureContext {
  const cached = contexts.get(manager);
  if (cached && cached.serial === manager.current?.serial && cached.roots === manager.rootCa) return cached.context;
  const context = createSecureContext({ ...meshTlsBase, ...material(manager) });
  contexts.set(manager, { serial: manager.current!.serial, roots: manager.rootCa, context });
  return context;
}

/** Options for a tunnel listener: client certificate required and verified against `ROOTCA`, ALPN h2. */
export function serverOptions(manager: CertificateManager): TlsOptions {
  return {
    ...meshTlsBase,
    ...material(manager),
    ALPNProtocols: [...MESH_ALPN],
    requestCert: true,
    rejectUnauthorized: true,
    SNICallback: (_servername, cb) => {
      try {
        cb(null, serverSecureContext(manager));
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  };
}

/**
 * Keeps a server on the current certificate: swaps its default context on every rotation or bundle
 * change (a fresh context also gets fresh ticket keys, so no session resumes across a trust change).
 * Returns the unsubscribe function.
 */
export function keepServerCurrent(server: Server, manager: CertificateManager): () => void {
  const swap = () => server.setSecureContext({ ...meshTlsBase, ...material(manager) });
  manager.on('rotated', swap);
  manager.on('rootca', swap);
  return () => {
    manager.off('rotated', swap);
    manager.off('rootca', swap);
  };
}

/**
 * Closes any connection whose verified certificate lacks exactly one SPIFFE URI SAN, before a byte of
 * application data is read. Use on `connect_terminate`; `onReject` is for logs and stats.
 */
export function enforcePeerIdentity(server: Server, onReject?: (socket: TLSSocket) => void): void {
  server.on('secureConnection', (socket: TLSSocket) => {
    if (peerPrincipal(socket) !== null) return;
    onReject?.(socket);
    socket.destroy();
  });
}

/**
 * Options for a tunnel client connection: our `default` as client certificate, the server verified
 * against `ROOTCA`, and its SPIFFE ID checked against `expectedSans` when given (secure naming).
 */
export function clientOptions(
  manager: CertificateManager,
  expectedSans?: readonly string[],
  servername?: string,
): ConnectionOptions {
  return {
    ...meshTlsBase,
    ...material(manager),
    ALPNProtocols: [...MESH_ALPN],
    rejectUnauthorized: true,
    ...(servername ? { servername } : {}),
    // Secure naming, the same check the proxy's tunnel client makes.
    checkServerIdentity: meshServerIdentity(expectedSans ?? []),
  };
}
