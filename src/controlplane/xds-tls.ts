// The TLS xDS port (Istio's 15012): the name proxies check the control plane's mesh-CA certificate
// for (served by serving-certificate.ts), so they verify it against the mesh root before sending tokens,
// and may present their workload certificates in turn.
import * as grpc from '@grpc/grpc-js';

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
