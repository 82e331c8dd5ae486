// How a proxy reaches its control plane: plaintext (local mode, 15010) or TLS (15012) trusting the mesh
// root from --root-cert and checking the control plane's name, presenting the proxy's workload
// certificate once it has one; when the TLS channel fails, a handshake probe says why in the words of
// the flags (gRPC only says UNAVAILABLE).
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { defaultXdsTlsName, xdsClientTls } from '../controlplane/xds-tls.ts';

export interface XdsTlsFlags {
  xdsTls?: boolean;
  rootCert?: string;
  xdsServerName?: string;
}

export interface XdsTlsTransport {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
  serverName: string;
  rootCertFile: string;
  rootPem: string;
}

export class XdsTlsArgsError extends Error {
  readonly code = 'PROXY_XDS_TLS_ARGS';
}

/** The TLS transport the flags ask for, or undefined for plaintext; throws on a missing or empty root file. */
export function xdsTlsTransport(flags: XdsTlsFlags): XdsTlsTransport | undefined {
  if (!flags.xdsTls) {
    if (flags.rootCert !== undefined) throw new XdsTlsArgsError('--root-cert is the root to trust on the TLS xDS port: add --xds-tls (and point --xds-address at port 15012)');
    if (flags.xdsServerName !== undefined) throw new XdsTlsArgsError('--xds-server-name is checked on the TLS xDS port: add --xds-tls');
    return undefined;
  }
  if (!flags.rootCert) throw new XdsTlsArgsError("--xds-tls needs --root-cert FILE: the mesh root to verify the control plane with (the control plane's CA_DIR/root-cert.pem, e.g. .outrigger/ca/root-cert.pem)");
  let rootPem: string;
  try {
    rootPem = readFileSync(flags.rootCert, 'utf8');
  } catch (err) {
    throw new XdsTlsArgsError(`--root-cert: cannot read ${flags.rootCert}: ${(err as Error).message}`, { cause: err });
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(rootPem)) throw new XdsTlsArgsError(`--root-cert: ${flags.rootCert} holds no PEM certificate`);
  const serverName = flags.xdsServerName ?? defaultXdsTlsName;
  const { credentials, options } = xdsClientTls([rootPem], serverName);
  return { credentials, options, serverName, rootCertFile: flags.rootCert, rootPem };
}

/** A workload certificate the proxy holds: its chain (no root) and key, PEM, and its expiry. */
export interface HeldCertificate {
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

/**
 * The credentials of each connection to the TLS port: the root alone until the proxy holds a workload
 * certificate, then that certificate as the client certificate while it is valid, so that renewals and
 * reconnects go on when the token has expired. One credentials object per certificate: a renewed one
 * makes the ADS and CSR clients open a new channel, so a new handshake presents it.
 *
 * The roots trusted are --root-cert's and those the control plane pushed as `ROOTCA` (`pushedRoots`, over
 * the channel --root-cert verified): after a root rotation the control plane's certificate is signed by
 * the new root, which a proxy started with the old one learns only that way (Istio's agent likewise
 * follows the mesh's root bundle). A changed bundle also makes a new credentials object.
 */
export function xdsClientCredentials(
  t: XdsTlsTransport,
  current: () => HeldCertificate | undefined,
  now: () => number = Date.now,
  pushedRoots: () => readonly string[] = () => [],
): () => grpc.ChannelCredentials {
  let made: { cert: HeldCertificate | undefined; rootsKey: string; credentials: grpc.ChannelCredentials } | undefined;
  const fileRoots = t.rootPem.replace(/\s+/g, '');
  return () => {
    const held = current();
    const cert = held && now() < held.notAfter.getTime() ? held : undefined;
    const pushed = pushedRoots().filter((r) => !fileRoots.includes(r.replace(/\s+/g, '')));
    if (!cert && pushed.length === 0) return t.credentials;
    const roots = [t.rootPem, ...pushed];
    const rootsKey = roots.join('');
    if (!made || made.cert !== cert || made.rootsKey !== rootsKey) made = { cert, rootsKey, credentials: xdsClientTls(roots, t.serverName, cert).credentials };
    return made.credentials;
  };
}

const untrusted = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * Dials `address` with the transport's root and name and explains a failure; undefined when the
 * handshake succeeds (the channel failed for another reason). Bounded by `timeoutMs`.
 */
export function diagnoseXdsTls(address: string, t: XdsTlsTransport, timeoutMs = 5_000): Promise<string | undefined> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ca: t.rootPem, servername: t.serverName, ALPNProtocols: ['h2'], timeout: timeoutMs });
    const done = (result: string | undefined) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('secureConnect', () => done(undefined));
    socket.once('timeout', () => done(`xDS TLS: no TLS handshake from ${address} within ${timeoutMs / 1000} s (--xds-address); retrying`));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (untrusted.has(code)) {
        done(`xDS TLS: the control plane at ${address} is not trusted: its certificate does not verify against --root-cert ${t.rootCertFile} (${code}: ${err.message}); that file must be the mesh root (the control plane's CA_DIR/root-cert.pem). Retrying`);
      } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        done(`xDS TLS: the control plane at ${address} has no certificate for ${t.serverName} (--xds-server-name): ${err.message}. Retrying`);
      } else if (code === 'EPROTO' || code.startsWith('ERR_SSL_')) {
        done(`xDS TLS: ${address} does not answer TLS (${code}): is --xds-address the control plane's TLS port (15012), not the plaintext 15010? Retrying`);
      } else {
        done(`xDS TLS: cannot reach the control plane at ${address} (--xds-address): ${code ? `${code}: ` : ''}${err.message}. Retrying`);
      }
    });
  });
}
