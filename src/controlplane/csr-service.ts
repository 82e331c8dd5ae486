// The CSR service, `istio.v1.auth.IstioCertificateService/CreateCertificate`: authenticates the caller
// by its bearer token and signs only the identity that token is bound to.
import * as grpc from '@grpc/grpc-js';
import { CaError } from '../ca/ca-error.ts';
import {
  certificateServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '../ca/certificate-service-definition.ts';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { WorkloadIdentity } from '../ca/spiffe-id.ts';

/** Maps a bearer token to the identity it proves, or null. Owned by whoever issues tokens. */
export type Authenticate = (token: string) => WorkloadIdentity | null | undefined | Promise<WorkloadIdentity | null | undefined>;

export interface CsrServiceOptions {
  ca: CertificateAuthority;
  authenticate: Authenticate;
  /** Called after each decision, for logs and metrics (`citadel_server_csr_count` and friends). */
  onResult?: (result: { identity?: WorkloadIdentity; ok: boolean; code?: string; message?: string }) => void;
}

function bearer(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(value);
  return m?.[1];
}

function statusFor(err: unknown): grpc.status {
  if (!(err instanceof CaError)) return grpc.status.INTERNAL;
  if (err.code === 'CA_IDENTITY_MISMATCH') return grpc.status.PERMISSION_DENIED;
  if (err.code === 'CA_BAD_CSR' || err.code === 'CA_BAD_TTL') return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

/** Adds `IstioCertificateService` to a gRPC server (plaintext loopback 15010 or TLS 15012). */
export function addCsrService(server: grpc.Server, options: CsrServiceOptions): void {
  const createCertificate: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> = (call, callback) => {
    void (async () => {
      const token = bearer(call.metadata);
      const identity = token ? await options.authenticate(token) : undefined;
      if (!identity) {
        options.onResult?.({ ok: false, code: 'UNAUTHENTICATED' });
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'a valid bearer token is required' });
        return;
      }
      try {
        const ttl = Number(call.request.validity_duration ?? 0);
        const chain = await options.ca.sign(call.request.csr, identity, Number.isFinite(ttl) ? ttl : 0);
        options.onResult?.({ identity, ok: true });
        callback(null, { cert_chain: chain });
      } catch (err) {
        const code = err instanceof CaError ? err.code : 'INTERNAL';
        options.onResult?.({ identity, ok: false, code, message: (err as Error).message });
        callback({ code: statusFor(err), details: (err as Error).message });
      }
    })();
  };
  server.addService(certificateServiceDefinition(), { CreateCertificate: createCertificate });
}
