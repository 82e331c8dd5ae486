// The proxy side of the CSR service: sends the CSR with the bearer token, returns the PEM chain.
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
  credentials?: grpc.ChannelCredentials;
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
  const client = new Client(o.address, o.credentials ?? grpc.credentials.createInsecure(), o.options ?? {});
  const create = (client as unknown as { CreateCertificate: CreateCertificate }).CreateCertificate.bind(client);
  const sign: CertificateSigner = (csrPem, ttlSeconds) =>
    new Promise((resolve, reject) => {
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
  return { sign, close: () => client.close() };
}
