// The TLS xDS port (Istio's 15012): server credentials from a mesh-CA certificate for the control
// plane's DNS name, so proxies verify the control plane against the mesh root before sending tokens,
// and may present their workload certificates in turn.
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';

/** The name proxies use for the control plane, as in Istio (`istiod.istio-system.svc`). */
export const defaultXdsTlsName = 'istiod.istio-system.svc';

export class ControlPlaneError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Server credentials with a fresh serving certificate. Clients are asked for a certificate but not
 * required to send one: a proxy bootstraps with a token, then may present its workload certificate
 * (client-cert-authenticator.ts). TLS verifies a presented chain against the CA's trust bundle, kept
 * current as roots are added or removed; the handlers check it again by the control plane's clock.
 */
export async function xdsServerCredentials(ca: CertificateAuthority, names: readonly string[]): Promise<grpc.ServerCredentials> {
  const { certChain, keyPem } = await ca.issueServingCertificate(names);
  // The chain without the root: the client holds the root already.
  const chain = certChain.length > 1 ? certChain.slice(0, -1) : certChain;
  const provider = new ServingCertificates(ca, { certificate: Buffer.from(chain.join('')), privateKey: Buffer.from(keyPem) });
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** grpc-js's certificate provider for the TLS port: the serving certificate, and the mesh roots as they change. */
class ServingCertificates implements grpc.experimental.CertificateProvider {
  #ca: CertificateAuthority;
  #identity: grpc.experimental.IdentityCertificateUpdate;
  #caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  #unsubscribe: (() => void) | undefined;

  constructor(ca: CertificateAuthority, identity: grpc.experimental.IdentityCertificateUpdate) {
    this.#ca = ca;
    this.#identity = identity;
  }

  // grpc-js reads the first update only from a listener called after it registered: never synchronously.
  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#caListeners.add(listener);
    this.#unsubscribe ??= this.#ca.onTrustBundleChange((bundle) => {
      for (const l of this.#caListeners) l({ caCertificate: Buffer.from(bundle.join('')) });
    });
    queueMicrotask(() => listener({ caCertificate: Buffer.from(this.#ca.trustBundle().join('')) }));
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#caListeners.delete(listener);
    if (this.#caListeners.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener(this.#identity));
  }

  removeIdentityCertificateListener(): void {}
}

/**
 * What a proxy needs for the TLS xDS port: credentials trusting the mesh roots, and channel options
 * that check the control plane's certificate for `serverName` whatever address it dials. With
 * `clientCertificate` (the proxy's workload chain and key, PEM) it is presented when the port asks.
 */
export function xdsClientTls(
  trustBundle: readonly string[],
  serverName = defaultXdsTlsName,
  clientCertificate?: { certChainPem: string; keyPem: string },
): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const root = Buffer.from(trustBundle.join(''));
  return {
    credentials: clientCertificate
      ? grpc.credentials.createSsl(root, Buffer.from(clientCertificate.keyPem), Buffer.from(clientCertificate.certChainPem))
      : grpc.credentials.createSsl(root),
    options: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}

/** Binds one more port of a gRPC server; resolves to `host:port` with the port actually bound. */
export function bindGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(`${address.slice(0, address.lastIndexOf(':'))}:${port}`))),
  );
}
