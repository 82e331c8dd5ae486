// The proxy side of the CSR service: sends the CSR with the bearer token (and, on the TLS port, the
// workload certificate it still holds as its client certificate), returns the PEM chain.
import * as grpc from '@grpc/grpc-js';
import {
  certificateServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '../../ca/certificate-service-definition.ts';

/** Signs a CSR for `ttlSeconds`; resolves to `[leaf, ...intermediates, root]`. */
export type CertificateSigner = (csrPem: string, ttlSeconds: number) => Promise<string[]>;

export interface CsrClientOptions {
  /** `host:port` of the control plane (15010 plaintext on loopback, 15012 TLS). */
  address: string;
  /** Read on every call, so a rotated token file is picked up. */
  token: () => string;
  /**
   * A function is called at each request: other credentials than the last (a renewed certificate to
   * present) mean a new channel, so a new TLS handshake that presents it.
   */
  credentials?: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
  /** Channel options, e.g. the TLS server name override of the 15012 port (`xdsClientTls`). */
  options?: grpc.ChannelOptions;
  /** Per-call deadline in ms. */
  timeoutMs?: number;
}

export interface CsrClient {
  sign: CertificateSigner;
  close(): void;
}

type CreateCertificate = (
  request: IstioCertificateRequest,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: IstioCertificateResponse) => void,
) => grpc.ClientUnaryCall;

export function createCsrClient(o: CsrClientOptions): CsrClient {
  const Client = grpc.makeGenericClientConstructor(certificateServiceDefinition(), 'IstioCertificateService');
  let current: { client: grpc.Client; credentials: grpc.ChannelCredentials } | undefined;
  const channel = (): grpc.Client => {
    const credentials = (typeof o.credentials === 'function' ? o.credentials() : o.credentials) ?? grpc.credentials.createInsecure();
    if (current?.credentials === credentials) return current.client;
    current?.client.close();
    current = { client: new Client(o.address, credentials, o.options ?? {}), credentials };
    return current.client;
  };
  const sign: CertificateSigner = (csrPem, ttlSeconds) =>
    new Promise((resolve, reject) => {
      const client = channel();
      const create = (client as unknown as { CreateCertificate: CreateCertificate }).CreateCertificate.bind(client);
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${o.token()}`);
      const request: IstioCertificateRequest = { csr: csrPem, validity_duration: String(Math.round(ttlSeconds)) };
      create(request, metadata, { deadline: Date.now() + (o.timeoutMs ?? 10_000) }, (err, response) => {
        if (err || !response) {
          const reason = err?.details ?? 'empty response';
          reject(Object.assign(new Error(`CSR refused: ${reason}`), { code: 'CSR_FAILED', grpcCode: err?.code, cause: err }));
        } else resolve(response.cert_chain);
      });
    });
  return { sign, close: () => current?.client.close() };
}
