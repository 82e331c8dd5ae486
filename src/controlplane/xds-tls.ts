// The TLS xDS port (Istio's 15012): server credentials from a mesh-CA certificate for the control
// plane's DNS name, so proxies verify the control plane against the mesh root before sending tokens.
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

/** Server credentials with a fresh serving certificate; clients are not asked for certificates (they send tokens). */
export async function xdsServerCredentials(ca: CertificateAuthority, names: readonly string[]): Promise<grpc.ServerCredentials> {
  const { certChain, keyPem } = await ca.issueServingCertificate(names);
  // The chain without the root: the client holds the root already.
  const chain = certChain.length > 1 ? certChain.slice(0, -1) : certChain;
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(chain.join('')), private_key: Buffer.from(keyPem) }], false);
}

/**
 * What a proxy needs for the TLS xDS port: credentials trusting the mesh roots, and channel options
 * that check the control plane's certificate for `serverName` whatever address it dials.
 */
export function xdsClientTls(trustBundle: readonly string[], serverName = defaultXdsTlsName): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  return {
    credentials: grpc.credentials.createSsl(Buffer.from(trustBundle.join(''))),
    options: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}

/** Binds one more port of a gRPC server; resolves to `host:port` with the port actually bound. */
export function bindGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(`${address.slice(0, address.lastIndexOf(':'))}:${port}`))),
  );
}
